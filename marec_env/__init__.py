"""marec: a multi-agent recommendation market as a PettingZoo parallel environment.

>>> import marec_env
>>> env = marec_env.parallel_env("marec/coop-slate-v0")
>>> observations, infos = env.reset(seed=0)
"""

from __future__ import annotations

from typing import Any

from marec_env.config import ConfigError, MarketConfig
from marec_env.registry import ENV_SPECS, EnvSpec, get_spec, list_envs, resolve_entry_point
from marec_env.single_agent import SingleAgentEnv
from marec_env.validation import ActionError, EpisodeOverError

__version__ = "0.1.0"


def parallel_env(env_id: str, **overrides: Any):
    """Build the PettingZoo ParallelEnv registered as ``env_id`` with config overrides."""
    spec = get_spec(env_id)
    cls = resolve_entry_point(spec.entry_point)
    if not spec.market:
        return cls(**overrides)
    return cls(spec.config(**overrides), env_id=env_id)


def env(env_id: str, **overrides: Any):
    """The AEC version (PettingZoo's ``parallel_to_aec``) of :func:`parallel_env`."""
    from marec_env.validation import checked_aec  # refuses a bad action where it is given

    return checked_aec(parallel_env(env_id, **overrides))


def vector_env(env_id: str, num_envs: int, **overrides: Any):
    """``num_envs`` independent worlds of ``env_id`` stepped as one batch (same dynamics)."""
    from marec_env.vector import VectorMarketEnv

    spec = get_spec(env_id)
    if not spec.market:
        raise ValueError(f"{env_id} is not a market preset; the vector env runs market presets")
    return VectorMarketEnv(spec.config(**overrides), num_envs=num_envs, env_id=env_id)


def make_config(env_id: str, **overrides: Any) -> MarketConfig:
    """The resolved config of a market preset."""
    return get_spec(env_id).config(**overrides)


def register_pettingzoo() -> None:
    """Register every id with PettingZoo's registries (``pettingzoo.make("parallel", id)``).

    Idempotent; called once when marec_env is imported, which only fills two dicts.
    """
    import pettingzoo

    for spec in ENV_SPECS:
        for kind, creator in (("parallel", "marec_env:parallel_env"), ("aec", "marec_env:env")):
            registry = (
                pettingzoo.parallel_registry if kind == "parallel" else (pettingzoo.aec_registry)
            )
            if spec.id not in registry:
                pettingzoo.register(kind, spec.id, creator, kwargs={"env_id": spec.id})


register_pettingzoo()

__all__ = [
    "ENV_SPECS",
    "ActionError",
    "ConfigError",
    "EnvSpec",
    "EpisodeOverError",
    "MarketConfig",
    "SingleAgentEnv",
    "env",
    "list_envs",
    "make_config",
    "parallel_env",
    "register_pettingzoo",
    "vector_env",
]
