"""The env plugs into SuperSuit's vector wrappers (the road to SB3 and CleanRL PPO)."""

from __future__ import annotations

import numpy as np
import supersuit

import marec_env
from tests.conftest import small


def test_supersuit_vector_wrappers_run_across_episode_ends():
    env = marec_env.parallel_env("marec/mixed-v0", max_cycles=10, **small("marec/mixed-v0"))
    vec = supersuit.pettingzoo_env_to_vec_env_v1(env)
    vec = supersuit.concat_vec_envs_v1(vec, 2, num_cpus=0, base_class="gymnasium")
    obs, _ = vec.reset(seed=0)
    n_agents = len(env.possible_agents)
    assert obs.shape == (2 * n_agents, env.observation_space("recommender_0").shape[0])
    rng = np.random.default_rng(0)
    ends = 0
    for _ in range(25):
        actions = rng.integers(vec.action_space.n, size=vec.num_envs)
        obs, rewards, terms, truncs, _ = vec.step(actions)
        assert rewards.dtype == np.float32 and np.isfinite(rewards).all()
        assert not terms.any()  # markets truncate, they never terminate
        assert ((obs >= -1) & (obs <= 1)).all()
        ends += int(truncs.all())
    assert ends == 2  # episodes of 10 steps end at steps 10 and 20, then restart
