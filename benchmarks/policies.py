"""Registry learners as fixed reference policies on a vector env's market (no training):
what the validity table and the filter-bubble measurement play."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

Act = Callable[[np.ndarray, np.ndarray, Any], np.ndarray]
"""(observations, bool masks, market) → actions (W, N)."""


def open_vector(env_id: str, worlds: int, overrides: dict[str, Any]):
    """The vector env of ``env_id`` and the learners' view of it."""
    import marec_env
    from agents.envs import env_info

    env = marec_env.vector_env(env_id, worlds, **overrides)
    return env, env_info(env_id, env)


def learner_act(name: str, info, seed: int) -> Act:
    """Registry learner ``name`` acting greedily (no exploration); an oracle reads the hook
    it names on the market (true utilities or best-response values)."""
    from agents.base import Batch
    from agents.envs import oracle_hook
    from agents.registry import LEARNERS, make_learner

    # The joint oracle is a team-welfare reference on every preset, competitive too.
    params = {"maximise_team_reward": True} if name == "oracle-joint" else {}
    learner = make_learner(name, info, params, np.random.default_rng(seed))
    reads_oracle = LEARNERS[name].capabilities.reads_oracle

    def act(obs, masks, market):
        values = getattr(market, oracle_hook(learner))() if reads_oracle else None
        return learner.act(Batch(obs, masks, values), explore=False)

    return act
