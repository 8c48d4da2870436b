"""The numba top-K kernels behind :mod:`marec_env.kernels`: scoring and exact selection of a
backbone's candidates and of NDCG's ideal (each has an exact numpy twin there).

Imported with :mod:`marec_env.compiled` when a kernel is first needed. Every selection keeps
the k best with ties to the lower item id, like a plain insertion scan in id order; the
shortcuts (blocks skipped at once, hint items that bound the k-th best, rough scores refined
within a proven margin) never change which items are kept.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _insert(out_i, out_s, r, filled, k, item, score):
    # Sorted insertion into row r's buffer; equal scores stay behind earlier (lower-id)
    # entries because the scan is strict.
    p = filled if filled < k else k - 1
    while p > 0 and out_s[r, p - 1] < score:
        out_s[r, p] = out_s[r, p - 1]
        out_i[r, p] = out_i[r, p - 1]
        p -= 1
    out_s[r, p] = score
    out_i[r, p] = item


@numba.njit(cache=True, nogil=True)
def _insert_value(out, r, filled, k, v):
    # Row r keeps its k largest values in descending order; returns the new fill count.
    if filled < k or v > out[r, k - 1]:
        p = filled if filled < k else k - 1
        while p > 0 and out[r, p - 1] < v:
            out[r, p] = out[r, p - 1]
            p -= 1
        out[r, p] = v
        if filled < k:
            filled += 1
    return filled


_BLOCK = 16
"""Items the selection checks against its bar at once, before reading them one by one."""


@numba.njit(cache=True, nogil=True)
def _select_released(row, stop, m, k, out_i, out_s, r, floor):
    # Row r's best k of ``row[:stop]`` (effective scores of released items, never NaN), then
    # unreleased ids at -inf while fewer than k: the plain insertion scan in id order over
    # the items at or above ``floor`` (-inf: all of them; a floor at most the k-th best, e.g.
    # the smallest score of k distinct items, leaves the result unchanged). A block of items
    # is skipped at once when none of them can enter (the bar only rises).
    filled = 0
    j = 0
    if floor == -np.inf:  # the first k items fill the buffer
        while j < stop and filled < k:
            _insert(out_i, out_s, r, filled, k, j, row[j])
            filled += 1
            j += 1
    while filled < k and j + _BLOCK <= stop:  # only items at or above the floor fill it
        hit = False
        for q in range(_BLOCK):  # a fixed count, no branch: one flag for the block
            hit |= row[j + q] >= floor
        if hit:
            for q in range(j, j + _BLOCK):
                v = row[q]
                if filled < k:
                    if v >= floor:
                        _insert(out_i, out_s, r, filled, k, q, v)
                        filled += 1
                elif v > out_s[r, k - 1]:
                    _insert(out_i, out_s, r, filled, k, q, v)
        j += _BLOCK
    bar = out_s[r, k - 1]  # read only once the buffer is full
    while j + _BLOCK <= stop:
        hit = False
        for q in range(_BLOCK):
            hit |= row[j + q] > bar
        if hit:
            for q in range(j, j + _BLOCK):
                if row[q] > bar:
                    _insert(out_i, out_s, r, filled, k, q, row[q])
                    bar = out_s[r, k - 1]
        j += _BLOCK
    for q in range(j, stop):
        v = row[q]
        if filled < k:
            if v >= floor:
                _insert(out_i, out_s, r, filled, k, q, v)
                filled += 1
        elif v > out_s[r, k - 1]:
            _insert(out_i, out_s, r, filled, k, q, v)
    j = stop
    while filled < k and j < m:
        out_i[r, filled] = j
        out_s[r, filled] = -np.inf
        filled += 1
        j += 1


@numba.njit(cache=True, nogil=True)
def _usable_hints(hints, r, stop):
    # Row r's hint items are distinct released items (ids in [0, stop)), and there are some:
    # then the smallest of their values is at most the k-th best of the row.
    k = hints.shape[1]
    for a in range(k):
        j = hints[r, a]
        if j < 0 or j >= stop:
            return False
        for b in range(a):
            if hints[r, b] == j:
                return False
    return k > 0


@numba.njit(cache=True, nogil=True)
def _hints_floor(row, hints, r, stop):
    # The smallest score of row r's hint items (its previous top k), or -inf.
    if not _usable_hints(hints, r, stop):
        return np.float32(-np.inf)
    floor = np.float32(np.inf)
    for a in range(hints.shape[1]):
        floor = min(floor, row[hints[r, a]])
    return floor


@numba.njit(cache=True, nogil=True)
def _nb_top_k_released(raw, n_available, k, unscorable):
    n, m = raw.shape
    out_i = np.empty((n, k), np.int64)
    out_s = np.empty((n, k), np.float32)
    row = np.empty(m, np.float32)
    for r in range(n):
        stop = min(n_available[r], m)
        for j in range(stop):
            v = raw[r, j]
            row[j] = v if np.isfinite(v) else unscorable
        _select_released(row, stop, m, k, out_i, out_s, r, np.float32(-np.inf))
    return out_i, out_s


@numba.njit(cache=True, nogil=True)
def _nb_merge_fresh(items, scores, fresh, start, before, now, k, unscorable):
    n = items.shape[0]
    m = fresh.shape[1]
    out_i = items.copy()
    out_s = scores.copy()
    for r in range(n):
        # Fresh ids exceed every cached id, so a strict scan keeps ties in id order.
        lo = max(before[r] - start, 0)
        hi = min(now[r] - start, m)
        for c in range(lo, hi):
            s = fresh[r, c]
            if not np.isfinite(s):
                s = unscorable
            if s > out_s[r, k - 1]:
                _insert(out_i, out_s, r, k, k, start + c, s)
    return out_i, out_s


@numba.njit(cache=True, nogil=True)
def _nb_largest_values(values, k):
    n, m = values.shape
    out = np.empty((n, k), values.dtype)
    for r in range(n):
        filled = 0
        for j in range(m):
            filled = _insert_value(out, r, filled, k, values[r, j])
    return out


@numba.njit(cache=True, nogil=True)
def _nb_factor_top_k(factors, ids, count, m, user, worlds, n_available, k, unscorable):
    # Row r: the float64 dot of user[r] with each visible item's factors (packed run of world
    # worlds[r], ids ascending), summed over factors in order and rounded to float32; then
    # the items the backbone cannot score, by id (they tie at ``unscorable``); then
    # unreleased ids (-inf). That is _nb_top_k_released over the full row of scores.
    n, f = user.shape
    out_i = np.empty((n, k), np.int64)
    out_s = np.empty((n, k), np.float32)
    u64 = np.empty(f, np.float64)
    scorable = np.zeros(m, np.bool_)  # back to all False after each row
    for r in range(n):
        w = worlds[r]
        for d in range(f):
            u64[d] = user[r, d]
        stop = min(n_available[r], m)
        filled = 0
        seen = 0
        while seen < count[w] and ids[w, seen] < stop:
            j = ids[w, seen]
            seen += 1
            acc = 0.0
            for d in range(f):
                acc += np.float64(factors[w, seen - 1, d]) * u64[d]
            s = np.float32(acc)
            if not np.isfinite(s) or s == unscorable:  # (never in practice) a filler
                continue
            scorable[j] = True
            if filled < k:
                _insert(out_i, out_s, r, filled, k, j, s)
                filled += 1
            elif s > out_s[r, k - 1]:
                _insert(out_i, out_s, r, filled, k, j, s)
        j = 0
        while filled < k and j < stop:  # ties at ``unscorable`` go to the lower id
            if not scorable[j]:
                _insert(out_i, out_s, r, filled, k, j, unscorable)
                filled += 1
            j += 1
        for e in range(seen):
            scorable[ids[w, e]] = False
        j = stop
        while filled < k and j < m:
            out_i[r, filled] = j
            out_s[r, filled] = -np.inf
            filled += 1
            j += 1
    return out_i, out_s


@numba.njit(cache=True, nogil=True)
def _add_four_terms(acc, stop, weights, r, table, f):
    # acc[j] += row r's terms d < f - f % 4, four per pass over the items: each item's sum
    # stays in a register across four adds (the same adds in the same order) instead of
    # being stored and reloaded after each one, which was most of the pass's cost.
    for d in range(0, f - f % 4, 4):
        x0, x1 = np.float64(weights[r, d]), np.float64(weights[r, d + 1])
        x2, x3 = np.float64(weights[r, d + 2]), np.float64(weights[r, d + 3])
        c0, c1, c2, c3 = table[d], table[d + 1], table[d + 2], table[d + 3]
        for j in range(stop):
            a = acc[j]
            a += x0 * np.float64(c0[j])
            a += x1 * np.float64(c1[j])
            a += x2 * np.float64(c2[j])
            a += x3 * np.float64(c3[j])
            acc[j] = a


@numba.njit(cache=True, nogil=True)
def _nb_dot_top_k(table, weights, n_available, k, unscorable, hints):
    # Row r scores item j as the float64 sum over d, in order, of weights[r, d] times
    # table[d, j], rounded to float32, and keeps the k best like _nb_top_k_released. An
    # item-major table puts the items of one d side by side, so each d is one vector pass
    # over the items, and every item's sum still adds its terms in d order.
    n, f = weights.shape
    m = table.shape[1]
    out_i = np.empty((n, k), np.int64)
    out_s = np.empty((n, k), np.float32)
    acc = np.empty(m, np.float64)
    row = np.empty(m, np.float32)
    for r in range(n):
        stop = min(n_available[r], m)
        acc[:stop] = 0.0
        _add_four_terms(acc, stop, weights, r, table, f)
        for d in range(f - f % 4, f):
            x = np.float64(weights[r, d])
            column = table[d]
            for j in range(stop):
                acc[j] += x * np.float64(column[j])
        for j in range(stop):
            s = np.float32(acc[j])
            row[j] = s if np.isfinite(s) else unscorable
        _select_released(row, stop, m, k, out_i, out_s, r, _hints_floor(row, hints, r, stop))
    return out_i, out_s


@numba.njit(cache=True, nogil=True)
def _dots_in_order(unit, r, items, keep, count, exact):
    # exact[e] = sum over d, in order, of unit[r, d] * items[keep[e], d] (float64). Four
    # items at a time: each sum keeps its own order, so the values are those of one item at
    # a time, but the four chains of dependent adds overlap instead of waiting on each other.
    dim = unit.shape[1]
    e = 0
    while e + 4 <= count:
        a, b, c, d4 = keep[e], keep[e + 1], keep[e + 2], keep[e + 3]
        acc0 = acc1 = acc2 = acc3 = 0.0
        for d in range(dim):
            x = unit[r, d]
            acc0 += x * items[a, d]
            acc1 += x * items[b, d]
            acc2 += x * items[c, d]
            acc3 += x * items[d4, d]
        exact[e], exact[e + 1], exact[e + 2], exact[e + 3] = acc0, acc1, acc2, acc3
        e += 4
    while e < count:
        j = keep[e]
        acc = 0.0
        for d in range(dim):
            acc += unit[r, d] * items[j, d]
        exact[e] = acc
        e += 1


@numba.njit(cache=True, nogil=True)
def _kth_largest(row, stop, k, best, floor):
    # The k-th largest of row[:stop] (k <= stop): _select_released into the scratch rows
    # ``best`` (ids, values), read back.
    ids, values = best
    _select_released(row, stop, stop, k, ids, values, 0, floor)
    return values[0, k - 1]


@numba.njit(cache=True, nogil=True)
def _at_least(row, stop, threshold, keep):
    # The ids j < stop with row[j] >= threshold (compared in float64), in id order, into
    # keep; returns their count. Blocks with none are skipped after one branch-free check.
    count = 0
    j = 0
    while j + _BLOCK <= stop:
        hit = False
        for q in range(_BLOCK):
            hit |= np.float64(row[j + q]) >= threshold
        if hit:
            for q in range(j, j + _BLOCK):
                keep[count] = q
                count += np.float64(row[q]) >= threshold
        j += _BLOCK
    for q in range(j, stop):
        keep[count] = q
        count += np.float64(row[q]) >= threshold
    return count


@numba.njit(cache=True, nogil=True)
def _refine_row(
    row, stop, margin, unit, r, items, k, unscorable, out_i, out_s, best, keep, exact, floor
):  # fmt: skip
    # Row r of the exact top-k: ``row[:stop]`` are rough scores within margin / 2 of the
    # exact ones (in the same units), so only items within the margin of the k-th best rough
    # score can reach the exact top k; those are rescored from ``unit`` and ``items``.
    threshold = np.float64(_kth_largest(row, stop, k, best, floor)) - margin
    count = _at_least(row, stop, threshold, keep)
    _dots_in_order(unit, r, items, keep, count, exact)
    filled = 0
    for e in range(count):
        j = keep[e]
        score = np.float32(exact[e])
        if not np.isfinite(score):
            score = unscorable
        if filled < k:
            _insert(out_i, out_s, r, filled, k, j, score)
            filled += 1
        elif score > out_s[r, k - 1]:
            _insert(out_i, out_s, r, filled, k, j, score)


@numba.njit(cache=True, nogil=True)
def _nb_refine_top_k(rough, unit, items, n_available, k, margin, unscorable, hints):
    n, m = rough.shape
    out_i = np.empty((n, k), np.int64)
    out_s = np.empty((n, k), np.float32)
    best = np.empty((1, k), np.int64), np.empty((1, k), np.float32)
    keep = np.empty(m, np.int64)
    exact = np.empty(m, np.float64)
    for r in range(n):
        stop = min(n_available[r], m)
        row = rough[r]
        _refine_row(row, stop, margin, unit, r, items, k, unscorable, out_i, out_s, best, keep,
                    exact, _hints_floor(row, hints, r, stop))  # fmt: skip
    return out_i, out_s


@numba.njit(cache=True, nogil=True)
def _nb_refine_pooled_top_k(pool, slots, unit, items, n_available, k, margins, unscorable, hints):
    # _nb_refine_top_k with row r's rough scores in pool[slots[r]] and its own margin.
    n = slots.shape[0]
    m = pool.shape[1]
    out_i = np.empty((n, k), np.int64)
    out_s = np.empty((n, k), np.float32)
    best = np.empty((1, k), np.int64), np.empty((1, k), np.float32)
    keep = np.empty(m, np.int64)
    exact = np.empty(m, np.float64)
    for r in range(n):
        stop = min(n_available[r], m)
        row = pool[slots[r]]
        _refine_row(row, stop, margins[r], unit, r, items, k, unscorable, out_i, out_s, best,
                    keep, exact, _hints_floor(row, hints, r, stop))  # fmt: skip
    return out_i, out_s
