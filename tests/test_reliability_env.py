"""Issue 12, env input items 5-12: world size, float ranges, action masks, the AEC env,
use before reset, seeds, numpy scalars in configs, aliasing of returned observations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import marec_env
from marec_env import config_checks
from marec_env.validation import NotResetError, SeedError
from tests.conftest import ENV_IDS, MARKET_IDS, small

CHEAP = ("cf", "content", "popularity")  # no text model: these tests are about the inputs
MIXED = "marec/mixed-v0"


def cheap(env_id: str = MIXED, **overrides):
    return {**small(env_id), "backbones": CHEAP, **overrides}


# ------------------------------------------------------------------ item 5
@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"n_items": 10**9}, "n_items=1000000000"),
        ({"n_users": 10**9}, "n_users=1000000000"),
        ({"max_cycles": 10**12}, "max_cycles=1000000000000"),
    ],
)
def test_item5_a_world_that_cannot_fit_is_refused_naming_fields_and_estimate(
    overrides: dict, field: str
) -> None:
    with pytest.raises(marec_env.ConfigError, match=rf"needs at least [\d,.]+ GiB \(.*{field}"):
        marec_env.parallel_env(MIXED, **overrides)


def test_item5_num_envs_that_cannot_fit_is_refused() -> None:
    with pytest.raises(marec_env.ConfigError, match=r"GiB .*num_envs=10000000"):
        marec_env.vector_env(MIXED, num_envs=10**7, **cheap())


def test_item5_ten_million_users_refused_on_a_machine_without_the_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(config_checks, "physical_memory", lambda: 8 * 2**30)
    # text profiles alone: 1e7 users × 1.5 KiB ≈ 14 GiB (the issue measured ~15 GiB)
    with pytest.raises(marec_env.ConfigError, match=r"needs at least 1[4-9]\.\d GiB"):
        marec_env.parallel_env(MIXED, n_users=10**7)
    marec_env.parallel_env(MIXED, **cheap())  # a normal world still fits


# ------------------------------------------------------------------ item 6
@pytest.mark.parametrize("field", sorted(config_checks.FLOAT_RANGES))
def test_item6_every_float_field_has_a_range_and_its_bounds_stay_finite(field: str) -> None:
    low, high = config_checks.FLOAT_RANGES[field]
    with pytest.raises(marec_env.ConfigError, match=rf"{field} must be a finite number in \["):
        marec_env.parallel_env(MIXED, **cheap(**{field: 1e39}))
    # the budget bounds are paired: min <= max
    extra = {"budget_min": 0.0, "budget_max": 1e6}
    if field.startswith("bait_"):  # bait needs its topic
        extra["bait_topic"] = 0
    for value in (low, high):
        env = marec_env.parallel_env(MIXED, **cheap(max_cycles=6, **{**extra, field: value}))
        observations, _ = env.reset(seed=0)
        rng = np.random.default_rng(0)
        while env.agents:
            masks = env.action_masks()
            actions = {a: int(rng.choice(np.flatnonzero(masks[a]))) for a in env.agents}
            observations, rewards, _, _, infos = env.step(actions)
            assert np.isfinite(list(rewards.values())).all(), (field, value)
            for info in infos.values():
                assert np.isfinite(list(info.values())).all(), (field, value)
            for obs in observations.values():
                assert np.isfinite(obs).all(), (field, value)


# ------------------------------------------------------------------ item 7
def _state_with_a_masked_action(make, seed: int = 0):
    """Step with allowed actions until some agent's mask forbids an action; return the env,
    that agent's index and the forbidden action."""
    env = make()
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    for _ in range(200):
        masks = env.action_masks()
        for i, agent in enumerate(env.possible_agents):
            mask = np.asarray(masks[agent]).reshape(-1, masks[agent].shape[-1])[0]
            if not mask.all():
                return env, i, int(np.flatnonzero(mask == 0)[0])
        env.step({a: _allowed(masks[a], rng) for a in env.possible_agents})
    raise AssertionError("no masked action in 200 steps")


