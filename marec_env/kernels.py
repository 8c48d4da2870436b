"""Exact selection and scatter kernels, compiled with numba when it is installed.

Every kernel here has a pure-numpy twin. Selection, page filling and scatter kernels return
bit-identical results: they only select, reorder and accumulate in a fixed order, they never
change how a score is computed. The observation, reward and metric kernels compute values no
step depends on (what agents see and are paid, what is reported) and may round differently,
within 1e-6. So an env runs the same trajectory with or without numba (``tests/test_kernels.py``
checks it on every env id). Orders are exact: by score descending, ties to the lower item id.
The kernels themselves live in :mod:`marec_env.compiled`, imported with the first call.

Set ``MAREC_NUMBA=0`` in the environment (or call :func:`use_numba`) to force the numpy twins.
"""

from __future__ import annotations

import importlib.util
import os
from types import ModuleType

import numpy as np

from marec_env import threads
from marec_env.ranking import largest_values as _np_largest_values
from marec_env.ranking import top_k_exact

HAVE_NUMBA = importlib.util.find_spec("numba") is not None
"""numba is optional: the numpy twins below are exact, only slower. It is imported (and the
kernels loaded from numba's disk cache) only when a kernel is first called."""
_compiled: ModuleType | None = None

_enabled = HAVE_NUMBA and os.environ.get("MAREC_NUMBA", "1") != "0"
SCATTER_MIN_EVENTS = 64
"""Below this many events ``np.add.at`` itself costs less than preparing the kernel call."""


def use_numba(enabled: bool) -> bool:
    """Switch the numba kernels on or off (off when numba is missing); returns the old setting."""
    global _enabled
    previous = _enabled
    _enabled = bool(enabled) and HAVE_NUMBA
    return previous


def numba_enabled() -> bool:
    return _enabled


_one_world = True


def use_one_world_path(enabled: bool) -> bool:
    """Switch the one-world shortcuts on or off; returns the old setting. With W = 1 some
    stages index one (world, user) with scalars instead of index arrays: the very same
    arithmetic on the same values, without numpy's per-call cost on (1, ...) arrays
    (``tests/test_one_world.py`` runs every env id both ways)."""
    global _one_world
    previous = _one_world
    _one_world = bool(enabled)
    return previous


def one_world_path(num_worlds: int) -> bool:
    """Whether a stage over ``num_worlds`` worlds takes its one-world shortcut."""
    return _one_world and num_worlds == 1


def _nb() -> ModuleType:
    """The compiled kernels (:mod:`marec_env.compiled`), imported on first use."""
    global _compiled
    if _compiled is None:
        from marec_env import compiled

        _compiled = compiled
    return _compiled


def _by_rows(n_rows: int, call):
    """``call(start, stop)`` of a row-wise kernel, split over the env's threads
    (:func:`marec_env.threads.map_rows`) and joined back in row order."""
    parts = threads.map_rows(n_rows, call)
    if len(parts) == 1:
        return parts[0]
    if isinstance(parts[0], tuple):
        return tuple(np.concatenate(column) for column in zip(*parts))
    return np.concatenate(parts)


def hint_rows(hints: np.ndarray | None, n: int, k: int) -> np.ndarray:
    """(n, k) int64 hint items: each row's previous top k (any k distinct released items
    bound the k-th best from below and so let a selection skip most items; the result never
    depends on them). −1 (none) where the caller has none."""
    if hints is None or hints.shape != (n, k):
        return np.full((n, k), -1, np.int64)
    return np.ascontiguousarray(hints, np.int64)


# ---------------------------------------------------------------------- numpy twins
def _np_top_k_released(raw, n_available, k, unscorable):
    effective = np.where(np.isfinite(raw), raw, unscorable).astype(np.float32, copy=False)
    released = np.arange(raw.shape[1])[None, :] < n_available[:, None]
    effective = np.where(released, effective, np.float32(-np.inf))
    ids = np.arange(raw.shape[1])
    cols = top_k_exact(effective, ids[None, :], k, unscorable)
    return cols.astype(np.int64), np.take_along_axis(effective, cols, 1)


