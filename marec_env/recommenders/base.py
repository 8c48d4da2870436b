"""The backbone contract: a recommender's own model of its users, batched over worlds.

A backbone sees only public data (item attributes, descriptions, release times, the clicks it
is shown, what users state at sign-up) and never the hidden latents. Arrays are indexed by
(world, user); ``worlds`` and ``users`` are equal-length int64 index arrays.

Caching contract (what makes per-step top-K cheap and still exact): a user's scores may change
only (a) when :meth:`Backbone.learn` reports that user's profile changed, (b) when
:meth:`Backbone.tick` reports that a world's item tables were redeployed, or (c) when a user
slot is re-initialised by :meth:`Backbone.new_users`. Between those events the candidate cache
reuses the last top-K.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from marec_env.config import MarketConfig
from marec_env.core.catalog import Catalog


class Backbone(ABC):
    """Scores items for users. Subclasses set ``kind`` and implement the abstract methods."""

    kind: ClassVar[str]

    def __init__(self, catalog: Catalog, config: MarketConfig, num_worlds: int) -> None:
        self.catalog = catalog
        self.config = config
        self.num_worlds = num_worlds
        self.num_users = config.n_users

    @abstractmethod
    def reset(self, worlds: np.ndarray, rng: np.random.Generator) -> None:
        """Forget everything learned in these worlds (start of an episode)."""

    @abstractmethod
    def new_users(
        self,
        worlds: np.ndarray,
        users: np.ndarray,
        stated_interests: np.ndarray,
        profile_text_ids: np.ndarray,
    ) -> None:
        """These user slots now hold brand-new users; start their profiles from what the users
        stated at sign-up: ``stated_interests`` (n, n_topics) public interest tags and
        ``profile_text_ids`` (n,) indices into ``catalog.profile_texts``."""

    @abstractmethod
    def scores(self, worlds: np.ndarray, users: np.ndarray) -> np.ndarray:
        """(n, n_items) float32 scores, higher is better; ``-inf`` for items this backbone
        cannot score (e.g. CF and items nobody has clicked). Release times are applied by the
        caller, not here."""

    def scores_for(
        self, worlds: np.ndarray, users: np.ndarray, start: int, stop: int
    ) -> np.ndarray:
        """Scores of items ``start:stop`` only (n, stop − start); override to avoid scoring the
        whole catalog when only newly released items need a score."""
        return self.scores(worlds, users)[:, start:stop]

    @abstractmethod
    def learn(
        self,
        worlds: np.ndarray,
        users: np.ndarray,
        items: np.ndarray,
        clicked: np.ndarray,
        t: np.ndarray,
    ) -> np.ndarray:
        """Feedback events: user ``users[e]`` of world ``worlds[e]`` was shown ``items[e]`` and
        clicked it iff ``clicked[e]``; ``t[e]`` is that world's step. Returns a bool mask over
        events: True where that user's scores may have changed."""

    def tick(self, t: np.ndarray) -> np.ndarray:
        """Called once per step with each world's step ``t`` (num_worlds,). Returns a bool mask
        over worlds whose item tables were redeployed (every user's scores may change)."""
        return np.zeros(self.num_worlds, dtype=bool)

    def top_k(
        self,
        worlds: np.ndarray,
        users: np.ndarray,
        n_available: np.ndarray,
        k: int,
        unscorable: np.float32,
        hints: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Optional fused scoring + selection: exactly what
        ``kernels.top_k_released(self.scores(worlds, users), n_available, k, unscorable)``
        returns, or None to let the caller do that. ``hints`` (n, k): each row's previous top
        k, which a search may start from; the result must not depend on them."""
        return None

    def shared_keys(self, worlds: np.ndarray, users: np.ndarray) -> np.ndarray | None:
        """Optional: an int key per user, ≥ 0 where that user's scores are exactly row
        ``key`` of :meth:`shared_scores` (e.g. users with no history yet), −1 elsewhere.
        None (the default): every user is scored on their own."""
        return None

    def shared_scores(self) -> np.ndarray:
        """(n_keys, n_items) float32 scores behind :meth:`shared_keys`; must not change
        while any key refers to it."""
        raise NotImplementedError(f"{type(self).__name__} shares no scores")


def exact_product(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """``left @ right`` in float64, rounded to float32.

    A float32 matrix product's last bit depends on the batch size and on a column's position
    (BLAS blocking), enough to reorder equal-score items; float64 rounding errors are ~1e-16,
    far below float32's resolution, so the rounded scores are the same in every batch (B = 1,
    vector env, shared lists) and ties fall to the lower item id as documented.
    """
    return (np.asarray(left, np.float64) @ np.asarray(right, np.float64)).astype(np.float32)
