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
