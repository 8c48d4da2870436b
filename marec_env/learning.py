"""Backbones after the page: public counts and learning, the clock and redeploys, and each
agent's candidates (stages 7, 10 and 11 of :func:`marec_env.step.advance`)."""

from __future__ import annotations

import numpy as np

from marec_env import kernels
from marec_env.core.allocation import Page
from marec_env.core.catalog import Catalog
from marec_env.recommenders.candidates import UNSCORABLE
from marec_env.serve import Choice
from marec_env.setup import Setup
from marec_env.world import Candidates, World


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


def n_available(catalog: Catalog, t: np.ndarray) -> np.ndarray:
    """(W,) how many catalog items (a prefix, sorted by release) exist at step ``t``."""
    return np.searchsorted(catalog.release_time, t, side="right")
