"""The accelerated paths equal the plain numpy ones exactly, and candidate lists do not depend
on how many users are scored together (B = 1, vector env, shared lists)."""

from __future__ import annotations

import numpy as np
import pytest

import marec_env
from marec_env import kernels, observation
from marec_env.market import Market
from marec_env.ranking import largest_values as numpy_largest_values
from marec_env.recommenders.candidates import UNSCORABLE, CandidateCache
from marec_env.threads import ThreadLimit
from marec_env.world import IdealMemo
from tests.conftest import MARKET_IDS, small

needs_numba = pytest.mark.skipif(not kernels.HAVE_NUMBA, reason="numba is not installed")


def _both(fn, *args):
    """fn(*args) with the numba kernels, then with the numpy twins."""
    previous = kernels.use_numba(True)
    try:
        fast = fn(*args)
        kernels.use_numba(False)
        plain = fn(*args)
    finally:
        kernels.use_numba(previous)
    return fast, plain


def _tied_scores(rng, n, m):
    """Scores with many exact ties, unscorable (-inf, nan) items and a few fillers."""
    scores = rng.integers(0, 12, size=(n, m)).astype(np.float32) / 7
    scores[rng.random((n, m)) < 0.1] = -np.inf
    scores[rng.random((n, m)) < 0.02] = np.nan
    return scores


@needs_numba
def test_top_k_kernel_equals_numpy_twin_with_ties_and_unreleased_items(rng):
    for n, m, k in ((1, 30, 8), (70, 300, 8), (5, 9, 8), (200, 1000, 5)):
        scores = _tied_scores(rng, n, m)
        n_available = rng.integers(k, m + 1, size=n)
        (fi, fs), (pi, ps) = _both(kernels.top_k_released, scores, n_available, k, UNSCORABLE)
        np.testing.assert_array_equal(fi, pi)
        np.testing.assert_array_equal(fs, ps)
        assert (fi < n_available[:, None]).all()  # only released items
        # Best first, ties to the lower id: the order is exactly (−score, id).
        for row in range(n):
            keys = list(zip(-fs[row].astype(np.float64), fi[row]))
            assert keys == sorted(keys)


@needs_numba
def test_merge_kernel_equals_numpy_twin_and_a_full_pass(rng):
    n, m, k = 60, 400, 8
    scores = _tied_scores(rng, n, m)
    before = rng.integers(k, 300, size=n)
    now = before + rng.integers(0, 100, size=n)
    items, top = kernels.top_k_released(scores, before, k, UNSCORABLE)
    start = int(before.min())
    fresh = scores[:, start : int(now.max())]
    (fi, fs), (pi, ps) = _both(
        kernels.merge_fresh, items, top, fresh, start, before, now, UNSCORABLE
    )
    np.testing.assert_array_equal(fi, pi)
    np.testing.assert_array_equal(fs, ps)
    full_items, _ = kernels.top_k_released(scores, now, k, UNSCORABLE)
    np.testing.assert_array_equal(fi, full_items)


@needs_numba
def test_ordered_scatter_equals_np_add_at_bit_for_bit(rng):
    target = rng.standard_normal((6, 5, 3)).astype(np.float32)
    rows = (rng.integers(6, size=500), rng.integers(5, size=500))  # many repeats
    values = rng.standard_normal((500, 3)).astype(np.float32) * 1e3
    expected = target.copy()
    np.add.at(expected, rows, values)
    previous = kernels.use_numba(True)
    try:
        kernels.add_at(target, rows, values)
        counts = np.zeros(7, np.int64)
        events = rng.integers(7, size=300)
        kernels.add_at(counts, (events,), 1)
    finally:
        kernels.use_numba(previous)
    assert np.array_equal(target, expected)
    np.testing.assert_array_equal(counts, np.bincount(events, minlength=7))


def test_table_row_scatter_equals_np_add_at_bit_for_bit(rng):
    """``add_table_rows`` (the text backbone's Gram-row adds) repeats a target row many
    times; the sums must be those of ``np.add.at`` in event order, with numba and without."""
    table = rng.standard_normal((9, 40)).astype(np.float32) * 1e3
    rows, picks = rng.integers(5, size=400), rng.integers(9, size=400)
    expected = rng.standard_normal((5, 40)).astype(np.float32)
    start = expected.copy()
    np.add.at(expected, rows, table[picks])
    for fast in (True, False):
        target = start.copy()
        previous = kernels.use_numba(fast)
        try:
            kernels.add_table_rows(target, rows, table, picks)
        finally:
            kernels.use_numba(previous)
        assert np.array_equal(target, expected)


