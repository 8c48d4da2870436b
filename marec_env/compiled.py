"""The numba kernels behind :mod:`marec_env.kernels` (each has an exact numpy twin there); the
top-K ones live in :mod:`marec_env.compiled_top_k` and are reachable from here too.

Imported only when a kernel is first needed, so ``import marec_env`` does not load numba
(about a quarter of a second). Compiled once and cached on disk (``cache=True``).
"""

from __future__ import annotations

import numba
import numpy as np

from marec_env.compiled_ideal import _nb_ideal_values_memo, _nb_ideal_values_pruned  # noqa: F401
from marec_env.compiled_top_k import (  # noqa: F401 (kernels.py finds every kernel here)
    _nb_dot_top_k,
    _nb_factor_top_k,
    _nb_largest_values,
    _nb_merge_fresh,
    _nb_refine_pooled_top_k,
    _nb_refine_top_k,
    _nb_top_k_released,
)


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
    log_clicks = np.empty(101, np.float64)  # the click column for 0..100 clicks (then 1)
    for c in range(101):
        log_clicks[c] = min(np.log1p(np.float32(c)) / log101, 1.0)
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
                clicked = shown_clicks[i, c]
                o[2 * k + c] = log_clicks[int(clicked)] if clicked <= 100 else 1.0
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
