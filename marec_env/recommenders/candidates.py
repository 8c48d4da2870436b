"""Per-user top-K candidate cache over a backbone, exact under the backbone caching contract."""

from __future__ import annotations

import numpy as np

from marec_env import kernels
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
        self._shared_lists: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        """Catalog size → top-K of every shared score row (see ``Backbone.shared_keys``)."""

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
        self.refresh(worlds, users, n_available)
        scores = self.scores[worlds, users]
        return self.items[worlds, users], scores, scores > UNSCORABLE

    def refresh(self, worlds: np.ndarray, users: np.ndarray, n_available: np.ndarray) -> None:
        """Bring the rows of these users up to date (``items``, ``scores``), as :meth:`lookup`."""
        if len(worlds) == 1:  # one world (the ParallelEnv): skip the array bookkeeping
            self._refresh_one(worlds, users, n_available)
            return
        computed_with = self.computed_with[worlds, users]
        stale = computed_with != n_available
        if not stale.any():
            return
        keys = self.backbone.shared_keys(worlds[stale], users[stale])
        if keys is not None and (keys >= 0).any():
            shared = np.zeros_like(stale)
            shared[np.flatnonzero(stale)[keys >= 0]] = True
            self._from_shared(worlds[shared], users[shared], n_available[shared], keys[keys >= 0])
            stale &= ~shared
        grown = stale & (computed_with >= 0)
        if grown.any():
            self._merge_new_items(
                worlds[grown], users[grown], computed_with[grown], n_available[grown]
            )
        invalid = stale & (computed_with < 0)
        if invalid.any():
            self._recompute(worlds[invalid], users[invalid], n_available[invalid])

    def _refresh_one(self, worlds: np.ndarray, users: np.ndarray, n_available: np.ndarray) -> None:
        """:meth:`refresh` of one (world, user): the same three cases on scalars."""
        computed_with = int(self.computed_with[int(worlds[0]), int(users[0])])
        if computed_with == n_available[0]:
            return
        keys = self.backbone.shared_keys(worlds, users)
        if keys is not None and keys[0] >= 0:
            self._from_shared(worlds, users, n_available, keys)
        elif computed_with >= 0:
            self._merge_new_items(worlds, users, np.array([computed_with]), n_available)
        else:
            self._recompute(worlds, users, n_available)

    def _from_shared(self, worlds, users, n_available: np.ndarray, keys: np.ndarray) -> None:
        """Users whose scores are a shared row: copy that row's top-K at their catalog size."""
        for n_avail in np.unique(n_available):
            table = self._shared_lists.get(int(n_avail))
            if table is None:
                raw = self.backbone.shared_scores()
                reach = np.full(raw.shape[0], n_avail, np.int64)
                table = kernels.top_k_released(raw, reach, self.k, UNSCORABLE)
                self._shared_lists[int(n_avail)] = table
            rows = n_available == n_avail
            w, u, key = worlds[rows], users[rows], keys[rows]
            self.items[w, u] = table[0][key]
            self.scores[w, u] = table[1][key]
            self.computed_with[w, u] = n_avail

    def _recompute(self, worlds: np.ndarray, users: np.ndarray, n_available: np.ndarray) -> None:
        # The rows' stale lists start the search (any k distinct released items are valid).
        hints = self.items[worlds, users]
        fused = self.backbone.top_k(worlds, users, n_available, self.k, UNSCORABLE, hints)
        if fused is None:
            raw = self.backbone.scores(worlds, users)
            fused = kernels.top_k_released(raw, n_available, self.k, UNSCORABLE)
        items, scores = fused
        self.items[worlds, users] = items
        self.scores[worlds, users] = scores
        self.computed_with[worlds, users] = n_available

    def _merge_new_items(self, worlds, users, before: np.ndarray, now: np.ndarray) -> None:
        """Only new releases changed: score just them and merge into the cached top-K.

        Exact, because the old items' scores did not change since the row was computed and
        the cached K are the best of them under the same tie-broken order as a full pass.
        Rows are grouped by the catalog size they were computed at, so that one long-absent
        user does not make every row score every release since.
        """
        for start in np.unique(before):  # rows computed at one catalog size score one range
            rows = before == start if len(before) > 1 else slice(None)
            w, u, stop = worlds[rows], users[rows], int(now[rows].max())
            fresh = self.backbone.scores_for(w, u, int(start), stop)
            items, scores = kernels.merge_fresh(
                self.items[w, u],
                self.scores[w, u],
                fresh,
                int(start),
                before[rows],
                now[rows],
                UNSCORABLE,
            )
            self.items[w, u] = items
            self.scores[w, u] = scores
        self.computed_with[worlds, users] = now
