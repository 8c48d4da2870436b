"""What the benchmark harness may name: env ids, env config fields, learners, their params.

Thin views of the two real lists, ``marec_env.list_envs()`` and ``agents.registry.LEARNERS``,
and of their own validation code: the harness keeps no copies. Importing this module does not
import torch (``agents.registry`` builds deep learners' defaults on first use).
"""

from __future__ import annotations

import dataclasses
from functools import cache
from typing import Any

import marec_env
from agents import registry as learners
from marec_env import registry as envs
from marec_env.config import MarketConfig


def env_ids() -> tuple[str, ...]:
    """Known env ids."""
    return tuple(marec_env.list_envs())


def learner_registry() -> dict[str, Any]:
    """``agents.registry.LEARNERS``: learner name → spec."""
    return dict(learners.LEARNERS)


def learner_names() -> tuple[str, ...]:
    """Known learner names."""
    return tuple(learners.LEARNERS)


def learner_description(name: str) -> str:
    return learners.get_spec(name).description


def learner_vectorised(name: str) -> bool:
    """Capability ``vectorised``: the learner acts on a batch of worlds (vector evaluation)."""
    return learners.get_spec(name).capabilities.vectorised


def learner_param_defaults(name: str) -> dict[str, Any] | None:
    """Field name → default of the learner's hyper-parameters; None for an unknown learner."""
    if name not in learners.LEARNERS:
        return None
    params = learners.LEARNERS[name].params
    return {f.name: getattr(params, f.name) for f in dataclasses.fields(params)}


def check_learner_params(name: str, params: dict[str, Any]) -> None:
    """Validate hyper-parameter overrides with the learners' own code (raises ValueError)."""
    learners.make_params(name, dict(params))


def check_learner_fits_env(
    name: str, params: dict[str, Any], env_id: str, overrides: dict[str, Any]
) -> None:
    """The learners' own reward-structure check (raises ValueError), without building a
    market: whether agents share one reward comes from the preset's ``reward_lambda``."""
    spec = envs.get_spec(env_id)
    if spec.market:
        cooperative = spec.config(**overrides).reward_lambda == 0
    else:
        env = marec_env.parallel_env(env_id, **overrides)
        cooperative = getattr(env, "cooperative", None)
        env.close()
    learners.check_reward_structure(name, learners.make_params(name, dict(params)), env_id,
                                    cooperative)  # fmt: skip


@cache
def market_defaults() -> dict[str, Any]:
    """MarketConfig field name → default value (the env's config fields)."""
    cfg = MarketConfig()
    return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}


def check_env_overrides(env_id: str, overrides: dict[str, Any]) -> None:
    """Validate override keys and values with the env's own config code (raises ValueError).

    The env checks again when it is built; this only catches mistakes before a run starts and
    writes anything. Non-market envs (the matrix game) take their own kwargs, checked there.
    """
    spec = envs.get_spec(env_id)
    if spec.market:
        spec.config(**overrides)