def _allowed(mask: np.ndarray, rng: np.random.Generator):
    mask = np.asarray(mask)
    if mask.ndim == 1:
        return int(rng.choice(np.flatnonzero(mask)))
    return np.array([rng.choice(np.flatnonzero(row)) for row in mask])


def test_item7_parallel_env_refuses_masked_actions_where_a_mask_is_published() -> None:
    env, i, bad = _state_with_a_masked_action(
        lambda: marec_env.parallel_env(MIXED, **cheap(observation="dict"))
    )
    agent = env.possible_agents[i]
    before = env.state()
    actions = {a: int(np.flatnonzero(env.action_masks()[a])[0]) for a in env.agents}
    with pytest.raises(marec_env.ActionError, match=rf"action {bad} for '{agent}' is masked"):
        env.step({**actions, agent: bad})
    assert np.array_equal(env.state(), before)  # refused before anything moved
    env.step(actions)  # still usable


def test_item7_box_observations_accept_a_masked_action_harmlessly() -> None:
    env, i, bad = _state_with_a_masked_action(
        lambda: marec_env.parallel_env(MIXED, **cheap(observation="box"))
    )
    agent = env.possible_agents[i]
    actions = {a: int(np.flatnonzero(env.action_masks()[a])[0]) for a in env.agents}
    observations, rewards, _, _, _ = env.step({**actions, agent: bad})
    assert np.isfinite(list(rewards.values())).all()
    assert all(np.isfinite(o).all() for o in observations.values())
    env.step(actions)


def test_item7_vector_env_refuses_masked_actions_where_a_mask_is_published() -> None:
    def make():
        return marec_env.vector_env(MIXED, num_envs=4, **cheap(observation="dict"))

    env, i, bad = _state_with_a_masked_action(make)
    agent = env.possible_agents[i]
    rng = np.random.default_rng(1)
    masks = env.action_masks()
    actions = {a: _allowed(masks[a], rng) for a in env.possible_agents}
    wrong = {**actions, agent: actions[agent].copy()}
    wrong[agent][0] = bad
    with pytest.raises(marec_env.ActionError, match=rf"'{agent}' in world 0 is masked out"):
        env.step(wrong)
    env.step(actions)
    box = marec_env.vector_env(MIXED, num_envs=4, **cheap(observation="box"))
    box.reset(seed=0)
    _, rewards, _, _, _ = box.step({a: np.full(4, bad) for a in box.possible_agents})
    assert all(np.isfinite(r).all() for r in rewards.values())


def test_item7_aec_env_refuses_masked_actions_where_a_mask_is_published() -> None:
    aec = marec_env.env(MIXED, **cheap(observation="dict"))
    aec.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(600):
        agent = aec.agent_selection
        mask = aec.observe(agent)["action_mask"]
        if not mask.all():
            with pytest.raises(marec_env.ActionError, match=f"'{agent}' is masked out"):
                aec.step(int(np.flatnonzero(mask == 0)[0]))
            assert aec.agent_selection == agent
            aec.step(int(np.flatnonzero(mask)[0]))  # still usable
            return
        aec.step(int(rng.choice(np.flatnonzero(mask))))
    raise AssertionError("no masked action met")


# ------------------------------------------------------------------ item 8
@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize("bad", [10_000, -1, 1.5, "0"])
def test_item8_aec_refuses_a_bad_action_at_the_agent_that_gives_it(env_id: str, bad) -> None:
    aec = marec_env.env(env_id, **(cheap(env_id) if env_id in MARKET_IDS else {}))
    aec.reset(seed=0)
    first = aec.agent_selection
    with pytest.raises(marec_env.ActionError, match=repr(first)):
        aec.step(bad)
    assert aec.agent_selection == first
    for _ in range(3 * len(aec.possible_agents)):  # the env goes on as if nothing happened
        if not aec.agents:
            break
        agent = aec.agent_selection
        done = aec.terminations[agent] or aec.truncations[agent]
        aec.step(None if done else 0)
    assert all(np.isfinite(r) for r in aec.rewards.values())


