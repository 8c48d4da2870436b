"""The recommendation market: W independent worlds over one catalog, stepped together.

Both the PettingZoo ParallelEnv (W = 1) and the vector env (W = B) run this one class, so
their dynamics are the same code. A :class:`Market` builds the fixed parts
(:class:`~marec_env.step.Setup`: catalog, mechanism, backbones) and holds the changing state
(:class:`~marec_env.world.World`); the step itself is :func:`marec_env.step.advance`.
Randomness comes only from the generators spawned in :meth:`Market.seed`.
"""

from __future__ import annotations

import functools

import numpy as np

from marec_env import step as pipeline
from marec_env.config import MarketConfig
from marec_env.core import users
from marec_env.core.allocation import Page
from marec_env.core.catalog import Catalog, generate_catalog, with_bait
from marec_env.core.choice import CHOICE_FUNCTIONS, position_weights
from marec_env.counterfactual import best_response_values
from marec_env.mechanisms import make_mechanism
from marec_env.observation import (
    ObservationLayout,
    action_masks,
    bait_signal,
    observe,
    public_observation,
    public_widths,
)
from marec_env.recommenders import backbone_id, make_backbone
from marec_env.recommenders.candidates import CandidateCache
from marec_env.step import Setup, StepResult
from marec_env.streams import WorldGenerators
from marec_env.world import STREAMS, World, spawn_streams

__all__ = ["STREAMS", "Market", "StepResult", "catalog_for"]


@functools.lru_cache(maxsize=8)
def _catalog(n_items, n_topics, initial_items, horizon, noise, seed, interval, text) -> Catalog:
    return generate_catalog(
        n_items, n_topics, initial_items, horizon, noise, seed, interval, text_noise=text
    )


@functools.lru_cache(maxsize=8)
def _bait_catalog(key: tuple, topic: int, appeal: float) -> Catalog:
    return with_bait(_catalog(*key), topic, appeal)


def catalog_for(config: MarketConfig) -> Catalog:
    """The catalog a config defines (memoised: envs of one config share it)."""
    key = (
        config.n_items,
        config.n_topics,
        config.initial_items,
        config.max_cycles,
        config.attribute_noise,
        config.catalog_seed,
        config.release_interval,
        config.text_noise,
    )
    if config.bait_topic >= 0:
        return _bait_catalog(key, config.bait_topic, config.bait_appeal)
    return _catalog(*key)


def build_setup(config: MarketConfig, num_worlds: int) -> Setup:
    """The fixed parts of a market of ``num_worlds`` worlds."""
    catalog = catalog_for(config)
    backbones = tuple(make_backbone(k, catalog, config, num_worlds) for k in config.backbones)
    return Setup(
        config=config,
        catalog=catalog,
        mechanism=make_mechanism(config),
        backbones=backbones,
        caches=tuple(
            CandidateCache(b, num_worlds, config.n_users, config.candidates) for b in backbones
        ),
        choice_probabilities=CHOICE_FUNCTIONS[config.choice_model],
        position_weights=position_weights(config.slots, config.position_decay),
        backbone_ids=np.array([backbone_id(k) for k in config.backbones], np.float32),
        worlds=np.arange(num_worlds),
    )


