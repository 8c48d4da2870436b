"""Independent DQN per recommender (Tianshou 2) through marec's AEC env.

Tianshou's multi-agent support is turn-based: ``tianshou.env.PettingZooEnv`` wraps the AEC
version of the market (``marec_env.env``, agents act one after the other within a step) and
``MultiAgentOffPolicyAlgorithm`` dispatches each turn to that agent's DQN::

    python examples/tianshou_dqn.py --env marec/mixed-v0 --epochs 3
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import torch
from tianshou.algorithm import DQN, MultiAgentOffPolicyAlgorithm
from tianshou.algorithm.modelfree.dqn import DiscreteQLearningPolicy
from tianshou.algorithm.optim import AdamOptimizerFactory
from tianshou.data import Collector, CollectStats, VectorReplayBuffer
from tianshou.env import DummyVectorEnv
from tianshou.env.pettingzoo_env import PettingZooEnv
from tianshou.trainer import OffPolicyTrainerParams
from tianshou.utils.net.common import Net

import marec_env


def make_env(env_id: str, **overrides: Any) -> PettingZooEnv:
    return PettingZooEnv(marec_env.env(env_id, **overrides))


def make_algorithm(env: PettingZooEnv, hidden: int = 64) -> MultiAgentOffPolicyAlgorithm:
    space = env.observation_space
    obs_space = space["observation"] if "observation" in getattr(space, "spaces", {}) else space
    algorithms = []
    for _ in env.agents:
        net = Net(
            state_shape=obs_space.shape,
            action_shape=env.action_space.n,
            hidden_sizes=[hidden, hidden],
        )
        policy = DiscreteQLearningPolicy(
            model=net, action_space=env.action_space, eps_training=0.1, eps_inference=0.0
        )
        algorithms.append(
            DQN(
                policy=policy,
                optim=AdamOptimizerFactory(lr=1e-3),
                gamma=0.95,
                n_step_return_horizon=1,
                target_update_freq=200,
            )
        )
    return MultiAgentOffPolicyAlgorithm(algorithms=algorithms, env=env)


def train(
    env_id: str,
    epochs: int,
    *,
    epoch_steps: int = 600,
    n_envs: int = 2,
    seed: int = 0,
    **overrides: Any,
) -> float:
    """Train for ``epochs`` and return the mean undiscounted episode return per agent of the
    greedy (epsilon 0) policies on a test episode."""
    torch.manual_seed(seed)  # Tianshou's networks initialise from torch's default generator
    train_envs = DummyVectorEnv([lambda: make_env(env_id, **overrides)] * n_envs)
    test_envs = DummyVectorEnv([lambda: make_env(env_id, **overrides)])
    train_envs.seed(seed)
    test_envs.seed(seed + 10_000)
    algorithm = make_algorithm(make_env(env_id, **overrides))
    buffer = VectorReplayBuffer(4_000, len(train_envs))
    train_collector = Collector[CollectStats](algorithm, train_envs, buffer, exploration_noise=True)
    test_collector = Collector[CollectStats](algorithm, test_envs)
    train_collector.reset()
    train_collector.collect(n_step=64 * n_envs, random=True)
    algorithm.run_training(
        OffPolicyTrainerParams(
            training_collector=train_collector,
            test_collector=test_collector,
            max_epochs=epochs,
            epoch_num_steps=epoch_steps,
            collection_step_num_env_steps=30,
            test_step_num_episodes=1,
            batch_size=64,
            update_step_num_gradient_steps_per_sample=0.1,
            test_in_training=False,
            show_progress=False,
            multi_agent_return_reduction=lambda returns: returns.mean(axis=1),
        )
    )
    stats = test_collector.collect(n_episode=1, reset_before_collect=True)
    return float(np.mean(stats.returns))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="marec/mixed-v0", choices=marec_env.list_envs())
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    result = train(args.env, args.epochs, seed=args.seed)
    print(f"{args.env}: greedy DQN test return per agent {result:.3f}")


if __name__ == "__main__":
    main()
