"""The recommendation market: W independent worlds over one catalog, stepped together.

Both the PettingZoo ParallelEnv (W = 1) and the vector env (W = B) run this one class, so
their dynamics are the same code. Randomness comes only from the generators handed to
:meth:`Market.seed`.
"""

from __future__ import annotations

import functools

import numpy as np

from marec_env import dynamics, kernels
from marec_env.config import BACKBONE_KINDS, MarketConfig
from marec_env.core import allocation, metrics, users
from marec_env.core.catalog import Catalog, generate_catalog
from marec_env.core.choice import CHOICE_FUNCTIONS, position_weights
from marec_env.dynamics import StepResult
from marec_env.observation import ObservationInputs, ObservationLayout, build_observations
from marec_env.recommenders import make_backbone
from marec_env.recommenders.candidates import CandidateCache

STREAMS = ("users", "choice", "allocation", "backbones")
"""Named random streams; each is its own Generator spawned from the episode's SeedSequence."""


@functools.lru_cache(maxsize=8)
def _catalog(n_items, n_topics, initial_items, horizon, noise, seed, interval) -> Catalog:
    return generate_catalog(n_items, n_topics, initial_items, horizon, noise, seed, interval)


def catalog_for(config: MarketConfig) -> Catalog:
    """The catalog a config defines (memoised: envs of one config share it)."""
    return _catalog(
        config.n_items,
        config.n_topics,
        config.initial_items,
        config.max_cycles,
        config.attribute_noise,
        config.catalog_seed,
        config.release_interval,
    )


