"""Popularity backbone: the same trending list for everyone, redeployed periodically."""

from __future__ import annotations

import numpy as np

from marec_env import kernels
from marec_env.config import MarketConfig
from marec_env.core.catalog import Catalog
from marec_env.recommenders.base import Backbone


class PopularityBackbone(Backbone):
    """Ranks items by log(1 + clicks it has seen), a table redeployed every
    ``refresh_interval`` steps (a daily "trending" list). Ignores who the user is."""

    kind = "popularity"

    def __init__(self, catalog: Catalog, config: MarketConfig, num_worlds: int) -> None:
        super().__init__(catalog, config, num_worlds)
        self.live_clicks = np.zeros((num_worlds, catalog.n_items), np.float32)
        self.deployed = np.zeros((num_worlds, catalog.n_items), np.float32)

    def reset(self, worlds: np.ndarray, rng: np.random.Generator) -> None:
        self.live_clicks[worlds] = 0.0
        self.deployed[worlds] = 0.0

    def new_users(self, worlds, users, stated_interests, profile_text_ids) -> None:
        """Popularity keeps no per-user state."""

    def scores(self, worlds: np.ndarray, users: np.ndarray) -> np.ndarray:
        return self.deployed[worlds]

    def scores_for(self, worlds, users, start: int, stop: int) -> np.ndarray:
        return self.deployed[worlds, start:stop]

    def learn(self, worlds, users, items, clicked, t) -> np.ndarray:
        hit = clicked.astype(bool)
        kernels.add_at(self.live_clicks, (worlds[hit], items[hit]), 1.0)
        return np.zeros(len(worlds), dtype=bool)

    def tick(self, t: np.ndarray) -> np.ndarray:
        due = (t % self.config.refresh_interval == 0) & (t > 0)
        if due.any():
            self.deployed[due] = np.log1p(self.live_clicks[due])
        return due
