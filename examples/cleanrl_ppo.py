"""CleanRL-style PPO with manual batching over marec's vector env (one file, no framework).

``marec_env.vector_env`` steps B worlds at once and resets finished ones itself; the B × N
(world, agent) pairs form one batch for a policy shared by all recommenders. Everything
random comes from one seed: the worlds' ``SeedSequence`` and a private torch ``Generator``::

    python examples/cleanrl_ppo.py --env marec/coop-slate-v0 --num-envs 16 --iterations 30
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import torch
from torch import nn

import marec_env


class ActorCritic(nn.Module):
    def __init__(self, obs_dim: int, n_actions: int, hidden: int = 64) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(obs_dim, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh()
        )
        self.logits = nn.Linear(hidden, n_actions)
        self.value = nn.Linear(hidden, 1)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.body(obs)
        return self.logits(features), self.value(features).squeeze(-1)


def sample(logits: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    probs = torch.softmax(logits, -1)
    flat = torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1, generator=generator)
    return flat.reshape(probs.shape[:-1])


def train(
    env_id: str,
    iterations: int,
    *,
    num_envs: int = 16,
    horizon: int = 32,
    epochs: int = 4,
    gamma: float = 0.95,
    lam: float = 0.9,
    seed: int = 0,
    **overrides: Any,
) -> list[float]:
    """PPO for ``iterations`` rollouts of ``horizon`` steps; returns the mean per-agent return
    of the episodes finished during each rollout (NaN where none finished)."""
    env = marec_env.vector_env(env_id, num_envs, **overrides)
    agents = env.possible_agents
    obs_dim = env.observation_space(agents[0]).shape[0]
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():  # initialise the network without touching torch's global RNG
        torch.manual_seed(seed)
        model = ActorCritic(obs_dim, int(env.action_space(agents[0]).n))
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-4)
    obs_dict, _ = env.reset(seed=seed)
    obs = torch.as_tensor(np.stack([obs_dict[a] for a in agents], 1))  # (B, N, D)
    running = np.zeros((num_envs, len(agents)))
    history = []
    for _ in range(iterations):
        steps, finished = [], []
        for _ in range(horizon):
            with torch.no_grad():
                logits, value = model(obs)
                action = sample(logits, generator)
                logp = torch.log_softmax(logits, -1).gather(-1, action[..., None]).squeeze(-1)
            obs_dict, rewards, _, truncations, _ = env.step(action.numpy())
            reward = np.stack([rewards[a] for a in agents], 1)
            done = np.asarray(truncations[agents[0]], dtype=bool)  # the world's episode ended
            running += reward
            finished.extend(running[done].mean(axis=1))
            running[done] = 0.0
            steps.append(
                (
                    obs,
                    action,
                    logp,
                    value,
                    torch.as_tensor(reward, dtype=torch.float32),
                    torch.as_tensor(done),
                )
            )
            obs = torch.as_tensor(np.stack([obs_dict[a] for a in agents], 1))
        history.append(float(np.mean(finished)) if finished else float("nan"))
        with torch.no_grad():
            next_value = model(obs)[1]
        advantages, returns = gae(steps, next_value, gamma, lam)
        batch = [torch.stack([s[i] for s in steps]).flatten(0, 2) for i in range(3)]
        update(model, optimiser, *batch, advantages.flatten(), returns.flatten(), epochs, generator)
    return history


def gae(steps: list, next_value: torch.Tensor, gamma: float, lam: float):
    advantages = torch.zeros(len(steps), *next_value.shape)
    last = torch.zeros_like(next_value)
    for t in reversed(range(len(steps))):
        _, _, _, value, reward, done = steps[t]
        # An auto-reset world's next observation starts a new episode: do not bootstrap it.
        carry = (~done).float()[:, None]
        delta = reward + gamma * next_value * carry - value
        last = delta + gamma * lam * carry * last
        advantages[t] = last
        next_value = value
    values = torch.stack([s[3] for s in steps])
    return advantages, advantages + values


def update(
    model,
    optimiser,
    obs,
    actions,
    old_logp,
    advantages,
    returns,
    epochs,
    generator,
    minibatch: int = 256,
    clip: float = 0.2,
) -> None:
    for _ in range(epochs):
        order = torch.randperm(len(obs), generator=generator)
        for start in range(0, len(obs), minibatch):
            idx = order[start : start + minibatch]
            logits, value = model(obs[idx])
            log_probs = torch.log_softmax(logits, -1)
            ratio = (log_probs.gather(-1, actions[idx, None]).squeeze(-1) - old_logp[idx]).exp()
            adv = advantages[idx]
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
            policy_loss = -torch.min(ratio * adv, ratio.clamp(1 - clip, 1 + clip) * adv).mean()
            entropy = -(log_probs.exp() * log_probs).sum(-1).mean()
            loss = policy_loss + 0.5 * (value - returns[idx]).pow(2).mean() - 0.01 * entropy
            optimiser.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 0.5)
            optimiser.step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="marec/coop-slate-v0", choices=marec_env.list_envs())
    parser.add_argument("--num-envs", type=int, default=16)
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    history = train(args.env, args.iterations, num_envs=args.num_envs, seed=args.seed)
    finite = [h for h in history if h == h]
    print(f"{args.env}: episode return per agent, first {finite[0]:.3f} → last {finite[-1]:.3f}")


if __name__ == "__main__":
    main()
