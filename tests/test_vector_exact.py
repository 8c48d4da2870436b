"""The vector env's compiled kernels run the same markets as the numpy twins, on every env id:
identical candidates (items and scores), pages, clicks and backbone state at W > 1 across
episode resets and CF deployments; rewards, observations and infos within 1e-6."""

from __future__ import annotations

import numpy as np
import pytest

import marec_env
from marec_env import kernels
from marec_env.market import Market
from marec_env.recommenders.candidates import UNSCORABLE
from marec_env.recommenders.cf import INIT_SCALE, CollaborativeBackbone
from marec_env.recommenders.packed import TrainedSince
from tests.conftest import MARKET_IDS, backbone_arrays, small

WORLDS, STEPS = 6, 130


def _run(env_id: str, numba: bool) -> dict[str, np.ndarray]:
    previous = kernels.use_numba(numba)
    try:
        config = marec_env.make_config(env_id, **small(env_id), max_cycles=60)
        market = Market(config, num_worlds=WORLDS)
        market.seed(np.random.SeedSequence(5))
        market.reset_worlds(np.arange(WORLDS))
        rng = np.random.default_rng(2)
        keys = ("cands", "scores", "pages", "owners", "choices", "rewards", "obs", "info")
        out: dict[str, list] = {key: [] for key in keys}
        for _ in range(STEPS):
            out["obs"].append(market.observations())
            out["cands"].append(market.cand_items.copy())
            out["scores"].append(market.cand_scores.copy())
            actions = rng.integers(config.n_actions, size=(WORLDS, config.n_agents))
            result = market.step(actions)
            out["pages"].append(market.last_page.item.copy())
            out["owners"].append(market.last_page.owner.copy())
            out["choices"].append(market.last_choice.copy())
            out["rewards"].append(result.rewards)
            out["info"].append(result.info_table)
            done = np.flatnonzero(result.truncated | result.terminated)
            if len(done):
                market.reset_worlds(done)
        record = {key: np.stack(value) for key, value in out.items()}
        record["learned"] = backbone_arrays(market)
        return record
    finally:
        kernels.use_numba(previous)


@pytest.mark.parametrize("env_id", MARKET_IDS)
def test_vector_kernels_run_the_same_market(env_id):
    if not kernels.HAVE_NUMBA:
        pytest.skip("numba is not installed")
    fast, plain = _run(env_id, True), _run(env_id, False)
    for key in ("cands", "scores", "pages", "owners", "choices", "learned"):
        np.testing.assert_array_equal(fast[key], plain[key], err_msg=key)
    for key in ("rewards", "obs", "info"):
        np.testing.assert_allclose(fast[key], plain[key], atol=1e-6, err_msg=key)
    slots = marec_env.make_config(env_id).slots
    assert (fast["choices"] < slots).any()  # the run clicked
    assert (np.diff(fast["cands"], axis=0) != 0).any(axis=(1, 2, 3)).mean() > 0.5  # they move


def test_cf_deploys_exactly_the_trained_tables():
    """A deployment copies only the rows trained since the last one, yet afterwards the
    deployed table equals the trained one in every due world (as a full copy would)."""
    config = marec_env.make_config("marec/coop-slate-v0", **small("marec/coop-slate-v0"))
    market = Market(config, num_worlds=4)
    market.seed(np.random.SeedSequence(3))
    market.reset_worlds(np.arange(4))
    cf = next(b for b in market.backbones if isinstance(b, CollaborativeBackbone))
    rng = np.random.default_rng(0)
    deployments = 0
    for _ in range(2 * config.refresh_interval + 1):
        before = cf.deployed.copy()
        market.step(rng.integers(config.n_actions, size=(4, config.n_agents)))
        due = market.t % config.refresh_interval == 0
        if due.any():
            deployments += 1
            np.testing.assert_array_equal(cf.deployed[due], cf.item_factors[due])
            np.testing.assert_array_equal(cf.visible[due], cf.clicks[due] > 0)
            assert not cf.undeployed[due].any()
        else:
            np.testing.assert_array_equal(cf.deployed, before)
    assert deployments == 2
    assert not np.array_equal(cf.deployed, cf.item_factors)  # trained since the last one


