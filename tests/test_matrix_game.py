"""The analytic matrix game: PettingZoo API compliance and the hand-computed equilibria."""

from __future__ import annotations

import types

import numpy as np
import pytest
from pettingzoo.test import api_test, max_cycles_test, parallel_api_test, render_test
from pettingzoo.test.state_test import state_test
from pettingzoo.utils.conversions import parallel_to_aec

from marec_env.matrix_game import MatrixGameEnv, MatrixGameError, _pure_nash, make_game

CONFIGS = [{}, {"mode": "competitive"}, {"game": "penalty", "max_cycles": 3},
           {"observation": "dict", "reward_noise": 0.5, "max_cycles": 2}]  # fmt: skip


@pytest.mark.parametrize("overrides", CONFIGS)
def test_pettingzoo_api(overrides: dict) -> None:
    parallel_api_test(MatrixGameEnv(**overrides), num_cycles=50)
    api_test(parallel_to_aec(MatrixGameEnv(**overrides)), num_cycles=50)


def test_render_max_cycles_and_state() -> None:
    render_test(lambda render_mode=None: parallel_to_aec(MatrixGameEnv(render_mode=render_mode)))
    module = types.SimpleNamespace(
        parallel_env=lambda **kw: MatrixGameEnv(**kw),
        env=lambda **kw: parallel_to_aec(MatrixGameEnv(**kw)),
    )
    max_cycles_test(module)
    state_test(parallel_to_aec(MatrixGameEnv(max_cycles=5)), MatrixGameEnv(max_cycles=5))
    assert MatrixGameEnv.metadata["render_modes"] == ["ansi", "rgb_array", "human"]


def test_registered_id_builds_the_game() -> None:
    import marec_env

    env = marec_env.parallel_env("marec/matrix-game-v0", mode="competitive")
    assert isinstance(env, MatrixGameEnv) and env.game.name == "trending"


def test_climbing_game_hand_computation() -> None:
    g = make_game("climbing")
    # unique team optimum (F, f) = 11; the backbones' top-1 pair (H, H) is a wasted slot: 5
    assert np.argwhere(g.team == g.team.max()).tolist() == [[1, 2]] and g.team[1, 2] == 11
    assert g.team[0, 0] == 5
    # pure Nash equilibria of the common-payoff game: the optimum and (D, d) = 7
    assert _pure_nash(np.stack([g.team, g.team])) == [(1, 2), (2, 1)]
    # against a uniform partner the optimum's actions look worst-but-one: H is preferred
    np.testing.assert_allclose(g.team.mean(axis=1), [5 / 3, -19 / 3, -17 / 3])
    np.testing.assert_allclose(g.team.mean(axis=0), [11 / 3, -23 / 3, -19 / 3])


def test_trending_game_has_a_unique_dominant_equilibrium() -> None:
    g = make_game("trending")
    np.testing.assert_allclose(g.own[0, 0], [0.4, 4 / 6, 4 / 5.25])
    np.testing.assert_allclose(g.own[1], g.own[0].T)  # symmetric game
    for a1 in range(3):  # T strictly dominates for agent 0 (and by symmetry agent 1)
        assert g.own[0, 0, a1] > g.own[0, 1:, a1].max()
    assert _pure_nash(g.own) == [(0, 0)]
    assert g.team[0, 0] == pytest.approx(0.8) and g.team.max() == pytest.approx(5 / 6)


def test_rewards_modes_and_oracle() -> None:
    env = MatrixGameEnv()
    env.reset(seed=0)
    _, rewards, terms, truncs, infos = env.step({"recommender_0": 1, "recommender_1": 2})
    assert rewards == {"recommender_0": 11.0, "recommender_1": 11.0}
    assert all(terms.values()) and not any(truncs.values()) and env.agents == []
    assert infos["recommender_0"]["team_reward"] == 11.0
    oracle = env.oracle_action_values()
    assert [int(np.argmax(oracle[a])) for a in env.possible_agents] == [1, 2]

    env = MatrixGameEnv(mode="competitive")
    env.reset(seed=0)
    _, rewards, *_ = env.step({"recommender_0": 0, "recommender_1": 1})
    assert rewards["recommender_0"] == pytest.approx(4 / 6)
    assert rewards["recommender_1"] == pytest.approx(1 / 6)
    assert env.reference_joint_action() == (0, 0)


def test_observation_layout_and_masks() -> None:
    env = MatrixGameEnv(max_cycles=2)
    obs, _ = env.reset(seed=3)
    layout = env.obs_layout
    for agent in env.possible_agents:
        assert env.observation_space(agent).contains(obs[agent])
        assert np.all(np.diff(obs[agent][layout["cand_score"]]) < 0)  # descending scores
        assert env.action_masks()[agent].dtype == np.int8
    assert env.state().shape == env.state_space.shape


def test_seeded_noise_is_reproducible() -> None:
    def rollout(seed: int) -> list[float]:
        env = MatrixGameEnv(reward_noise=1.0, max_cycles=5)
        env.reset(seed=seed)
        out = []
        while env.agents:
            out.append(env.step({"recommender_0": 0, "recommender_1": 0})[1]["recommender_0"])
        return out

    assert rollout(7) == rollout(7) and rollout(7) != rollout(8)


def test_bad_input_names_the_field() -> None:
    with pytest.raises(MatrixGameError, match="did you mean mode"):
        MatrixGameEnv(mdoe="cooperative")
    with pytest.raises(MatrixGameError, match="game"):
        MatrixGameEnv(game="chess")
    env = MatrixGameEnv()
    env.reset(seed=0)
    with pytest.raises(MatrixGameError, match=r"must be in \[0, 3\)"):
        env.step({"recommender_0": 5, "recommender_1": 0})
    with pytest.raises(MatrixGameError, match="unknown agent"):
        env.step({"recommender_9": 0, "recommender_1": 0})
    with pytest.raises(MatrixGameError, match="integer"):
        env.step({"recommender_0": 0.5, "recommender_1": 0})
    env.step({"recommender_0": 0, "recommender_1": 0})  # still usable after the errors
    with pytest.raises(MatrixGameError, match="reset"):
        env.step({"recommender_0": 0, "recommender_1": 0})
