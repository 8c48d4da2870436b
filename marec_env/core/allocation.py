"""Allocation kernels: how the agents' proposals fill the S slots of a page (pure numpy).

The env reaches them through the mechanism plug-ins of :mod:`marec_env.mechanisms`, which
also decode actions and compute what a kernel needs (the auction's quality score).

Inputs are batched over n worlds: ``proposals`` (n, N, K) item ids in each agent's preference
order (its chosen candidate first). Every mechanism returns a :class:`Page` with item -1 in
empty slots; no item appears twice on a page.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from marec_env import kernels


@dataclass
class Page:
    item: np.ndarray
    """(n, S) int64 item in each slot, -1 where the slot is empty (wasted or unfilled)."""
    owner: np.ndarray
    """(n, S) int64 agent that filled the slot (-1 if nobody)."""
    price: np.ndarray
    """(n, S) float32 price per click (auction only; 0 elsewhere)."""


def _earlier_duplicate(items: np.ndarray) -> np.ndarray:
    """(n, S) True where the same item already appears at an earlier position."""
    same = items[:, :, None] == items[:, None, :]
    earlier = np.tril(np.ones(items.shape[1], dtype=bool), k=-1)
    return (same & earlier).any(axis=2) & (items >= 0)


def cooperative(proposals: np.ndarray, slots: int) -> Page:
    """Joint slate: slot s goes to agent s mod N, which places its (s div N)-th proposal.
    A duplicate of an item already on the page wastes the slot (shown empty)."""
    n, n_agents, _ = proposals.shape
    compiled = kernels.cooperative(proposals, slots)
    if compiled is not None:
        return Page(*compiled, price=np.zeros((n, slots), np.float32))
    slot = np.arange(slots)
    owner = np.broadcast_to(slot % n_agents, (n, slots)).copy()
    item = proposals[:, slot % n_agents, slot // n_agents].copy()
    item[_earlier_duplicate(item)] = -1
    return Page(item=item, owner=owner, price=np.zeros((n, slots), np.float32))


def team_draft(proposals: np.ndarray, slots: int, rng: np.random.Generator) -> Page:
    """Team-draft interleaving: each round the agents pick in a random order, each adding its
    best proposal not yet on the page. Duplicates are skipped, never shown."""
    n, n_agents, k = proposals.shape
    rounds = -(-slots // n_agents)
    order = rng.random((n, rounds, n_agents)).argsort(axis=2)
    compiled = kernels.team_draft(proposals, order, slots)
    if compiled is not None:
        return Page(*compiled, price=np.zeros((n, slots), np.float32))
    item = np.full((n, slots), -1, np.int64)
    owner = np.full((n, slots), -1, np.int64)
    pointer = np.zeros((n, n_agents), np.int64)
    rows = np.arange(n)
    for s in range(slots):
        agent = order[:, s // n_agents, s % n_agents]
        for _ in range(k + 1):
            ptr = pointer[rows, agent]
            candidate = np.where(ptr < k, proposals[rows, agent, np.minimum(ptr, k - 1)], -1)
            taken = (item == candidate[:, None]).any(axis=1) & (candidate >= 0)
            if not taken.any():
                break
            pointer[rows[taken], agent[taken]] += 1
        item[:, s] = candidate
        owner[:, s] = np.where(candidate >= 0, agent, -1)
        pointer[rows, agent] += 1
    return Page(item=item, owner=owner, price=np.zeros((n, slots), np.float32))


def gsp_auction(
    proposals: np.ndarray, bids: np.ndarray, quality_score: np.ndarray, slots: int
) -> Page:
    """Generalised second-price auction on bid × quality score.

    Each agent enters its first ceil(S/N) proposals at its bid; entries are ranked by
    bid × quality score (a duplicate of a higher-ranked item is dropped), the top S win, and
    a winner pays per click the least bid that keeps its rank: next score / own quality score.
    ``bids`` is (n, N); ``quality_score`` (n, N, K) the platform's public estimate per proposal.
    """
    n, n_agents, _ = proposals.shape
    per_agent = -(-slots // n_agents)
    entries = n_agents * per_agent
    item = proposals[:, :, :per_agent].reshape(n, entries)
    owner = np.broadcast_to(np.repeat(np.arange(n_agents), per_agent), (n, entries))
    qs = quality_score[:, :, :per_agent].reshape(n, entries)
    score = (bids[:, :, None] * quality_score[:, :, :per_agent]).reshape(n, entries)

    order = np.argsort(-score, axis=1, kind="stable")
    item, owner, qs, score = (np.take_along_axis(a, order, 1) for a in (item, owner, qs, score))
    dropped = _earlier_duplicate(item) | (item < 0)
    keep = np.argsort(dropped, axis=1, kind="stable")  # kept entries first, rank preserved
    item, owner, qs, score = (np.take_along_axis(a, keep, 1) for a in (item, owner, qs, score))
    dropped = np.take_along_axis(dropped, keep, 1)
    score = np.where(dropped, 0.0, score)

    next_score = np.concatenate([score[:, 1:], np.zeros((n, 1), score.dtype)], axis=1)
    price = np.where(qs > 0, next_score / np.maximum(qs, 1e-12), 0.0)
    won_item = np.where(dropped, -1, item)
    page_item = np.full((n, slots), -1, np.int64)
    page_owner = np.full((n, slots), -1, np.int64)
    page_price = np.zeros((n, slots), np.float32)
    m = min(slots, entries)
    page_item[:, :m] = won_item[:, :m]
    page_owner[:, :m] = np.where(won_item[:, :m] >= 0, owner[:, :m], -1)
    page_price[:, :m] = np.where(won_item[:, :m] >= 0, price[:, :m], 0.0)
    return Page(item=page_item, owner=page_owner, price=page_price)


# ---------------------------------------------------------------------------- markets v1
def _first_free(taken: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """(n,) the free position nearest below ``wanted`` (or at it), else the lowest free one
    above it; -1 where the page is full. ``taken`` is (n, S) bool."""
    slots = taken.shape[1]
    positions = np.arange(slots)[None, :]
    free = ~taken
    below = free & (positions >= wanted[:, None])
    above = free & (positions < wanted[:, None])
    first_below = np.where(below.any(1), below.argmax(1), -1)
    last_above = np.where(above.any(1), slots - 1 - above[:, ::-1].argmax(1), -1)
    return np.where(first_below >= 0, first_below, last_above)


def claimed_slate(
    proposals: np.ndarray, claims: np.ndarray, slots: int, rng: np.random.Generator
) -> Page:
    """Joint slate whose positions the agents choose: no slot belongs to an agent.

    Each agent places its chosen item (proposals[:, i, 0]) at the position it claims
    (``claims`` (n, N) int64 in [0, S)). Agents are served in a random order each page; one
    whose claimed position is taken gets the nearest free position below it (above if none
    is free below). An item already on the page wastes the position it takes (shown empty,
    the user sees a hole). Positions still free (S > N) are back-filled top-down with the
    agents' next proposals, team-draft style (duplicates skipped)."""
    n, n_agents, k = proposals.shape
    rows = np.arange(n)
    order = rng.random((n, n_agents)).argsort(axis=1)
    compiled = kernels.claimed_slate(proposals, claims, order, slots)
    if compiled is not None:
        return Page(*compiled, price=np.zeros((n, slots), np.float32))
    item = np.full((n, slots), -1, np.int64)
    owner = np.full((n, slots), -1, np.int64)
    taken = np.zeros((n, slots), bool)
    for r in range(n_agents):
        agent = order[:, r]
        position = _first_free(taken, claims[rows, agent])
        placed = position >= 0
        w, pos, ag = rows[placed], position[placed], agent[placed]
        candidate = proposals[w, ag, 0]
        duplicate = (item[w] == candidate[:, None]).any(axis=1) | (candidate < 0)
        item[w, pos] = np.where(duplicate, -1, candidate)
        owner[w, pos] = ag
        taken[w, pos] = True
    pointer = np.ones((n, n_agents), np.int64)
    turn = 0
    while (~taken).any() and turn < n_agents * k:
        agent = order[:, turn % n_agents]
        turn += 1
        open_rows = rows[(~taken).any(axis=1)]
        for _ in range(k):
            a = agent[open_rows]
            ptr = pointer[open_rows, a]
            cand = np.where(ptr < k, proposals[open_rows, a, np.minimum(ptr, k - 1)], -1)
            seen = (item[open_rows] == cand[:, None]).any(axis=1) & (cand >= 0)
            pointer[open_rows[seen], a[seen]] += 1
            if not seen.any():
                break
        fill = (cand >= 0) & ~seen
        w = open_rows[fill]
        pos = (~taken[w]).argmax(axis=1)
        item[w, pos], owner[w, pos], taken[w, pos] = cand[fill], a[fill], True
        pointer[w, a[fill]] += 1
    return Page(item=item, owner=owner, price=np.zeros((n, slots), np.float32))


