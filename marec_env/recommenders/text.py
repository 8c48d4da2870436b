"""The text backbone: a transformer's sentence embeddings of item descriptions and user texts.

Items are embedded once from their descriptions (through the on-disk cache of
:mod:`marec_env.recommenders.encoder`), so the backbone scores brand-new items as well as old
ones: it is the cold-start specialist. A user's profile is the running SUM of the embedding of
their sign-up text and of every item they clicked; a score is the cosine between that sum and
an item's embedding. The mean and the sum point the same way, so keeping the sum makes each
click one vector addition: histories are never re-encoded and the update is exact (equal to
recomputing from the full history in the same order, bit for bit).

Candidates: a user who has clicked keeps a row of raw scores updated by one Gram row per click
(:mod:`marec_env.recommenders.text_rows`), so refreshing their top-K reads that row instead of
multiplying the profile by every item; a few items near the k-th best are rescored exactly.

Memory: one float32 (num_worlds, n_users, dim) array, e.g. 4,096 × 200 × 384 × 4 B ≈ 1.2 GiB,
an int32 (num_worlds, n_users) click count, one n_items float32 row of the Gram matrix per item
clicked so far (4 MB at most at 1,000 items) and n_items float32 per user with a click history
(about 0.4 GiB for coop-slate-v0 at 4,096 worlds; capped at 1 GiB).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from marec_env import kernels
from marec_env.config import MarketConfig
from marec_env.core.catalog import Catalog
from marec_env.recommenders.base import Backbone, exact_product
from marec_env.recommenders.encoder import TextEncoder, encoder_from_config
from marec_env.recommenders.text_rows import RawScoreRows, raw_margins

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
        self._derive()
        self.dim = self.encoder.dim
        self.sums = np.zeros((num_worlds, self.num_users, self.dim), dtype=np.float32)
        """(num_worlds, n_users, dim) profile text embedding + embeddings of clicked items."""
        self.counts = np.zeros((num_worlds, self.num_users), dtype=np.int32)
        """Texts summed into each profile (1 after ``new_users``, +1 per click)."""
        self.text_id = np.zeros((num_worlds, self.num_users), dtype=np.int64)
        """Sign-up text of each user (index into ``profile_embeddings``)."""
        self.own_sum = np.zeros((num_worlds, self.num_users), dtype=bool)
        """Whether ``sums`` holds the profile. A user who has not clicked yet is just their
        sign-up text, so the row stays zero until the first click (cheap resets and sign-ups;
        such users share one exact candidate list per text, see :meth:`shared_keys`)."""
        self.raw_rows = RawScoreRows(num_worlds, self.num_users, catalog.n_items)
        """Rough raw scores of the users who own a sum, one Gram row added per click
        (:mod:`marec_env.recommenders.text_rows`): :meth:`top_k` reads them instead of
        multiplying the profile by every item."""

    _DERIVED = (
        "_items_t", "_items_t32", "_items64", "_margin", "_text_scores", "_gram", "_gram_ready",
        "_raw_texts",
    )  # fmt: skip
    """Attributes rebuilt from the embeddings (:meth:`_derive`), never pickled."""

    def _derive(self) -> None:
        # (dim, n_items) float64 C-contiguous copy: scores are float64 products rounded to
        # float32, so they do not depend on how many users share the matrix product (float32
        # GEMM results do, by an ulp, which reorders items with equal descriptions).
        self._items_t = np.ascontiguousarray(self.item_embeddings.T, dtype=np.float64)
        self._items_t32 = np.ascontiguousarray(self.item_embeddings.T)
        self._items64 = self.item_embeddings.astype(np.float64)
        self._margin = 4.0 * (self.item_embeddings.shape[1] + 2) * 2.0**-24
        self._text_scores: np.ndarray | None = None
        self._gram: np.ndarray | None = None
        self._gram_ready: np.ndarray | None = None
        self._raw_texts: np.ndarray | None = None

    def __getstate__(self) -> dict[str, object]:
        # Derived copies of the embeddings are rebuilt on unpickling, not shipped.
        return {k: v for k, v in self.__dict__.items() if k not in self._DERIVED}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self.item_embeddings.flags.writeable = False
        self.profile_embeddings.flags.writeable = False
        self._derive()

    def reset(self, worlds: np.ndarray, rng: np.random.Generator) -> None:
        """Forget the profiles of these worlds; the caller re-initialises users via
        :meth:`new_users`. Nothing is random here, so ``rng`` is unused."""
        own = self.own_sum[worlds]
        if own.any():  # only rows that hold a sum are non-zero
            self.sums[np.repeat(worlds, own.sum(axis=1)), np.nonzero(own)[1]] = 0.0
            self.raw_rows.release_worlds(worlds)
        self.own_sum[worlds] = False
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
        worlds, users = np.asarray(worlds, np.int64), np.asarray(users, np.int64)
        own = self.own_sum[worlds, users]
        if own.any():
            self.sums[worlds[own], users[own]] = 0.0
            self.own_sum[worlds[own], users[own]] = False
            self.raw_rows.release(worlds[own], users[own])
        self.text_id[worlds, users] = ids
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
        if kernels.one_world_path(self.num_worlds) and changed.sum() == 1:
            self._learn_one(int(np.asarray(users)[changed][0]), int(np.asarray(items)[changed][0]))
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
        self._materialise(w, u)
        # In event order (several clicks of one user accumulate one after another), without
        # gathering the embeddings first.
        if not self.sums.flags.c_contiguous:  # then the reshape below would be a copy
            self.sums = np.ascontiguousarray(self.sums)
        flat_sums = self.sums.reshape(-1, self.sums.shape[2])
        kernels.add_table_rows(flat_sums, w * self.num_users + u, self.item_embeddings, it)
        kernels.add_at(self.counts, (w, u), 1)
        if self.raw_rows.enabled:
            self.raw_rows.add(w, u, self.gram(it), it)
        return changed

    def _learn_one(self, user: int, item: int) -> None:
        """:meth:`learn` of one click in world 0: the same updates on one row."""
        n_items = self.item_embeddings.shape[0]
        if not 0 <= item < n_items:
            raise IndexError(f"items must lie in [0, {n_items}), got values in [{item}, {item}]")
        if not self.own_sum[0, user]:
            self._materialise(np.zeros(1, np.int64), np.array([user]))
        self.sums[0, user] += self.item_embeddings[item]
        self.counts[0, user] += 1
        slot = self.raw_rows.slot[0, user]
        if slot >= 0:
            self.raw_rows.pool[slot] += self.gram(np.array([item]))[item]

    def _materialise(self, worlds: np.ndarray, users: np.ndarray) -> None:
        """Write the implicit profile (sign-up text, or zero) of these users into ``sums``."""
        lazy = ~self.own_sum[worlds, users]
        if not lazy.any():
            return
        w, u = worlds[lazy], users[lazy]
        signed_up = self.counts[w, u] == 1
        self.sums[w[signed_up], u[signed_up]] = self.profile_embeddings[
            self.text_id[w, u][signed_up]
        ]
        self.own_sum[w, u] = True
        if self.raw_rows.enabled:
            starts = self.raw_texts()[self.text_id[w, u]]
            starts[~signed_up] = 0.0
            self.raw_rows.allocate(w, u, starts)

    def profiles(self, worlds: np.ndarray, users: np.ndarray) -> np.ndarray:
        """(n, dim) float32 profile sums (a copy), implicit sign-up profiles included."""
        if len(users) == 1 and kernels.one_world_path(self.num_worlds):
            user = int(users[0])
            if self.counts[0, user] == 1 and not self.own_sum[0, user]:
                return self.profile_embeddings[self.text_id[0, user]][None].copy()
            return self.sums[0, user][None].copy()
        profile = self.sums[worlds, users]
        signed_up = (self.counts[worlds, users] == 1) & ~self.own_sum[worlds, users]
        if signed_up.any():
            profile[signed_up] = self.profile_embeddings[self.text_id[worlds, users][signed_up]]
        return profile

    def user_embeddings(self, worlds: np.ndarray, users: np.ndarray) -> np.ndarray:
        """(n, dim) float32 unit-norm profiles (zero for slots never given a user)."""
        return _unit_rows(self.profiles(worlds, users)).astype(np.float32)

    def scores(self, worlds: np.ndarray, users: np.ndarray) -> np.ndarray:
        """(n, n_items) float32 cosine similarities, one matrix product for all users."""
        return exact_product(_unit_rows(self.profiles(worlds, users)), self._items_t)

    def scores_for(self, worlds, users, start: int, stop: int) -> np.ndarray:
        """Scores of items ``start:stop`` only (newly released items)."""
        return exact_product(_unit_rows(self.profiles(worlds, users)), self._items_t[:, start:stop])

    def top_k(self, worlds, users, n_available, k, unscorable, hints=None):
        """The exact top-k of :meth:`scores` without a float64 pass: rough scores find every
        item within a proven margin of the k-th best, and only those are rescored in float64,
        so the result equals a full float64 pass. Users with a raw row
        (:mod:`~marec_env.recommenders.text_rows`) read their rough scores from it; the others
        get them from a float32 product (a float32 cosine of unit vectors is off by at most
        384 · 2⁻²⁴ ≈ 2.3e-5)."""
        unit = _unit_rows(self.profiles(worlds, users))
        slots = self.raw_rows.slot[worlds, users]
        pooled = slots >= 0
        if not pooled.any():
            return self._top_k_by_product(unit, n_available, k, unscorable, hints)
        n_available = np.asarray(n_available, np.int64)
        margins = raw_margins(self.counts[worlds[pooled], users[pooled]])
        pool = self.raw_rows.pool
        if pooled.all():
            return kernels.refine_pooled_top_k(
                pool, slots, unit, self._items64, n_available, k, margins, unscorable, hints
            )
        hints = kernels.hint_rows(hints, len(slots), k)
        items, scores = np.empty((len(slots), k), np.int64), np.empty((len(slots), k), np.float32)
        items[pooled], scores[pooled] = kernels.refine_pooled_top_k(
            pool, slots[pooled], unit[pooled], self._items64, n_available[pooled], k, margins,
            unscorable, hints[pooled],
        )  # fmt: skip
        rest = ~pooled
        items[rest], scores[rest] = self._top_k_by_product(
            unit[rest], n_available[rest], k, unscorable, hints[rest]
        )
        return items, scores

    def _top_k_by_product(self, unit, n_available, k, unscorable, hints=None):
        """:meth:`top_k` for users without raw rows: a float32 product gives the rough
        scores."""
        rough = unit.astype(np.float32) @ self._items_t32
        return kernels.refine_top_k(
            rough, unit, self._items64, n_available, k, self._margin, unscorable, hints
        )

    def gram(self, items: np.ndarray) -> np.ndarray:
        """(n_items, n_items) float32 ``e_i · e_j`` (float64 products rounded once), of which
        the rows of ``items`` are filled: rows are computed when an item is first clicked, so
        a large catalog commits memory only for the items its users click."""
        if self._gram is None:
            n_items = self._items64.shape[0]
            self._gram = np.zeros((n_items, n_items), np.float32)  # untouched pages cost nothing
            self._gram_ready = np.zeros(n_items, bool)
        ready = self._gram_ready
        if not ready[items].all():
            missing = np.unique(items[~ready[items]])
            self._gram[missing] = exact_product(self._items64[missing], self._items_t)
            ready[missing] = True
        return self._gram

    def raw_texts(self) -> np.ndarray:
        """(n_profile_texts, n_items) float32 sign-up text · item: a profile's first row."""
        if self._raw_texts is None:
            self._raw_texts = exact_product(self.profile_embeddings, self._items_t)
            self._raw_texts.flags.writeable = False
        return self._raw_texts

    def shared_keys(self, worlds: np.ndarray, users: np.ndarray) -> np.ndarray:
        """A user who has not clicked yet is their sign-up text: key = that text's index."""
        idle = (self.counts[worlds, users] == 1) & ~self.own_sum[worlds, users]
        return np.where(idle, self.text_id[worlds, users], -1)

    def shared_scores(self) -> np.ndarray:
        """(n_profile_texts, n_items) scores of every sign-up text, computed once."""
        if self._text_scores is None:
            self._text_scores = exact_product(_unit_rows(self.profile_embeddings), self._items_t)
            self._text_scores.flags.writeable = False
        return self._text_scores


def _unit_rows(profile: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, in float64 (zero rows stay zero)."""
    profile = profile.astype(np.float64)
    norms = np.sqrt((profile * profile).sum(axis=1, keepdims=True))
    return profile / np.maximum(norms, _TINY)
