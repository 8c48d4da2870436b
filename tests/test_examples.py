"""Each recipe under examples/ runs end to end on a small market (a handful of updates)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tests.conftest import small

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # libraries' version notices


def test_sb3_supersuit_shared_ppo_updates_and_acts() -> None:
    from examples import sb3_supersuit

    env_id = "marec/coop-slate-v0"
    kwargs = {**small(env_id), "max_cycles": 20}
    model = sb3_supersuit.train(env_id, steps=384, **kwargs)  # 2 worlds × 3 agents × 64: 1 update
    assert model.num_timesteps >= 384 and model._n_updates >= 1
    score = sb3_supersuit.mean_return(
        lambda obs: model.predict(obs, deterministic=True)[0], env_id, range(1), **kwargs
    )
    assert math.isfinite(score) and score >= 0.0


@pytest.mark.parametrize(
    ("env_id", "mask"), [("marec/compete-auction-v0", True), ("marec/coop-slate-v0", False)]
)
def test_torchrl_mappo_collects_and_updates(env_id: str, mask: bool) -> None:
    from examples import torchrl_mappo

    kwargs = {**small(env_id), "max_cycles": 25}
    returns, forbidden = torchrl_mappo.train(
        env_id, 2, mask=mask, frames_per_batch=50, epochs=1, **kwargs
    )
    assert len(returns) == 2 and all(math.isfinite(r) for r in returns)
    assert forbidden == 0


def test_torchrl_masked_policy_only_picks_allowed_actions() -> None:
    """The masked actor reads the env's action_mask: with most actions forbidden (markets
    forbid only missing candidates, rare in practice), it still never samples one."""
    from examples import torchrl_mappo

    env_id = "marec/compete-auction-v0"
    env = torchrl_mappo.make_env(env_id, True, 0, **small(env_id), max_cycles=10)
    actor, _ = torchrl_mappo.make_modules(env, mask=True, mappo=True)
    state = env.reset()
    key = (torchrl_mappo.GROUP, "action_mask")
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        allowed = torch.rand(state[key].shape, generator=generator) < 0.1
        allowed[..., 3] = True  # at least one allowed action per agent
        state.set(key, allowed)
        actions = actor(state)[env.action_key]
        assert allowed.gather(-1, actions[..., None]).all()


def test_tianshou_independent_dqn_through_the_aec_env() -> None:
    from examples import tianshou_dqn

    env_id = "marec/mixed-v0"
    score = tianshou_dqn.train(env_id, 1, epoch_steps=60, **small(env_id), max_cycles=15)
    assert math.isfinite(score)


def test_cleanrl_style_ppo_over_the_vector_env_is_seeded() -> None:
    from examples import cleanrl_ppo

    env_id = "marec/coop-slate-v0"
    kwargs = {**small(env_id), "max_cycles": 10, "num_envs": 4, "horizon": 10}
    state = torch.random.get_rng_state()
    first = cleanrl_ppo.train(env_id, 2, seed=3, **kwargs)
    assert torch.equal(state, torch.random.get_rng_state())  # global torch RNG untouched
    assert len(first) == 2 and all(np.isfinite(first))
    assert first == cleanrl_ppo.train(env_id, 2, seed=3, **kwargs)


def test_single_agent_ppo_against_greedy_then_learned_rivals() -> None:
    from examples import single_agent_sb3
    from marec_env import SingleAgentEnv

    env_id = "marec/compete-auction-v0"
    kwargs = {**small(env_id), "max_cycles": 20}
    model = single_agent_sb3.train(env_id, 128, **kwargs)
    assert model.num_timesteps >= 128

    def learned(obs: np.ndarray) -> int:
        return int(model.predict(obs, deterministic=True)[0])

    calls = []
    rivals = SingleAgentEnv(env_id, others=lambda o: calls.append(1) or learned(o), **kwargs)
    assert math.isfinite(single_agent_sb3.episode_return(rivals, learned, seed=0))
    assert len(calls) == 20 * 2  # two rivals, every step