def shuffled_positions(page: Page, rng: np.random.Generator) -> Page:
    """The same page with its slots in a uniformly random order (to measure position bias:
    which item lands where no longer depends on who proposed it)."""
    order = rng.random(page.item.shape).argsort(axis=1)
    return Page(*(np.take_along_axis(a, order, 1) for a in (page.item, page.owner, page.price)))


def gsp_single_entry(
    entries: np.ndarray,
    bids: np.ndarray,
    quality_score: np.ndarray,
    slots: int,
    reserve: float,
) -> Page:
    """GSP with one entry per agent (no agent prices itself) and a reserve price.

    ``entries`` (n, N) each agent's item, ``bids`` (n, N) per click (0: not bidding),
    ``quality_score`` (n, N). Entries with bid > 0 and bid >= ``reserve`` rank by
    bid × quality score; exact ties go to the lower item id (deterministic, never to a fixed
    agent). A duplicate of a higher-ranked item is dropped. The winner of rank r pays per
    click max(reserve, score of rank r+1 / own quality score), which never exceeds its bid:
    second price, also under ties (a tie costs the tied bid, the runner-up's)."""
    n, n_agents = entries.shape
    eligible = (bids > 0) & (bids >= reserve) & (entries >= 0)
    score = np.where(eligible, bids * quality_score, -1.0)
    order = np.lexsort((entries, -score), axis=1) if n else np.zeros((0, n_agents), np.int64)
    agents = np.broadcast_to(np.arange(n_agents), (n, n_agents))
    columns = (entries, agents, quality_score, score, eligible, bids)
    item, owner, qs, score, ok, bid = (np.take_along_axis(a, order, 1) for a in columns)
    ok &= ~_earlier_duplicate(np.where(ok, item, -1))
    keep = np.argsort(~ok, axis=1, kind="stable")
    columns = (item, owner, qs, score, ok, bid)
    item, owner, qs, score, ok, bid = (np.take_along_axis(a, keep, 1) for a in columns)
    score = np.where(ok, score, 0.0)
    next_score = np.concatenate([score[:, 1:], np.zeros((n, 1), score.dtype)], axis=1)
    # The min() only absorbs float rounding: next score <= own score means price <= bid.
    price = np.minimum(np.maximum(next_score / np.maximum(qs, 1e-12), reserve), bid)
    m = min(slots, n_agents)
    page = Page(
        item=np.full((n, slots), -1, np.int64),
        owner=np.full((n, slots), -1, np.int64),
        price=np.zeros((n, slots), np.float32),
    )
    page.item[:, :m] = np.where(ok[:, :m], item[:, :m], -1)
    page.owner[:, :m] = np.where(ok[:, :m], owner[:, :m], -1)
    page.price[:, :m] = np.where(ok[:, :m], price[:, :m], 0.0)
    return page