def _np_merge_fresh(items, scores, fresh, start, before, now, k, unscorable):
    fresh = np.where(np.isfinite(fresh), fresh, unscorable).astype(np.float32, copy=False)
    fresh_items = np.arange(start, start + fresh.shape[1])[None, :]
    in_window = (fresh_items >= before[:, None]) & (fresh_items < now[:, None])
    fresh = np.where(in_window, fresh, np.float32(-np.inf))
    pool_items = np.concatenate([items, np.broadcast_to(fresh_items, fresh.shape)], axis=1)
    pool_scores = np.concatenate([scores, fresh], axis=1)
    cols = top_k_exact(pool_scores, pool_items, k, unscorable)
    return np.take_along_axis(pool_items, cols, 1), np.take_along_axis(pool_scores, cols, 1)


# ---------------------------------------------------------------------- public dispatch
def top_k_released(
    raw: np.ndarray, n_available: np.ndarray, k: int, unscorable: np.float32
) -> tuple[np.ndarray, np.ndarray]:
    """Best k of each row of ``raw`` (n, n_items) float32 scores: columns at or past
    ``n_available[row]`` are unreleased (never chosen while released ones remain), non-finite
    scores of released items become ``unscorable`` fillers. Returns items (n, k) int64 and
    their effective scores (n, k) float32, best first, ties to the lower item id."""
    raw = np.asarray(raw, np.float32)
    n_available = np.asarray(n_available, np.int64)
    if _enabled and raw.shape[1] >= k:
        kernel, unscorable = _nb()._nb_top_k_released, np.float32(unscorable)
        return _by_rows(len(raw), lambda a, b: kernel(raw[a:b], n_available[a:b], k, unscorable))
    return _np_top_k_released(raw, n_available, k, np.float32(unscorable))


def merge_fresh(
    items: np.ndarray,
    scores: np.ndarray,
    fresh: np.ndarray,
    start: int,
    before: np.ndarray,
    now: np.ndarray,
    unscorable: np.float32,
) -> tuple[np.ndarray, np.ndarray]:
    """Merge newly released items into cached top-k lists (items, scores (n, k), sorted).

    ``fresh`` (n, c) scores items ``start .. start + c``; row r takes only items in
    ``[before[r], now[r])``. Exact: equal to a full pass when the cached items' scores are
    unchanged, because every fresh id exceeds every cached id."""
    k = items.shape[1]
    fresh = np.asarray(fresh, np.float32)
    before, now = np.asarray(before, np.int64), np.asarray(now, np.int64)
    if _enabled:
        return _nb()._nb_merge_fresh(items, scores, fresh, int(start), before, now, k, unscorable)
    return _np_merge_fresh(items, scores, fresh, start, before, now, k, np.float32(unscorable))


def add_at(target: np.ndarray, index: tuple[np.ndarray, ...], values) -> None:
    """``np.add.at(target, index, values)``: every event added in order (repeated positions
    accumulate one after another, so the float result is bit-identical to ``np.add.at``).
    ``index`` addresses the leading ``len(index)`` axes of a C-contiguous ``target``."""
    lead = target.shape[: len(index)]
    if not (_enabled and target.flags.c_contiguous) or len(index[0]) < SCATTER_MIN_EVENTS:
        np.add.at(target, index, values)
        return
    rows = np.ravel_multi_index(index, lead)
    flat = target.reshape(int(np.prod(lead)), -1)
    events = np.broadcast_to(
        np.asarray(values, target.dtype).reshape(len(rows), -1)
        if np.ndim(values)
        else np.asarray(values, target.dtype),
        (len(rows), flat.shape[1]),
    )
    _nb()._nb_add_rows_in_order(flat, rows, events)