class Market:
    """Batched simulator. Call :meth:`seed`, then :meth:`reset_worlds`, then :meth:`step`."""

    def __init__(self, config: MarketConfig, num_worlds: int) -> None:
        self.config = config
        self.num_worlds = w = num_worlds
        self.catalog = catalog_for(config)
        self.n_agents = config.n_agents
        self.layout = ObservationLayout(config.candidates, config.n_agents)
        self.backbones = [make_backbone(k, self.catalog, config, w) for k in config.backbones]
        self.caches = [
            CandidateCache(b, w, config.n_users, config.candidates) for b in self.backbones
        ]
        self.population = users.Population.empty(w, config.n_users, config.n_topics)
        self.sessions = users.Sessions.empty(w)
        self.exposure = metrics.ExposureTracker(
            w, self.catalog.n_items, config.max_cycles * config.slots
        )
        self.item_clicks = np.zeros((w, self.catalog.n_items), np.int64)
        self.item_impressions = np.zeros((w, self.catalog.n_items), np.int64)
        self.clicks_total = np.zeros(w, np.int64)
        self.t = np.zeros(w, np.int64)
        self.weights = position_weights(config.slots, config.position_decay)
        self.choose = CHOICE_FUNCTIONS[config.choice_model]
        self.bid_values = np.arange(1, config.bid_levels + 1, dtype=np.float32) / config.bid_levels
        self.last_slot_share = np.zeros((w, self.n_agents), np.float32)
        self.last_clicks = np.zeros((w, self.n_agents), np.float32)
        self.last_page: allocation.Page | None = None
        self.last_choice = np.full(w, config.slots, np.int64)
        self.rng: dict[str, np.random.Generator] = {}
        self._worlds = np.arange(w)
        self.backbone_ids = np.array(
            [BACKBONE_KINDS.index(k) for k in config.backbones], np.float32
        )

    # ------------------------------------------------------------------ randomness and reset
    def seed(self, seed_sequence: np.random.SeedSequence) -> None:
        """One SeedSequence controls everything: spawn one Generator per component."""
        children = seed_sequence.spawn(len(STREAMS))
        self.rng = {
            name: np.random.Generator(np.random.PCG64(s)) for name, s in zip(STREAMS, children)
        }

    def reset_worlds(self, worlds: np.ndarray) -> None:
        """Start a new episode in the given worlds."""
        cfg, u = self.config, self.config.n_users
        self.t[worlds] = 0
        for backbone, cache in zip(self.backbones, self.caches):
            backbone.reset(worlds, self.rng["backbones"])
            cache.invalidate_worlds(worlds)
        all_w = np.repeat(worlds, u)
        all_u = np.tile(np.arange(u), len(worlds))
        self._new_users(all_w, all_u)
        self.exposure.reset(worlds)
        self.item_clicks[worlds] = 0
        self.item_impressions[worlds] = 0
        self.clicks_total[worlds] = 0
        self.last_slot_share[worlds] = 0.0
        self.last_clicks[worlds] = 0.0
        self.last_choice[worlds] = cfg.slots
        users.start_sessions(
            self.sessions, worlds, u, (cfg.budget_min, cfg.budget_max), self.rng["users"]
        )
        self._refresh_candidates()

    def _new_users(self, worlds: np.ndarray, user_ids: np.ndarray) -> None:
        users.draw_users(self.population, worlds, user_ids, self.rng["users"], stated_noise=0.5)
        stated = self.population.stated[worlds, user_ids]
        text_ids = self.population.profile_text_id[worlds, user_ids]
        for backbone, cache in zip(self.backbones, self.caches):
            backbone.new_users(worlds, user_ids, stated, text_ids)
            cache.invalidate_users(worlds, user_ids)

    # ------------------------------------------------------------------ observation side
    @property
    def n_available(self) -> np.ndarray:
        return np.searchsorted(self.catalog.release_time, self.t, side="right")

    def _refresh_candidates(self) -> None:
        current, avail = self.sessions.user, self.n_available
        looked = [c.lookup(self._worlds, current, avail) for c in self.caches]
        self.cand_items = np.stack([x[0] for x in looked], axis=1)
        self.cand_scores = np.stack([x[1] for x in looked], axis=1)
        self.cand_valid = np.stack([x[2] for x in looked], axis=1)

    def observations(self) -> np.ndarray:
        """(W, N, obs_dim) float32."""
        cfg, s = self.config, self.sessions
        rows = self._worlds[:, None, None]
        overlap, rival_rank = self._rivals()
        inputs = ObservationInputs(
            cand_score=self.cand_scores,
            cand_age_steps=(
                self.t[:, None, None] - self.catalog.release_time[self.cand_items]
            ).astype(np.float32),
            cand_clicks=self.item_clicks[rows, self.cand_items].astype(np.float32),
            cand_valid=self.cand_valid,
            cand_impressions=self.item_impressions[rows, self.cand_items].astype(np.float32),
            cand_overlap=overlap,
            cand_repeat_topic=self.catalog.main_topic[self.cand_items]
            == s.last_topic[:, None, None],
            cand_rival_rank=rival_rank,
            session_steps=s.steps.astype(np.float32),
            session_clicks=s.clicks.astype(np.float32),
            last_clicked=s.last_clicked,
            misses=s.misses.astype(np.float32),
            last_slot_share=self.last_slot_share,
            last_clicks=self.last_clicks,
            t=self.t.astype(np.float32),
        )
        return build_observations(
            inputs, cfg.patience, float(cfg.cold_start_window), cfg.max_cycles
        )

    def _rivals(self) -> tuple[np.ndarray, np.ndarray]:
        """The shared candidate board: (W, N, K) share of the other agents that also hold
        each candidate, and (W, N, K, N) 1 − rank / K of it in every agent's list (0: not
        held)."""
        items, k = self.cand_items, self.config.candidates
        board = kernels.rival_board(items)
        if board is not None:
            return board
        same = items[:, :, :, None, None] == items[:, None, None, :, :]
        held_by = same.any(axis=4)  # (W, N, K, N'): agent N' holds my candidate k
        others = held_by.sum(axis=3) - 1
        overlap = (others / max(self.n_agents - 1, 1)).astype(np.float32)
        rank = same.argmax(axis=4)  # lists hold distinct items: one rank per agent
        rival_rank = np.where(held_by, 1.0 - rank / k, 0.0).astype(np.float32)
        return overlap, rival_rank

    def action_masks(self) -> np.ndarray:
        """(W, N, n_actions) int8: real candidates; all ones when an agent has none."""
        valid = self.cand_valid | ~self.cand_valid.any(axis=2, keepdims=True)
        if self.config.allocation == "auction":
            valid = np.repeat(valid, self.config.bid_levels, axis=2)
        return valid.astype(np.int8)

    def oracle_action_values(self) -> np.ndarray:
        """(W, N, n_actions) true utility of each action's candidate. Evaluation only."""
        n, k = self.n_agents, self.config.candidates
        latent = self.catalog.latent[self.cand_items].reshape(self.num_worlds, n * k, -1)
        quality = self.catalog.quality[self.cand_items].reshape(self.num_worlds, n * k)
        value = users.true_utility(
            self.population,
            self._worlds,
            self.sessions.user,
            latent,
            quality,
            self.config.quality_weight,
        ).reshape(-1, n, k)
        if self.config.allocation == "auction":
            value = np.repeat(value, self.config.bid_levels, axis=2)
        return value.astype(np.float32)

    # ------------------------------------------------------------------ the step
    def decode(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Actions (W, N) → chosen candidate (W, N) and bid value (W, N)."""
        if self.config.allocation == "auction":
            levels = self.config.bid_levels
            return actions // levels, self.bid_values[actions % levels]
        return actions, np.ones(actions.shape, np.float32)

    def _proposals(self, chosen: np.ndarray) -> np.ndarray:
        """Each agent's candidates reordered so that the chosen one comes first."""
        k = self.config.candidates
        rest = np.arange(k)[None, None, :] != chosen[:, :, None]
        order = np.argsort(rest, axis=2, kind="stable")
        return np.take_along_axis(self.cand_items, order, 2)

    def _allocate(self, proposals: np.ndarray, bids: np.ndarray) -> allocation.Page:
        cfg = self.config
        if cfg.allocation == "cooperative":
            return allocation.cooperative(proposals, cfg.slots)
        if cfg.allocation == "interleave":
            return allocation.team_draft(proposals, cfg.slots, self.rng["allocation"])
        rows = self._worlds[:, None, None]
        clicks, shows = self.item_clicks[rows, proposals], self.item_impressions[rows, proposals]
        quality_score = ((clicks + 1.0) / (shows + 2.0)).astype(np.float32)
        return allocation.gsp_auction(proposals, bids, quality_score, cfg.slots)

    def step(self, actions: np.ndarray) -> StepResult:
        """Serve one page in every world. ``actions`` (W, N) int64, already validated."""
        return dynamics.advance(self, actions)
