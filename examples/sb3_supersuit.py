"""Shared-policy PPO (Stable-Baselines3) on a marec market through SuperSuit.

SuperSuit turns the N recommenders of each world into N entries of one vector env, so one PPO
policy acts for every agent (parameter sharing). The recipe trains, then compares the
learned policy's mean per-agent episode return with the random policy's on fresh seeds::

    python examples/sb3_supersuit.py --env marec/coop-slate-v0 --steps 20000
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import supersuit
from stable_baselines3 import PPO
from supersuit.vector.sb3_vector_wrapper import SB3VecEnvWrapper

import marec_env


class SeededVecEnv(SB3VecEnvWrapper):
    """SuperSuit 3.11's SB3 wrapper forwards ``seed()`` (which SB3 2.x calls) to a vector env
    that has none, and resets unseeded: keep the seed and pass it to the next reset."""

    def seed(self, seed: int | None = None) -> list[int | None]:
        self._next_seed = seed
        return [seed] * self.num_envs

    def reset(self, seed: int | None = None, options: dict | None = None) -> np.ndarray:
        seed = seed if seed is not None else getattr(self, "_next_seed", None)
        self._next_seed = None
        observations, self.reset_infos = self.venv.reset(seed=seed, options=options)
        return observations


def make_vec_env(env_id: str, copies: int, **overrides: Any) -> SeededVecEnv:
    """``copies`` worlds × N agents as one SB3 VecEnv (num_cpus=0: same process; more CPUs
    pickle the env to workers, which is cheap: the text model is not in the pickle)."""
    env = marec_env.parallel_env(env_id, **overrides)
    vec = supersuit.pettingzoo_env_to_vec_env_v1(env)
    return SeededVecEnv(supersuit.concat_vec_envs_v1(vec, copies, num_cpus=0))


def train(env_id: str, steps: int, seed: int = 0, copies: int = 2, **overrides: Any) -> PPO:
    vec = make_vec_env(env_id, copies, **overrides)
    model = PPO(
        "MlpPolicy",
        vec,
        n_steps=64,
        batch_size=64,
        n_epochs=4,
        learning_rate=3e-4,
        gamma=0.95,
        seed=seed,
        device="cpu",
        verbose=0,
    )
    return model.learn(total_timesteps=steps)


def mean_return(policy, env_id: str, seeds: range, **overrides: Any) -> float:
    """Mean over agents and episodes of the undiscounted episode return. ``policy`` maps an
    (N, D) batch of observations to N actions."""
    env = marec_env.parallel_env(env_id, **overrides)
    totals = []
    for seed in seeds:
        obs, _ = env.reset(seed=seed)
        total = 0.0
        while env.agents:
            agents = list(env.agents)
            actions = policy(np.stack([obs[a] for a in agents]))
            obs, rewards, _, _, _ = env.step(dict(zip(agents, map(int, actions))))
            total += float(np.mean(list(rewards.values())))
        totals.append(total)
    return float(np.mean(totals))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="marec/coop-slate-v0", choices=marec_env.list_envs())
    parser.add_argument("--steps", type=int, default=20_000, help="agent-steps of training")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    model = train(args.env, args.steps, args.seed)
    n_actions = model.action_space.n
    rng = np.random.default_rng(args.seed)
    evaluation = range(1000, 1005)
    learned = mean_return(lambda o: model.predict(o, deterministic=True)[0], args.env, evaluation)
    random = mean_return(lambda o: rng.integers(n_actions, size=len(o)), args.env, evaluation)
    print(f"{args.env}: PPO return {learned:.3f} vs random {random:.3f} per agent and episode")


if __name__ == "__main__":
    main()
