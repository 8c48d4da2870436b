"""What stays fixed while a market runs (:class:`Setup`) and its named random streams."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from marec_env import kernels
from marec_env.config import MarketConfig
from marec_env.core.catalog import Catalog
from marec_env.mechanisms import Mechanism
from marec_env.recommenders.base import Backbone
from marec_env.recommenders.candidates import CandidateCache

Streams = dict[str, np.random.Generator]
"""The market's random streams by name (see :data:`marec_env.world.STREAMS`)."""


@dataclass(frozen=True)
class Setup:
    """What stays fixed while a market runs: its rules and its agents' backbones."""

    config: MarketConfig
    catalog: Catalog
    mechanism: Mechanism
    backbones: tuple[Backbone, ...]
    """One per agent; each keeps its own learned model."""
    caches: tuple[CandidateCache, ...]
    """Each backbone's exact top-K cache."""
    choice_probabilities: Callable[..., np.ndarray]
    """The choice model: (utility, shown, weights, scale, no_click) → (W, S + 1)."""
    position_weights: np.ndarray
    """(S,) examination weight of each slot."""
    backbone_ids: np.ndarray
    """(N,) float32 registry index of each agent's backbone kind (``infos["backbone_id"]``)."""
    worlds: np.ndarray
    """(W,) int64 ``arange(W)``, the row index of every world."""

    @property
    def n_agents(self) -> int:
        return len(self.backbones)

    @functools.cached_property
    def utility_tables(self) -> tuple[np.ndarray, ...]:
        """What NDCG's ideal reads of the catalog (``kernels.ideal_values``' ``tables``)."""
        return kernels.utility_tables(self.catalog.latent, self.catalog.quality)
