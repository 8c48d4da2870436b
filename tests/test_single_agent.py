"""The single-agent gymnasium wrapper: one learner, the other recommenders follow policies."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import marec_env
from marec_env import SingleAgentEnv
from tests.conftest import ENV_IDS, MARKET_IDS, small


@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize("others", ["greedy", "random"])
def test_check_env_passes(env_id: str, others: str) -> None:
    env = SingleAgentEnv(env_id, others=others, **small(env_id))
    check_env(env, skip_render_check=True)


@pytest.mark.parametrize("env_id", MARKET_IDS)
def test_check_env_passes_with_action_masks(env_id: str) -> None:
    env = SingleAgentEnv(env_id, agent="recommender_1", observation="dict", **small(env_id))
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert set(obs) == {"observation", "action_mask"}


@pytest.mark.parametrize("env_id", MARKET_IDS)
def test_steps_like_the_parallel_env_under_the_same_joint_actions(env_id: str) -> None:
    """A callable policy sees the other agent's own observation; the learner gets exactly
    what the parallel env gives it for that joint action."""
    kwargs = {**small(env_id), "max_cycles": 25}
    seen: list[np.ndarray] = []

    def last_candidate(obs: np.ndarray) -> int:
        seen.append(obs)
        return int(reference.action_space("recommender_1").n) - 1

    wrapped = SingleAgentEnv(env_id, others=last_candidate, **kwargs)
    reference = marec_env.parallel_env(env_id, **kwargs)
    obs, _ = wrapped.reset(seed=4)
    ref_obs, _ = reference.reset(seed=4)
    assert np.array_equal(obs, ref_obs["recommender_0"])
    rng = np.random.default_rng(0)
    done, steps = False, 0
    while not done:
        action = int(rng.integers(wrapped.action_space.n))
        expected_other_obs = {a: ref_obs[a] for a in reference.agents if a != "recommender_0"}
        joint = {a: reference.action_space(a).n - 1 for a in reference.agents}
        joint["recommender_0"] = action
        ref_obs, ref_rew, ref_term, ref_trunc, _ = reference.step(joint)
        obs, reward, terminated, truncated, _ = wrapped.step(action)
        assert np.array_equal(obs, ref_obs["recommender_0"])
        assert reward == ref_rew["recommender_0"] and truncated == ref_trunc["recommender_0"]
        assert terminated == ref_term["recommender_0"]
        for got, want in zip(seen[-len(expected_other_obs) :], expected_other_obs.values()):
            assert np.array_equal(got, want)
        done, steps = terminated or truncated, steps + 1
    assert steps == 25 or terminated  # episode_end="session" ends with the user's visit
    with pytest.raises(RuntimeError, match="reset"):
        wrapped.step(0)


def test_random_others_follow_the_seed() -> None:
    env_id = "marec/compete-auction-v0"

    def run(seed: int, policy_seed: int | None = None) -> list:
        env = SingleAgentEnv(env_id, others="random", **small(env_id))
        env.reset(seed=seed)
        if policy_seed is not None:  # same world, other draws of the random policies
            env.np_random = np.random.default_rng(policy_seed)
        steps = [env.step(1) for _ in range(20)]
        return [(obs.tolist(), reward, info) for obs, reward, _, _, info in steps]

    assert run(1) == run(1)
    assert run(1) != run(1, policy_seed=99)


def test_greedy_others_show_their_top_candidate_with_the_middle_bid() -> None:
    env_id = "marec/compete-auction-v0"
    env = SingleAgentEnv(env_id, others="greedy", **small(env_id))
    env.reset(seed=0)
    par = env.parallel_env
    bid_levels = par.config.bid_levels
    for agent in env.other_agents:
        action = env.policies[agent](env._last_obs[agent])
        valid = env._last_obs[agent][par.obs_layout["cand_valid"]] > 0.5
        assert action % bid_levels == bid_levels // 2
        assert action // bid_levels == int(np.argmax(valid))


def test_bad_arguments_name_what_is_allowed() -> None:
    with pytest.raises(ValueError, match=r"others must be one of \['greedy', 'random'\]"):
        SingleAgentEnv("marec/matrix-game-v0", others="smart")
    with pytest.raises(KeyError, match="unknown agent 'recommender_9'"):
        SingleAgentEnv("marec/matrix-game-v0", agent="recommender_9")
    with pytest.raises(KeyError, match="no policy for"):
        SingleAgentEnv("marec/matrix-game-v0", others={})
