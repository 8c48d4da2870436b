"""Per-user top-K candidate cache over a backbone, exact under the backbone caching contract."""

from __future__ import annotations

import numpy as np

from marec_env.ranking import top_k_exact
from marec_env.recommenders.base import Backbone

UNSCORABLE = np.float32(-1e30)
"""Score given to available items a backbone cannot score: they only fill a short list."""


def top_k(scores: np.ndarray, k: int, first_item: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Items and scores of the k best per row, best first; ties go to the lower item index.

    Column c of ``scores`` is item ``first_item + c``.
    """
    ids = np.arange(first_item, first_item + scores.shape[1])
    cols = top_k_exact(scores, ids[None, :], k, UNSCORABLE)
    return cols + first_item, np.take_along_axis(scores, cols, 1)


class CandidateCache:
    """Top-K items of one backbone for every (world, user), recomputed only when stale.

    A row is stale when the backbone said the user's scores changed, when the world's item
    tables were redeployed, or when new items were released since it was computed.
    """

    def __init__(self, backbone: Backbone, num_worlds: int, num_users: int, k: int) -> None:
        self.backbone = backbone
        self.k = k
        self.items = np.zeros((num_worlds, num_users, k), np.int64)
        self.scores = np.zeros((num_worlds, num_users, k), np.float32)
        self.computed_with = np.full((num_worlds, num_users), -1, np.int64)

    def invalidate_users(self, worlds: np.ndarray, users: np.ndarray) -> None:
        self.computed_with[worlds, users] = -1

    def invalidate_worlds(self, worlds: np.ndarray) -> None:
        self.computed_with[worlds] = -1

    def lookup(
        self, worlds: np.ndarray, users: np.ndarray, n_available: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Candidates of the given users: items (n, K), scores (n, K), valid (n, K).

        ``n_available[e]`` is how many catalog items (a prefix, sorted by release) exist in
        that world now. Invalid candidates are available items the backbone cannot score.
        """
        computed_with = self.computed_with[worlds, users]
        stale = computed_with != n_available
        if stale.any():
            grown = stale & (computed_with >= 0)
            if grown.any():
                self._merge_new_items(
                    worlds[grown], users[grown], computed_with[grown], n_available[grown]
                )
            invalid = stale & (computed_with < 0)
            if invalid.any():
                self._recompute(worlds[invalid], users[invalid], n_available[invalid])
        scores = self.scores[worlds, users]
        return self.items[worlds, users], scores, scores > UNSCORABLE

    def _recompute(self, worlds: np.ndarray, users: np.ndarray, n_available: np.ndarray) -> None:
        raw = self.backbone.scores(worlds, users).astype(np.float32, copy=False)
        effective = np.where(np.isfinite(raw), raw, UNSCORABLE)
        released = np.arange(raw.shape[1])[None, :] < n_available[:, None]
        effective = np.where(released, effective, -np.inf)
        items, scores = top_k(effective, self.k)
        self.items[worlds, users] = items
        self.scores[worlds, users] = scores
        self.computed_with[worlds, users] = n_available

    def _merge_new_items(self, worlds, users, before: np.ndarray, now: np.ndarray) -> None:
        """Only new releases changed: score just them and merge into the cached top-K.

        Exact, because the old items' scores did not change since the row was computed and
        the cached K are the best of them under the same tie-broken order as a full pass.
        """
        start, stop = int(before.min()), int(now.max())
        fresh = self.backbone.scores_for(worlds, users, start, stop).astype(np.float32)
        fresh = np.where(np.isfinite(fresh), fresh, UNSCORABLE)
        fresh_items = np.arange(start, stop)[None, :]
        in_window = (fresh_items >= before[:, None]) & (fresh_items < now[:, None])
        fresh = np.where(in_window, fresh, -np.inf)
        pool_items = np.concatenate(
            [self.items[worlds, users], np.broadcast_to(fresh_items, fresh.shape)], axis=1
        )
        pool_scores = np.concatenate([self.scores[worlds, users], fresh], axis=1)
        cols = top_k_exact(pool_scores, pool_items, self.k, UNSCORABLE)
        self.items[worlds, users] = np.take_along_axis(pool_items, cols, 1)
        self.scores[worlds, users] = np.take_along_axis(pool_scores, cols, 1)
        self.computed_with[worlds, users] = now
