"""The one-world shortcuts (scalar indexing at W = 1) run the same market as the general path,
on every env id, with and without numba: identical candidates, pages, clicks and hidden state,
rewards, observations and infos within 1e-6."""

from __future__ import annotations

import numpy as np
import pytest

import marec_env
from marec_env import kernels
from marec_env.market import Market
from tests.conftest import MARKET_IDS, backbone_arrays, small

STEPS = 240


def _run(env_id: str, one_world: bool, numba: bool) -> dict[str, np.ndarray]:
    previous = kernels.use_one_world_path(one_world), kernels.use_numba(numba)
    try:
        config = marec_env.make_config(env_id, **small(env_id), max_cycles=70)  # crosses resets
        market = Market(config, num_worlds=1)
        market.seed(np.random.SeedSequence(21))
        market.reset_worlds(np.zeros(1, np.int64))
        rng = np.random.default_rng(8)
        out: dict[str, list] = {k: [] for k in ("cands", "pages", "choices", "rewards", "obs")}
        out["info"] = []
        for _ in range(STEPS):
            out["obs"].append(market.observations())
            out["cands"].append(market.cand_items.copy())
            result = market.step(rng.integers(config.n_actions, size=(1, config.n_agents)))
            out["pages"].append(market.last_page.item.copy())
            out["choices"].append(market.last_choice.copy())
            out["rewards"].append(result.rewards)
            out["info"].append(result.info_table)
            if result.truncated[0] or result.terminated[0]:
                market.reset_worlds(np.zeros(1, np.int64))
        record = {key: np.stack(value) for key, value in out.items()}
        pop, sess = market.population, market.sessions
        record["hidden"] = np.concatenate([pop.preference.ravel(), pop.fatigue.ravel()])
        record["sessions"] = np.stack([sess.user, sess.misses, sess.steps, sess.clicks])
        record["budget"] = sess.budget.copy()
        record["learned"] = backbone_arrays(market)
        return record
    finally:
        kernels.use_one_world_path(previous[0])
        kernels.use_numba(previous[1])


@pytest.mark.parametrize("numba", [True, False])
@pytest.mark.parametrize("env_id", MARKET_IDS)
def test_one_world_shortcuts_run_the_same_market(env_id, numba):
    if numba and not kernels.HAVE_NUMBA:
        pytest.skip("numba is not installed")
    fast, general = _run(env_id, True, numba), _run(env_id, False, numba)
    for key in ("cands", "pages", "choices", "hidden", "sessions", "budget", "learned"):
        np.testing.assert_array_equal(fast[key], general[key], err_msg=key)
    for key in ("rewards", "obs", "info"):
        np.testing.assert_allclose(fast[key], general[key], atol=1e-6, err_msg=key)
    assert fast["choices"].min() < config_slots(env_id)  # the run clicked at least once


def test_numba_and_numpy_one_world_runs_agree():
    """Across the switch too: compiled one-world steps equal plain numpy general steps."""
    if not kernels.HAVE_NUMBA:
        pytest.skip("numba is not installed")
    env_id = "marec/coop-slate-v1"
    fast, plain = _run(env_id, True, True), _run(env_id, False, False)
    for key in ("cands", "pages", "choices", "hidden", "sessions", "budget", "learned"):
        np.testing.assert_array_equal(fast[key], plain[key], err_msg=key)
    for key in ("rewards", "obs", "info"):
        np.testing.assert_allclose(fast[key], plain[key], atol=1e-6, err_msg=key)


def config_slots(env_id: str) -> int:
    return marec_env.make_config(env_id).slots
