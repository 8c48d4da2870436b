"""The state of W independent worlds as plain data; :mod:`marec_env.step` changes it.

Everything that changes during an episode lives here, except what the backbones have learned
(each backbone keeps its own model; :class:`~marec_env.step.Setup` holds them). Arrays have a
leading world dimension W; N is the number of agents, K candidates per agent, S slots.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from marec_env.core import metrics, users
from marec_env.core.allocation import Page

STREAMS = ("users", "choice", "allocation", "backbones")
"""Named random streams; each is its own Generator spawned from the episode's SeedSequence."""


def spawn_streams(seed_sequence: np.random.SeedSequence) -> dict[str, np.random.Generator]:
    """One SeedSequence controls everything: one Generator per stream of :data:`STREAMS`."""
    children = seed_sequence.spawn(len(STREAMS))
    return {name: np.random.Generator(np.random.PCG64(s)) for name, s in zip(STREAMS, children)}


@dataclass
class PublicCounts:
    """What the platform counts publicly in each world (agents see these numbers too)."""

    item_clicks: np.ndarray
    """(W, n_items) int64 clicks on each item this episode."""
    item_impressions: np.ndarray
    """(W, n_items) int64 times each item was shown this episode."""
    clicks_total: np.ndarray
    """(W,) int64 clicks on any item this episode."""

    @classmethod
    def zeros(cls, num_worlds: int, n_items: int) -> PublicCounts:
        return cls(
            item_clicks=np.zeros((num_worlds, n_items), np.int64),
            item_impressions=np.zeros((num_worlds, n_items), np.int64),
            clicks_total=np.zeros(num_worlds, np.int64),
        )

    def clear(self, worlds: np.ndarray) -> None:
        self.item_clicks[worlds] = 0
        self.item_impressions[worlds] = 0
        self.clicks_total[worlds] = 0


@dataclass
class Candidates:
    """Each agent's top-K candidates for the user now in session, best first."""

    items: np.ndarray
    """(W, N, K) int64 item ids."""
    scores: np.ndarray
    """(W, N, K) float32 the backbone's scores."""
    valid: np.ndarray
    """(W, N, K) bool False for fillers (available items the backbone cannot score)."""


@dataclass
class LastPage:
    """What happened on the previous page (agents observe the shares and clicks)."""

    slot_share: np.ndarray
    """(W, N) float32 share of the S slots each agent filled."""
    clicks: np.ndarray
    """(W, N) float32 clicks on each agent's items (0 or 1)."""
    choice: np.ndarray
    """(W,) int64 clicked slot, S for no click."""
    page: Page | None = None
    """The page itself (None before the first step)."""

    @classmethod
    def empty(cls, num_worlds: int, n_agents: int, slots: int) -> LastPage:
        return cls(
            slot_share=np.zeros((num_worlds, n_agents), np.float32),
            clicks=np.zeros((num_worlds, n_agents), np.float32),
            choice=np.full(num_worlds, slots, np.int64),
        )

    def clear(self, worlds: np.ndarray, slots: int) -> None:
        self.slot_share[worlds] = 0.0
        self.clicks[worlds] = 0.0
        self.choice[worlds] = slots


IDEAL_MEMO_ITEMS = 16
"""Items each world keeps from its last search for NDCG's ideal, in catalogs of at least
:data:`IDEAL_MEMO_MIN_ITEMS` items. Smaller catalogs keep the page's slots' worth, which only
start the next search (there a search costs less than the memo's misses: measured
crossover about 2,000 items, coop-slate-v0 at B=1,024)."""
IDEAL_MEMO_MIN_ITEMS = 2048


@dataclass
class IdealMemo:
    """Per world, what the last full search for NDCG's ideal found: its best items and the
    taste it scored them with (see :mod:`marec_env.compiled_ideal`). While the user's taste
    drifts little, the ideal follows from these items alone. Which items are kept never
    changes a value."""

    items: np.ndarray
    """(W, M) int64 the M best items of the last search, best first. With M = S (small
    catalogs) they only start the next search, which overwrites them."""
    taste: np.ndarray
    """(W, T) float32 the taste they were scored with."""
    bar: np.ndarray
    """(W,) float32 the M-th best utility then."""
    bound: np.ndarray
    """(W,) float64 the largest |utility| that taste allowed (scales the rounding slack)."""
    searched: np.ndarray
    """(W,) int64 items available at that search; −1: no usable search."""

    @classmethod
    def empty(cls, num_worlds: int, n_topics: int, width: int) -> IdealMemo:
        return cls(
            items=np.full((num_worlds, width), -1, np.int64),
            taste=np.zeros((num_worlds, n_topics), np.float32),
            bar=np.zeros(num_worlds, np.float32),
            bound=np.zeros(num_worlds, np.float64),
            searched=np.full(num_worlds, -1, np.int64),
        )

    def arrays(self) -> tuple[np.ndarray, ...]:
        """The arrays in the order :func:`marec_env.kernels.ideal_values` takes them."""
        return self.items, self.taste, self.bar, self.bound, self.searched


@dataclass
class World:
    """Everything that changes within an episode, for W worlds (backbone models aside)."""

    t: np.ndarray
    """(W,) int64 steps since the world's episode started."""
    population: users.Population
    """Each world's users: hidden tastes and fatigue, public sign-up data."""
    sessions: users.Sessions
    """The user in session in each world, with budget, misses and clicks."""
    counts: PublicCounts
    """Public click and impression counts."""
    exposure: metrics.ExposureTracker
    """Impressions per item this episode (for exposure metrics)."""
    last: LastPage
    """The previous page and what it earned."""
    candidates: Candidates | None = None
    """The agents' candidates for the current users (None until the first refresh)."""
    spend: np.ndarray | None = None
    """(W, N) float32 what each agent has paid this episode (auction budgets, markets v1)."""
    session_topics: np.ndarray | None = None
    """(W, T) float32 public tags of what the user clicked this session, decayed every page
    by ``fatigue_decay``: the platform's public fatigue proxy (markets v1)."""
    session_seen: np.ndarray | None = None
    """(W, n_items) bool the item was on a page of this session (public, markets v1)."""
    started: np.ndarray | None = None
    """(W,) bool the world has run before (long-run mode continues it on reset)."""
    ideal: IdealMemo | None = None
    """Each world's last full search for NDCG's ideal (a speed device; no value depends on it)."""

    @classmethod
    def empty(
        cls, num_worlds: int, n_agents: int, n_users: int, n_topics: int, n_items: int,
        slots: int, max_impressions: int,
    ) -> World:  # fmt: skip
        return cls(
            t=np.zeros(num_worlds, np.int64),
            population=users.Population.empty(num_worlds, n_users, n_topics),
            sessions=users.Sessions.empty(num_worlds),
            counts=PublicCounts.zeros(num_worlds, n_items),
            exposure=metrics.ExposureTracker(num_worlds, n_items, max_impressions),
            last=LastPage.empty(num_worlds, n_agents, slots),
            spend=np.zeros((num_worlds, n_agents), np.float32),
            session_topics=np.zeros((num_worlds, n_topics), np.float32),
            session_seen=np.zeros((num_worlds, n_items), bool),
            started=np.zeros(num_worlds, bool),
            ideal=IdealMemo.empty(num_worlds, n_topics, _ideal_memo_width(n_items, slots)),
        )

    @property
    def num_worlds(self) -> int:
        return len(self.t)


def _ideal_memo_width(n_items: int, slots: int) -> int:
    return max(IDEAL_MEMO_ITEMS, slots) if n_items >= IDEAL_MEMO_MIN_ITEMS else slots
