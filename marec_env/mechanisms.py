"""Allocation mechanisms as plug-ins: how the agents' actions and proposals fill the page.

A mechanism is one class behind :class:`Mechanism`, registered by name with
:func:`register`; ``MarketConfig.allocation`` names one of :data:`MECHANISMS`. It answers
three questions and nothing else in the env asks which mechanism runs:

- how many bid levels an action carries (:meth:`Mechanism.levels_for`; the action space is
  ``candidates × levels``),
- how an action decodes into a chosen candidate and a bid (:meth:`Mechanism.decode`),
- how the page is filled from the proposals, the bids and the platform's public statistics
  (:meth:`Mechanism.fill_page`; it returns a :class:`~marec_env.core.allocation.Page` whose
  prices the rewards charge, 0 where nobody pays).

Adding a mechanism: write its class here (or its batched kernel in ``core/allocation.py``
and a thin class here), decorate it with ``@register``, and give it a preset in
:mod:`marec_env.registry`. A class registered from another module joins the same registry
once that module is imported (``tests/test_pipeline.py`` plugs one in that way).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from marec_env.core import allocation
from marec_env.core.allocation import Page
from marec_env.world import PublicCounts

if TYPE_CHECKING:
    from marec_env.config import MarketConfig


class Mechanism(ABC):
    """Turns the agents' decoded actions and proposals into a page; one instance per market."""

    name: ClassVar[str]
    """The value of ``MarketConfig.allocation`` that selects this mechanism."""
    description: ClassVar[str]
    """One line for the docs and error messages."""

    def __init__(self, config: MarketConfig) -> None:
        self.slots = config.slots
        self.levels = self.levels_for(config)
        self.bid_values = np.arange(1, self.levels + 1, dtype=np.float32) / self.levels

    @classmethod
    def levels_for(cls, config: MarketConfig) -> int:
        """Bid levels an action carries (1: actions pick a candidate only)."""
        return 1

    def decode(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Actions (W, N) → chosen candidate (W, N) and bid per click (W, N) float32.

        ``action = candidate × levels + level`` and bid = (level + 1) / levels.
        """
        if self.levels == 1:
            return actions, np.ones(actions.shape, np.float32)
        return actions // self.levels, self.bid_values[actions % self.levels]

    @abstractmethod
    def fill_page(
        self,
        proposals: np.ndarray,
        bids: np.ndarray,
        counts: PublicCounts,
        rng: np.random.Generator,
    ) -> Page:
        """The page of every world: ``proposals`` (W, N, K) item ids in each agent's order
        (its chosen candidate first), ``bids`` (W, N), the public ``counts``, and the
        allocation random stream (used only by mechanisms that draw).

        A page never shows an item twice (empty slots hold -1); shown slots name their
        owner; prices are per click, >= 0, and 0 in empty slots."""


MECHANISMS: dict[str, type[Mechanism]] = {}
"""The one registry of mechanisms: name → class, in registration order."""


def register(cls: type[Mechanism]) -> type[Mechanism]:
    """Class decorator: make ``cls`` selectable as ``allocation=cls.name``."""
    if cls.name in MECHANISMS:
        raise ValueError(f"mechanism {cls.name!r} is registered twice")
    MECHANISMS[cls.name] = cls
    return cls


def mechanism_class(name: str) -> type[Mechanism]:
    if name not in MECHANISMS:
        raise ValueError(f"allocation must be one of {list(MECHANISMS)}, got {name!r}")
    return MECHANISMS[name]


def make_mechanism(config: MarketConfig) -> Mechanism:
    return mechanism_class(config.allocation)(config)


@register
class GSPAuction(Mechanism):
    """Generalised second-price auction on bid × quality score, paid per click."""

    name = "auction"
    description = "generalised second-price auction on bid × quality score, pay per click"

    @classmethod
    def levels_for(cls, config: MarketConfig) -> int:
        return config.bid_levels

    def fill_page(self, proposals, bids, counts, rng) -> Page:
        return allocation.gsp_auction(
            proposals, bids, self.quality_score(proposals, counts), self.slots
        )

    @staticmethod
    def quality_score(proposals: np.ndarray, counts: PublicCounts) -> np.ndarray:
        """(W, N, K) float32 the platform's public click-rate estimate of each proposal:
        (clicks + 1) / (impressions + 2)."""
        rows = np.arange(proposals.shape[0])[:, None, None]
        clicks = counts.item_clicks[rows, proposals]
        shows = counts.item_impressions[rows, proposals]
        return ((clicks + 1.0) / (shows + 2.0)).astype(np.float32)


@register
class TeamDraft(Mechanism):
    """Team-draft interleaving: agents pick in a random order each round; no duplicates."""

    name = "interleave"
    description = "team-draft interleaving in a random order each round"

    def fill_page(self, proposals, bids, counts, rng) -> Page:
        return allocation.team_draft(proposals, self.slots, rng)


@register
class JointSlate(Mechanism):
    """Cooperative joint slate: slots go round-robin; a duplicate item wastes its slot."""

    name = "cooperative"
    description = "joint slate, slot s to agent s mod N; a duplicate wastes the slot"

    def fill_page(self, proposals, bids, counts, rng) -> Page:
        return allocation.cooperative(proposals, self.slots)


# ---------------------------------------------------------------------------- markets v1
@register
class ClaimedSlate(Mechanism):
    """Joint slate whose positions the agents choose (markets v1): no slot belongs to an
    agent. ``action = candidate × S + position``: the item to show and where it should go;
    a claim on a taken position moves down, a duplicate wastes its position."""

    name = "slate"
    description = "joint slate, each agent claims a position for its item; duplicates waste it"

    @classmethod
    def levels_for(cls, config: MarketConfig) -> int:
        return config.slots

    def fill_page(self, proposals, bids, counts, rng) -> Page:
        # decode's "bid" (level + 1) / S encodes the claimed position, level.
        claims = np.rint(bids * self.levels).astype(np.int64) - 1
        return allocation.claimed_slate(proposals, claims, self.slots, rng)


@register
class ShuffledSlate(Mechanism):
    """The cooperative joint slate with its slots in a random order on every page: what an
    agent shows is its choice, where it lands is chance (to measure position bias)."""

    name = "shuffled"
    description = "joint slate (duplicates waste a slot) in a uniformly random slot order"

    def fill_page(self, proposals, bids, counts, rng) -> Page:
        return allocation.shuffled_positions(allocation.cooperative(proposals, self.slots), rng)


@register
class SingleEntryGSP(Mechanism):
    """GSP with one entry per agent (its chosen candidate), a reserve price and
    deterministic tie-breaking (markets v1). Budgets cap bids before the page is filled
    (:func:`marec_env.step.cap_bids`)."""

    name = "gsp"
    description = "GSP, one entry per agent, reserve price, ties to the lower item id"

    def __init__(self, config: MarketConfig) -> None:
        super().__init__(config)
        self.reserve = float(config.reserve_price)

    @classmethod
    def levels_for(cls, config: MarketConfig) -> int:
        return config.bid_levels

    def fill_page(self, proposals, bids, counts, rng) -> Page:
        entries = proposals[:, :, :1]
        score = GSPAuction.quality_score(entries, counts)[:, :, 0]
        return allocation.gsp_single_entry(entries[:, :, 0], bids, score, self.slots, self.reserve)
