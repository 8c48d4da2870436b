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


# ---------------------------------------------------------------- any payoff tensor
THREE_AGENT_PAIR = np.array([[11.0, -30.0, 0.0], [-30.0, 7.0, 6.0], [0.0, 6.0, 5.0]])


def three_agent_game() -> dict:
    """Three agents, three actions, team = Σ over the three pairs of a symmetric climbing
    table: optimum (0, 0, 0) = 33; against uniform partners action 2 looks best (row means
    -6.3, -5.7, 3.7), so independent learners settle near (2, 2, 2) = 15."""
    team = np.zeros((3, 3, 3))
    for a in np.ndindex(team.shape):
        p = THREE_AGENT_PAIR
        team[a] = p[a[0], a[1]] + p[a[0], a[2]] + p[a[1], a[2]]
    return {"payoffs": (np.stack([team] * 3) / 3).tolist(), "team": team.tolist()}


GENERAL_SUM = {  # agent 0 has 2 actions, agent 1 has 3; unique pure equilibrium (1, 1)
    "payoffs": [[[3.0, 0.0, 1.0], [5.0, 1.0, 2.0]], [[3.0, 5.0, 0.0], [0.0, 1.0, -1.0]]],
    "mode": "competitive",
}


def test_a_payoff_tensor_gives_the_same_env_as_the_named_game() -> None:
    named = MatrixGameEnv()
    g = named.game
    custom = MatrixGameEnv(payoffs=g.own.tolist(), team=g.team.tolist())
    assert custom.obs_layout == named.obs_layout and custom.obs_dim == named.obs_dim
    for joint in np.ndindex(g.team.shape):
        rewards = []
        for env in (named, custom):
            env.reset(seed=0)
            rewards.append(env.step(dict(zip(env.possible_agents, joint)))[1])
        assert rewards[0] == rewards[1], joint
    assert custom.reference_joint_action() == named.reference_joint_action() == (1, 2)
    parallel_api_test(MatrixGameEnv(**three_agent_game()), num_cycles=20)
    parallel_api_test(MatrixGameEnv(**GENERAL_SUM, observation="dict"), num_cycles=20)


def test_n_agent_game_optimum_equilibria_masks_and_oracle() -> None:
    env = MatrixGameEnv(**three_agent_game())
    assert env.possible_agents == ["recommender_0", "recommender_1", "recommender_2"]
    assert env.reference_joint_action() == (0, 0, 0) and env.game.team.max() == 33
    assert (0, 0, 0) in _pure_nash(np.stack([env.game.team] * 3))
    oracle = env.oracle_action_values()
    assert [int(np.argmax(v)) for v in oracle.values()] == [0, 0, 0]
    uneven = MatrixGameEnv(**GENERAL_SUM)
    assert uneven.action_masks()["recommender_0"].tolist() == [1, 1, 0]  # 2 of 3 actions
    assert _pure_nash(uneven.game.own) == [(1, 1)] and not uneven.cooperative
    assert uneven.reference_joint_action() == (1, 1)
    assert uneven.oracle_action_values()["recommender_0"][2] == -np.inf
    uneven.reset(seed=0)
    with pytest.raises(MatrixGameError, match="masked: that agent has 2 actions"):
        uneven.step({"recommender_0": 2, "recommender_1": 0})


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"payoffs": [[1.0, 2.0], [3.0, 4.0]]}, r"shape \(N, A_0"),
        ({"payoffs": [[[1.0]], [[2.0]]], "team": [1.0, 2.0]}, "team must have shape"),
        ({"payoffs": [[["x"]], [["y"]]]}, "numeric"),
        ({"payoffs": [[[np.nan]], [[1.0]]]}, "finite"),
        ({"team": [[1.0]]}, "without payoffs"),
        ({"payoffs": [[[1.0]], [[1.0]]], "game": "climbing"}, "not both"),
    ],
)
def test_bad_payoffs_name_the_field(overrides: dict, match: str) -> None:
    with pytest.raises(MatrixGameError, match=match):
        MatrixGameEnv(**overrides)
