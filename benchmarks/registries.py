"""What the benchmark harness may name: env ids, env config fields, learners, their params.

The env (``marec_env``) and the learners (``agents``) are separate packages; when one cannot
be imported (a partial checkout, or a broken install) the harness falls back to the lists in
docs/CONTRACTS.md so that scenario files still validate, and says so in ``list``.
"""

from __future__ import annotations

import dataclasses
import importlib
from functools import cache
from typing import Any

FALLBACK_ENV_IDS = (
    "marec/coop-slate-v0",
    "marec/compete-auction-v0",
    "marec/mixed-v0",
    "marec/cold-start-v0",
    "marec/coop-slate-v1",
    "marec/compete-auction-v1",
    "marec/mixed-v1",
    "marec/position-bias-v1",
    "marec/filter-bubble-v1",
    "marec/matrix-game-v0",
)
FALLBACK_LEARNERS = (
    "random",
    "greedy",
    "oracle",
    "iql",
    "iql-sarsa",
    "dqn",
    "maql",
    "iql-linear",
    "maql-linear",
    "dmarl",
    "greedy-dedup",
    "pid-pacing",
    "oracle-joint",
)


def _try_import(module: str) -> Any | None:
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


@cache
def env_ids() -> tuple[tuple[str, ...], bool]:
    """(known env ids, True if they come from ``marec_env.list_envs()``)."""
    for module in ("marec_env", "marec_env.registry"):
        env = _try_import(module)
        if env is not None and hasattr(env, "list_envs"):
            return tuple(env.list_envs()), True
    return FALLBACK_ENV_IDS, False


@cache
def learner_registry() -> dict[str, Any] | None:
    """``agents.registry.LEARNERS`` or None when the learners are not importable."""
    reg = _try_import("agents.registry")
    return None if reg is None else dict(reg.LEARNERS)


def learner_names() -> tuple[tuple[str, ...], bool]:
    """(known learner names, True if they come from the registry)."""
    reg = learner_registry()
    return (tuple(reg), True) if reg is not None else (FALLBACK_LEARNERS, False)


def learner_description(name: str) -> str:
    reg = learner_registry() or {}
    return str(getattr(reg.get(name), "description", ""))


def _hparams_dataclass(spec: Any) -> Any | None:
    """The learner's default hyper-parameter dataclass (or an instance), whatever its name."""
    for attr in ("hparams", "default_hparams", "params", "config", "hparams_cls", "params_cls"):
        value = getattr(spec, attr, None)
        if value is not None and dataclasses.is_dataclass(value):
            return value
    return None


def learner_param_defaults(name: str) -> dict[str, Any] | None:
    """Field name → default of the learner's hyper-parameters; None when unknown."""
    spec = (learner_registry() or {}).get(name)
    hp = _hparams_dataclass(spec) if spec is not None else None
    if hp is None:
        return None
    if isinstance(hp, type):
        return {
            f.name: (f.default if f.default is not dataclasses.MISSING else None)
            for f in dataclasses.fields(hp)
        }
    return {f.name: getattr(hp, f.name) for f in dataclasses.fields(hp)}


def check_learner_params(name: str, params: dict[str, Any]) -> None:
    """Validate hyper-parameter overrides with the learners' own code (raises ValueError).

    Without ``agents.registry.make_params`` only the keys are checked (when known)."""
    reg = _try_import("agents.registry")
    if reg is not None and hasattr(reg, "make_params"):
        reg.make_params(name, dict(params))
        return
    defaults = learner_param_defaults(name)
    unknown = [k for k in params if defaults is not None and k not in defaults]
    if unknown:
        raise ValueError(f"unknown hyper-parameter(s) {unknown}; allowed: {list(defaults or {})}")


@cache
def market_defaults() -> dict[str, Any]:
    """MarketConfig field name → default value (the env's config fields)."""
    from marec_env.config import MarketConfig

    cfg = MarketConfig()
    return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}


def check_env_overrides(env_id: str, overrides: dict[str, Any]) -> None:
    """Validate override keys and values with the env's own config code (raises ValueError).

    Applies them to the env id's preset (``marec_env.registry``) when that is importable,
    else to the MarketConfig defaults. The env checks again when it is built; this only
    catches mistakes before a run starts and writes anything.
    """
    reg = _try_import("marec_env.registry")
    if reg is not None and hasattr(reg, "get_spec"):
        spec = reg.get_spec(env_id)
        if getattr(spec, "market", True):  # non-market envs (matrix game) take other kwargs
            spec.config(**overrides)
        return
    from marec_env.config import MarketConfig, apply_overrides

    apply_overrides(MarketConfig(), dict(overrides))
