"""One recommender learns with single-agent PPO (Stable-Baselines3) against fixed rivals.

``marec_env.SingleAgentEnv`` is a plain gymnasium env: ``recommender_0`` learns, the others
follow ``"greedy"`` (their backbone's top-1), ``"random"`` or any ``callable(obs) -> action``.
The recipe trains against greedy rivals, then replays the learned policy against rivals that
themselves use it (a trained policy as the others' policy)::

    python examples/single_agent_sb3.py --env marec/compete-auction-v0 --steps 20000
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
from stable_baselines3 import PPO

import marec_env
from marec_env import SingleAgentEnv


def train(env_id: str, steps: int, others: Any = "greedy", seed: int = 0, **overrides: Any):
    env = SingleAgentEnv(env_id, others=others, **overrides)
    model = PPO("MlpPolicy", env, n_steps=128, batch_size=64, gamma=0.95, seed=seed, device="cpu")
    return model.learn(total_timesteps=steps)


def episode_return(env: SingleAgentEnv, policy: Any, seed: int) -> float:
    obs, _ = env.reset(seed=seed)
    total, done = 0.0, False
    while not done:
        obs, reward, terminated, truncated, _ = env.step(policy(obs))
        total += reward
        done = terminated or truncated
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="marec/compete-auction-v0", choices=marec_env.list_envs())
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    model = train(args.env, args.steps, seed=args.seed)

    def learned(obs: np.ndarray) -> int:
        return int(model.predict(obs, deterministic=True)[0])

    env = SingleAgentEnv(args.env, others="greedy")
    seeds = range(1000, 1003)
    mine = np.mean([episode_return(env, learned, s) for s in seeds])
    greedy = np.mean(
        [episode_return(env, lambda o: env.greedy_action(env.agent, o), s) for s in seeds]
    )
    print(f"{args.env}, greedy rivals: PPO return {mine:.3f} vs greedy in its seat {greedy:.3f}")
    mirror = SingleAgentEnv(args.env, others=learned)  # the rivals play the learned policy too
    selfplay = np.mean([episode_return(mirror, learned, s) for s in seeds])
    print(f"{args.env}, learned rivals: PPO return {selfplay:.3f}")


if __name__ == "__main__":
    main()
