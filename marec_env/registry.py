"""The one list of environments. The runner, the docs and the test matrix all iterate it."""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass, field
from typing import Any

from marec_env.config import MarketConfig, apply_overrides


@dataclass(frozen=True)
class EnvSpec:
    """A versioned environment id and what it means."""

    id: str
    """Versioned id, ``marec/<name>-v<N>``; bump N whenever dynamics change."""
    description: str
    """One line on what phenomenon this preset is for."""
    overrides: dict[str, Any] = field(default_factory=dict)
    """Changes to :class:`MarketConfig` defaults that define the preset."""
    entry_point: str = "marec_env.market_env:MarketEnv"
    """``module:Class`` of the ParallelEnv; built as ``Class(config)`` for market presets."""
    market: bool = True
    """Whether this is a market preset (config-driven; supports the vector env)."""

    def config(self, **overrides: Any) -> MarketConfig:
        return apply_overrides(apply_overrides(MarketConfig(), self.overrides), overrides)


TRIO = ("cf", "content", "text")
"""Every market preset has one collaborative-filtering, one content and one text agent."""

ENV_SPECS: tuple[EnvSpec, ...] = (
    EnvSpec(
        "marec/coop-slate-v0",
        "Cooperative: agents build one joint slate (duplicates waste slots), λ=0.",
        {
            "allocation": "cooperative",
            "reward_lambda": 0.0,
            "diversity_weight": 0.1,
            "feedback_sharing": "page",
            "backbones": TRIO,
        },
    ),
    EnvSpec(
        "marec/compete-auction-v0",
        "Competitive: agents bid in a GSP auction for slots and pay per click, λ=1.",
        {
            "allocation": "auction",
            "reward_lambda": 1.0,
            "feedback_sharing": "own",
            "backbones": TRIO,
        },
    ),
    EnvSpec(
        "marec/mixed-v0",
        "Mixed: team-draft interleaving, reward half own clicks and half team engagement.",
        {
            "allocation": "interleave",
            "reward_lambda": 0.5,
            "feedback_sharing": "own",
            "backbones": TRIO,
        },
    ),
    EnvSpec(
        "marec/cold-start-v0",
        "Cold start: most of the catalog arrives during the episode; CF is blind to new items.",
        {
            "allocation": "interleave",
            "reward_lambda": 0.5,
            "initial_items": 300,
            "feedback_sharing": "page",
            "cold_start_window": 30,
            "release_interval": 2,
            "backbones": TRIO,
        },
    ),
    EnvSpec(
        "marec/matrix-game-v0",
        "Analytic one-step game with hand-computable equilibria (for learner tests).",
        {},
        entry_point="marec_env.matrix_game:MatrixGameEnv",
        market=False,
    ),
)

_BY_ID = {spec.id: spec for spec in ENV_SPECS}


def list_envs() -> list[str]:
    """Every registered env id."""
    return [spec.id for spec in ENV_SPECS]


def get_spec(env_id: str) -> EnvSpec:
    if env_id not in _BY_ID:
        close = difflib.get_close_matches(str(env_id), list(_BY_ID), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown env id {env_id!r}.{hint} Registered: {', '.join(_BY_ID)}")
    return _BY_ID[env_id]


def resolve_entry_point(path: str) -> Any:
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)
