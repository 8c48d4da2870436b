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
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from marec_env import kernels
from marec_env.config import MarketConfig
from marec_env.core import metrics, users
from marec_env.core.allocation import Page
from marec_env.core.catalog import Catalog
from marec_env.core.choice import sample_choice
from marec_env.mechanisms import Mechanism
from marec_env.recommenders.base import Backbone
from marec_env.recommenders.candidates import UNSCORABLE, CandidateCache
from marec_env.streams import rows_for
from marec_env.world import Candidates, LastPage, World

MARKET_METRICS = (
    "ctr",
    "engagement",
    "ndcg",
    "diversity",
    "coverage",
    "novelty",
    "exposure_gini",
    "cold_start_exposure",
    "welfare",
    "team_reward",
)
AGENT_METRICS = (
    "own_reward",
    "clicks",
    "slots",
    "slot_share",
    "revenue",
    "payment",
    "cold_slots",
    "cold_clicks",
)
INFO_KEYS = (*AGENT_METRICS, *MARKET_METRICS, "backbone_id")
"""Every info dict carries exactly these numeric keys, for every agent, every step."""
_INFO_ROW = {key: i for i, key in enumerate(INFO_KEYS)}
_KERNEL_ROWS = np.array([_INFO_ROW[key] for key in kernels.MEASURE_KEYS], np.int64)

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

Streams = dict[str, np.random.Generator]
"""The market's random streams by name (see :data:`marec_env.world.STREAMS`)."""


@dataclass(frozen=True)
class Setup:
    """What stays fixed while a market runs: its rules and its agents' backbones."""

    config: MarketConfig
    catalog: Catalog
    mechanism: Mechanism
    backbones: tuple[Backbone, ...]
    """One per agent; each keeps its own learned model."""
    caches: tuple[CandidateCache, ...]
    """Each backbone's exact top-K cache."""
    choice_probabilities: Callable[..., np.ndarray]
    """The choice model: (utility, shown, weights, scale, no_click) → (W, S + 1)."""
    position_weights: np.ndarray
    """(S,) examination weight of each slot."""
    backbone_ids: np.ndarray
    """(N,) float32 registry index of each agent's backbone kind (``infos["backbone_id"]``)."""
    worlds: np.ndarray
    """(W,) int64 ``arange(W)``, the row index of every world."""

    @property
    def n_agents(self) -> int:
        return len(self.backbones)

    @functools.cached_property
    def utility_tables(self) -> tuple[np.ndarray, np.ndarray]:
        """The catalog's (T, n_items) latent and its quality in float64 (for NDCG's ideal)."""
        latent_t = np.ascontiguousarray(self.catalog.latent.T, np.float64)
        return latent_t, np.asarray(self.catalog.quality, np.float64)


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


@dataclass
class Choice:
    """The page as the user saw it and what they did (stage 4)."""

    shown: np.ndarray
    """(W, S) bool slot holds an item."""
    item: np.ndarray
    """(W, S) int64 item per slot, 0 where empty (mask with ``shown``)."""
    utility: np.ndarray
    """(W, S) true utility of each slot's item for the user (hidden)."""
    probabilities: np.ndarray
    """(W, S + 1) click probability per slot, last column no click."""
    slot: np.ndarray
    """(W,) int64 clicked slot, S for no click."""
    clicked: np.ndarray
    """(W,) bool."""
    onehot: np.ndarray
    """(W, S) bool the clicked slot."""


@dataclass
class Settlement:
    """What the page earned (stage 5)."""

    rewards: np.ndarray
    """(W, N) r_i = λ·own_i + (1 − λ)·team."""
    own: np.ndarray
    revenue: np.ndarray
    payment: np.ndarray
    team: np.ndarray
    diversity: np.ndarray
    """(W,) intra-list diversity of the page."""
    engagement: np.ndarray
    """(W, S) engagement a click on each slot brings, 0 for empty slots."""
    consumed: np.ndarray
    """(W,) int64 clicked item, -1 for none."""
    gained: np.ndarray
    """(W,) engagement of the click, 0 for none."""


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


