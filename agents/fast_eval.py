"""Evaluation on the vector env: all evaluation episodes of a market preset in one batch.

:func:`agents.train.evaluate` plays one ParallelEnv episode per evaluation seed, one after
another. :func:`evaluate_vector` plays the same number of greedy episodes as the worlds of
one :func:`marec_env.vector_env`, stepped together. What "an episode per seed" means here:
the E-world vector env is reset once with the evaluation's first seed, and world b's first
episode is episode b. Episodes are i.i.d. draws of the same preset in both paths (same
dynamics code, ``Market`` at W = E instead of W = 1), so returns and metrics agree in
distribution, not sample for sample; the ParallelEnv path stays the reference and a test
checks the two against each other. Returns the same tuple as ``evaluate``.
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
    agents = tuple(env.possible_agents)
    worlds = env.num_envs
    if worlds != len(seeds):
        raise ValueError(f"the vector env has {worlds} worlds for {len(seeds)} episodes")
    obs, _ = env.reset(seed=seeds[0])
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
    returns = totals.mean(axis=0)
    metrics = {k: v / t for k, v in sorted(sums.items())}
    return ({a: float(returns[k]) for k, a in enumerate(agents)}, float(team.mean()), metrics,
            t * worlds)  # fmt: skip


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
