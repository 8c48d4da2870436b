"""Random streams seeded per world: W worlds that replay W one-world markets draw for draw.

A market normally draws each random array of a stream (:data:`marec_env.world.STREAMS`) from
one Generator shared by its W worlds. :class:`WorldGenerators` is the per-world alternative
used by ``VectorMarketEnv.reset(seed=[s_0, ..., s_{W-1}])``: world b owns the streams that
a one-world market (the ParallelEnv) reset with seed s_b owns, and row r of every draw comes
from the generator of the world that row belongs to. Every draw the market makes has one row
per world (or per (world, user) slot, grouped by world), in the order a one-world market
makes it, so world b's episode is the ParallelEnv's episode with seed s_b.

A draw that is not over all worlds in order names its rows with :func:`rows_for`; for a plain
Generator that is the Generator itself, so shared-stream markets are unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


class WorldGenerators:
    """A Generator look-alike whose row r draws from ``generators[rows[r]]`` (see module)."""

    def __init__(self, generators: list[np.random.Generator], rows: Any = None) -> None:
        self.generators = generators
        self.rows = np.arange(len(generators)) if rows is None else np.asarray(rows, np.int64)

    def for_rows(self, rows: np.ndarray) -> WorldGenerators:
        """The same generators, drawing row r for world ``rows[r]``."""
        return WorldGenerators(self.generators, rows)

    def _draw(self, size: Any, draw: Callable[[np.random.Generator, tuple], np.ndarray]) -> Any:
        shape = (int(size),) if np.ndim(size) == 0 else tuple(int(s) for s in size)
        if shape[0] != len(self.rows):
            raise ValueError(f"a per-world draw needs one row per world: {len(self.rows)} rows, "
                             f"asked for shape {shape}")  # fmt: skip
        out: np.ndarray | None = None
        for world in np.unique(self.rows):
            at = np.flatnonzero(self.rows == world)
            sample = draw(self.generators[world], (len(at), *shape[1:]))
            if out is None:
                out = np.empty(shape, sample.dtype)
            out[at] = sample
        if out is None:  # no rows: nothing drawn, as a one-world market draws nothing
            return draw(np.random.Generator(np.random.PCG64(0)), shape)
        return out

    def random(self, size: Any) -> np.ndarray:
        return self._draw(size, lambda g, s: g.random(s))

    def standard_normal(self, size: Any, dtype: Any = np.float64) -> np.ndarray:
        return self._draw(size, lambda g, s: g.standard_normal(s, dtype))

    def integers(self, high: int, size: Any) -> np.ndarray:
        return self._draw(size, lambda g, s: g.integers(high, size=s))

    def uniform(self, low: float, high: float, size: Any) -> np.ndarray:
        return self._draw(size, lambda g, s: g.uniform(low, high, size=s))


def rows_for(rng: Any, worlds: np.ndarray) -> Any:
    """``rng`` drawing one row per entry of ``worlds`` (per-world streams), else ``rng``."""
    return rng.for_rows(worlds) if isinstance(rng, WorldGenerators) else rng