# ---------------------------------------------------------------------------- the stages
def propose(candidate_items: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """(W, N, K) each agent's candidates reordered so that the chosen one comes first."""
    w, n, k = candidate_items.shape
    order = _chosen_first(k)[chosen]  # np.take_along_axis's indexing, without its overhead
    return candidate_items[np.arange(w)[:, None, None], np.arange(n)[None, :, None], order]


@functools.cache
def _chosen_first(k: int) -> np.ndarray:
    """(K, K) row c: candidate c, then the others in rank order."""
    rest = np.arange(k)[None, :] != np.arange(k)[:, None]
    return np.argsort(rest, axis=1, kind="stable")


def choose(
    setup: Setup,
    population: users.Population,
    current: np.ndarray,
    page: Page,
    rng: np.random.Generator,
) -> Choice:
    """The user in session looks at the page and clicks at most one item."""
    cfg, cat = setup.config, setup.catalog
    shown = page.item >= 0
    item = np.where(shown, page.item, 0)
    utility = users.true_utility(
        population, setup.worlds, current, cat.latent[item], cat.quality[item], cfg.quality_weight
    )
    probs = setup.choice_probabilities(
        utility, shown, setup.position_weights, cfg.utility_scale, cfg.no_click_utility
    )
    slot = sample_choice(probs, rng.random(len(setup.worlds)))
    onehot = np.arange(cfg.slots)[None, :] == slot[:, None]
    return Choice(shown, item, utility, probs, slot, slot < cfg.slots, onehot)


def settle(
    cfg: MarketConfig, catalog: Catalog, n_agents: int, page: Page, choice: Choice
) -> Settlement:
    """Engagement of the click (or its expectation), payments at the page's prices, rewards."""
    shown, item = choice.shown, choice.item
    engagement = np.where(shown, _sigmoid(choice.utility), 0.0)
    weight = choice.probabilities[:, :-1] if cfg.reward_mode == "expected" else choice.onehot
    if kernels.one_world_path(len(item)):  # the click of world 0, without index arrays
        slot = int(choice.slot[0])
        clicked = slot < cfg.slots
        consumed = np.array([item[0, slot] if clicked else -1])
        gained = engagement[0, slot : slot + 1].copy() if clicked else np.zeros(1, engagement.dtype)
    else:
        rows, slot = np.arange(len(item)), np.minimum(choice.slot, cfg.slots - 1)
        consumed = np.where(choice.clicked, item[rows, slot], -1)
        gained = np.where(choice.clicked, engagement[rows, slot], 0.0)
    compiled = kernels.settle(
        shown, item, engagement, weight, page.price, page.owner, catalog.attributes, n_agents,
        cfg.diversity_weight, cfg.reward_lambda,
    )  # fmt: skip
    if compiled is not None:
        rewards, own, revenue, payment, team, diversity = compiled
        if cfg.agent_budget > 0:  # budgets cap later bids: spend adds the numpy payments
            payment = (owned_slots(page, n_agents) * (page.price * weight)[:, None, :]).sum(axis=2)
        return Settlement(
            rewards, own, revenue, payment, team, diversity, engagement, consumed, gained
        )
    value = engagement * weight
    paid = page.price * weight
    owned = owned_slots(page, n_agents)
    revenue = (owned * value[:, None, :]).sum(axis=2)
    payment = (owned * paid[:, None, :]).sum(axis=2)
    diversity = metrics.intra_list_diversity(catalog.attributes[item], shown)
    team = value.sum(axis=1) + cfg.diversity_weight * diversity
    own = revenue - payment
    rewards = cfg.reward_lambda * own + (1.0 - cfg.reward_lambda) * team[:, None]
    return Settlement(rewards, own, revenue, payment, team, diversity, engagement, consumed, gained)


def owned_slots(page: Page, n_agents: int) -> np.ndarray:
    """(W, N, S) bool agent n filled slot s."""
    return page.owner[:, None, :] == np.arange(n_agents)[None, :, None]


def update_users(
    setup: Setup,
    world: World,
    current: np.ndarray,
    consumed: np.ndarray,
    gained: np.ndarray,
    wasted: np.ndarray | None = None,
) -> None:
    """Updates ``world.population`` (fatigue decays, a click drifts tastes and tires) and
    ``world.sessions`` (budget, steps, clicks, misses, last topic). Under
    ``session_model="satisfaction"`` a click adds to the budget and ``wasted`` (W,) empty
    slots cost it; the public ``world.session_topics`` decays and adds the click's tags."""
    if kernels.one_world_path(len(current)):
        _update_one_user(setup, world, int(current[0]), int(consumed[0]), gained, wasted)
        return
    cfg, sess, pop, worlds = setup.config, world.sessions, world.population, setup.worlds
    pop.fatigue[worlds, current] *= cfg.fatigue_decay
    hit = consumed >= 0
    if hit.any():
        latent = setup.catalog.latent[consumed[hit]]
        users.consume(pop, worlds[hit], current[hit], latent, cfg.drift_rate, cfg.fatigue_rate)
    if cfg.session_model == "satisfaction":
        waste = 0.0 if wasted is None else cfg.waste_cost * wasted
        sess.budget += cfg.satisfaction_gain * gained - cfg.browse_cost - waste
        if cfg.bait_regret > 0 and hit.any():  # regretted bait shortens the session
            bait = setup.catalog.bait[consumed[hit]]
            sess.budget[worlds[hit]] -= cfg.bait_regret * bait.astype(np.float64)
    else:
        sess.budget -= cfg.browse_cost + gained
    if cfg.public_features:
        world.session_topics *= cfg.fatigue_decay
        if hit.any():
            world.session_topics[worlds[hit]] += setup.catalog.attributes[consumed[hit]]
    sess.steps += 1
    sess.clicks += hit
    sess.misses = np.where(hit, 0, sess.misses + 1)
    sess.last_clicked = hit
    main_topic = setup.catalog.main_topic[np.maximum(consumed, 0)]
    sess.last_topic = np.where(hit, main_topic, sess.last_topic)


def _update_one_user(
    setup: Setup, world: World, user: int, consumed: int, gained: np.ndarray, wasted
) -> None:
    """:func:`update_users` of world 0 alone: the same operations on the same dtypes, on
    numpy scalars and views instead of (1, ...) arrays."""
    cfg, sess, pop, cat = setup.config, world.sessions, world.population, setup.catalog
    hit = consumed >= 0
    pop.fatigue[0, user] *= cfg.fatigue_decay
    if hit:
        latent = cat.latent[consumed][None, :]
        preference = pop.preference[0, user][None, :]  # a view: updated in place
        users.drift_tastes(preference, latent, cfg.drift_rate)
        pop.fatigue[0, user] += cfg.fatigue_rate * latent[0]
    if cfg.session_model == "satisfaction":
        waste = 0.0 if wasted is None else cfg.waste_cost * wasted[0]
        sess.budget[0] += cfg.satisfaction_gain * gained[0] - cfg.browse_cost - waste
        if cfg.bait_regret > 0 and hit:
            sess.budget[0] -= cfg.bait_regret * np.float64(cat.bait[consumed])
    else:
        sess.budget[0] -= cfg.browse_cost + gained[0]
    if cfg.public_features:
        world.session_topics *= cfg.fatigue_decay
        if hit:
            world.session_topics[0] += cat.attributes[consumed]
    sess.steps[0] += 1
    sess.clicks[0] += hit
    sess.misses[0] = 0 if hit else sess.misses[0] + 1
    sess.last_clicked[0] = hit
    if hit:
        sess.last_topic[0] = cat.main_topic[consumed]


def feed_back(setup: Setup, world: World, page: Page, choice: Choice, current: np.ndarray) -> None:
    """Updates ``world.counts``; each backbone learns from the impressions it may see
    (``feedback_sharing``) and its cache forgets users whose scores changed."""
    counts = world.counts
    if kernels.one_world_path(len(current)):
        events, owner = _one_world_events(world, page, choice, int(current[0]))
    else:
        w, s = np.nonzero(choice.shown)
        items, clicked, owner = page.item[w, s], choice.onehot[w, s], page.owner[w, s]
        # A page never shows an item twice and a world clicks at most once, so every (world,
        # item) pair below is distinct and a fancy-indexed += counts exactly (no np.add.at).
        counts.item_impressions[w, items] += 1
        counts.item_clicks[w[clicked], items[clicked]] += 1
        counts.clicks_total[w[clicked]] += 1
        events = (w, current[w], items, clicked, world.t[w])  # every impression of the step
    if len(events[0]) == 0:
        return
    everything = setup.config.feedback_sharing != "own"
    for agent, (backbone, cache) in enumerate(zip(setup.backbones, setup.caches)):
        seen = events
        if not everything:
            see = owner == agent
            if not see.any():
                continue
            seen = tuple(column[see] for column in events)
        changed = backbone.learn(*seen)
        if changed.any():
            cache.invalidate_users(seen[0][changed], seen[1][changed])


def _one_world_events(world: World, page: Page, choice: Choice, user: int) -> tuple:
    """:func:`feed_back`'s counts and events for world 0: the same updates on its rows."""
    shown = choice.shown[0]
    items, owner = page.item[0][shown], page.owner[0][shown]
    clicked = choice.onehot[0][shown]
    world.counts.item_impressions[0, items] += 1
    slot = int(choice.slot[0])
    if slot < len(shown):
        world.counts.item_clicks[0, page.item[0, slot]] += 1
        world.counts.clicks_total[0] += 1
    n = len(items)
    zeros = np.zeros(n, np.int64)
    return (zeros, np.full(n, user), items, clicked, np.full(n, world.t[0])), owner


def measure(
    setup: Setup,
    world: World,
    page: Page,
    choice: Choice,
    settlement: Settlement,
    current: np.ndarray,
) -> tuple[np.ndarray, LastPage]:
    """Every info key as one (len(INFO_KEYS), W, N) float32 table (in :data:`INFO_KEYS`
    order), and the page's record for the next observation.

    Updates ``world.exposure``. Runs before :func:`turn_over`, while ``current`` still holds
    the users who saw the page.
    """
    cfg, cat, shown = setup.config, setup.catalog, choice.shown
    n_avail = n_available(cat, world.t)
    if kernels.numba_enabled():  # the same values in one compiled pass
        world.exposure.add(page.item)
        compiled = kernels.measure(
            _KERNEL_ROWS, page, choice, settlement, world.counts, world.exposure, n_avail,
            world.t, release_time=cat.release_time, cold_window=cfg.cold_start_window,
            utility_scale=cfg.utility_scale, weights=setup.position_weights,
            ideal=_ideal_relevance(setup, world, current, n_avail),
            backbone_ids=setup.backbone_ids,
        )  # fmt: skip
        share, clicks = compiled[_INFO_ROW["slot_share"]], compiled[_INFO_ROW["clicks"]]
        return compiled, LastPage(share.copy(), clicks.copy(), choice.slot, page)
    young = shown & ((world.t[:, None] - cat.release_time[choice.item]) < cfg.cold_start_window)
    table = np.empty((len(INFO_KEYS), len(setup.worlds), setup.n_agents), np.float32)
    row = _INFO_ROW
    _market_metrics(table, setup, world, page, choice, settlement, young, current, n_avail)
    table[row["own_reward"]] = settlement.own
    table[row["revenue"]] = settlement.revenue
    table[row["payment"]] = settlement.payment
    table[row["team_reward"]] = settlement.team[:, None]
    owned_shown = owned_slots(page, setup.n_agents) & shown[:, None, :]
    slots = owned_shown.sum(axis=2)
    agent_clicks = (owned_shown & choice.onehot[:, None, :]).sum(axis=2)
    owned_young = owned_shown & young[:, None, :]
    table[row["cold_slots"]] = owned_young.sum(axis=2)
    table[row["cold_clicks"]] = (owned_young & choice.onehot[:, None, :]).sum(axis=2)
    share = slots / cfg.slots
    table[row["slots"]] = slots
    table[row["slot_share"]] = share
    table[row["clicks"]] = agent_clicks
    table[row["backbone_id"]] = setup.backbone_ids
    last = LastPage(share.astype(np.float32), agent_clicks.astype(np.float32), choice.slot, page)
    return table, last


def turn_over(setup: Setup, world: World, rng: np.random.Generator) -> None:
    """Users out of budget or patience leave; with probability ``churn_rate`` a brand-new
    user takes their place. A random member of the population starts the next session."""
    cfg, sess = setup.config, world.sessions
    one_stays = sess.budget[0] > 0 and sess.misses[0] < cfg.patience
    if kernels.one_world_path(len(sess.budget)) and one_stays:  # nothing to do
        return
    leaving = np.flatnonzero(session_over(cfg, sess))
    if len(leaving) == 0:
        return
    churn = cfg.churn_rate * np.exp(-cfg.churn_per_click * sess.clicks[leaving])
    churned = leaving[rows_for(rng, leaving).random(len(leaving)) < churn]
    world.session_topics[leaving] = 0.0
    world.session_seen[leaving] = False
    if len(churned):
        admit_new_users(setup, world, churned, sess.user[churned], rng)
    budgets = (cfg.budget_min, cfg.budget_max)
    users.start_sessions(sess, leaving, cfg.n_users, budgets, rows_for(rng, leaving))


def session_over(cfg: MarketConfig, sess: users.Sessions) -> np.ndarray:
    """(W,) bool the user in session leaves: out of budget or out of patience."""
    return (sess.budget <= 0) | (sess.misses >= cfg.patience)


def tick(setup: Setup, world: World) -> None:
    """The clock advances; a backbone that redeploys its item tables invalidates its cache."""
    world.t += 1
    for backbone, cache in zip(setup.backbones, setup.caches):
        redeployed = backbone.tick(world.t)
        if redeployed.any():
            cache.invalidate_worlds(np.flatnonzero(redeployed))


def refresh_candidates(setup: Setup, world: World) -> Candidates:
    """Each agent's top-K for the user in session, from its backbone's exact cache."""
    current, avail, worlds = world.sessions.user, n_available(setup.catalog, world.t), setup.worlds
    shape = (len(worlds), setup.n_agents, setup.config.candidates)
    items, scores = np.empty(shape, np.int64), np.empty(shape, np.float32)
    one_user = int(current[0]) if len(worlds) == 1 else None
    for agent, cache in enumerate(setup.caches):
        cache.refresh(worlds, current, avail)
        if one_user is None:
            items[:, agent], scores[:, agent] = (
                cache.items[worlds, current],
                cache.scores[worlds, current],
            )
        else:  # one world: plain views instead of fancy indexing
            items[0, agent], scores[0, agent] = cache.items[0, one_user], cache.scores[0, one_user]
    return Candidates(items=items, scores=scores, valid=scores > UNSCORABLE)


def admit_new_users(
    setup: Setup,
    world: World,
    worlds: np.ndarray,
    user_ids: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """These (world, user) slots get brand-new users (drawn from the users stream ``rng``);
    backbones start their profiles from what the users state at sign-up."""
    pop = world.population
    from_stated = setup.config.text_noise > 0  # v1: the profile text names stated interests
    users.draw_users(pop, worlds, user_ids, rows_for(rng, worlds), stated_noise=0.5,
                     profile_from_stated=from_stated)  # fmt: skip
    stated = pop.stated[worlds, user_ids]
    text_ids = pop.profile_text_id[worlds, user_ids]
    for backbone, cache in zip(setup.backbones, setup.caches):
        backbone.new_users(worlds, user_ids, stated, text_ids)
        cache.invalidate_users(worlds, user_ids)


def n_available(catalog: Catalog, t: np.ndarray) -> np.ndarray:
    """(W,) how many catalog items (a prefix, sorted by release) exist at step ``t``."""
    return np.searchsorted(catalog.release_time, t, side="right")


# ---------------------------------------------------------------------------- metrics
def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _market_metrics(
    table: np.ndarray,
    setup: Setup,
    world: World,
    page: Page,
    choice: Choice,
    settlement: Settlement,
    young: np.ndarray,
    current: np.ndarray,
    n_avail: np.ndarray,
) -> None:
    """Writes the market-level rows of ``table`` (the same value for every agent)."""
    cfg, shown, counts, row = setup.config, choice.shown, world.counts, _INFO_ROW
    world.exposure.add(page.item)
    relevance = np.where(shown, _sigmoid(cfg.utility_scale * choice.utility), 0.0)
    n_shown = np.maximum(shown.sum(axis=1), 1)
    clicks_total = counts.clicks_total[:, None]
    item_clicks = counts.item_clicks[setup.worlds[:, None], choice.item]
    share = (item_clicks + 1.0) / (clicks_total + n_avail[:, None])
    novelty = np.where(shown, -np.log2(share), 0.0).sum(axis=1) / n_shown
    ideal = _ideal_relevance(setup, world, current, n_avail)
    market = (
        ("ctr", choice.clicked / n_shown),
        ("engagement", settlement.gained),
        ("ndcg", metrics.ndcg(relevance, ideal, setup.position_weights)),
        ("diversity", settlement.diversity),
        ("coverage", world.exposure.coverage(n_avail)),
        ("novelty", novelty / np.log2(clicks_total[:, 0] + n_avail + 1.0)),
        ("exposure_gini", world.exposure.gini(n_avail)),
        ("cold_start_exposure", young.sum(axis=1) / cfg.slots),
        ("welfare", -np.log(np.maximum(choice.probabilities[:, -1], 1e-12))),
    )
    for key, value in market:
        table[row[key]] = value[:, None]


def _ideal_relevance(setup: Setup, world: World, current, n_avail) -> np.ndarray:
    """Relevance of the S best available items by true utility, descending (for NDCG)."""
    cfg, cat, pop, worlds = setup.config, setup.catalog, world.population, setup.worlds
    taste = pop.preference[worlds, current] - pop.fatigue[worlds, current]
    best = kernels.ideal_values(
        taste, cat.latent, cat.quality, cfg.quality_weight, n_avail, cfg.slots,
        setup.utility_tables,
    )  # fmt: skip
    return _sigmoid(cfg.utility_scale * best)
