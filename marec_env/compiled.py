"""The numba kernels behind :mod:`marec_env.kernels` (each has an exact numpy twin there).

Imported only when a kernel is first needed, so ``import marec_env`` does not load numba
(about a quarter of a second). Compiled once and cached on disk (``cache=True``).
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
def _nb_add_rows_in_order(target, rows, values):
    for e in range(rows.shape[0]):
        row = rows[e]
        for d in range(values.shape[1]):
            target[row, d] += values[e, d]


@numba.njit(cache=True, nogil=True)
def _nb_add_table_rows(target, rows, table, picks):
    for e in range(rows.shape[0]):
        row, pick = rows[e], picks[e]
        for d in range(table.shape[1]):
            target[row, d] += table[pick, d]


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
def _nb_dot_top_k(
    tables, table_of, visible, visible_of, weights, n_available, k, unscorable, hints
):  # fmt: skip
    # Row r scores item j as the float64 sum over d, in order, of weights[r, d] times
    # tables[table_of[r], d, j], rounded to float32 (``unscorable`` where
    # visible[visible_of[r], j] is False), and keeps the k best like _nb_top_k_released.
    # Item-major tables put the items of one d side by side, so each d is one vector pass
    # over the items, and every item's sum still adds its terms in d order.
    n, f = weights.shape
    m = tables.shape[2]
    out_i = np.empty((n, k), np.int64)
    out_s = np.empty((n, k), np.float32)
    acc = np.empty(m, np.float64)
    row = np.empty(m, np.float32)
    for r in range(n):
        table, seen = tables[table_of[r]], visible[visible_of[r]]
        stop = min(n_available[r], m)
        acc[:stop] = 0.0
        for d in range(f):
            x = np.float64(weights[r, d])
            column = table[d]
            for j in range(stop):
                acc[j] += x * np.float64(column[j])
        for j in range(stop):
            s = np.float32(acc[j])
            row[j] = s if seen[j] and np.isfinite(s) else unscorable
        _select_released(row, stop, m, k, out_i, out_s, r, _hints_floor(row, hints, r, stop))
    return out_i, out_s


@numba.njit(cache=True, nogil=True)
def _utility(taste, r, latent_t, quality, quality_weight, j):
    # One item's utility as the float64 pass sums it (topics in order), rounded to float32.
    acc = 0.0
    for d in range(taste.shape[1]):
        acc += np.float64(taste[r, d]) * latent_t[d, j]
    return np.float32(acc + quality_weight * quality[j])


@numba.njit(cache=True, nogil=True)
def _hint_floor(taste, r, latent_t, quality, quality_weight, hints, stop):
    # The smallest utility of row r's hint items (a lower bound on its s-th best), or -inf.
    if not _usable_hints(hints, r, stop):
        return np.float32(-np.inf)
    floor = np.float32(np.inf)
    for a in range(hints.shape[1]):
        floor = min(floor, _utility(taste, r, latent_t, quality, quality_weight, hints[r, a]))
    return floor


@numba.njit(cache=True, nogil=True)
def _nb_ideal_values_pruned(
    taste, latent_t, latent_t32, quality, quality_weight, n_available, s, hints, scale, q_scale
):  # fmt: skip
    # The s best utilities in two passes: a float32 pass bounds every item's utility, and
    # only items that can reach the s best are summed in float64 over topics in order (the
    # values of a full float64 pass; most items are skipped). ``hints`` (n, s): items whose
    # utilities bound the s-th best from below (last step's best, usually still close), so
    # the s-th best rough value need not be searched for; overwritten with this step's best.
    # ``scale`` (t,): the largest |latent| per topic; ``q_scale``: the largest
    # |quality_weight * quality|. Together they bound every utility.
    n, t = taste.shape
    m = latent_t.shape[1]
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
                    v = _utility(taste, r, latent_t, quality, quality_weight, j)
                filled = _insert_value(out, r, filled, s, v)
                hints[r, j] = -1
            continue
        bound = q_scale
        for j in range(stop):
            rough[j] = np.float32(quality_weight * quality[j])
        for d in range(t):
            weight = taste[r, d]
            bound += abs(np.float64(weight)) * scale[d]
            for j in range(stop):
                rough[j] += weight * latent_t32[d, j]
        # |rough - exact| <= (t + 2) ulp-sized errors of terms bounded by ``bound``.
        margin = 4.0 * (t + 4) * 2.0**-24 * bound + 1e-30
        # Every item whose exact utility can reach the s best lies within two margins of
        # the s-th best rough value, and within two margins of any lower bound on it.
        floor = _hint_floor(taste, r, latent_t, quality, quality_weight, hints, stop)
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
            v = _utility(taste, r, latent_t, quality, quality_weight, j)
            if filled < s:
                _insert(hints, out, r, filled, s, j, v)
                filled += 1
            elif v > out[r, s - 1]:
                _insert(hints, out, r, filled, s, j, v)
    return out


@numba.njit(cache=True, nogil=True)
def _nb_rival_board(items):
    w_count, n, k = items.shape
    overlap = np.zeros((w_count, n, k), np.float32)
    rival_rank = np.zeros((w_count, n, k, n), np.float32)
    others_scale = max(n - 1, 1)
    for w in range(w_count):
        for i in range(n):
            for c in range(k):
                item = items[w, i, c]
                holders = 0
                for j in range(n):
                    for rank in range(k):
                        if items[w, j, rank] == item:
                            holders += 1
                            rival_rank[w, i, c, j] = np.float32(1.0 - rank / k)
                            break
                overlap[w, i, c] = np.float32((holders - 1) / others_scale)
    return overlap, rival_rank


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


@numba.njit(cache=True, nogil=True)
def _nb_exposure_add(items, count, at_most, item_at, position_of, rank_sum, total, covered):
    n, slots = items.shape
    for s in range(slots):  # slot-major, like the numpy code: the same moves
        for w in range(n):
            item = items[w, s]
            if item < 0:
                continue
            value = count[w, item]
            last = at_most[w, value] - 1
            at_most[w, value] = last
            pos = position_of[w, item]
            other = item_at[w, last]
            item_at[w, pos] = other
            item_at[w, last] = item
            position_of[w, other] = pos
            position_of[w, item] = last
            count[w, item] = value + 1
            rank_sum[w] += last + 1
            total[w] += 1
            if value == 0:
                covered[w] += 1


@numba.njit(cache=True, nogil=True)
def _nb_observe(
    out, items, scores, valid, release_time, item_clicks, item_impressions, main_topic,
    last_topic, steps, clicks, last_clicked, misses, slot_share, last_clicks, t,
    patience, age_scale, horizon,
):  # fmt: skip
    # The v0 observation of ``observation.build_observations``, value by value, written
    # into out[:, :, :size] in the layout of ``ObservationLayout`` (rival ranks
    # candidate-major). Each world's counts are gathered first (independent loads overlap)
    # and the rival ranks come from a per-world table of who holds which item.
    w_count, n, k = items.shape
    size = 7 * k + k * n + 4 + 2 + n + 1
    log101 = np.log(101.0)
    others_scale = max(n - 1, 1)
    user_at, agent_at = 7 * k + k * n, 7 * k + k * n + 4
    rank_of = np.full((n, release_time.shape[0]), -1, np.int64)
    shown_clicks = np.empty((n, k), np.float32)
    impressions = np.empty((n, k), np.float32)
    for w in range(w_count):
        for i in range(n):
            for c in range(k):
                item = items[w, i, c]
                shown_clicks[i, c] = item_clicks[w, item]
                impressions[i, c] = item_impressions[w, item]
        for j in range(n):
            for rank in range(k - 1, -1, -1):  # the first rank wins, as in a forward search
                rank_of[j, items[w, j, rank]] = rank
        for i in range(n):
            o = out[w, i]
            for c in range(k):
                item = items[w, i, c]
                o[c] = np.tanh(scores[w, i, c]) if valid[w, i, c] else np.float32(-1.0)
                age = np.float32(t[w] - release_time[item]) / age_scale
                o[k + c] = min(age, 1.0)
                o[2 * k + c] = min(np.log1p(shown_clicks[i, c]) / log101, 1.0)
                o[3 * k + c] = 1.0 if valid[w, i, c] else 0.0
                o[4 * k + c] = (shown_clicks[i, c] + 1.0) / (impressions[i, c] + 2.0)
                o[6 * k + c] = 1.0 if main_topic[item] == last_topic[w] else 0.0
                holders = 0
                for j in range(n):
                    rank = rank_of[j, item]
                    if rank >= 0:
                        holders += 1
                        o[7 * k + c * n + j] = 1.0 - rank / k
                    else:
                        o[7 * k + c * n + j] = 0.0
                o[5 * k + c] = (holders - 1) / others_scale
            o[user_at] = min(steps[w] / horizon, 1.0)
            o[user_at + 1] = min(clicks[w] / 10.0, 1.0)
            o[user_at + 2] = 1.0 if last_clicked[w] else 0.0
            o[user_at + 3] = min(misses[w] / patience, 1.0)
            o[agent_at] = slot_share[w, i]
            o[agent_at + 1] = min(last_clicks[w, i], 1.0)
            for j in range(n):
                o[agent_at + 2 + j] = 1.0 if j == i else 0.0
            o[agent_at + 2 + n] = min(t[w] / horizon, 1.0)
        for j in range(n):
            for rank in range(k):
                rank_of[j, items[w, j, rank]] = -1
    return size


@numba.njit(cache=True, nogil=True)
def _on_page(item, w, candidate):
    for s in range(item.shape[1]):  # noqa: SIM110 (numba compiles no generators)
        if item[w, s] == candidate:
            return True
    return False


@numba.njit(cache=True, nogil=True)
def _nb_team_draft(proposals, order, slots):
    # ``allocation.team_draft`` world by world, after the same random pick order.
    n, n_agents, k = proposals.shape
    item = np.full((n, slots), -1, np.int64)
    owner = np.full((n, slots), -1, np.int64)
    pointer = np.zeros(n_agents, np.int64)
    for w in range(n):
        pointer[:] = 0
        for s in range(slots):
            agent = order[w, s // n_agents, s % n_agents]
            candidate = -1
            for _ in range(k + 1):
                ptr = pointer[agent]
                candidate = proposals[w, agent, ptr] if ptr < k else -1
                if candidate < 0 or not _on_page(item, w, candidate):
                    break
                pointer[agent] += 1
            item[w, s] = candidate
            owner[w, s] = agent if candidate >= 0 else -1
            pointer[agent] += 1
    return item, owner


@numba.njit(cache=True, nogil=True)
def _nb_claimed_slate(proposals, claims, order, slots):
    # ``allocation.claimed_slate`` world by world, after the same random service order.
    n, n_agents, k = proposals.shape
    item = np.full((n, slots), -1, np.int64)
    owner = np.full((n, slots), -1, np.int64)
    taken = np.zeros(slots, np.bool_)
    pointer = np.ones(n_agents, np.int64)
    for w in range(n):
        taken[:] = False
        for r in range(n_agents):
            agent = order[w, r]
            wanted = claims[w, agent]
            position = -1
            for p in range(max(wanted, 0), slots):  # the first free one at or below the claim
                if not taken[p]:
                    position = p
                    break
            if position < 0:  # else the last free one above it
                for p in range(min(wanted, slots) - 1, -1, -1):
                    if not taken[p]:
                        position = p
                        break
            if position < 0:
                continue
            candidate = proposals[w, agent, 0]
            duplicate = candidate < 0 or _on_page(item, w, candidate)
            item[w, position] = -1 if duplicate else candidate
            owner[w, position] = agent
            taken[position] = True
        pointer[:] = 1
        for turn in range(n_agents * k):  # back-fill free positions, team-draft style
            first_free = -1
            for p in range(slots):
                if not taken[p]:
                    first_free = p
                    break
            if first_free < 0:
                break
            agent = order[w, turn % n_agents]
            candidate, seen = -1, False
            for _ in range(k):
                ptr = pointer[agent]
                candidate = proposals[w, agent, ptr] if ptr < k else -1
                seen = candidate >= 0 and _on_page(item, w, candidate)
                if not seen:
                    break
                pointer[agent] += 1
            if candidate >= 0 and not seen:
                item[w, first_free] = candidate
                owner[w, first_free] = agent
                taken[first_free] = True
                pointer[agent] += 1
    return item, owner


@numba.njit(cache=True, nogil=True)
def _nb_public(
    out, start, items, attributes, stated, session, impressions, praised, seen, spend,
    agent_budget,
):  # fmt: skip
    # ``observation.public_observation`` value by value, in its layout, written into
    # out[:, :, start:].
    w_count, n, k = items.shape
    t = attributes.shape[1]
    log101 = np.log(101.0)
    evidence = np.empty((n, k), np.int64)
    seen_now = np.empty((n, k), np.bool_)
    for w in range(w_count):
        for i in range(n):  # gather first: independent loads overlap
            for c in range(k):
                evidence[i, c] = impressions[w, items[w, i, c]]
                seen_now[i, c] = seen[w, items[w, i, c]]
        for i in range(n):
            o = out[w, i, start:]
            for c in range(k):
                item = items[w, i, c]
                match = np.float32(0.0)
                fatigue = np.float32(0.0)
                for d in range(t):
                    match += attributes[item, d] * stated[w, d]
                    fatigue += attributes[item, d] * session[w, d]
                    o[5 * k + c * t + d] = attributes[item, d]
                o[c] = match
                o[k + c] = 1.0 if praised[item] else -1.0
                o[2 * k + c] = min(np.log1p(np.float64(evidence[i, c])) / log101, 1.0)
                o[3 * k + c] = np.tanh(fatigue)
                o[4 * k + c] = 1.0 if seen_now[i, c] else 0.0
            base = 5 * k + k * t
            for d in range(t):
                o[base + d] = stated[w, d]
                o[base + t + d] = np.tanh(session[w, d])
            if agent_budget > 0:
                left = np.float32(1.0) - spend[w, i] / np.float32(agent_budget)
                o[base + 2 * t] = min(max(left, np.float32(0.0)), np.float32(1.0))
            else:
                o[base + 2 * t] = 1.0
    return out.shape[2] - start


@numba.njit(cache=True, nogil=True)
def _nb_cooperative(proposals, slots):
    # ``allocation.cooperative``: slot s to agent s mod N, its (s div N)-th proposal; an
    # item already on the page wastes the slot.
    n, n_agents, _ = proposals.shape
    page = np.full((2, n, slots), -1, np.int64)  # items, owners: one array to box
    item, owner = page[0], page[1]
    for w in range(n):
        for s in range(slots):
            candidate = proposals[w, s % n_agents, s // n_agents]
            owner[w, s] = s % n_agents
            if not _on_page(item, w, candidate):
                item[w, s] = candidate
    return page


@numba.njit(cache=True, nogil=True)
def _nb_measure(
    rows, shown, item, utility, probabilities, slot, owner, own, revenue, payment, team,
    diversity, gained, clicks_total, item_clicks, n_avail, covered, rank_sum, total, n_items,
    release_time, t, cold_window, utility_scale, weights, ideal, backbone_ids,
):  # fmt: skip
    # ``step.measure`` value by value; ``rows`` maps ``kernels.MEASURE_KEYS`` to table rows.
    w_count, slots = item.shape
    n = own.shape[1]
    table = np.empty((rows.shape[0], w_count, n), np.float32)
    slots_of, clicks_of = np.zeros(n), np.zeros(n)
    cold_slots, cold_clicks = np.zeros(n), np.zeros(n)
    market = np.empty(10)
    for w in range(w_count):
        n_shown, young_shown = 0, 0
        dcg, idcg, novelty = 0.0, 0.0, 0.0
        slots_of[:] = 0.0
        clicks_of[:] = 0.0
        cold_slots[:] = 0.0
        cold_clicks[:] = 0.0
        for s in range(slots):
            idcg += np.float64(ideal[w, s]) * weights[s]
            if not shown[w, s]:
                continue
            n_shown += 1
            x = np.float32(utility_scale * utility[w, s])
            dcg += (1.0 / (1.0 + np.exp(-np.float64(x)))) * weights[s]
            share_of_clicks = (item_clicks[w, item[w, s]] + 1.0) / (clicks_total[w] + n_avail[w])
            novelty += -np.log2(share_of_clicks)
            young = (t[w] - release_time[item[w, s]]) < cold_window
            young_shown += young
            a = owner[w, s]
            if 0 <= a < n:
                slots_of[a] += 1
                cold_slots[a] += young
                if slot[w] == s:
                    clicks_of[a] += 1
                    cold_clicks[a] += young
        divisor = max(n_shown, 1)
        n_w = np.float64(n_avail[w])
        gini = 0.0
        if total[w] > 0:
            ranks = rank_sum[w] - (n_items - n_avail[w]) * total[w]
            gini = 2.0 * ranks / (n_w * total[w]) - (n_w + 1.0) / n_w
        market[0] = (slot[w] < slots) / divisor
        market[1] = gained[w]
        market[2] = dcg / max(idcg, 1e-12) if idcg > 0 else 0.0
        market[3] = diversity[w]
        market[4] = covered[w] / max(n_avail[w], 1)
        market[5] = novelty / divisor / np.log2(clicks_total[w] + n_w + 1.0)
        market[6] = gini
        market[7] = young_shown / slots
        market[8] = -np.log(max(probabilities[w, slots], 1e-12))
        market[9] = team[w]
        for i in range(n):
            table[rows[0], w, i] = own[w, i]
            table[rows[1], w, i] = clicks_of[i]
            table[rows[2], w, i] = slots_of[i]
            table[rows[3], w, i] = slots_of[i] / slots
            table[rows[4], w, i] = revenue[w, i]
            table[rows[5], w, i] = payment[w, i]
            table[rows[6], w, i] = cold_slots[i]
            table[rows[7], w, i] = cold_clicks[i]
            for m in range(10):
                table[rows[8 + m], w, i] = market[m]
            table[rows[18], w, i] = backbone_ids[i]
    return table


@numba.njit(cache=True, nogil=True)
def _nb_settle(shown, item, engagement, weight, price, owner, attributes, n_agents, dw, lam):
    # ``step.settle``'s money and rewards, value by value (engagement and the click itself
    # stay with the numpy code, so the user's budget sees the very same numbers).
    w_count, slots = item.shape
    topics = attributes.shape[1]
    money = np.zeros((4, w_count, n_agents))  # one array out: numba boxes each at a cost
    rewards, own, revenue, payment = money[0], money[1], money[2], money[3]
    per_page = np.zeros((2, w_count))
    team, diversity = per_page[0], per_page[1]
    for w in range(w_count):
        total = 0.0
        for s in range(slots):
            value = engagement[w, s] * weight[w, s]
            total += value
            a = owner[w, s]
            if 0 <= a < n_agents:
                revenue[w, a] += value
                payment[w, a] += price[w, s] * weight[w, s]
        pairs, dissimilarity = 0, 0.0
        for s in range(slots):
            if not shown[w, s]:
                continue
            for u in range(slots):
                if u == s or not shown[w, u]:
                    continue
                gram = np.float32(0.0)
                for d in range(topics):
                    gram += attributes[item[w, s], d] * attributes[item[w, u], d]
                dissimilarity += 1.0 - gram
                pairs += 1
        diversity[w] = dissimilarity / pairs if pairs > 0 else 0.0
        team[w] = total + dw * diversity[w]
    for w in range(w_count):
        for i in range(n_agents):
            own[w, i] = revenue[w, i] - payment[w, i]
            rewards[w, i] = lam * own[w, i] + (1.0 - lam) * team[w]
    return money, per_page
