"""Exact top-K selection shared by the candidate caches and the NDCG metric.

Ties are broken by the lower item index, in every code path, so that an incremental merge and
a full pass agree. Keys are built in float64 (never lower precision than the scores); large
batches go to ``torch.topk``, which is several times faster than ``np.argpartition`` there,
but only once torch is imported anyway: importing it costs seconds, and an env whose texts are
all cached never needs it. Both paths select exactly the same items.
"""

from __future__ import annotations

import sys

import numpy as np

TORCH_MIN_ROWS = 64
"""Below this many rows numpy's call overhead is lower than torch's."""


def _use_torch(rows: int) -> bool:
    return rows >= TORCH_MIN_ROWS and "torch" in sys.modules


FILLER_BASE = -1e9
"""Key of items that are available but unscorable: below any real score, ordered by index."""


def tie_broken_keys(scores: np.ndarray, item_ids: np.ndarray, unscorable: float) -> np.ndarray:
    """float64 keys: distinct real scores keep their order (float32 gaps exceed the index
    nudge), equal scores prefer the lower index, unscorable items rank by index below all."""
    keys = scores.astype(np.float64)
    keys -= item_ids * 1e-12
    filler = (scores <= unscorable) & np.isfinite(scores)
    if filler.any():
        keys = np.where(filler, FILLER_BASE - np.broadcast_to(item_ids, keys.shape), keys)
    return keys


def largest(keys: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the k largest keys per row, largest first. Keys must be distinct
    (or −inf) so the result does not depend on the algorithm."""
    n, m = keys.shape
    k = min(k, m)
    if _use_torch(n):
        import torch

        return torch.topk(torch.from_numpy(keys), k, dim=1, sorted=True).indices.numpy()
    part = np.argpartition(-keys, k - 1, axis=1)[:, :k] if k < m else np.tile(np.arange(m), (n, 1))
    order = np.argsort(-np.take_along_axis(keys, part, 1), axis=1, kind="stable")
    return np.take_along_axis(part, order, 1)


def largest_values(values: np.ndarray, k: int) -> np.ndarray:
    """The k largest values per row, descending (values only, so ties do not matter)."""
    n, _m = values.shape
    if _use_torch(n):
        import torch

        return torch.topk(torch.from_numpy(values), k, dim=1, sorted=True).values.numpy()
    top = -np.partition(-values, k - 1, axis=1)[:, :k]
    return -np.sort(-top, axis=1)


def _unordered_top(values: np.ndarray, k: int) -> np.ndarray:
    n, _m = values.shape
    if _use_torch(n):
        import torch

        return torch.topk(torch.from_numpy(values), k, dim=1, sorted=False).indices.numpy()
    return np.argpartition(-values, k - 1, axis=1)[:, :k]


def top_k_exact(scores: np.ndarray, item_ids: np.ndarray, k: int, unscorable: float) -> np.ndarray:
    """Column indices of the k best items per row: by score, ties to the lower item id.

    Fast path: k + 1 largest float32 scores, then an exact (score, id) sort of those; rows
    whose k-th and (k+1)-th scores tie are redone on float64 tie-broken keys.
    """
    _n, m = scores.shape
    if m <= k:
        return largest(tie_broken_keys(scores, item_ids, unscorable), k)
    cols = _unordered_top(scores, k + 1)
    vals = np.take_along_axis(scores, cols, 1)
    ids = np.take_along_axis(np.broadcast_to(item_ids, scores.shape), cols, 1)
    order = np.lexsort((ids, -vals), axis=-1)
    cols = np.take_along_axis(cols, order, 1)
    vals = np.take_along_axis(vals, order, 1)
    tied = vals[:, k - 1] == vals[:, k]
    out = cols[:, :k]
    if tied.any():
        rows = np.flatnonzero(tied)
        ids_rows = np.broadcast_to(item_ids, scores.shape)[rows]
        out[rows] = largest(tie_broken_keys(scores[rows], ids_rows, unscorable), k)
    return out
