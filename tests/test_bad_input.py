"""Bad input raises a clear error naming the field and what is allowed; nothing breaks."""

from __future__ import annotations

import numpy as np
import pytest

import marec_env
from tests.conftest import small

ENV_ID = "marec/mixed-v0"


def make(**kwargs):
    return marec_env.parallel_env(ENV_ID, **{**small(ENV_ID), **kwargs})


def test_unknown_env_id_suggests_close_ids():
    with pytest.raises(ValueError, match=r"[Dd]id you mean") as info:
        marec_env.parallel_env("marec/coop-slate-v9")
    assert "marec/coop-slate-v0" in str(info.value)


def test_unknown_override_key_names_it_and_suggests():
    with pytest.raises(marec_env.ConfigError, match="slotz") as info:
        make(slotz=3)
    assert "slots" in str(info.value)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"slots": 100}, "slots"),
        ({"candidates": 10_000}, "candidates"),
        ({"n_users": -1}, "n_users"),
        ({"n_items": 0}, "n_items"),
        ({"reward_lambda": 1.5}, "reward_lambda"),
        ({"reward_lambda": float("nan")}, "reward_lambda"),
        ({"allocation": "lottery"}, "allocation"),
        ({"backbones": ("cf", "magic")}, "backbones"),
        ({"slots": 2.5}, "slots"),
        ({"render_mode": "video"}, "render_mode"),
        ({"budget_max": 0.5, "budget_min": 1.0}, "budget_max"),
    ],
)
def test_impossible_config_names_the_field(overrides, field):
    with pytest.raises(marec_env.ConfigError, match=field):
        make(**overrides)


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (-1, "out of range"),
        (10_000, "out of range"),
        (1.0, "integer"),
        (float("nan"), "integer"),
        ("2", "integer"),
        (True, "integer"),
        (None, "integer"),
        (np.array([1, 2]), "integer"),
    ],
)
def test_bad_action_values(bad, match):
    env = make()
    env.reset(seed=0)
    actions = {a: 0 for a in env.agents}
    actions["recommender_1"] = bad
    with pytest.raises(marec_env.ActionError, match=match) as info:
        env.step(actions)
    assert "recommender_1" in str(info.value)
    env.step({a: 0 for a in env.agents})  # the env is still usable


def test_numpy_integer_actions_are_fine():
    env = make()
    env.reset(seed=0)
    env.step({a: np.int64(1) for a in env.agents})
    env.step({a: np.array(2, dtype=np.int32) for a in env.agents})


def test_missing_and_extra_agents():
    env = make()
    env.reset(seed=0)
    with pytest.raises(marec_env.ActionError, match="missing"):
        env.step({"recommender_0": 0})
    with pytest.raises(marec_env.ActionError, match=r"unexpected.*recommender_9"):
        env.step({**{a: 0 for a in env.agents}, "recommender_9": 0})
    with pytest.raises(KeyError, match="recommender_9"):
        env.action_space("recommender_9")


def test_step_after_episode_end_then_reset_works():
    env = make(max_cycles=3)
    env.reset(seed=0)
    for _ in range(3):
        env.step({a: 0 for a in env.agents})
    assert env.agents == []
    with pytest.raises(marec_env.EpisodeOverError, match="reset"):
        env.step({a: 0 for a in env.possible_agents})
    env.reset()
    env.step({a: 0 for a in env.agents})


def test_vector_env_rejects_non_market_and_bad_num_envs():
    with pytest.raises(ValueError, match="num_envs"):
        marec_env.vector_env(ENV_ID, num_envs=0)
    with pytest.raises(ValueError, match="not a market preset"):
        marec_env.vector_env("marec/matrix-game-v0", num_envs=2)