def test_cf_reset_of_every_world_draws_the_same_table():
    config = marec_env.make_config("marec/coop-slate-v0", **small("marec/coop-slate-v0"))
    catalog = Market(config, num_worlds=1).catalog
    cf = CollaborativeBackbone(catalog, config, num_worlds=3)
    cf.reset(np.arange(3), np.random.default_rng(9))
    shape = (3, catalog.n_items, config.cf_factors)
    expected = INIT_SCALE * np.random.default_rng(9).standard_normal(shape, np.float32)
    np.testing.assert_array_equal(cf.item_factors, expected)
    np.testing.assert_array_equal(cf.deployed, expected)
    part = CollaborativeBackbone(catalog, config, num_worlds=3)  # some worlds: the other path
    part.reset(np.array([0, 2]), np.random.default_rng(9))
    np.testing.assert_array_equal(part.item_factors[[0, 2]], expected[:2])
    assert not part.item_factors[1].any()


@pytest.mark.skipif(not kernels.HAVE_NUMBA, reason="the packed kernel is numba's")
def test_cf_packed_visible_items_track_deployments_and_give_the_full_top_k():
    """CF's top-K reads only each world's packed visible items. Under staggered deployments,
    partial resets and growing visible sets, the packed runs hold exactly the visible ids and
    their deployed factors, and the top-K equals selecting from every item's score."""
    config = marec_env.make_config("marec/coop-slate-v0", **small("marec/coop-slate-v0"))
    catalog = Market(config, num_worlds=1).catalog
    worlds, n_users, k = 5, config.n_users, config.candidates
    cf = CollaborativeBackbone(catalog, config, num_worlds=worlds)
    rng = np.random.default_rng(4)
    cf.reset(np.arange(worlds), rng)
    everyone = np.repeat(np.arange(worlds), n_users), np.tile(np.arange(n_users), worlds)
    cf.new_users(*everyone, None, None)
    t = rng.integers(0, config.refresh_interval, size=worlds)  # deployments out of step
    checked = 0
    for step in range(6 * config.refresh_interval):
        w = np.arange(worlds)
        u, items = rng.integers(n_users, size=worlds), rng.integers(catalog.n_items, size=worlds)
        cf.learn(w, u, items, rng.random(worlds) < 0.8, t)
        t += 1
        cf.tick(t)
        if step == 70:
            cf.reset(np.array([1, 3]), rng)
            t[[1, 3]] = 0
        for world in range(worlds):
            ids = np.flatnonzero(cf.visible[world])
            count = cf.packed.count[world]
            np.testing.assert_array_equal(cf.packed.ids[world, :count], ids)
            np.testing.assert_array_equal(cf.packed.factors[world, :count], cf.deployed[world, ids])
        n_available = rng.integers(k, catalog.n_items + 1, size=len(everyone[0]))
        fused = cf.top_k(*everyone, n_available, k, UNSCORABLE)
        full = kernels.top_k_released(cf.scores(*everyone), n_available, k, UNSCORABLE)
        np.testing.assert_array_equal(fused[0], full[0])
        np.testing.assert_array_equal(fused[1], full[1])
        checked += (cf.packed.count > k).sum()
    assert checked > 0 and cf.packed.count.max() > 2 * k  # long lists and short ones


def test_trained_lists_hold_each_trained_item_once_until_taken(rng):
    """CF's per-world lists of items trained since a deployment: duplicates and unsorted
    events are listed once, the one-world path appends the same, and taking some worlds
    empties only theirs (what a deployment copies is exactly the set it must)."""
    lists = TrainedSince(num_worlds=4, n_items=50)
    expected: list[set[int]] = [set() for _ in range(4)]
    for _ in range(30):
        worlds, items = rng.integers(4, size=12), rng.integers(50, size=12)
        lists.add(worlds, items)  # repeats, and items listed before, are listed once
        for w, item in zip(worlds, items):
            expected[w].add(int(item))
        first = rng.integers(50, size=3)
        lists.add_to_first_world(first)
        expected[0].update(int(item) for item in first)
        if rng.random() < 0.3:
            taken = np.flatnonzero(rng.random(4) < 0.5)
            w, items = lists.take(taken)
            for world in taken:
                got = sorted(items[w == world].tolist())
                assert got == sorted(expected[world])
                expected[world] = set()
        for world in range(4):
            held = lists.ids[world, : lists.count[world]]
            assert sorted(held.tolist()) == sorted(expected[world])
            np.testing.assert_array_equal(np.flatnonzero(lists.listed[world]), sorted(held))