@needs_numba
def test_largest_values_kernel_equals_numpy(rng):
    values = rng.standard_normal((100, 500)).astype(np.float32)
    values[:, 7] = -np.inf
    fast, plain = _both(kernels.largest_values, values, 4)
    np.testing.assert_array_equal(fast, plain)
    np.testing.assert_array_equal(fast, numpy_largest_values(values, 4))


def _trajectory(env_id: str, worlds: int, steps: int):
    config = marec_env.make_config(env_id, **small(env_id), max_cycles=40)
    market = Market(config, num_worlds=worlds)
    market.seed(np.random.SeedSequence(5))
    market.reset_worlds(np.arange(worlds))
    rng = np.random.default_rng(9)
    out = {"cands": [], "pages": [], "choices": [], "rewards": [], "obs": []}
    for _ in range(steps):
        out["obs"].append(market.observations())
        out["cands"].append(market.cand_items.copy())
        result = market.step(rng.integers(config.n_actions, size=(worlds, config.n_agents)))
        out["pages"].append(market.last_page.item.copy())
        out["choices"].append(market.last_choice.copy())
        out["rewards"].append(result.rewards)
        done = np.flatnonzero(result.truncated)
        if len(done):
            market.reset_worlds(done)
    return {key: np.stack(value) for key, value in out.items()}


@needs_numba
@pytest.mark.parametrize("env_id", MARKET_IDS)
def test_numba_and_numpy_paths_run_the_same_market(env_id):
    fast, plain = _both(_trajectory, env_id, 4, 90)  # crosses resets and redeploys
    for key in ("cands", "pages", "choices"):
        np.testing.assert_array_equal(fast[key], plain[key], err_msg=key)
    np.testing.assert_allclose(fast["rewards"], plain["rewards"], atol=1e-6)
    np.testing.assert_allclose(fast["obs"], plain["obs"], atol=1e-6)


@needs_numba
@pytest.mark.parametrize("env_id", ["marec/coop-slate-v0", "marec/coop-slate-v1"])
def test_row_kernels_split_over_threads_run_the_same_market(env_id, monkeypatch):
    """``num_threads`` > 1 splits the row-wise kernels over threads: the same trajectory (with
    2 rows per thread, so that an 8-world market splits into 3 and 4 uneven ranges)."""
    import marec_env.threads as env_threads

    with ThreadLimit(1):
        one = _trajectory(env_id, 8, 60)
    monkeypatch.setattr(env_threads, "ROWS_PER_THREAD", 2)
    calls, real_map_rows = [], env_threads.map_rows

    def counted(n_rows, call):
        calls.append(real_map_rows(n_rows, call))
        return calls[-1]

    monkeypatch.setattr(env_threads, "map_rows", counted)
    for n in (3, 4):
        with ThreadLimit(n):
            split = _trajectory(env_id, 8, 60)
        for key in ("cands", "pages", "choices"):
            np.testing.assert_array_equal(split[key], one[key], err_msg=key)
        np.testing.assert_allclose(split["rewards"], one["rewards"], atol=1e-6)
        np.testing.assert_allclose(split["obs"], one["obs"], atol=1e-6)
    assert max(len(parts) for parts in calls) == 4  # the kernels really were split


def test_map_rows_covers_every_row_once_in_order(monkeypatch):
    import marec_env.threads as env_threads

    monkeypatch.setattr(env_threads, "ROWS_PER_THREAD", 10)

    def ranges(n_rows):
        return env_threads.map_rows(n_rows, lambda a, b: (a, b))

    with ThreadLimit(4):
        assert ranges(100) == [(0, 25), (25, 50), (50, 75), (75, 100)]
        assert ranges(35) == [(0, 11), (11, 23), (23, 35)]  # 10 rows a thread at least
        assert ranges(19) == [(0, 19)]
    assert ranges(100) == [(0, 100)]  # outside an env's thread limit: one thread
    with ThreadLimit(0):  # 0 leaves the process alone: one thread for the kernels too
        assert ranges(100) == [(0, 100)]


