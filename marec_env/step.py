"""One market step, top to bottom, as named stages over the world's state.

:func:`advance` is the whole step. Each stage takes what it needs and returns what it
produces (or updates the part of :class:`~marec_env.world.World` it owns, said in its
docstring):

1. ``mechanism.decode``   actions → chosen candidate and bid per agent
2. :func:`propose`         each agent's candidates, its chosen one first
3. ``mechanism.fill_page`` proposals, bids, public counts → the page
4. :func:`choose`          the user's click on the page (choice model over hidden utility)
5. :func:`settle`          engagement, payments and rewards
6. :func:`update_users`    the user's tastes, fatigue and session after the page
7. :func:`feed_back`       public counts, and each backbone learns what it may see
8. :func:`measure`         market and agent metrics (before the user can leave)
9. :func:`turn_over`       sessions that ended start anew; churned users are replaced
10. :func:`tick`           the clock advances; backbones may redeploy their item tables
11. :func:`refresh_candidates` each agent's top-K for the users now in session

Observations are built from the resulting state by :func:`marec_env.observation.observe`.
:func:`reset_worlds` starts new episodes. Nothing here knows which mechanism runs.

Where the stages live: :mod:`marec_env.serve` (propose, choose, settle),
:mod:`marec_env.sessions` (update_users, turn_over, admit_new_users), :mod:`marec_env.learning`
(feed_back, tick, refresh_candidates), :mod:`marec_env.measure` (measure and the info keys);
:class:`~marec_env.setup.Setup` is what stays fixed while a market runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from marec_env.core import users
from marec_env.learning import feed_back, n_available, refresh_candidates, tick
from marec_env.measure import AGENT_METRICS, INFO_KEYS, MARKET_METRICS, measure
from marec_env.serve import Choice, Settlement, choose, owned_slots, propose, settle
from marec_env.sessions import admit_new_users, session_over, turn_over, update_users
from marec_env.setup import Setup, Streams
from marec_env.streams import rows_for
from marec_env.world import World

__all__ = [  # the stages live in files of their own; the step names them all here
    "AGENT_METRICS", "INFO_KEYS", "MARKET_METRICS", "STAGES", "Choice", "Settlement", "Setup",
    "StepResult", "Streams", "admit_new_users", "advance", "cap_bids", "choose", "feed_back",
    "measure", "n_available", "owned_slots", "propose", "refresh_candidates", "reset_worlds",
    "session_over", "settle", "tick", "turn_over", "update_users",
]  # fmt: skip

STAGES = (
    "propose",
    "choose",
    "settle",
    "update_users",
    "feed_back",
    "measure",
    "turn_over",
    "tick",
    "refresh_candidates",
)
"""The module-level stages :func:`advance` calls once each, in order (besides the
mechanism's ``decode`` and ``fill_page``). It looks them up in this module at call time, so
a profiler can time one by wrapping the module attribute."""


@dataclass
class StepResult:
    rewards: np.ndarray
    """(W, N) float32."""
    truncated: np.ndarray
    """(W,) bool: the world reached ``max_cycles`` (and did not terminate)."""
    info: dict[str, np.ndarray]
    """Metric name → (W, N) float32 (market-level metrics repeated per agent); each is a
    view of ``info_table``."""
    info_table: np.ndarray
    """(len(INFO_KEYS), W, N) float32: every metric, in :data:`INFO_KEYS` order."""
    terminated: np.ndarray
    """(W,) bool: the user left and ``episode_end="session"`` ends the episode with them."""


def advance(setup: Setup, world: World, rng: Streams, actions: np.ndarray) -> StepResult:
    """Serve one page in every world. ``actions`` (W, N) int64, already validated."""
    current = world.sessions.user.copy()
    chosen, bids = setup.mechanism.decode(actions)
    if setup.config.agent_budget > 0:
        bids = cap_bids(bids, setup.config.agent_budget - world.spend)
    proposals = propose(world.candidates.items, chosen)
    page = setup.mechanism.fill_page(proposals, bids, world.counts, rng["allocation"])
    choice = choose(setup, world.population, current, page, rng["choice"])
    settlement = settle(setup.config, setup.catalog, setup.n_agents, page, choice)
    world.spend += settlement.payment
    wasted = None  # empty slots cost only satisfaction-driven sessions
    if setup.config.session_model == "satisfaction":
        wasted = setup.config.slots - choice.shown.sum(axis=1)
    update_users(setup, world, current, settlement.consumed, settlement.gained, wasted)
    if setup.config.public_features:  # the platform knows what this session has been shown
        w, s = np.nonzero(choice.shown)
        world.session_seen[w, choice.item[w, s]] = True
    feed_back(setup, world, page, choice, current)
    table, world.last = measure(setup, world, page, choice, settlement, current)
    if setup.config.episode_end == "session":  # the episode ends with the visit
        terminated = session_over(setup.config, world.sessions)
    else:
        terminated = np.zeros(len(current), bool)
        turn_over(setup, world, rng["users"])
    tick(setup, world)
    world.candidates = refresh_candidates(setup, world)
    truncated = (world.t >= setup.config.max_cycles) & ~terminated
    info = {key: table[i] for i, key in enumerate(INFO_KEYS)}
    return StepResult(settlement.rewards.astype(np.float32), truncated, info, table, terminated)


def reset_worlds(setup: Setup, world: World, rng: Streams, worlds: np.ndarray) -> None:
    """Start a new episode in the given worlds: backbones forget, every user is new.

    In long-run mode a world that has run before keeps its users, backbones and public
    counts: only the clock, budgets, the exposure tally and the sessions start anew."""
    cfg = setup.config
    if cfg.long_run:
        continuing = worlds[world.started[worlds]]
        worlds = worlds[~world.started[worlds]]
        _continue_worlds(setup, world, rng, continuing)
    world.started[worlds] = True
    world.spend[worlds] = 0.0
    world.session_topics[worlds] = 0.0
    world.session_seen[worlds] = False
    u = cfg.n_users
    world.t[worlds] = 0
    for backbone, cache in zip(setup.backbones, setup.caches):
        backbone.reset(worlds, rng["backbones"])
        cache.invalidate_worlds(worlds)
    everyone = np.repeat(worlds, u), np.tile(np.arange(u), len(worlds))
    admit_new_users(setup, world, *everyone, rng["users"])
    world.exposure.reset(worlds)
    world.counts.clear(worlds)
    world.last.clear(worlds, cfg.slots)
    budgets = (cfg.budget_min, cfg.budget_max)
    users.start_sessions(world.sessions, worlds, u, budgets, rows_for(rng["users"], worlds))
    world.candidates = refresh_candidates(setup, world)


def _continue_worlds(setup: Setup, world: World, rng: Streams, worlds: np.ndarray) -> None:
    """A new episode of a long run: the population, backbones and counts carry over."""
    cfg = setup.config
    world.t[worlds] = 0
    world.spend[worlds] = 0.0
    world.session_topics[worlds] = 0.0
    world.session_seen[worlds] = False
    world.exposure.reset(worlds)
    world.last.clear(worlds, cfg.slots)
    for cache in setup.caches:  # the clock restarts: so does the release schedule
        cache.invalidate_worlds(worlds)
    budgets = (cfg.budget_min, cfg.budget_max)
    users_rng = rows_for(rng["users"], worlds)
    users.start_sessions(world.sessions, worlds, cfg.n_users, budgets, users_rng)


def cap_bids(bids: np.ndarray, budget_left: np.ndarray) -> np.ndarray:
    """(W, N) bids no higher than each agent's budget left (0 once it is spent): one click
    costs at most the bid, so spend never exceeds the budget."""
    return np.minimum(bids, np.maximum(budget_left, 0.0)).astype(np.float32)
