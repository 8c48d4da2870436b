"""The numba kernels of NDCG's ideal behind :func:`marec_env.kernels.ideal_values`: the s
best true utilities of the available items for the user in session.

A full search (:func:`_nb_ideal_values_pruned`) bounds every utility with a float32 pass and
sums only the items that can reach the s best in float64. The memo kernel
(:func:`_nb_ideal_values_memo`) skips that search in most steps. It keeps each world's M best
items from its last search and the user's taste then. A step changes the taste a little, and
no utility can rise by more than the largest rise of one topic's taste times the largest sum
of an item's latents (1: they are points of the simplex). So while the s-th best of the kept
items and of the items released since clears the M-th best of the last search by that much,
no other item can enter the s best.
"""

from __future__ import annotations

import numba
import numpy as np

from marec_env.compiled_top_k import _at_least, _insert, _insert_value, _kth_largest, _usable_hints

_MEMO_MARGIN = 2.0**-20
"""Relative slack of the memo's test: float32 roundings of the two utilities it compares
(2⁻²⁴ each) and float64 sums of nine terms, of the largest |utility| either taste allows."""
_MEMO_MAX_NEW = 64
"""More items released since the last search than this: search again."""


@numba.njit(cache=True, nogil=True)
def _utility(taste, r, latent, quality, quality_weight, j):
    # One item's utility as the float64 pass sums it (topics in order), rounded to float32;
    # ``latent`` is item-major, so one item's latents are side by side.
    acc = 0.0
    for d in range(taste.shape[1]):
        acc += np.float64(taste[r, d]) * latent[j, d]
    return np.float32(acc + quality_weight * quality[j])


@numba.njit(cache=True, nogil=True)
def _utility_bound(taste, r, scale, q_scale):
    # The largest |utility| row r's taste allows (|latent| per topic at most ``scale``).
    bound = q_scale
    for d in range(taste.shape[1]):
        bound += abs(np.float64(taste[r, d])) * scale[d]
    return bound


@numba.njit(cache=True, nogil=True)
def _hint_floor(taste, r, latent, quality, quality_weight, hints, stop):
    # The smallest utility of row r's hint items (a lower bound on its s-th best), or -inf.
    if not _usable_hints(hints, r, stop):
        return np.float32(-np.inf)
    floor = np.float32(np.inf)
    for a in range(hints.shape[1]):
        floor = min(floor, _utility(taste, r, latent, quality, quality_weight, hints[r, a]))
    return floor


@numba.njit(cache=True, nogil=True)
def _nb_ideal_values_pruned(
    taste, latent, latent_t32, quality, quality_weight, n_available, s, hints, scale, q_scale
):  # fmt: skip
    # The s best utilities in two passes: a float32 pass bounds every item's utility, and
    # only items that can reach the s best are summed in float64 over topics in order (the
    # values of a full float64 pass; most items are skipped). ``hints`` (n, s): items whose
    # utilities bound the s-th best from below (last step's best, usually still close), so
    # the s-th best rough value need not be searched for; overwritten with this step's best.
    # ``scale`` (t,): the largest |latent| per topic; ``q_scale``: the largest
    # |quality_weight * quality|. Together they bound every utility.
    n, t = taste.shape
    m = latent_t32.shape[1]
    out = np.empty((n, s), np.float32)
    rough = np.empty(m, np.float32)
    keep = np.empty(m + 1, np.int64)
    best = np.empty((1, s), np.int64), np.empty((1, s), np.float32)
    for r in range(n):
        stop = min(n_available[r], m)
        if stop < s:  # too few items to prune: the exact pass of every item
            filled = 0
            for j in range(s):
                v = np.float32(-np.inf)
                if j < stop:
                    v = _utility(taste, r, latent, quality, quality_weight, j)
                filled = _insert_value(out, r, filled, s, v)
                hints[r, j] = -1
            continue
        bound = _utility_bound(taste, r, scale, q_scale)
        for j in range(stop):
            rough[j] = np.float32(quality_weight * quality[j])
        for d in range(t):
            weight = taste[r, d]
            for j in range(stop):
                rough[j] += weight * latent_t32[d, j]
        # |rough - exact| <= (t + 2) ulp-sized errors of terms bounded by ``bound``.
        margin = 4.0 * (t + 4) * 2.0**-24 * bound + 1e-30
        # Every item whose exact utility can reach the s best lies within two margins of
        # the s-th best rough value, and within two margins of any lower bound on it.
        floor = _hint_floor(taste, r, latent, quality, quality_weight, hints, stop)
        loose = floor == -np.inf
        if not loose:
            count = _at_least(rough, stop, np.float64(floor) - 2.0 * margin, keep)
            loose = count > 4 * s + 16
        if loose:  # no hint, or a loose one (a new user): search for the bar
            threshold = np.float64(_kth_largest(rough, stop, s, best, -np.inf)) - 2.0 * margin
            count = _at_least(rough, stop, threshold, keep)
        filled = 0
        for e in range(count):
            j = keep[e]
            v = _utility(taste, r, latent, quality, quality_weight, j)
            if filled < s:
                _insert(hints, out, r, filled, s, j, v)
                filled += 1
            elif v > out[r, s - 1]:
                _insert(hints, out, r, filled, s, j, v)
    return out


