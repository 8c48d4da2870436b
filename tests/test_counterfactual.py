"""marec_env.counterfactual: replaying the page stages for each of an agent's actions gives
exactly what the step would pay, and leaves the market untouched."""

from __future__ import annotations

import numpy as np
import pytest

import marec_env
from marec_env.counterfactual import best_response_values, own_action_values
from tests.conftest import small


@pytest.mark.parametrize(
    "env_id", ["marec/compete-auction-v1", "marec/compete-auction-v0", "marec/coop-slate-v0"]
)
def test_own_action_values_equal_the_expected_rewards_of_the_step(env_id: str) -> None:
    """On the mechanisms that do not draw (auctions, the v0 joint slate)."""
    env = marec_env.vector_env(env_id, 6, **small(env_id), reward_mode="expected")
    env.reset(seed=list(range(6)))
    market, rng = env.market, np.random.default_rng(0)
    for _ in range(12):  # crosses clicks, spend and counts that the next pages depend on
        masks = market.action_masks().astype(bool)
        joint = np.where(masks, rng.random(masks.shape), -1.0).argmax(axis=2)
        values = own_action_values(market, joint)
        again = own_action_values(market, joint)
        np.testing.assert_array_equal(values, again)  # nothing in the market moved
        played = np.take_along_axis(values, joint[..., None], 2)[..., 0]
        result = market.step(joint)
        np.testing.assert_allclose(played, result.rewards, rtol=1e-5, atol=1e-6)
        assert np.isneginf(values[~masks]).all() and np.isfinite(values[masks]).all()


def test_best_response_beats_the_greedy_action_against_greedy_bidders() -> None:
    env_id = "marec/compete-auction-v1"
    env = marec_env.vector_env(env_id, 8, **small(env_id))
    env.reset(seed=list(range(8)))
    market = env.market
    levels = market.setup.mechanism.levels
    valid = market.world.candidates.valid
    greedy = np.where(valid.any(axis=2), valid.argmax(axis=2), 0) * levels + levels // 2
    values = best_response_values(market)
    np.testing.assert_array_equal(values, own_action_values(market, greedy))
    at_greedy = np.take_along_axis(values, greedy[..., None], 2)[..., 0]
    assert (values.max(axis=2) >= at_greedy).all()
    assert (values.max(axis=2) > at_greedy + 1e-6).any()  # bidding matters somewhere
    with pytest.raises(ValueError, match="level must be an integer >= 1"):
        best_response_values(market, level=0)


def test_the_matrix_game_best_responds_to_uniform_others() -> None:
    env = marec_env.parallel_env("marec/matrix-game-v0", game="climbing")
    env.reset(seed=0)
    values = env.best_response_action_values()
    team = np.asarray(env.game.team, np.float64)
    first, second = values["recommender_0"], values["recommender_1"]
    np.testing.assert_allclose(first[: team.shape[0]], team.mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(second[: team.shape[1]], team.mean(axis=0), rtol=1e-6)