class Market:
    """Batched simulator. Call :meth:`seed`, then :meth:`reset_worlds`, then :meth:`step`."""

    def __init__(self, config: MarketConfig, num_worlds: int) -> None:
        self.config = config
        self.num_worlds = num_worlds
        self.n_agents = config.n_agents
        self.setup = build_setup(config, num_worlds)
        self.catalog = self.setup.catalog
        self.layout = ObservationLayout(
            config.candidates,
            config.n_agents,
            n_topics=config.n_topics if config.public_features else 0,
            bait_signal=config.bait_topic >= 0,
        )
        topics = self.layout.n_topics
        self._public_room = sum(public_widths(config.candidates, topics).values()) if topics else 0
        """Columns after the v0 observation that :func:`public_observation` fills."""
        self.world = World.empty(
            num_worlds,
            config.n_agents,
            config.n_users,
            config.n_topics,
            self.catalog.n_items,
            config.slots,
            config.max_cycles * config.slots,
        )
        self.rng: pipeline.Streams = {}

    def seed(self, seed_sequence: np.random.SeedSequence) -> None:
        """One SeedSequence controls everything: spawn one Generator per component."""
        self.rng = spawn_streams(seed_sequence)
        self.world.started[:] = False  # a seeded reset starts a new run (long-run mode)

    def seed_worlds(self, seed_sequences: list[np.random.SeedSequence]) -> None:
        """World b draws from the streams :meth:`seed` would spawn from ``seed_sequences[b]``
        (:mod:`marec_env.streams`): each world replays a one-world market seeded alike."""
        per_world = [spawn_streams(s) for s in seed_sequences]
        self.rng = {name: WorldGenerators([streams[name] for streams in per_world])
                    for name in STREAMS}  # fmt: skip
        self.world.started[:] = False

    def reset_worlds(self, worlds: np.ndarray) -> None:
        """Start a new episode in the given worlds."""
        pipeline.reset_worlds(self.setup, self.world, self.rng, worlds)

    def step(self, actions: np.ndarray) -> StepResult:
        """Serve one page in every world. ``actions`` (W, N) int64, already validated."""
        return pipeline.advance(self.setup, self.world, self.rng, actions)

    # ------------------------------------------------------------------ what agents see
    def observations(self) -> np.ndarray:
        """(W, N, obs_dim) float32."""
        cfg, room = self.config, self._public_room
        obs = observe(
            self.world, self.catalog, cfg.patience, cfg.cold_start_window, cfg.max_cycles, room
        )
        if room:
            obs = public_observation(self.world, self.catalog, cfg.agent_budget, out=obs)
        if self.layout.bait_signal:  # the clickbait preset's extra part, after everything else
            signal = bait_signal(self.world, self.catalog, cfg.bait_topic)
            obs = np.concatenate([obs, signal], axis=2, dtype=np.float32)
        return obs

    def action_masks(self) -> np.ndarray:
        """(W, N, n_actions) int8: real candidates; all ones when an agent has none."""
        return action_masks(self.world.candidates.valid, self.setup.mechanism.levels)

    def oracle_action_values(self) -> np.ndarray:
        """(W, N, n_actions) true utility of each action's candidate. Evaluation only."""
        n, k, items = self.n_agents, self.config.candidates, self.world.candidates.items
        latent = self.catalog.latent[items].reshape(self.num_worlds, n * k, -1)
        quality = self.catalog.quality[items].reshape(self.num_worlds, n * k)
        value = users.true_utility(
            self.world.population,
            self.setup.worlds,
            self.world.sessions.user,
            latent,
            quality,
            self.config.quality_weight,
        ).reshape(-1, n, k)
        levels = self.setup.mechanism.levels
        if levels > 1:
            value = np.repeat(value, levels, axis=2)
        return value.astype(np.float32)

    def best_response_action_values(self) -> np.ndarray:
        """(W, N, n_actions) each agent's expected own reward per action against greedy
        others (:func:`marec_env.counterfactual.best_response_values`). Evaluation only."""
        return best_response_values(self)

    # ------------------------------------------------------------------ read-only views
    # Renderers, tests and evaluation read these names; the state itself is in ``world``.
    @property
    def backbones(self) -> tuple:
        return self.setup.backbones

    @property
    def caches(self) -> tuple:
        return self.setup.caches

    @property
    def population(self) -> users.Population:
        return self.world.population

    @property
    def sessions(self) -> users.Sessions:
        return self.world.sessions

    @property
    def t(self) -> np.ndarray:
        return self.world.t

    @property
    def n_available(self) -> np.ndarray:
        return pipeline.n_available(self.catalog, self.world.t)

    @property
    def cand_items(self) -> np.ndarray:
        return self.world.candidates.items

    @property
    def cand_scores(self) -> np.ndarray:
        return self.world.candidates.scores

    @property
    def cand_valid(self) -> np.ndarray:
        return self.world.candidates.valid

    @property
    def last_page(self) -> Page | None:
        return self.world.last.page

    @property
    def last_choice(self) -> np.ndarray:
        return self.world.last.choice