def add_table_rows(target: np.ndarray, rows: np.ndarray, table: np.ndarray, picks) -> None:
    """``target[rows[e]] += table[picks[e]]`` for every event e, in order: bit-identical to
    ``np.add.at(target, rows, table[picks])`` without gathering the table rows first."""
    rows, picks = np.asarray(rows, np.int64), np.asarray(picks, np.int64)
    if _enabled and target.flags.c_contiguous and table.flags.c_contiguous:
        _nb()._nb_add_table_rows(target, rows, table, picks)
        return
    np.add.at(target, rows, table[picks])


def largest_values(values: np.ndarray, k: int) -> np.ndarray:
    """The k largest values per row, descending (values only)."""
    if _enabled and values.shape[1] >= k and values.dtype in (np.float32, np.float64):
        return _nb()._nb_largest_values(np.ascontiguousarray(values), k)
    return _np_largest_values(values, k)


def factor_top_k(
    packed, user: np.ndarray, worlds: np.ndarray, n_available: np.ndarray, k: int,
    unscorable: np.float32,
) -> tuple[np.ndarray, np.ndarray] | None:  # fmt: skip
    """Fused scoring + top-k of a factor model: score of item j for row r is the float64
    dot of its deployed factors with ``user[r]``, rounded to float32, for the items visible in
    world ``worlds[r]`` (``packed``: :class:`~marec_env.recommenders.packed.PackedVisible`);
    every other item scores ``unscorable``; selected like :func:`top_k_released`. Only the
    visible items are read (CF sees the few items clicked before its last deployment); the
    rest fill a short list by id, as their tie at ``unscorable`` orders them. None without
    numba: the caller then scores with :func:`marec_env.recommenders.base.exact_product`
    (the same values)."""
    if not _enabled or packed.n_items < k:
        return None
    kernel, unscorable = _nb()._nb_factor_top_k, np.float32(unscorable)
    user = np.ascontiguousarray(user, np.float32)
    worlds, n_available = np.asarray(worlds, np.int64), np.asarray(n_available, np.int64)
    tables = packed.factors, packed.ids, packed.count, packed.n_items
    return _by_rows(
        len(user),
        lambda a, b: kernel(*tables, user[a:b], worlds[a:b], n_available[a:b], k, unscorable),
    )


