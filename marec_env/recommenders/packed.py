"""Each world's visible items and their deployed factors, packed side by side in id order."""

from __future__ import annotations

import numpy as np


class PackedVisible:
    """The items a factor model can score in each world (``visible``), with their deployed
    factors in one contiguous run per world, rebuilt whenever a world deploys.

    CF sees only the items clicked before its last deployment (tens of a catalog of
    thousands), so scoring reads this run instead of every item's row of the deployed table.
    Capacity per world grows to the largest visible count seen (at most the catalog).
    """

    def __init__(self, num_worlds: int, n_items: int, n_factors: int) -> None:
        self.n_items = n_items
        self.count = np.zeros(num_worlds, np.int64)
        """(W,) visible items of each world."""
        self.ids = np.zeros((num_worlds, 0), np.int64)
        """(W, capacity) ids of the visible items, ascending; only ``count[w]`` are used."""
        self.factors = np.zeros((num_worlds, 0, n_factors), np.float32)
        """(W, capacity, f) their deployed factors, in the same order."""

    def clear(self, worlds: np.ndarray) -> None:
        self.count[worlds] = 0

    def deploy(
        self, worlds: np.ndarray, new_worlds: np.ndarray, new_items: np.ndarray, deployed
    ) -> None:
        """These worlds (ascending) deploy: each keeps its packed items and gains the newly
        visible ``(new_worlds[e], new_items[e])`` (distinct, not yet packed); every packed
        item of these worlds takes its factors from ``deployed`` (W, n_items, f)."""
        held = np.arange(self.ids.shape[1])[None, :] < self.count[worlds][:, None]
        local, column = np.nonzero(held)
        w = np.concatenate([worlds[local], new_worlds])
        items = np.concatenate([self.ids[worlds[local], column], new_items])
        order = np.lexsort((items, w))  # by world, ids ascending within each
        w, items = w[order], items[order]
        counts = np.bincount(np.searchsorted(worlds, w), minlength=len(worlds))
        self._reserve(int(counts.max()) if len(counts) else 0)
        position = np.arange(len(w)) - np.repeat(np.cumsum(counts) - counts, counts)
        self.ids[w, position] = items
        self.factors[w, position] = deployed[w, items]
        self.count[worlds] = counts

    def _reserve(self, needed: int) -> None:
        capacity = self.ids.shape[1]
        if needed <= capacity:
            return
        grown = min(max(needed, 2 * capacity, 16), self.n_items)
        ids = np.zeros((len(self.count), grown), np.int64)
        factors = np.zeros((len(self.count), grown, self.factors.shape[2]), np.float32)
        ids[:, :capacity], factors[:, :capacity] = self.ids, self.factors
        self.ids, self.factors = ids, factors


class TrainedSince:
    """Per world, the items trained since its last deployment: a flag per (world, item), and
    the same items as a list per world, each once, so a deployment copies and inspects only
    these instead of scanning the whole catalog of every world."""

    def __init__(self, num_worlds: int, n_items: int) -> None:
        self.n_items = n_items
        self.listed = np.zeros((num_worlds, n_items), bool)
        """(W, n_items) the item was trained since the world last deployed."""
        self.count = np.zeros(num_worlds, np.int64)
        self.ids = np.zeros((num_worlds, 0), np.int64)
        """(W, capacity) the listed item ids, each once, in no set order (a deployment sorts
        them); ``count[w]`` of each row are used."""

    def clear(self, worlds: np.ndarray) -> None:
        self.listed[worlds] = False
        self.count[worlds] = 0

    def add(self, worlds: np.ndarray, items: np.ndarray) -> None:
        """These (world, item) pairs were trained (repeats and listed ones allowed)."""
        fresh = ~self.listed[worlds, items]
        self.listed[worlds, items] = True
        if not fresh.any():
            return
        pairs = np.unique(worlds[fresh] * self.n_items + items[fresh])  # sorted by world
        worlds, items = pairs // self.n_items, pairs % self.n_items
        rank = np.arange(len(worlds)) - np.searchsorted(worlds, worlds)
        position = self.count[worlds] + rank
        self._reserve(int(position.max()) + 1)
        self.ids[worlds, position] = items
        self.count += np.bincount(worlds, minlength=len(self.count))

    def add_to_first_world(self, items: np.ndarray) -> None:
        """:meth:`add` for world 0 alone (the one-world path), on a slice."""
        items = items[~self.listed[0, items]]
        self.listed[0, items] = True
        items = np.unique(items) if len(set(items.tolist())) < len(items) else items
        start = int(self.count[0])
        self._reserve(start + len(items))
        self.ids[0, start : start + len(items)] = items
        self.count[0] = start + len(items)

    def take(self, worlds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The listed (world, item) pairs of these worlds, whose lists are emptied."""
        held = np.arange(self.ids.shape[1])[None, :] < self.count[worlds][:, None]
        local, column = np.nonzero(held)
        w = worlds[local]
        items = self.ids[w, column]
        self.listed[w, items] = False
        self.count[worlds] = 0
        return w, items

    def _reserve(self, needed: int) -> None:
        capacity = self.ids.shape[1]
        if needed > capacity:
            grown = min(max(needed, 2 * capacity, 16), self.n_items)
            ids = np.zeros((len(self.count), grown), np.int64)
            ids[:, :capacity] = self.ids
            self.ids = ids
