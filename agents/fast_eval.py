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
from agents.envs import check_rewards, env_masks, oracle_hook, oracle_values, split_obs

PER_AGENT_KEYS = ("own_reward", "clicks", "slot_share", "revenue", "payment")
NOT_METRICS = ("backbone_id", "final_observation")


def evaluate_vector(
    env: Any, learner: Learner, seeds: list[int], reads_oracle: bool = False
) -> tuple[dict[str, float], float, dict[str, float], int]:
    """Greedy episodes, one per world of ``env`` (len(seeds) worlds): (agent returns, team
    return, metrics, decisions), means over episodes as in ``agents.train.evaluate``."""
    returns, team, metrics, decisions = play_episodes(env, learner, seeds, reads_oracle)
    agents = tuple(env.possible_agents)
    mean = returns.mean(axis=0)
    return ({a: float(mean[k]) for k, a in enumerate(agents)}, float(team.mean()),
            dict(sorted(metrics.items())), decisions)  # fmt: skip


def play_episodes(
    env: Any, learner: Learner, seeds: list[int], reads_oracle: bool = False
) -> tuple[np.ndarray, np.ndarray, dict[str, float], int]:
    """World b plays the greedy episode of seed ``seeds[b]``: per-episode agent returns
    (E, N), team returns (E,), the episode means of the metrics averaged over episodes
    (as ``agents.train.evaluate`` computes them), and the decisions taken. A world whose
    episode has ended (terminated or truncated) is auto-reset by the env; its later steps
    belong to another episode and are not counted."""
    agents = tuple(env.possible_agents)
    worlds = env.num_envs
    if worlds != len(seeds):
        raise ValueError(f"the vector env has {worlds} worlds for {len(seeds)} episodes")
    hook = oracle_hook(learner)
    obs, _ = env.reset(seed=list(seeds))
    totals, team = np.zeros((worlds, len(agents))), np.zeros(worlds)
    sums: dict[str, np.ndarray] = {}
    playing, steps = np.ones(worlds, bool), np.zeros(worlds, np.int64)
    while playing.any():
        x, masks = split_obs(obs, agents)
        if masks is None:
            masks = env_masks(env, agents)
        oracle = oracle_values(env, agents, hook) if reads_oracle else None
        actions = learner.act(Batch(x, masks, oracle), explore=False)
        obs, rew, term, trunc, infos = env.step({a: actions[:, k] for k, a in enumerate(agents)})
        r = np.stack([np.asarray(rew[a], np.float64) for a in agents], axis=1)
        check_rewards(r, env.env_id)
        live = playing.astype(np.float64)
        totals += r * live[:, None]
        first = infos[agents[0]]
        step_team = np.asarray(first["team_reward"]) if "team_reward" in first else r.sum(axis=1)
        team += step_team * live
        _accumulate(sums, infos, agents, live)
        steps += playing
        ended = np.any([np.asarray(term[a]) | np.asarray(trunc[a]) for a in agents], axis=0)
        playing &= ~ended
    metrics = {k: float(np.mean(v / steps)) for k, v in sums.items()}
    return totals, team, metrics, int(steps.sum())


def _accumulate(
    sums: dict[str, np.ndarray], infos: dict[str, Any], agents: tuple[str, ...], live: np.ndarray
) -> None:
    """Add this step's per-world value of every numeric info (per agent for PER_AGENT_KEYS,
    else averaged over agents) to the worlds still playing (``live`` 1.0, else 0.0)."""
    plain: dict[str, list[np.ndarray]] = {}
    for agent in agents:
        for key, value in infos.get(agent, {}).items():
            if key in NOT_METRICS or np.ndim(value) != 1:
                continue
            value = np.asarray(value, np.float64)
            if key in PER_AGENT_KEYS:
                name = f"{key}/{agent}"
                sums[name] = sums.get(name, 0.0) + value * live
            else:
                plain.setdefault(key, []).append(value)
    for key, values in plain.items():
        sums[key] = sums.get(key, 0.0) + np.mean(values, axis=0) * live