def dot_top_k(
    table: np.ndarray,
    weights: np.ndarray,
    n_available: np.ndarray,
    k: int,
    unscorable: np.float32,
    hints: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Fused scoring + top-k of a linear model over an item-major table: row r scores item j
    as the float64 dot of ``weights[r]`` (n, f) with ``table[:, j]`` (table: (f, n_items)),
    rounded to float32 (``unscorable`` where not finite), selected like
    :func:`top_k_released`. ``hints``: see :func:`hint_rows`. None without numba: the caller
    then scores with :func:`marec_env.recommenders.base.exact_product` (the same values up to
    float64 rounding)."""
    if not _enabled or table.shape[1] < k:
        return None
    kernel, unscorable = _nb()._nb_dot_top_k, np.float32(unscorable)
    n_available, hints = np.asarray(n_available, np.int64), hint_rows(hints, len(weights), k)
    return _by_rows(
        len(weights),
        lambda a, b: kernel(table, weights[a:b], n_available[a:b], k, unscorable, hints[a:b]),
    )


def utility_tables(latent: np.ndarray, quality: np.ndarray) -> tuple:
    """What :func:`ideal_values` reads of a catalog, built once: the (n_items, T) float64
    ``latent`` and the (T, n_items) float32 ``latent.T`` (both C-contiguous), float64
    ``quality``, the largest absolute latent per topic and the largest absolute quality
    (float64), which bound every utility; whether every latent is nonnegative, and the largest
    sum over topics of an item's (absolute) latents."""
    latent64 = np.ascontiguousarray(latent, np.float64)
    quality = np.asarray(quality, np.float64)
    scale = np.abs(latent64).max(axis=0, initial=0.0)
    nonnegative = bool((latent64 >= 0).all())
    lat_sum = float(np.abs(latent64).sum(axis=1).max(initial=0.0)) * (1 + 2.0**-40)
    latent_t32 = np.ascontiguousarray(latent64.T, np.float32)
    quality_max = np.abs(quality).max(initial=0.0)
    return latent64, latent_t32, quality, scale, quality_max, nonnegative, lat_sum


def ideal_values(
    taste: np.ndarray,
    latent: np.ndarray,
    quality: np.ndarray,
    quality_weight: float,
    n_available: np.ndarray,
    s: int,
    tables: tuple | None = None,
    hints: np.ndarray | None = None,
    memo: tuple[np.ndarray, ...] | None = None,
) -> np.ndarray:
    """The s largest utilities ``taste[r] · latent[j] + quality_weight · quality[j]`` over the
    first ``n_available[r]`` items, descending (float64 sums rounded to float32), without
    materialising the (n, n_items) utility table when numba is there (a float32 pass bounds
    each utility; only items that can reach the s best are summed in float64). ``tables``:
    :func:`utility_tables` of ``latent`` and ``quality``, if the caller keeps them (saves
    building them every call). ``hints``: an (n, s) int64 array of items
    (−1: none) whose utilities start the search (the compiled path overwrites it with the
    items behind the values it returns; the values never depend on it). ``memo``: row r's
    last search, updated in place (:class:`marec_env.world.IdealMemo`'s arrays); wider than
    s, it spares most searches (:mod:`marec_env.compiled_ideal`), else its items are the
    hints. The values never depend on it either."""
    n_available = np.asarray(n_available, np.int64)
    if _enabled and latent.shape[0] >= s:
        tables = tables or utility_tables(latent, quality)
        latent64, latent_t32, quality, scale, quality_max, nonnegative, lat_sum = tables
        taste = np.ascontiguousarray(taste, np.float32)
        weight = float(quality_weight)
        q_scale = abs(weight) * float(quality_max)
        table = (latent64, latent_t32, quality, weight)
        if memo is not None and memo[0].shape[1] > s:
            memo_kernel = _nb()._nb_ideal_values_memo
            bounds = (lat_sum, nonnegative, scale, q_scale)

            def rows(a: int, b: int) -> np.ndarray:
                kept = tuple(part[a:b] for part in memo)
                return memo_kernel(taste[a:b], *table, n_available[a:b], s, kept, *bounds)

            return _by_rows(len(taste), rows)
        kernel = _nb()._nb_ideal_values_pruned
        hints = hint_rows(memo[0] if memo is not None else hints, len(taste), s)
        return _by_rows(
            len(taste),
            lambda a, b: kernel(
                taste[a:b], *table, n_available[a:b], s, hints[a:b], scale, q_scale
            ),
        )
    stop = int(n_available.max())
    utility = np.asarray(taste, np.float64) @ np.asarray(latent[:stop], np.float64).T
    utility = (utility + quality_weight * np.asarray(quality[:stop], np.float64)).astype(np.float32)
    utility[np.arange(stop)[None, :] >= n_available[:, None]] = -np.inf
    return _np_largest_values(utility, s)


def rival_board(items: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The shared candidate board of ``items`` (W, N, K) (see ``Market._rivals``): share of the
    other agents holding each candidate, and 1 − rank / K of it in every agent's list. None
    without numba (the caller's numpy code computes the same values)."""
    if not _enabled:
        return None
    return _nb()._nb_rival_board(np.ascontiguousarray(items, np.int64))


def observe(
    world, catalog, patience: int, age_scale: float, horizon: int, room: int = 0
) -> np.ndarray | None:
    """The v0 observation (W, N, obs_dim) of :func:`marec_env.observation.observe` in one
    compiled pass (values within 1e-6 of the numpy code), followed by ``room`` columns left
    for the caller to fill; None without numba."""
    if not _enabled:
        return None
    cand, s, last = world.candidates, world.sessions, world.last
    w, n, k = cand.items.shape
    out = np.empty((w, n, 7 * k + k * n + 4 + 2 + n + 1 + room), np.float32)
    _nb()._nb_observe(
        out, cand.items, cand.scores, cand.valid, catalog.release_time,
        world.counts.item_clicks, world.counts.item_impressions, catalog.main_topic,
        s.last_topic, s.steps, s.clicks, s.last_clicked, s.misses, last.slot_share,
        last.clicks, world.t, patience, np.float32(age_scale), horizon,
    )  # fmt: skip
    return out


def public_observation(world, catalog, agent_budget: float, out: np.ndarray | None = None):
    """:func:`marec_env.observation.public_observation` in one compiled pass (values within
    1e-6 of the numpy code), written into the last columns of ``out`` (W, N, ≥ D) when
    given (and ``out`` returned); None without numba."""
    if not _enabled:
        return None
    users_now = world.sessions.user
    items = world.candidates.items
    w, n, k = items.shape
    t = catalog.attributes.shape[1]
    width = 5 * k + k * t + 2 * t + 1
    if out is None:
        out = np.empty((w, n, width), np.float32)
    praised = catalog.praised if catalog.praised is not None else catalog.attributes[:, 0] > 0
    _nb()._nb_public(
        out, out.shape[2] - width, items, catalog.attributes,
        world.population.stated[np.arange(len(users_now)), users_now], world.session_topics,
        world.counts.item_impressions, praised, world.session_seen, world.spend,
        float(agent_budget),
    )  # fmt: skip
    return out


def cooperative(proposals: np.ndarray, slots: int):
    """Items and owners (n, slots) of ``allocation.cooperative``, compiled (the same
    integers); None without numba."""
    if not _enabled:
        return None
    page = _nb()._nb_cooperative(np.ascontiguousarray(proposals, np.int64), slots)
    return page[0], page[1]


def settle(shown, item, engagement, weight, price, owner, attributes, n_agents, dw, lam):
    """Rewards, own, revenue, payment (W, N) and team, diversity (W,) of ``step.settle`` in
    one compiled pass (values within 1e-6 of the numpy code); None without numba."""
    if not _enabled:
        return None
    money, per_page = _nb()._nb_settle(
        shown, item, engagement, np.asarray(weight, np.float64), price, owner, attributes,
        n_agents, float(dw), float(lam),
    )  # fmt: skip
    return (*money, *per_page)


MEASURE_KEYS = (
    *("own_reward", "clicks", "slots", "slot_share", "revenue", "payment"),
    *("cold_slots", "cold_clicks", "ctr", "engagement", "ndcg", "diversity", "coverage"),
    *("novelty", "exposure_gini", "cold_start_exposure", "welfare", "team_reward"),
    "backbone_id",
)
"""The metrics :func:`measure` computes, in the order of its ``rows`` argument."""


def measure(rows: np.ndarray, page, choice, settlement, counts, exposure, n_avail, t, **fixed):
    """``step.measure``'s info table (``len(rows)``, W, N) float32, in one compiled pass
    over the page (values within 1e-6 of the numpy code); None without numba. ``fixed``:
    release_time, cold_window, utility_scale, weights, ideal, backbone_ids."""
    if not _enabled:
        return None
    return _nb()._nb_measure(
        rows, choice.shown, choice.item, choice.utility, choice.probabilities, choice.slot,
        page.owner, settlement.own, settlement.revenue, settlement.payment, settlement.team,
        settlement.diversity, settlement.gained, counts.clicks_total, counts.item_clicks,
        n_avail, exposure.covered, exposure.rank_sum, exposure.total, exposure.n_items,
        fixed["release_time"], t, fixed["cold_window"], float(fixed["utility_scale"]),
        fixed["weights"], fixed["ideal"], fixed["backbone_ids"],
    )  # fmt: skip


def team_draft(proposals: np.ndarray, order: np.ndarray, slots: int):
    """Items and owners (n, slots) of ``allocation.team_draft`` given its pick ``order``
    (n, rounds, N), compiled (the same integers); None without numba."""
    if not _enabled:
        return None
    return _nb()._nb_team_draft(np.ascontiguousarray(proposals, np.int64), order, slots)


def claimed_slate(proposals: np.ndarray, claims: np.ndarray, order: np.ndarray, slots: int):
    """Items and owners (n, slots) of ``allocation.claimed_slate`` given its service
    ``order`` (n, N), compiled (the same integers); None without numba."""
    if not _enabled:
        return None
    proposals = np.ascontiguousarray(proposals, np.int64)
    return _nb()._nb_claimed_slate(proposals, np.asarray(claims, np.int64), order, slots)


def refine_top_k(
    rough: np.ndarray,
    unit: np.ndarray,
    items: np.ndarray,
    n_available: np.ndarray,
    k: int,
    margin: float,
    unscorable: np.float32,
    hints: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k of the float64 scores ``unit @ items.T`` (rounded to float32) given float32
    ``rough`` scores within ``margin`` of them: only items whose rough score is within the
    margin of the k-th best rough score are rescored. ``unit`` (n, d) and ``items``
    (n_items, d) are float64; columns at or past ``n_available`` are unreleased."""
    n_available = np.asarray(n_available, np.int64)
    if _enabled and rough.shape[1] >= k and int(n_available.min()) >= k:
        kernel, hints = _nb()._nb_refine_top_k, hint_rows(hints, len(rough), k)
        return _by_rows(
            len(rough),
            lambda a, b: kernel(
                rough[a:b], unit[a:b], items, n_available[a:b], k, margin, unscorable, hints[a:b]
            ),
        )
    return _np_refine_top_k(rough, unit, items, n_available, k, margin, unscorable)


def refine_pooled_top_k(
    pool: np.ndarray,
    slots: np.ndarray,
    unit: np.ndarray,
    items: np.ndarray,
    n_available: np.ndarray,
    k: int,
    margins: np.ndarray,
    unscorable: np.float32,
    hints: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`refine_top_k` with row r's rough scores in ``pool[slots[r]]`` (read in place,
    not gathered) and its own margin ``margins[r]``."""
    n_available = np.asarray(n_available, np.int64)
    margins = np.asarray(margins, np.float64)
    if _enabled and pool.shape[1] >= k and int(n_available.min()) >= k:
        kernel, hints = _nb()._nb_refine_pooled_top_k, hint_rows(hints, len(slots), k)
        return _by_rows(
            len(slots),
            lambda a, b: kernel(
                pool,
                slots[a:b],
                unit[a:b],
                items,
                n_available[a:b],
                k,
                margins[a:b],
                unscorable,
                hints[a:b],
            ),
        )
    return _np_refine_top_k(pool[slots], unit, items, n_available, k, margins, unscorable)


def _np_refine_top_k(rough, unit, items, n_available, k, margin, unscorable):
    # ``margin``: one for every row, or one per row.
    rough = rough.copy()
    rough[np.arange(rough.shape[1])[None, :] >= n_available[:, None]] = -np.inf
    kth = largest_values(rough, k)[:, k - 1].astype(np.float64)
    rows, cols = np.nonzero(rough >= (kth - margin)[:, None])
    exact = np.einsum("nd,nd->n", unit[rows], items[cols])
    refined = np.full(rough.shape, -np.inf, np.float32)
    refined[rows, cols] = exact.astype(np.float32)
    return top_k_released(refined, n_available, k, unscorable)


def exposure_add(tracker, items: np.ndarray) -> bool:
    """Run ``ExposureTracker.add`` compiled; False without numba (the caller's numpy code
    then makes the same integer moves)."""
    if not _enabled:
        return False
    _nb()._nb_exposure_add(
        np.asarray(items, np.int64),
        tracker.count,
        tracker.at_most,
        tracker.item_at,
        tracker.position_of,
        tracker.rank_sum,
        tracker.total,
        tracker.covered,
    )
    return True
