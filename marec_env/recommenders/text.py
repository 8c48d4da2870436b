"""The text backbone: a transformer's sentence embeddings of item descriptions and user texts.

Items are embedded once from their descriptions (through the on-disk cache of
:mod:`marec_env.recommenders.encoder`), so the backbone scores brand-new items as well as old
ones: it is the cold-start specialist. A user's profile is the running SUM of the embedding of
their sign-up text and of every item they clicked; a score is the cosine between that sum and
an item's embedding. The mean and the sum point the same way, so keeping the sum makes each
click one vector addition: histories are never re-encoded and the update is exact (equal to
recomputing from the full history in the same order, bit for bit).

Memory: one float32 (num_worlds, n_users, dim) array, e.g. 4,096 × 200 × 384 × 4 B ≈ 1.2 GiB,
plus an int32 (num_worlds, n_users) click count.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from marec_env.config import MarketConfig
from marec_env.core.catalog import Catalog
from marec_env.recommenders.base import Backbone
from marec_env.recommenders.encoder import TextEncoder, encoder_from_config

_TINY = np.float32(1e-12)


class TextBackbone(Backbone):
    """Cosine between a user's text profile (sign-up text + clicked items) and item texts.

    ``encoder`` defaults to the process-wide shared encoder for ``config`` (model loaded once
    per process, embeddings cached on disk); pass one to share it explicitly.
    """

    kind: ClassVar[str] = "text"

    def __init__(
        self,
        catalog: Catalog,
        config: MarketConfig,
        num_worlds: int,
        encoder: TextEncoder | None = None,
    ) -> None:
        super().__init__(catalog, config, num_worlds)
        self.encoder = encoder if encoder is not None else encoder_from_config(config)
        self.item_embeddings = self.encoder.encode(catalog.descriptions, what="item description")
        """(n_items, dim) float32 unit vectors, read-only."""
        self.profile_embeddings = self.encoder.encode(catalog.profile_texts, what="profile text")
        """(n_profile_texts, dim) float32 unit vectors, read-only."""
        self.item_embeddings.flags.writeable = False
        self.profile_embeddings.flags.writeable = False
        # (dim, n_items) C-contiguous copy: a plain row-major GEMM operand, a little faster
        # than the transposed view for the small batches of users refreshed each step.
        self._items_t = np.ascontiguousarray(self.item_embeddings.T)
        self.dim = self.encoder.dim
        self.sums = np.zeros((num_worlds, self.num_users, self.dim), dtype=np.float32)
        """(num_worlds, n_users, dim) profile text embedding + embeddings of clicked items."""
        self.counts = np.zeros((num_worlds, self.num_users), dtype=np.int32)
        """Texts summed into each profile (1 after ``new_users``, +1 per click)."""

    def __getstate__(self) -> dict[str, object]:
        # The transposed copy is derived data: rebuilt on unpickling, not shipped.
        state = self.__dict__.copy()
        del state["_items_t"]
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._items_t = np.ascontiguousarray(self.item_embeddings.T)

    def reset(self, worlds: np.ndarray, rng: np.random.Generator) -> None:
        """Forget the profiles of these worlds; the caller re-initialises users via
        :meth:`new_users`. Nothing is random here, so ``rng`` is unused."""
        self.sums[worlds] = 0.0
        self.counts[worlds] = 0

    def new_users(
        self,
        worlds: np.ndarray,
        users: np.ndarray,
        stated_interests: np.ndarray,
        profile_text_ids: np.ndarray,
    ) -> None:
        """Start each profile at the embedding of the user's sign-up text (the text backbone
        reads words, not the interest tags)."""
        ids = np.asarray(profile_text_ids, dtype=np.int64)
        n_texts = self.profile_embeddings.shape[0]
        if ids.size and (ids.min() < 0 or ids.max() >= n_texts):
            raise IndexError(
                f"profile_text_ids must lie in [0, {n_texts}), got values in "
                f"[{ids.min()}, {ids.max()}]"
            )
        self.sums[worlds, users] = self.profile_embeddings[ids]
        self.counts[worlds, users] = 1

    def learn(
        self,
        worlds: np.ndarray,
        users: np.ndarray,
        items: np.ndarray,
        clicked: np.ndarray,
        t: np.ndarray,
    ) -> np.ndarray:
        """Add each clicked item's embedding to its user's sum. Returns ``clicked``: exactly
        the users whose profiles (and so scores) changed."""
        changed = np.asarray(clicked, dtype=bool).copy()
        if changed.shape != np.shape(worlds):
            raise ValueError(f"clicked has shape {changed.shape}, expected {np.shape(worlds)}")
        if not changed.any():
            return changed
        w = np.asarray(worlds)[changed]
        u = np.asarray(users)[changed]
        it = np.asarray(items, dtype=np.int64)[changed]
        n_items = self.item_embeddings.shape[0]
        if it.min() < 0 or it.max() >= n_items:
            # Negative indices would silently wrap around: refuse them.
            raise IndexError(
                f"items must lie in [0, {n_items}), got values in [{it.min()}, {it.max()}]"
            )
        vectors = self.item_embeddings[it]
        flat = w * self.num_users + u
        if np.unique(flat).size == flat.size:
            # One click per user: plain fancy-index add (much faster than ufunc.at).
            self.sums[w, u] += vectors
            self.counts[w, u] += 1
        else:
            # Several clicks of one user in one call: accumulate in event order.
            np.add.at(self.sums, (w, u), vectors)
            np.add.at(self.counts, (w, u), 1)
        return changed

    def user_embeddings(self, worlds: np.ndarray, users: np.ndarray) -> np.ndarray:
        """(n, dim) float32 unit-norm profiles (zero for slots never given a user)."""
        profile = self.sums[worlds, users]  # fancy indexing copies: safe to scale in place
        norms = np.sqrt(np.einsum("nd,nd->n", profile, profile))[:, None]
        profile /= np.maximum(norms, _TINY)
        return profile

    def scores(self, worlds: np.ndarray, users: np.ndarray) -> np.ndarray:
        """(n, n_items) float32 cosine similarities, one matrix product for all users."""
        return self.user_embeddings(worlds, users) @ self._items_t