@pytest.mark.parametrize("env_id", MARKET_IDS)
def test_candidate_lists_do_not_depend_on_the_batch(env_id, rng):
    """Every cached list of a many-world market equals that user's list computed alone
    (the B = 1 path) and computed with shared lists switched off."""
    config = marec_env.make_config(env_id, **small(env_id))
    worlds = 12
    market = Market(config, num_worlds=worlds)
    market.seed(np.random.SeedSequence(1))
    market.reset_worlds(np.arange(worlds))
    checked = 0
    for step in range(60):
        market.step(rng.integers(config.n_actions, size=(worlds, config.n_agents)))
        if step % 15:
            continue
        users, n_available = market.sessions.user, market.n_available
        for cache in market.caches:
            batch = cache.lookup(np.arange(worlds), users, n_available)[0]
            for w in range(worlds):
                alone = CandidateCache(cache.backbone, worlds, config.n_users, config.candidates)
                alone.backbone = _Unshared(cache.backbone)
                one = (np.array([w]), users[w : w + 1], n_available[w : w + 1])
                np.testing.assert_array_equal(alone.lookup(*one)[0][0], batch[w])
                checked += 1
    assert checked == 4 * worlds * config.n_agents


class _Unshared:
    """A backbone view that scores every user on their own (no shared lists)."""

    def __init__(self, backbone) -> None:
        self._backbone = backbone

    def __getattr__(self, name):
        return getattr(self._backbone, name)

    def shared_keys(self, worlds, users):
        return None


def test_thread_limit_sets_and_restores_the_pools():
    from threadpoolctl import threadpool_info

    before = [pool["num_threads"] for pool in threadpool_info()]
    with ThreadLimit(1):
        assert all(pool["num_threads"] == 1 for pool in threadpool_info())
    assert [pool["num_threads"] for pool in threadpool_info()] == before
    with ThreadLimit(0):  # 0: leave the process settings alone
        assert [pool["num_threads"] for pool in threadpool_info()] == before


def test_num_threads_is_validated():
    with pytest.raises(marec_env.ConfigError, match="num_threads"):
        marec_env.make_config("marec/coop-slate-v0", num_threads=-1)


@needs_numba
def test_ideal_values_kernel_equals_numpy_twin(rng):
    taste = rng.standard_normal((50, 8)).astype(np.float32)
    latent = rng.dirichlet(np.full(8, 0.3), size=400).astype(np.float32)
    quality = rng.standard_normal(400).astype(np.float32)
    n_available = rng.integers(4, 401, size=50)
    fast, plain = _both(kernels.ideal_values, taste, latent, quality, 0.5, n_available, 4)
    np.testing.assert_array_equal(fast, plain)
    utility = taste.astype(np.float64) @ latent.T.astype(np.float64) + 0.5 * quality
    for row in range(50):
        best = np.sort(utility[row, : n_available[row]])[::-1][:4]
        np.testing.assert_allclose(fast[row], best, rtol=1e-6)


@needs_numba
def test_ideal_values_do_not_depend_on_the_hints(rng):
    """The compiled ideal starts from hint items (last step's best): good, random, repeated,
    unreleased or missing hints give the same values as the numpy twin, and the hints come
    back as items whose utilities are those values."""
    taste = rng.standard_normal((60, 8)).astype(np.float32)
    latent = rng.dirichlet(np.full(8, 0.3), size=400).astype(np.float32)
    quality = rng.standard_normal(400).astype(np.float32)
    n_available = rng.integers(3, 401, size=60)
    args = (taste, latent, quality, 0.5, n_available, 4)
    previous = kernels.use_numba(False)
    try:
        plain = kernels.ideal_values(*args)
    finally:
        kernels.use_numba(previous)
    utility = taste.astype(np.float64) @ latent.T.astype(np.float64) + 0.5 * quality
    best = np.argsort(-utility, axis=1, kind="stable")[:, :4]
    hint_sets = {
        "none": np.full((60, 4), -1),
        "best of all items": best,  # some unreleased where n_available is small
        "random": rng.integers(0, 400, size=(60, 4)),
        "repeated": np.repeat(rng.integers(0, 3, size=(60, 1)), 4, axis=1),
    }
    for name, hints in hint_sets.items():
        hints = hints.astype(np.int64)
        fast = kernels.ideal_values(*args, hints=hints)
        np.testing.assert_array_equal(fast, plain, err_msg=name)
        again = kernels.ideal_values(*args, hints=hints.copy())  # from its own best
        np.testing.assert_array_equal(again, plain, err_msg=name)
        full = n_available >= 4
        rows = np.flatnonzero(full)
        chosen = utility[rows[:, None], hints[full]].astype(np.float32)
        np.testing.assert_array_equal(np.sort(chosen, axis=1)[:, ::-1], plain[full])
        assert (hints[~full] == -1).all()


