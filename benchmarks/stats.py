"""Aggregate statistics over runs, following the rliable / marl-eval protocol.

A *score matrix* has shape ``(runs, tasks)``: one row per independent run (seed), one column
per task (scenario). A 1-D array is read as ``(runs,)`` of a single task. Interval estimates
come from a *stratified* percentile bootstrap: runs are resampled with replacement within each
task, so every task keeps its run count (Agarwal et al., 2021, "Deep RL at the edge of the
statistical precipice").

Randomness always comes from a ``numpy.random.Generator`` passed in by the caller, so one seed
reproduces every interval. No scipy: the project does not depend on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

Aggregate = Callable[[np.ndarray], np.ndarray]
"""Reduces the last two axes ``(runs, tasks)`` of an array to a scalar, keeping leading axes."""

DEFAULT_REPS = 2000
_CHUNK = 250  # bootstrap replicates per vectorised batch: bounds memory for large matrices


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided bootstrap confidence interval."""

    point: float
    """The statistic on the observed data."""
    low: float
    """Lower end of the interval."""
    high: float
    """Upper end of the interval."""

    def format(self, digits: int = 3) -> str:
        return f"{self.point:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


def score_matrix(scores: ArrayLike) -> np.ndarray:
    """Return ``scores`` as a finite float ``(runs, tasks)`` array, or raise ValueError."""
    arr = np.asarray(scores, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"scores must have shape (runs,) or (runs, tasks), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("scores contain NaN or infinite values")
    return arr


def iqm_weights(m: int) -> np.ndarray:
    """Weights of the sorted values in the interquartile mean of ``m`` values.

    Value i covers the unit interval [i, i+1) of the empirical distribution; the IQM averages
    the middle half [m/4, 3m/4], so each value is weighted by its overlap with that window.
    When m is a multiple of 4 this equals rliable's ``trim_mean(x, 0.25)``; otherwise the
    boundary values count fractionally instead of being dropped whole.
    """
    lo = np.arange(m, dtype=np.float64)
    overlap = np.clip(np.minimum(lo + 1, 0.75 * m) - np.maximum(lo, 0.25 * m), 0.0, None)
    return overlap / (0.5 * m)


def _flat_sorted(x: np.ndarray) -> np.ndarray:
    """Flatten the last two axes and sort them: the pooled runs×tasks scores."""
    return np.sort(x.reshape(*x.shape[:-2], -1), axis=-1)


def aggregate_iqm(x: np.ndarray) -> np.ndarray:
    """Interquartile mean of all runs×tasks scores (rliable pools tasks for the IQM)."""
    pooled = _flat_sorted(x)
    return pooled @ iqm_weights(pooled.shape[-1])


def aggregate_mean(x: np.ndarray) -> np.ndarray:
    """Mean over tasks of the per-task mean over runs."""
    return x.mean(axis=-2).mean(axis=-1)


def aggregate_median(x: np.ndarray) -> np.ndarray:
    """Median over tasks of the per-task mean over runs (rliable's aggregate median)."""
    return np.median(x.mean(axis=-2), axis=-1)


AGGREGATES: dict[str, Aggregate] = {
    "iqm": aggregate_iqm,
    "mean": aggregate_mean,
    "median": aggregate_median,
}


def iqm(values: ArrayLike) -> float:
    """Interquartile mean of ``values`` (any shape, pooled), with fractional trimming."""
    return float(aggregate_iqm(score_matrix(np.ravel(values))))


def _resample_indices(rng: np.random.Generator, reps: int, runs: int, tasks: int) -> np.ndarray:
    return rng.integers(0, runs, size=(reps, runs, tasks))


def _percentiles(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    tail = 100.0 * (1.0 - confidence) / 2.0
    low, high = np.percentile(samples, [tail, 100.0 - tail])
    return float(low), float(high)


def _chunks(reps: int) -> list[int]:
    if reps < 1:
        raise ValueError(f"reps must be >= 1, got {reps}")
    return [min(_CHUNK, reps - start) for start in range(0, reps, _CHUNK)]


def bootstrap_interval(
    scores: ArrayLike,
    aggregate: Aggregate | str,
    rng: np.random.Generator,
    reps: int = DEFAULT_REPS,
    confidence: float = 0.95,
) -> Interval:
    """Point estimate and stratified-bootstrap percentile CI of ``aggregate(scores)``."""
    x = score_matrix(scores)
    agg = AGGREGATES[aggregate] if isinstance(aggregate, str) else aggregate
    runs, tasks = x.shape
    cols = np.arange(tasks)
    samples = []
    for n in _chunks(reps):
        idx = _resample_indices(rng, n, runs, tasks)
        samples.append(agg(x[idx, cols]))  # (n, runs, tasks): each task resampled alone
    low, high = _percentiles(np.concatenate(samples), confidence)
    return Interval(float(agg(x)), low, high)


def _poi(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """P(X > Y) of (..., runs_x, tasks) vs (..., runs_y, tasks), ties count 1/2, task-mean."""
    diff = x[..., :, None, :] - y[..., None, :, :]
    wins = (diff > 0).astype(np.float64) + 0.5 * (diff == 0)
    return wins.mean(axis=(-3, -2)).mean(axis=-1)


def _check_pair(x: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    a, b = score_matrix(x), score_matrix(y)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"x and y must cover the same tasks, got {a.shape[1]} and {b.shape[1]}")
    return a, b


def probability_of_improvement(x: ArrayLike, y: ArrayLike) -> float:
    """P(X > Y): chance that a random run of X beats a random run of Y on the same task.

    The Mann-Whitney U statistic divided by runs_x·runs_y, ties counted 1/2, averaged over
    tasks (as rliable). 0.5 means no difference.
    """
    a, b = _check_pair(x, y)
    return float(_poi(a, b))


def poi_interval(
    x: ArrayLike,
    y: ArrayLike,
    rng: np.random.Generator,
    reps: int = DEFAULT_REPS,
    confidence: float = 0.95,
) -> Interval:
    """P(X > Y) with a stratified-bootstrap CI (X and Y resampled independently per task)."""
    a, b = _check_pair(x, y)
    cols = np.arange(a.shape[1])
    samples = []
    for n in _chunks(reps):
        ia = _resample_indices(rng, n, a.shape[0], a.shape[1])
        ib = _resample_indices(rng, n, b.shape[0], b.shape[1])
        samples.append(_poi(a[ia, cols], b[ib, cols]))
    low, high = _percentiles(np.concatenate(samples), confidence)
    return Interval(float(_poi(a, b)), low, high)


def curve_intervals(
    per_step: list[ArrayLike],
    rng: np.random.Generator,
    aggregate: Aggregate | str = "iqm",
    reps: int = 500,
    confidence: float = 0.95,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-step point estimate and CI for a learning curve.

    ``per_step[i]`` holds the seeds' values at step i; seed counts may differ between steps
    (an interrupted run stops early), so every step is bootstrapped on its own.
    Returns (point, low, high) arrays of length len(per_step).
    """
    out = np.empty((3, len(per_step)))
    for i, values in enumerate(per_step):
        est = bootstrap_interval(values, aggregate, rng, reps=reps, confidence=confidence)
        out[:, i] = (est.point, est.low, est.high)
    return out[0], out[1], out[2]
