"""PettingZoo's own test utilities, on every registered env id."""

from __future__ import annotations

import functools
import types

import pytest
from pettingzoo.test import (
    api_test,
    max_cycles_test,
    parallel_api_test,
    render_test,
    state_test,
)
from pettingzoo.utils.conversions import parallel_to_aec

import marec_env
from tests.conftest import ENV_IDS, MARKET_IDS, small

# Overrides under which no visit ends before the horizon (presets whose episode is a visit).
LASTING_VISITS = {
    env_id: {"patience": 10_000, "budget_min": 1e6, "budget_max": 1e6}
    for env_id in MARKET_IDS
    if marec_env.get_spec(env_id).config().episode_end == "session"
}


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_parallel_api(env_id):
    parallel_api_test(
        marec_env.parallel_env(env_id, max_cycles=40, **small(env_id)), num_cycles=120
    )


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_aec_api(env_id):
    aec = parallel_to_aec(marec_env.parallel_env(env_id, max_cycles=40, **small(env_id)))
    api_test(aec, num_cycles=120)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_render(env_id):
    def make(render_mode=None):
        return marec_env.env(env_id, render_mode=render_mode, **small(env_id))

    render_test(make)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_max_cycles(env_id):
    # PettingZoo's test expects every episode to reach max_cycles (4); a visit of
    # marec/clickbait-v1 may end sooner, so its users here never run out of patience or
    # budget (test_clickbait checks the early end and the truncation of visit episodes).
    overrides = {**small(env_id), **LASTING_VISITS.get(env_id, {})}
    module = types.SimpleNamespace(
        parallel_env=functools.partial(marec_env.parallel_env, env_id, **overrides),
        env=functools.partial(marec_env.env, env_id, **overrides),
    )
    max_cycles_test(module)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_state(env_id):
    state_test(
        marec_env.env(env_id, **small(env_id)),
        marec_env.parallel_env(env_id, **small(env_id)),
        num_cycles=30,
    )


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_registered_with_pettingzoo(env_id):
    import pettingzoo

    env = pettingzoo.make("parallel", env_id, max_cycles=5, **small(env_id))
    assert env.possible_agents == marec_env.parallel_env(env_id, **small(env_id)).possible_agents


@pytest.mark.parametrize("env_id", MARKET_IDS)
def test_dict_observation_with_action_mask(env_id, rng):
    env = marec_env.parallel_env(env_id, observation="dict", **small(env_id))
    parallel_api_test(env, num_cycles=50)
    obs, _ = env.reset(seed=1)
    for agent, o in obs.items():
        assert o["action_mask"].dtype.name == "int8"
        assert o["action_mask"].any()
        assert env.observation_space(agent).contains(o)
