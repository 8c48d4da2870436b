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

    def rebuild(self, worlds: np.ndarray, visible: np.ndarray, deployed: np.ndarray) -> None:
        """Pack the visible items of these worlds from ``visible`` (W, n_items) and
        ``deployed`` (W, n_items, f)."""
        w, items = np.nonzero(visible[worlds])  # row-major: ids ascend within each world
        counts = np.bincount(w, minlength=len(worlds))
        self._reserve(int(counts.max()) if len(counts) else 0)
        position = np.arange(len(w)) - (np.cumsum(counts) - counts)[w]
        w = worlds[w]
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
