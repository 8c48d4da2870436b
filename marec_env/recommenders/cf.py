"""Collaborative filtering: online logistic matrix factorisation from observed clicks only."""

from __future__ import annotations

import numpy as np

from marec_env import kernels
from marec_env.config import MarketConfig
from marec_env.core.catalog import Catalog
from marec_env.recommenders.base import Backbone
from marec_env.recommenders.packed import PackedVisible, TrainedSince
from marec_env.streams import rows_for

INIT_SCALE = 0.1
REGULARISATION = 0.01


class CollaborativeBackbone(Backbone):
    """Online matrix factorisation, as production CF runs: trained continuously, deployed
    periodically.

    Every page with a click is one SGD step of logistic loss on the impressions this backbone
    was shown (the clicked item a positive, the others negatives), updating the user's and the
    items' factors. Item factors are deployed every ``refresh_interval`` steps; between
    deployments a user's scores change only when their own factors do. CF is blind to items
    that nobody had clicked at the last deployment (score −inf): the cold-start problem.
    """

    kind = "cf"

    def __init__(self, catalog: Catalog, config: MarketConfig, num_worlds: int) -> None:
        super().__init__(catalog, config, num_worlds)
        f = config.cf_factors
        self.user_factors = np.zeros((num_worlds, self.num_users, f), np.float32)
        self.item_factors = np.zeros((num_worlds, catalog.n_items, f), np.float32)
        self.deployed = np.zeros((num_worlds, catalog.n_items, f), np.float32)
        self.clicks = np.zeros((num_worlds, catalog.n_items), np.int64)
        self.visible = np.zeros((num_worlds, catalog.n_items), bool)
        self.trained = TrainedSince(num_worlds, catalog.n_items)
        """Item rows trained since the world last deployed: a deployment copies only these
        (the other rows of ``deployed`` already equal ``item_factors``)."""
        self.packed = PackedVisible(num_worlds, catalog.n_items, f)
        """The visible items' deployed factors, packed per world (what top_k reads)."""
        self.rng = np.random.Generator(np.random.PCG64(0))

    def reset(self, worlds: np.ndarray, rng: np.random.Generator) -> None:
        self.rng = rng
        shape = (len(worlds), self.catalog.n_items, self.config.cf_factors)
        every = len(worlds) == self.num_worlds and np.array_equal(worlds, np.arange(len(worlds)))
        if every and isinstance(rows_for(rng, worlds), np.random.Generator):
            # Every world (episodes end together): the same draws straight into the table.
            rng.standard_normal(dtype=np.float32, out=self.item_factors)
            np.multiply(self.item_factors, np.float32(INIT_SCALE), out=self.item_factors)
        elif every:  # whole-array writes, no gathers
            draws = rows_for(rng, worlds).standard_normal(shape, np.float32)
            np.multiply(draws, np.float32(INIT_SCALE), out=self.item_factors)
        else:
            draws = rows_for(rng, worlds).standard_normal(shape, np.float32)
            self.item_factors[worlds] = INIT_SCALE * draws
        if every:
            np.copyto(self.deployed, self.item_factors)
            self.clicks.fill(0)
            self.visible.fill(False)
        else:
            self.deployed[worlds] = self.item_factors[worlds]
            self.clicks[worlds] = 0
            self.visible[worlds] = False
        self.trained.clear(worlds)
        self.packed.clear(worlds)

    @property
    def undeployed(self) -> np.ndarray:
        """(W, n_items) bool the item's row was trained since the world last deployed."""
        return self.trained.listed

    def new_users(self, worlds, users, stated_interests, profile_text_ids) -> None:
        shape = (len(worlds), self.config.cf_factors)
        draws = rows_for(self.rng, worlds).standard_normal(shape, np.float32)
        self.user_factors[worlds, users] = INIT_SCALE * draws

    def scores(self, worlds: np.ndarray, users: np.ndarray) -> np.ndarray:
        # float64 products rounded to float32: the same in every batch and in the fused kernel.
        user = self.user_factors[worlds, users].astype(np.float64)
        out = np.matmul(self.deployed[worlds].astype(np.float64), user[:, :, None])[:, :, 0]
        out = out.astype(np.float32)
        out[~self.visible[worlds]] = -np.inf
        return out

    def scores_for(self, worlds, users, start: int, stop: int) -> np.ndarray:
        user = self.user_factors[worlds, users].astype(np.float64)
        table = self.deployed[worlds, start:stop].astype(np.float64)
        out = np.matmul(table, user[:, :, None])[:, :, 0].astype(np.float32)
        out[~self.visible[worlds, start:stop]] = -np.inf
        return out

    def top_k(self, worlds, users, n_available, k, unscorable, hints=None):
        return kernels.factor_top_k(
            self.packed, self.user_factors[worlds, users], worlds, n_available, k, unscorable
        )

    def learn(self, worlds, users, items, clicked, t) -> np.ndarray:
        if kernels.one_world_path(self.num_worlds):  # every event is world 0's
            use = np.full(len(worlds), clicked.any())
            if use.any():
                self._learn_one_world(users, items, clicked.astype(np.float32))
            return use
        page_has_click = np.zeros((self.num_worlds,), bool)
        page_has_click[worlds[clicked.astype(bool)]] = True
        use = page_has_click[worlds]
        if not use.any():
            return use
        w, u, i, y = worlds[use], users[use], items[use], clicked[use].astype(np.float32)
        p = self.user_factors[w, u]
        q = self.item_factors[w, i]
        error = y - 1.0 / (1.0 + np.exp(-(p * q).sum(axis=1)))
        lr = self.config.cf_learning_rate
        kernels.add_at(self.user_factors, (w, u), lr * (error[:, None] * q - REGULARISATION * p))
        kernels.add_at(self.item_factors, (w, i), lr * (error[:, None] * p - REGULARISATION * q))
        kernels.add_at(self.clicks, (w, i), y.astype(np.int64))
        self.trained.add(w, i)
        return use

    def _learn_one_world(self, users: np.ndarray, items: np.ndarray, y: np.ndarray) -> None:
        """:meth:`learn` of one page of world 0 with a click: the same float32 updates on the
        world's own tables (no world index to carry)."""
        user_factors, item_factors = self.user_factors[0], self.item_factors[0]
        p, q = user_factors[users], item_factors[items]
        error = y - 1.0 / (1.0 + np.exp(-(p * q).sum(axis=1)))
        lr = self.config.cf_learning_rate
        np.add.at(user_factors, users, lr * (error[:, None] * q - REGULARISATION * p))
        np.add.at(item_factors, items, lr * (error[:, None] * p - REGULARISATION * q))
        np.add.at(self.clicks[0], items, y.astype(np.int64))
        self.trained.add_to_first_world(items)

    def tick(self, t: np.ndarray) -> np.ndarray:
        due = (t % self.config.refresh_interval == 0) & (t > 0)
        if due.any():
            worlds = np.flatnonzero(due)
            w, i = self.trained.take(worlds)
            self.deployed[w, i] = self.item_factors[w, i]
            # Clicks only grow and only trained items gain them, so visible = clicks > 0
            # needs only the trained items that are not visible yet.
            new = (self.clicks[w, i] > 0) & ~self.visible[w, i]
            self.visible[w[new], i[new]] = True
            self.packed.deploy(worlds, w[new], i[new], self.deployed)
        return due