# ------------------------------------------------------------------ item 9
def test_item9_use_before_reset_says_call_reset_first() -> None:
    env = marec_env.parallel_env(MIXED, **cheap())
    with pytest.raises(NotResetError, match=r"step\(\) called before reset\(\); call reset"):
        env.step(dict.fromkeys(env.possible_agents, 0))
    for method in ("action_masks", "oracle_action_values"):
        with pytest.raises(NotResetError, match="call reset"):
            getattr(env, method)()
    vec = marec_env.vector_env(MIXED, num_envs=2, **cheap())
    with pytest.raises(NotResetError, match="call reset"):
        vec.step(np.zeros((2, len(vec.possible_agents)), np.int64))
    for method in ("action_masks", "oracle_action_values", "state"):
        with pytest.raises(NotResetError, match="call reset"):
            getattr(vec, method)()
    env.reset(seed=0)
    vec.reset(seed=0)
    env.step(dict.fromkeys(env.possible_agents, 0))
    vec.step(np.zeros((2, len(vec.possible_agents)), np.int64))


# ------------------------------------------------------------------ item 10
def _builders():
    for env_id in ENV_IDS:
        kw = cheap(env_id) if env_id in MARKET_IDS else {}
        yield env_id, lambda e=env_id, k=kw: marec_env.parallel_env(e, **k)
    yield "vector", lambda: marec_env.vector_env(MIXED, num_envs=2, **cheap())


@pytest.mark.parametrize("name, make", list(_builders()), ids=lambda x: str(x)[:24])
@pytest.mark.parametrize("seed", [-1, 1.5, "3", True, np.array([1, 2]), np.float64(2.0)])
def test_item10_bad_seeds_are_refused_naming_the_seed(name: str, make, seed) -> None:
    env = make()
    with pytest.raises(SeedError, match=r"seed=.*integer >= 0"):
        env.reset(seed=seed)


@pytest.mark.parametrize("name, make", list(_builders()), ids=lambda x: str(x)[:24])
def test_item10_numpy_int_seeds_are_ints(name: str, make) -> None:
    a, b = make(), make()
    obs_a, _ = a.reset(seed=np.int64(3))
    obs_b, _ = b.reset(seed=3)
    for agent in obs_a:
        np.testing.assert_array_equal(_flat(obs_a[agent]), _flat(obs_b[agent]))


def _flat(obs) -> np.ndarray:
    return np.asarray(obs["observation"] if isinstance(obs, dict) else obs)


# ------------------------------------------------------------------ item 11
def test_item11_numpy_scalars_in_configs_are_accepted() -> None:
    plain = marec_env.make_config(MIXED, **cheap(slots=4, reward_lambda=0.5))
    numpy = marec_env.make_config(MIXED, **cheap(slots=np.int64(4), reward_lambda=np.float32(0.5)))
    assert type(numpy.slots) is int and type(numpy.reward_lambda) is float
    assert numpy == plain
    vec = marec_env.vector_env(MIXED, num_envs=np.int64(4), **cheap(slots=np.int32(3)))
    assert vec.num_envs == 4 and type(vec.num_envs) is int
    vec.reset(seed=0)


def test_item11_embedding_cache_dir_must_be_a_path(tmp_path: Path) -> None:
    with pytest.raises(marec_env.ConfigError, match=r"embedding_cache_dir must be a directory"):
        marec_env.make_config(MIXED, embedding_cache_dir=5)
    cfg = marec_env.make_config(MIXED, embedding_cache_dir=tmp_path)
    assert cfg.embedding_cache_dir == str(tmp_path)


# ------------------------------------------------------------------ item 12
@pytest.mark.parametrize("env_id", ENV_IDS)
def test_item12_returned_observations_do_not_alias_the_state(env_id: str) -> None:
    env = marec_env.parallel_env(env_id, **(cheap(env_id) if env_id in MARKET_IDS else {}))
    observations, _ = env.reset(seed=0)
    for _ in range(2):
        before = env.state().copy()
        for obs in observations.values():
            _flat(obs)[...] = 0.123
        assert np.array_equal(env.state(), before)
        if not env.agents:  # the matrix game ends after one step
            break
        observations, *_ = env.step(dict.fromkeys(env.agents, 0))
