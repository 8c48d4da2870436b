"""Users after the page: tastes, fatigue and sessions; who leaves and who arrives (stages 6
and 9 of :func:`marec_env.step.advance`)."""

from __future__ import annotations

import numpy as np

from marec_env import kernels
from marec_env.config import MarketConfig
from marec_env.core import users
from marec_env.setup import Setup
from marec_env.streams import rows_for
from marec_env.world import World


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
    else:
        sess.budget -= cfg.browse_cost + gained
    if cfg.bait_regret > 0 and hit.any():  # regretted bait shortens the session
        bait = setup.catalog.bait[consumed[hit]]
        sess.budget[worlds[hit]] -= cfg.bait_regret * bait.astype(np.float64)
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
    else:
        sess.budget[0] -= cfg.browse_cost + gained[0]
    if cfg.bait_regret > 0 and hit:
        sess.budget[0] -= cfg.bait_regret * np.float64(cat.bait[consumed])
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
