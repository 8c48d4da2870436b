"""Per-step market metrics, batched over worlds.

Cumulative exposure statistics (coverage, exposure Gini) are kept incrementally so that a step
costs O(S log n_items), not a sort of the catalog.
"""

from __future__ import annotations

import numpy as np

from marec_env import kernels


def ndcg(page_relevance: np.ndarray, ideal_relevance: np.ndarray, weights: np.ndarray):
    """NDCG@S: DCG of the page over DCG of the best S available items (both (n, S)).

    Empty slots carry relevance 0; ``ideal_relevance`` is sorted descending.
    """
    dcg = page_relevance @ weights
    idcg = ideal_relevance @ weights
    return np.where(idcg > 0, dcg / np.maximum(idcg, 1e-12), 0.0)


def intra_list_diversity(attributes: np.ndarray, shown: np.ndarray) -> np.ndarray:
    """Mean pairwise (1 − cosine) between the shown items' unit attribute vectors (n, S, T)."""
    gram = np.einsum("nst,nut->nsu", attributes, attributes)
    pair = shown[:, :, None] & shown[:, None, :]
    np.einsum("nss->ns", pair)[...] = False
    count = pair.sum(axis=(1, 2))
    dissimilarity = np.where(pair, 1.0 - gram, 0.0).sum(axis=(1, 2))
    return np.where(count > 0, dissimilarity / np.maximum(count, 1), 0.0)


class ExposureTracker:
    """Impressions per item per world, with coverage and Gini kept up to date incrementally.

    Gini of the available items' impression counts x (n of them, sorted ascending, ranks r from
    1): G = 2·Σ r·x_(r) / (n·Σx) − (n+1)/n. An impression moves one item from value v to v+1;
    swapping it with the last item of value v keeps the order sorted, so Σ r·x_(r) grows by
    that position's rank. Unreleased items sit at the front with value 0 and are discounted.
    """

    def __init__(self, num_worlds: int, n_items: int, max_impressions: int) -> None:
        self.n_items = n_items
        # at_most[w, v]: items with at most v impressions; its value − 1 is the last sorted
        # position holding value v, which is where an item moving v → v+1 has to go.
        self.at_most = np.full((num_worlds, max_impressions + 2), n_items, np.int64)
        self.count = np.zeros((num_worlds, n_items), np.int64)
        self.item_at = np.tile(np.arange(n_items), (num_worlds, 1))
        self.position_of = np.tile(np.arange(n_items), (num_worlds, 1))
        self.rank_sum = np.zeros(num_worlds, np.int64)
        self.total = np.zeros(num_worlds, np.int64)
        self.covered = np.zeros(num_worlds, np.int64)

    def reset(self, worlds: np.ndarray) -> None:
        self.count[worlds] = 0
        self.at_most[worlds] = self.n_items
        self.item_at[worlds] = np.arange(self.n_items)
        self.position_of[worlds] = np.arange(self.n_items)
        self.rank_sum[worlds] = 0
        self.total[worlds] = 0
        self.covered[worlds] = 0

    def add(self, items: np.ndarray) -> None:
        """Record one impression per entry of ``items`` (W, S); -1 entries are ignored."""
        if kernels.exposure_add(self, items):
            return
        if items.shape[0] == 1:
            self._add_one_world(items[0].tolist())
            return
        rows = np.arange(items.shape[0])
        for column in items.T:
            live = column >= 0
            if not live.any():
                continue
            w, item = rows[live], column[live]
            value = self.count[w, item]
            last = self.at_most[w, value] - 1
            self.at_most[w, value] -= 1
            pos = self.position_of[w, item]
            other = self.item_at[w, last]
            self.item_at[w, pos], self.item_at[w, last] = other, item
            self.position_of[w, other], self.position_of[w, item] = pos, last
            self.count[w, item] = value + 1
            self.rank_sum[w] += last + 1
            self.total[w] += 1
            self.covered[w] += value == 0

    def _add_one_world(self, items: list[int]) -> None:
        # The same moves as ``add`` on Python ints: for one world, numpy's per-call overhead
        # would cost more than the arithmetic.
        count, at_most = self.count[0], self.at_most[0]
        item_at, position_of = self.item_at[0], self.position_of[0]
        for item in items:
            if item < 0:
                continue
            value = int(count[item])
            last = int(at_most[value]) - 1
            at_most[value] = last
            pos = int(position_of[item])
            other = int(item_at[last])
            item_at[pos], item_at[last] = other, item
            position_of[other], position_of[item] = pos, last
            count[item] = value + 1
            self.rank_sum[0] += last + 1
            self.total[0] += 1
            self.covered[0] += value == 0

    def gini(self, n_available: np.ndarray) -> np.ndarray:
        """Gini coefficient of impressions over the available items of each world."""
        unreleased = self.n_items - n_available
        rank_sum = self.rank_sum - unreleased * self.total
        n = n_available.astype(np.float64)
        total = np.maximum(self.total, 1)
        g = 2.0 * rank_sum / (n * total) - (n + 1.0) / n
        return np.where(self.total > 0, g, 0.0)

    def coverage(self, n_available: np.ndarray) -> np.ndarray:
        """Fraction of available items shown at least once this episode."""
        return self.covered / np.maximum(n_available, 1)