@needs_numba
def test_ideal_memo_gives_the_values_of_a_full_pass_as_tastes_drift(rng):
    """The memo's ideal (kept items of the last search, a bound on how far a utility can
    rise since) equals the numpy twin every step: small drifts, users replaced by new tastes,
    releases, episodes that restart with fewer items, and a catalog with negative latents.
    Most steps must be answered from the memo, so the bound is what is being tested."""
    for signed in (False, True):
        latent = rng.dirichlet(np.full(8, 0.3), size=1500).astype(np.float32)
        if signed:
            latent -= np.float32(0.25)
        quality = rng.standard_normal(1500).astype(np.float32)
        tables = kernels.utility_tables(latent, quality)
        memo = IdealMemo.empty(48, 8, 16)
        taste = rng.standard_normal((48, 8)).astype(np.float32)
        n_available = np.full(48, 1000)
        answered = 0
        for step in range(150):
            drift = rng.normal(0.0, 0.03, taste.shape)
            if signed:  # tastes only fall: a utility still rises through negative latents
                drift = -np.abs(drift)
            taste = (taste + drift).astype(np.float32)
            if step % 25 == 24:  # some users replaced by brand-new ones
                taste[:6] = rng.standard_normal((6, 8)).astype(np.float32)
            n_available = np.minimum(n_available + rng.integers(0, 3, 48), 1500)
            if step == 90:  # a new episode: the catalog starts small again
                n_available[:10] = 600
            searched, bar = memo.searched.copy(), memo.bar.copy()
            args = (taste, latent, quality, 0.5, n_available, 4)
            fast = kernels.ideal_values(*args, tables, memo=memo.arrays())
            previous = kernels.use_numba(False)
            try:
                plain = kernels.ideal_values(*args)
            finally:
                kernels.use_numba(previous)
            np.testing.assert_array_equal(fast, plain, err_msg=f"step {step}, signed {signed}")
            answered += ((memo.searched == searched) & (memo.bar == bar) & (searched >= 0)).sum()
        assert answered > 0.5 * 150 * 48


@needs_numba
def test_rival_board_kernel_equals_the_numpy_board(rng):
    config = marec_env.make_config("marec/mixed-v0", **small("marec/mixed-v0"))
    items = np.zeros((5, 3, config.candidates), np.int64)
    for w, i in np.ndindex(5, 3):  # distinct items per list, many shared between lists
        items[w, i] = rng.permutation(12)[: config.candidates]
    fast, plain = _both(observation.rivals, items)
    for a, b in zip(fast, plain):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("env_id", ["marec/coop-slate-v0", "marec/cold-start-v0"])
def test_fused_backbone_top_k_equals_scoring_every_item(env_id, fast, rng):
    """Fused paths (text: float32 pre-selection + float64 rescoring; CF: numba kernel) pick
    exactly the top-K of the backbone's full float64-rounded scores."""
    previous = kernels.use_numba(fast)
    try:
        _check_fused_top_k(env_id, rng)
    finally:
        kernels.use_numba(previous)


