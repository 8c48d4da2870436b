"""Evaluation on the vector env: all evaluation episodes of a market preset in one batch.

:func:`agents.train.evaluate` plays one ParallelEnv episode per evaluation seed, one after
another. :func:`evaluate_vector` plays the same episodes as the worlds of one
:func:`marec_env.vector_env`, stepped together: "an episode per seed" means the same in both
paths. The vector env is reset with the list of seeds (``reset(seed=[s_0, ..., s_{E-1}])``),
which gives world b its own random streams, the ones a ParallelEnv reset with s_b draws from
(:mod:`marec_env.streams`), so world b plays the ParallelEnv's episode with seed s_b: the
same users, clicks and returns, for any policy that acts on a batch of worlds as it acts on
each world alone (every greedy learner here). tests/test_learners_marec.py checks the two
paths episode for episode on a v0 and a v1 preset; the ParallelEnv path stays selectable
(``TrainConfig.eval_vector=False``, a scenario's ``eval_backend: parallel``) as that check.
Returns the same tuple as ``evaluate``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from agents.base import Batch, Learner
from agents.envs import check_rewards, env_masks, oracle_values, split_obs

PER_AGENT_KEYS = ("own_reward", "clicks", "slot_share", "revenue", "payment")
NOT_METRICS = ("backbone_id", "final_observation")


def evaluate_vector(
    env: Any, learner: Learner, seeds: list[int], reads_oracle: bool = False
) -> tuple[dict[str, float], float, dict[str, float], int]:
    """Greedy episodes, one per world of ``env`` (len(seeds) worlds): (agent returns, team
    return, metrics, decisions), means over episodes as in ``agents.train.evaluate``."""
    returns, team, sums, steps = play_episodes(env, learner, seeds, reads_oracle)
    agents = tuple(env.possible_agents)
    mean = returns.mean(axis=0)
    metrics = {k: v / steps for k, v in sorted(sums.items())}
    return ({a: float(mean[k]) for k, a in enumerate(agents)}, float(team.mean()), metrics,
            steps * len(seeds))  # fmt: skip


def play_episodes(
    env: Any, learner: Learner, seeds: list[int], reads_oracle: bool = False
) -> tuple[np.ndarray, np.ndarray, dict[str, float], int]:
    """World b plays the greedy episode of seed ``seeds[b]``: per-episode agent returns
    (E, N), team returns (E,), the step sums of the world-mean metrics, and the steps."""
    agents = tuple(env.possible_agents)
    worlds = env.num_envs
    if worlds != len(seeds):
        raise ValueError(f"the vector env has {worlds} worlds for {len(seeds)} episodes")
    obs, _ = env.reset(seed=list(seeds))
    totals, team = np.zeros((worlds, len(agents))), np.zeros(worlds)
    sums: dict[str, float] = {}
    t = 0
    while True:
        x, masks = split_obs(obs, agents)
        if masks is None:
            masks = env_masks(env, agents)
        oracle = oracle_values(env, agents) if reads_oracle else None
        actions = learner.act(Batch(x, masks, oracle), explore=False)
        obs, rew, _, trunc, infos = env.step({a: actions[:, k] for k, a in enumerate(agents)})
        r = np.stack([np.asarray(rew[a], np.float64) for a in agents], axis=1)
        check_rewards(r, env.env_id)
        totals += r
        first = infos[agents[0]]
        team += np.asarray(first["team_reward"]) if "team_reward" in first else r.sum(axis=1)
        _accumulate(sums, infos, agents)
        t += 1
        if all(np.all(trunc[a]) for a in agents):  # fixed horizon: every world ends together
            break
    return totals, team, sums, t


def _accumulate(sums: dict[str, float], infos: dict[str, Any], agents: tuple[str, ...]) -> None:
    """Add this step's world-mean of every numeric info (per agent for PER_AGENT_KEYS)."""
    plain: dict[str, list[float]] = {}
    for agent in agents:
        for key, value in infos.get(agent, {}).items():
            if key in NOT_METRICS or np.ndim(value) != 1:
                continue
            mean = float(np.mean(value))
            if key in PER_AGENT_KEYS:
                sums[f"{key}/{agent}"] = sums.get(f"{key}/{agent}", 0.0) + mean
            else:
                plain.setdefault(key, []).append(mean)
    for key, values in plain.items():
        sums[key] = sums.get(key, 0.0) + float(np.mean(values))
