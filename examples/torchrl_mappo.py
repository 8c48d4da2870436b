"""MAPPO / IPPO (TorchRL) on a marec market: ``PettingZooWrapper`` + a collector + PPO loss.

All recommenders form one TorchRL group (``"recommender"``) and share one policy network; the
critic sees every agent's observation (MAPPO) or only its own (``--ippo``). ``--mask`` uses the
Dict observation (``observation="dict"``): the policy samples from a ``MaskedCategorical``
over the ``action_mask``, so it never picks an action the market forbids::

    python examples/torchrl_mappo.py --env marec/compete-auction-v0 --mask --iterations 20
"""

from __future__ import annotations

import argparse
from typing import Any

import torch
from tensordict.nn import TensorDictModule
from torch import nn
from torchrl.collectors import Collector
from torchrl.envs import PettingZooWrapper, RewardSum, TransformedEnv
from torchrl.modules import MaskedCategorical, MultiAgentMLP, ProbabilisticActor
from torchrl.objectives import ClipPPOLoss, ValueEstimators

import marec_env

GROUP = "recommender"


def make_env(env_id: str, mask: bool, seed: int, **overrides: Any) -> TransformedEnv:
    observation = "dict" if mask else "box"
    base = marec_env.parallel_env(env_id, observation=observation, **overrides)
    env = PettingZooWrapper(base, categorical_actions=True, seed=seed)
    episode_return = (GROUP, "episode_reward")
    return TransformedEnv(env, RewardSum(in_keys=[env.reward_key], out_keys=[episode_return]))


def make_modules(env: TransformedEnv, mask: bool, mappo: bool) -> tuple[Any, Any]:
    """A shared-parameter policy (masked or not) and a centralised (MAPPO) or per-agent critic."""
    obs_key = (GROUP, "observation", "observation") if mask else (GROUP, "observation")
    n_agents = len(env.group_map[GROUP])
    obs_dim = env.observation_spec[obs_key].shape[-1]
    n_actions = env.full_action_spec[env.action_key].space.n
    body = {"depth": 2, "num_cells": 64, "activation_class": nn.Tanh, "share_params": True}
    logits = TensorDictModule(
        MultiAgentMLP(obs_dim, n_actions, n_agents, centralised=False, **body),
        in_keys=[obs_key],
        out_keys=[(GROUP, "logits")],
    )
    dist_keys = {"logits": (GROUP, "logits")}
    if mask:
        dist_keys["mask"] = (GROUP, "action_mask")
    actor = ProbabilisticActor(
        logits,
        in_keys=dist_keys,
        out_keys=[env.action_key],
        distribution_class=MaskedCategorical if mask else torch.distributions.Categorical,
        return_log_prob=True,
    )
    critic = TensorDictModule(
        MultiAgentMLP(obs_dim, 1, n_agents, centralised=mappo, **body),
        in_keys=[obs_key],
        out_keys=[(GROUP, "state_value")],
    )
    return actor, critic


def train(
    env_id: str,
    iterations: int,
    *,
    mask: bool = False,
    mappo: bool = True,
    frames_per_batch: int = 400,
    epochs: int = 4,
    seed: int = 0,
    **overrides: Any,
) -> tuple[list[float], int]:
    """Run ``iterations`` collect-then-update rounds. Returns the mean episode return per agent
    of the episodes finished in each round (NaN where none finished) and how many collected
    actions the action mask forbade (0 with ``mask``: the masked policy never picks one)."""
    torch.manual_seed(seed)  # TorchRL modules initialise from torch's default generator
    env = make_env(env_id, mask, seed, **overrides)
    actor, critic = make_modules(env, mask, mappo)
    collector = Collector(
        env,
        actor,
        frames_per_batch=frames_per_batch,
        total_frames=frames_per_batch * iterations,
        auto_register_policy_transforms=False,  # an MLP policy needs no InitTracker
    )
    loss = ClipPPOLoss(actor, critic, clip_epsilon=0.2, entropy_coeff=0.01)
    loss.set_keys(
        reward=env.reward_key,
        action=env.action_key,
        value=(GROUP, "state_value"),
        done=(GROUP, "done"),
        terminated=(GROUP, "terminated"),
    )
    loss.make_value_estimator(ValueEstimators.GAE, gamma=0.95, lmbda=0.9)
    optimiser = torch.optim.Adam(loss.parameters(), lr=3e-4)
    returns, forbidden = [], 0
    for batch in collector:
        with torch.no_grad():
            loss.value_estimator(batch, params=loss.critic_network_params, target_params=None)
        flat = batch.reshape(-1)
        for _ in range(epochs):
            for minibatch in flat.split(100):
                terms = loss(minibatch)
                total = terms["loss_objective"] + terms["loss_critic"] + terms["loss_entropy"]
                optimiser.zero_grad()
                total.backward()
                nn.utils.clip_grad_norm_(loss.parameters(), 1.0)
                optimiser.step()
        collector.update_policy_weights_()
        if mask:
            allowed = batch[GROUP, "action_mask"].gather(-1, batch[env.action_key][..., None])
            forbidden += int((~allowed).sum())
        done = batch["next", GROUP, "done"]
        finished = batch["next", GROUP, "episode_reward"][done]
        returns.append(float(finished.mean()) if finished.numel() else float("nan"))
    collector.shutdown()
    return returns, forbidden


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="marec/coop-slate-v0", choices=marec_env.list_envs())
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--mask", action="store_true", help="Dict observation + action mask")
    parser.add_argument("--ippo", action="store_true", help="per-agent critics (IPPO)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    returns, forbidden = train(
        args.env, args.iterations, mask=args.mask, mappo=not args.ippo, seed=args.seed
    )
    finite = [r for r in returns if r == r]
    print(
        f"{args.env}: episode return per agent, first {finite[0]:.3f} → last {finite[-1]:.3f}; "
        f"{forbidden} forbidden actions taken"
    )


if __name__ == "__main__":
    main()
