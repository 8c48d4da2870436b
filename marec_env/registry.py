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

MARKETS_V1: dict[str, Any] = {
    "backbones": TRIO,
    # Engagement calibrated to published click logs (docs/VALIDITY.md, "Bands"): a few
    # percent of impressions clicked, CTR falling with position.
    "utility_scale": 3.0,
    "no_click_utility": 6.0,
    "position_decay": 2.0,
    # What a real re-ranker sees; text with documented noise instead of hidden values.
    "public_features": True,
    "text_noise": 0.5,
    # Consequences later: clicks extend sessions, empty slots and misses end them, churn
    # follows the session's clicks.
    "session_model": "satisfaction",
    "satisfaction_gain": 1.0,
    "browse_cost": 0.25,
    "waste_cost": 0.25,
    "patience": 4,
    "churn_rate": 0.3,
    "churn_per_click": 1.0,
}
"""What every ``-v1`` market preset shares (each adds its mechanism and reward)."""

LONG_RUN_V1: dict[str, Any] = {
    **MARKETS_V1,
    "allocation": "slate",
    "reward_lambda": 0.0,
    "feedback_sharing": "page",
    "long_run": True,
    "initial_items": 1000,
    "n_users": 100,
}
"""The long-run filter-bubble presets' shared settings (the catalog stays whole)."""

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
    # ---------------------------------------------------------------- markets v1
    EnvSpec(
        "marec/coop-slate-v1",
        "Cooperative v1: agents choose items and positions of one joint slate; realistic CTR, "
        "public features, satisfaction-driven sessions and churn.",
        {
            **MARKETS_V1,
            "allocation": "slate",
            "reward_lambda": 0.0,
            # Diversity is valued, at a weight that does not drown the few clicks of v1.
            "diversity_weight": 0.02,
            "feedback_sharing": "page",
        },
    ),
    EnvSpec(
        "marec/compete-auction-v1",
        "Competitive v1: one entry per agent in a GSP auction with reserve price and budgets.",
        {
            **MARKETS_V1,
            "allocation": "gsp",
            "reward_lambda": 1.0,
            "feedback_sharing": "own",
            "bid_levels": 6,
            "reserve_price": 0.05,
            "agent_budget": 10.0,
        },
    ),
    EnvSpec(
        "marec/mixed-v1",
        "Mixed v1: team-draft interleaving with v1 engagement, features and sessions, λ=0.5.",
        {
            **MARKETS_V1,
            "allocation": "interleave",
            "reward_lambda": 0.5,
            "feedback_sharing": "own",
        },
    ),
    EnvSpec(
        "marec/position-bias-v1",
        "Measurement v1: the joint slate in random slot order, to read CTR by position.",
        {**MARKETS_V1, "allocation": "shuffled", "reward_lambda": 0.0, "feedback_sharing": "page"},
    ),
    EnvSpec(
        "marec/filter-bubble-v1",
        "Long run v1: users, backbones and counts persist across episodes (feedback loops).",
        LONG_RUN_V1,
    ),
    EnvSpec(
        "marec/filter-bubble-v2",
        "Long run v2: filter-bubble-v1 with a trending (popularity) agent in place of the text "
        "agent, the feedback loop in which greedy pages homogenise what users see.",
        {
            **LONG_RUN_V1,
            # A trending row ranks by clicks the platform's own pages produced: what greedy
            # pages show gets clicked, so it trends, so it is shown to everyone (Chaney et
            # al. 2018). v1's backbones personalise only, and show no such trend.
            "backbones": ("popularity", "cf", "content"),
        },
    ),
    EnvSpec(
        "marec/clickbait-v1",
        "Foresight v1: an episode is one user's visit; bait wins clicks now and ends visits "
        "sooner, so planning ahead (γ > 0) pays.",
        {
            **MARKETS_V1,
            "allocation": "slate",
            "reward_lambda": 0.0,
            "diversity_weight": 0.02,
            "feedback_sharing": "page",
            # RecSim's "chocolate vs kale": the sensational topic is clicked more and regretted.
            "episode_end": "session",
            "bait_topic": 0,
            "bait_appeal": 2.0,
            "bait_regret": 6.0,
            "patience": 8,  # visits long enough for what they end to matter
            "max_cycles": 60,
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
