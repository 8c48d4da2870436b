"""Every registered env: the vector env returns what its spaces say, in Box and Dict mode,
and the ParallelEnv and the vector env describe their agents identically."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest

import marec_env
from tests.conftest import small

MODES = ("box", "dict")
WORLDS = 3


def _world(obs, w: int):
    """One world's observation out of a batched one."""
    if isinstance(obs, dict):
        return {key: value[w] for key, value in obs.items()}
    return obs[w]


def _assert_batch_in_space(space, batch, what: str) -> None:
    for w in range(WORLDS):
        assert space.contains(_world(batch, w)), f"{what}, world {w}: {_world(batch, w)!r}"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("env_id", marec_env.list_envs())
def test_vector_env_returns_what_its_spaces_say(env_id, mode):
    if not marec_env.get_spec(env_id).market:
        with pytest.raises(ValueError, match="not a market preset"):
            marec_env.vector_env(env_id, num_envs=WORLDS)
        return
    vec = marec_env.vector_env(
        env_id, num_envs=WORLDS, observation=mode, max_cycles=4, **small(env_id)
    )
    obs, _ = vec.reset(seed=0)
    space = vec.observation_space(vec.possible_agents[0])
    kind = gymnasium.spaces.Dict if mode == "dict" else gymnasium.spaces.Box
    assert isinstance(space, kind), space
    rng = np.random.default_rng(0)
    for step in range(6):  # crosses one autoreset (max_cycles=4)
        for agent in vec.possible_agents:
            assert vec.observation_space(agent) == space
            _assert_batch_in_space(space, obs[agent], f"{agent} step {step}")
        actions = {a: rng.integers(vec.action_space(a).n, size=WORLDS) for a in vec.agents}
        for agent, column in actions.items():
            assert all(vec.action_space(agent).contains(int(x)) for x in column)
        obs, _, terminations, truncations, infos = vec.step(actions)
        for agent in vec.possible_agents:
            box = space["observation"] if mode == "dict" else space
            _assert_batch_in_space(box, infos[agent]["final_observation"], f"final {agent}")
        truncated, terminated = truncations[agent], terminations[agent]
        assert truncated.dtype == terminated.dtype == np.bool_
        assert not (truncated & terminated).any()
        if marec_env.make_config(env_id).episode_end == "cycles":
            assert truncated.all() == (step == 3) and not terminated.any()
        else:  # an episode is a visit: it ends when the user leaves, or at max_cycles
            assert not truncated.any() or step >= 3  # max_cycles=4 pages at the least
    state = vec.state()
    assert state.shape == (WORLDS, *vec.state_space.shape)
    assert all(vec.state_space.contains(row) for row in state)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("env_id", marec_env.list_envs())
def test_parallel_and_vector_env_describe_agents_alike(env_id, mode):
    par = marec_env.parallel_env(env_id, observation=mode, **small(env_id))
    for agent in par.possible_agents:
        space, n_actions = par.observation_space(agent), par.action_space(agent).n
        if mode == "dict":
            assert space["action_mask"].shape == (n_actions,)
            assert space["action_mask"].dtype == np.int8
        else:
            assert isinstance(space, gymnasium.spaces.Box)
    if not marec_env.get_spec(env_id).market:
        return  # the matrix game has no vector env (the test above checks it refuses)
    vec = marec_env.vector_env(env_id, num_envs=2, observation=mode, **small(env_id))
    assert par.possible_agents == vec.possible_agents
    assert par.obs_layout == vec.obs_layout
    assert par.state_space == vec.state_space
    for agent in par.possible_agents:
        assert par.observation_space(agent) == vec.observation_space(agent)
        assert par.action_space(agent) == vec.action_space(agent)
    with pytest.raises(KeyError, match="recommender_9"):
        vec.observation_space("recommender_9")
