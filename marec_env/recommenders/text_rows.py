"""Raw text scores of users with a click history, kept current by one vector add per click.

A text profile is a sum of unit vectors, so after a click on item j the raw score of every
item i grows by ``e_j · e_i``: one row of the item Gram matrix. :class:`RawScoreRows` keeps
``sums[w, u] @ item_embeddings.T`` for each (world, user) that owns a sum, in float32, and
updates it with that row instead of a (dim × n_items) product. The rows are rough: they drift
from the exact product by rounding, within :func:`raw_margins`, and are only used to pick the
few items worth rescoring exactly (:func:`marec_env.kernels.refine_pooled_top_k`), so the
candidates are those of a full float64 pass.

Memory: ``n_items`` float32 per user who has clicked (about 25 users a world in an episode of
coop-slate-v0: 0.4 GiB at 4,096 worlds), and one Gram row per item clicked so far. The pool is
reserved at its cap, :data:`POOL_MAX_BYTES`, but the system commits a row's memory only when it
is first written; users beyond the cap, and catalogs above :data:`GRAM_MAX_ITEMS`, are scored
by the product.
"""

from __future__ import annotations

import numpy as np

from marec_env import kernels

GRAM_MAX_ITEMS = 16384
"""Largest catalog with raw rows: its Gram matrix ((n, n) float32, 1 GiB at this size) is
reserved, and a row's memory is committed when its item is first clicked."""
POOL_MAX_BYTES = 1 << 30
"""Upper bound on the pool of raw rows."""
_ULP = 2.0**-24


def raw_margins(texts_summed: np.ndarray) -> np.ndarray:
    """(n,) float64: how far apart, in raw-score units, the k-th best rough score and an item
    that can still reach the exact top k may lie, for profiles that sum ``texts_summed``
    unit vectors.

    A profile of c texts has norm at most c. The start row (a float64 product rounded to
    float32), each Gram entry and each float32 add in a row, and each float32 add in the
    profile sum itself, move a raw score by at most 2⁻²⁴ times (1 + 2c) per click, which sums
    to less than 2⁻²⁴ (c + 2)² = ε. An item in the exact top k lies within 2ε plus two
    float32 roundings of a cosine (2⁻²⁴ · 2c in raw units) of the k-th rough score; the
    margin doubles that, as :meth:`TextBackbone.top_k`'s float32 margin does.
    """
    c = np.asarray(texts_summed, np.float64)
    return _ULP * (4.0 * (c + 2.0) ** 2 + 5.0 * (c + 1.0))


class RawScoreRows:
    """Rows of raw text scores in a pool, one slot per (world, user) that owns a sum."""

    def __init__(self, num_worlds: int, num_users: int, n_items: int) -> None:
        self.enabled = n_items <= GRAM_MAX_ITEMS
        self.slot = np.full((num_worlds, num_users), -1, np.int64)
        """Pool row of each (world, user), −1 when the user has none."""
        self.max_rows = min(POOL_MAX_BYTES // (4 * max(n_items, 1)), num_worlds * num_users)
        self.pool = np.zeros((self.max_rows if self.enabled else 0, n_items), np.float32)
        """Reserved, not written: the memory of a row is taken when it is first handed out."""
        self._free = np.empty(0, np.int64)
        self._used = 0
        """Slots ever handed out (the free ones are in ``_free``)."""

    def __getstate__(self) -> dict[str, object]:
        # Only the rows ever handed out travel; the rest of the reserve is rebuilt empty.
        return {**self.__dict__, "pool": self.pool[: self._used].copy()}

    def __setstate__(self, state: dict[str, object]) -> None:
        used = state.pop("pool")
        self.__dict__.update(state)
        self.pool = np.zeros((self.max_rows if self.enabled else 0, used.shape[1]), np.float32)
        self.pool[: len(used)] = used

    def allocate(self, worlds: np.ndarray, users: np.ndarray, starts: np.ndarray) -> None:
        """Give each distinct (world, user) a row holding its ``starts`` row, (n, n_items), as
        far as the pool allows; those who get none are scored by the product."""
        if not self.enabled or len(worlds) == 0:
            return
        if len(worlds) > 1:
            flat = worlds * self.slot.shape[1] + users
            _, first = np.unique(flat, return_index=True)
            worlds, users, starts = worlds[first], users[first], starts[first]
        reused = min(len(worlds), len(self._free))
        fresh = min(len(worlds) - reused, self.max_rows - self._used)
        slots = np.concatenate(
            [self._free[len(self._free) - reused :], np.arange(self._used, self._used + fresh)]
        )
        self._free = self._free[: len(self._free) - reused]
        self._used += fresh
        got = len(slots)
        self.slot[worlds[:got], users[:got]] = slots
        self.pool[slots] = starts[:got]

    def add(self, worlds: np.ndarray, users: np.ndarray, gram: np.ndarray, items: np.ndarray):
        """Each click's Gram row added to its user's row, in event order."""
        slots = self.slot[worlds, users]
        held = slots >= 0
        kernels.add_table_rows(self.pool, slots[held], gram, items[held])

    def release(self, worlds: np.ndarray, users: np.ndarray) -> None:
        """These users' rows go back to the pool."""
        slots = self.slot[worlds, users]
        held = slots >= 0
        if held.any():
            self._free = np.concatenate([self._free, np.unique(slots[held])])
            self.slot[worlds, users] = -1

    def release_worlds(self, worlds: np.ndarray) -> None:
        """Every row of these worlds goes back to the pool."""
        slots = self.slot[worlds]
        held = slots >= 0
        if held.any():
            self._free = np.concatenate([self._free, slots[held]])
            self.slot[worlds] = -1