def _check_fused_top_k(env_id: str, rng) -> None:
    config = marec_env.make_config(env_id, **small(env_id))
    market = Market(config, num_worlds=6)
    market.seed(np.random.SeedSequence(4))
    market.reset_worlds(np.arange(6))
    compared = 0
    for _ in range(40):
        market.step(rng.integers(config.n_actions, size=(6, config.n_agents)))
        worlds = np.repeat(np.arange(6), config.n_users)
        users = np.tile(np.arange(config.n_users), 6)
        n_available = market.n_available[worlds]
        for backbone in market.backbones:
            fused = backbone.top_k(worlds, users, n_available, config.candidates, UNSCORABLE)
            if fused is None:
                continue
            raw = backbone.scores(worlds, users)
            full = kernels.top_k_released(raw, n_available, config.candidates, UNSCORABLE)
            np.testing.assert_array_equal(fused[0], full[0])
            np.testing.assert_array_equal(fused[1], full[1])
            compared += 1
    assert compared >= 40  # the text backbone at least, every step


@needs_numba
@pytest.mark.parametrize("factors", [1, 3, 4, 6, 8, 11])
def test_dot_top_k_sums_each_item_in_factor_order(factors, rng):
    """The fused linear top-K (content) adds an item's terms in factor order, some of them
    four at a time in registers: its scores and picks are those of the same float64 sum
    done one factor at a time in numpy, rounded to float32, with ties to the lower id."""
    n, m, k = 40, 300, 8
    table = (rng.integers(0, 5, size=(factors, m)) / 4).astype(np.float32)  # many ties
    table[:, rng.random(m) < 0.3] = rng.random((factors, 1)).astype(np.float32)
    weights = rng.standard_normal((n, factors)).astype(np.float32)
    n_available = rng.integers(k, m + 1, size=n)
    acc = np.zeros((n, m))
    for d in range(factors):
        acc += weights[:, d, None].astype(np.float64) * table[d].astype(np.float64)
    previous = kernels.use_numba(False)
    try:
        expected = kernels.top_k_released(acc.astype(np.float32), n_available, k, UNSCORABLE)
    finally:
        kernels.use_numba(previous)
    fused = kernels.dot_top_k(table, weights, n_available, k, UNSCORABLE)
    np.testing.assert_array_equal(fused[0], expected[0])
    np.testing.assert_array_equal(fused[1], expected[1])


@needs_numba
def test_fused_top_k_does_not_depend_on_the_hints(rng):
    """A backbone's fused top-K may start from hint items (the cache passes each row's stale
    list). Good, random, repeated, unreleased and missing hints all give the full pass."""
    config = marec_env.make_config("marec/coop-slate-v0", **small("marec/coop-slate-v0"))
    market = Market(config, num_worlds=4)
    market.seed(np.random.SeedSequence(6))
    market.reset_worlds(np.arange(4))
    for _ in range(30):
        market.step(rng.integers(config.n_actions, size=(4, config.n_agents)))
    worlds = np.repeat(np.arange(4), config.n_users)
    users = np.tile(np.arange(config.n_users), 4)
    n_available = market.n_available[worlds]
    k, n = config.candidates, len(users)
    for backbone, cache in zip(market.backbones, market.caches):
        full = kernels.top_k_released(backbone.scores(worlds, users), n_available, k, UNSCORABLE)
        hint_sets = {
            "stale lists": cache.items[worlds, users],
            "the answer": full[0],
            "random": rng.integers(0, config.n_items, size=(n, k)),
            "repeated": np.repeat(rng.integers(0, 5, size=(n, 1)), k, axis=1),
            "none": None,
        }
        for name, hints in hint_sets.items():
            fused = backbone.top_k(worlds, users, n_available, k, UNSCORABLE, hints)
            if fused is None:
                continue
            np.testing.assert_array_equal(fused[0], full[0], err_msg=f"{backbone.kind} {name}")
            np.testing.assert_array_equal(fused[1], full[1], err_msg=f"{backbone.kind} {name}")


@needs_numba
def test_exposure_kernel_makes_the_numpy_moves():
    from marec_env.core.metrics import ExposureTracker

    def run():
        draws = np.random.default_rng(3)
        tracker = ExposureTracker(7, 30, 200)
        for _ in range(40):
            items = np.stack([draws.permutation(30)[:4] for _ in range(7)])
            items[draws.random(items.shape) < 0.2] = -1
            tracker.add(items)
        return tracker

    compiled, plain = _both(run)
    assert compiled.total.sum() > 0
    for name in ("count", "at_most", "item_at", "position_of", "rank_sum", "total", "covered"):
        np.testing.assert_array_equal(getattr(compiled, name), getattr(plain, name), err_msg=name)
