"""The vector env runs the same dynamics as the ParallelEnv, batched and auto-resetting."""

from __future__ import annotations

import numpy as np
import pytest

import marec_env
from tests.conftest import MARKET_IDS, small


@pytest.mark.parametrize("env_id", MARKET_IDS)
def test_vector_env_at_b1_matches_parallel_env_over_two_episodes(env_id):
    kwargs = {**small(env_id), "max_cycles": 25}
    par = marec_env.parallel_env(env_id, **kwargs)
    vec = marec_env.vector_env(env_id, num_envs=1, **kwargs)
    rng = np.random.default_rng(0)
    p_obs, _ = par.reset(seed=11)
    v_obs, _ = vec.reset(seed=11)
    for step in range(50):
        for agent in par.possible_agents:
            np.testing.assert_array_equal(p_obs[agent], v_obs[agent][0], err_msg=f"step {step}")
        actions = {a: int(rng.integers(par.action_space(a).n)) for a in par.possible_agents}
        p_obs, p_rew, p_term, p_trunc, p_info = par.step(actions)
        v_obs, v_rew, v_term, v_trunc, v_info = vec.step(
            {a: np.array([x]) for a, x in actions.items()}
        )
        for agent in par.possible_agents:
            assert p_rew[agent] == v_rew[agent][0]
            assert p_trunc[agent] == v_trunc[agent][0]
            assert p_term[agent] == v_term[agent][0]
            for key, value in p_info[agent].items():
                assert value == pytest.approx(float(v_info[agent][key][0]), abs=0), key
        first = par.possible_agents[0]
        if p_trunc[first] or p_term[first]:
            final = {a: v_info[a]["final_observation"][0] for a in par.possible_agents}
            for agent in par.possible_agents:
                np.testing.assert_array_equal(p_obs[agent], final[agent])
            p_obs, _ = par.reset()  # seed=None continues the stream, as the autoreset does


def test_vector_env_shapes_and_autoreset():
    vec = marec_env.vector_env(
        "marec/compete-auction-v0", num_envs=6, max_cycles=5, **small("marec/compete-auction-v0")
    )
    obs, _ = vec.reset(seed=0)
    agent = vec.possible_agents[0]
    dim = vec.observation_space(agent).shape[0]
    assert obs[agent].shape == (6, dim) and obs[agent].dtype == np.float32
    rng = np.random.default_rng(1)
    for step in range(12):
        actions = {a: rng.integers(vec.action_space(a).n, size=6) for a in vec.possible_agents}
        obs, rewards, terms, truncs, infos = vec.step(actions)
        assert rewards[agent].shape == (6,) and rewards[agent].dtype == np.float32
        assert truncs[agent].dtype == bool and not terms[agent].any()
        assert truncs[agent].all() == ((step + 1) % 5 == 0)
        assert infos[agent]["final_observation"].shape == (6, dim)
    assert (vec.market.t == 12 % 5).all()


def test_worlds_are_independent_draws():
    vec = marec_env.vector_env("marec/mixed-v0", num_envs=4, **small("marec/mixed-v0"))
    _obs, _ = vec.reset(seed=3)
    users = vec.market.population.preference
    assert not np.array_equal(users[0], users[1])
    assert np.array_equal(vec.market.catalog.latent, vec.market.catalog.latent)


def test_vector_env_rejects_bad_actions():
    vec = marec_env.vector_env("marec/mixed-v0", num_envs=3, **small("marec/mixed-v0"))
    vec.reset(seed=0)
    n = vec.action_space("recommender_0").n
    good = {a: np.zeros(3, np.int64) for a in vec.possible_agents}
    with pytest.raises(marec_env.ActionError, match="out of range"):
        vec.step({**good, "recommender_0": np.array([0, n, 0])})
    with pytest.raises(marec_env.ActionError, match="integers"):
        vec.step({**good, "recommender_0": np.array([0.0, 1.0, 0.0])})
    with pytest.raises(marec_env.ActionError, match="shape"):
        vec.step({**good, "recommender_0": np.array([0, 1])})
    with pytest.raises(marec_env.ActionError, match="missing"):
        vec.step({"recommender_0": np.zeros(3, np.int64)})
    vec.step(good)  # still usable


@pytest.mark.parametrize("env_id", MARKET_IDS)
def test_world_seeded_alone_plays_the_parallel_env_episode_of_its_seed(env_id):
    """reset(seed=[...]): world b is the ParallelEnv reset with seed b, draw for draw."""
    kwargs, seeds = {**small(env_id), "max_cycles": 15}, [5, 11, 23]
    vec = marec_env.vector_env(env_id, num_envs=len(seeds), **kwargs)
    v_obs, _ = vec.reset(seed=seeds)
    par = [marec_env.parallel_env(env_id, **kwargs) for _ in seeds]
    p_obs = [env.reset(seed=s)[0] for env, s in zip(par, seeds)]
    rng = np.random.default_rng(0)
    n = par[0].action_space(par[0].possible_agents[0]).n
    for step in range(15):
        joint = rng.integers(n, size=(len(seeds), len(vec.possible_agents)))
        for b, env in enumerate(par):
            for agent in env.possible_agents:
                np.testing.assert_array_equal(p_obs[b][agent], v_obs[agent][b], f"{step} {b}")
        v_obs, v_rew, _, _, v_info = vec.step(
            {a: joint[:, k] for k, a in enumerate(vec.possible_agents)}
        )
        for b, env in enumerate(par):
            p_obs[b], p_rew, _, _, p_info = env.step(
                {a: int(joint[b, k]) for k, a in enumerate(env.possible_agents)}
            )
            for agent in env.possible_agents:
                assert p_rew[agent] == v_rew[agent][b]
                assert p_info[agent]["clicks"] == v_info[agent]["clicks"][b]
            if not env.agents:  # the visit ended (episode_end="session"): as the autoreset
                p_obs[b], _ = env.reset()
    with pytest.raises(marec_env.validation.SeedError, match="one seed per world"):
        vec.reset(seed=seeds[:2])