@numba.njit(cache=True, nogil=True)
def _memo_hit(taste, r, latent, quality, quality_weight, stop, s, memo, out, lat_sum, scale,
              q_scale, nonnegative):  # fmt: skip
    # Row r's s best values from its kept items and the items released since its last
    # search, into out[r]; True when they are provably the s best of all ``stop`` items.
    items, kept_taste, bar, bound_then, searched = memo
    if searched[r] < 0 or searched[r] > stop or stop - searched[r] > _MEMO_MAX_NEW:
        return False
    rise = 0.0  # utility_j rises by sum_d change_d latent_jd <= rise * lat_sum
    for d in range(taste.shape[1]):
        change = np.float64(taste[r, d]) - np.float64(kept_taste[r, d])
        rise = max(rise, change if nonnegative else abs(change))
    filled = 0
    for a in range(items.shape[1]):
        v = _utility(taste, r, latent, quality, quality_weight, items[r, a])
        filled = _insert_value(out, r, filled, s, v)
    for j in range(searched[r], stop):
        v = _utility(taste, r, latent, quality, quality_weight, j)
        filled = _insert_value(out, r, filled, s, v)
    slack = _MEMO_MARGIN * (_utility_bound(taste, r, scale, q_scale) + bound_then[r])
    return np.float64(out[r, s - 1]) > np.float64(bar[r]) + rise * lat_sum + slack


@numba.njit(cache=True, nogil=True)
def _nb_ideal_values_memo(taste, latent, latent_t32, quality, quality_weight,
                          n_available, s, memo, lat_sum, nonnegative, scale, q_scale):  # fmt: skip
    # _nb_ideal_values_pruned's values, from the memo where it proves them; the other rows
    # search their M best (M = the memo's width, at least s) and become the memo.
    items, kept_taste, bar, bound_then, searched = memo
    n, width = taste.shape[0], items.shape[1]
    m = latent_t32.shape[1]
    out = np.empty((n, s), np.float32)
    again = np.empty(n, np.int64)
    count = 0
    for r in range(n):
        stop = min(n_available[r], m)
        if not _memo_hit(taste, r, latent, quality, quality_weight, stop, s, memo, out,
                         lat_sum, scale, q_scale, nonnegative):  # fmt: skip
            again[count] = r
            count += 1
    rows = again[:count]
    hints = items[rows]  # the last search's items start the new one
    best = _nb_ideal_values_pruned(taste[rows], latent, latent_t32, quality, quality_weight,
                                   n_available[rows], width, hints, scale, q_scale)  # fmt: skip
    for e in range(count):
        r = rows[e]
        for a in range(s):
            out[r, a] = best[e, a]
        stop = min(n_available[r], m)
        usable = stop >= width
        for a in range(width):
            items[r, a] = hints[e, a]
        for d in range(taste.shape[1]):
            kept_taste[r, d] = taste[r, d]
        bar[r] = best[e, width - 1]
        bound_then[r] = _utility_bound(taste, r, scale, q_scale)
        searched[r] = stop if usable else -1
    return out
