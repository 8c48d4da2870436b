"""Independent deep Q-learning (DQN per agent): replay buffer, target network, double Q.

Each agent has its own MLP Q-network, target network and replay data, and learns alone from
its own reward (works with cooperative, mixed and competitive rewards). For speed the N
networks are stored stacked — weights of shape (N, in, out), evaluated with one batched
matmul — which is arithmetically the same as N separate networks: no parameter, gradient or
optimizer statistic is shared (Adam is element-wise, gradient clipping is per agent).

Target (double Q, van Hasselt et al. 2016)::

    a* = argmax_a Q_online(s', a)          (allowed actions only)
    y  = r + γ (1 − terminated) Q_target(s', a*)

Huber loss, Adam, a hard target copy every ``target_update_interval`` gradient steps,
ε linear from ``epsilon_start`` to ``epsilon_end``. Randomness: the network initialisation
and nothing else uses a ``torch.Generator`` seeded from the learner's numpy Generator;
replay sampling and exploration use the numpy Generator. No global RNG is touched.
Checkpoints hold the networks, the optimizer and both RNG states, not the replay buffer.
"""

from __future__ import annotations

import copy
import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from agents import checkpoint
from agents.base import (
    BaseLearner,
    Batch,
    EnvInfo,
    Transition,
    check_transition,
)
from agents.candidate_input import UTILITY_INPUTS, CandidateInput
from agents.exploration import epsilon_greedy, linear_schedule
from agents.params import check, positive, probability


@dataclass(frozen=True)
class DQNParams:
    """Hyper-parameters of independent DQN."""

    lr: float = 1e-3
    """Adam learning rate."""
    gamma: float = 0.9
    """Discount γ."""
    hidden: tuple[int, ...] = (64, 64)
    """Hidden layer widths of each agent's Q-network."""
    buffer_size: int = 50_000
    """Replay capacity in world-steps."""
    batch_size: int = 64
    """Transitions per gradient step."""
    learning_starts: int = 500
    """World-steps collected before the first gradient step."""
    train_freq: int = 1
    """Gradient rounds happen every ``train_freq`` calls of update() (one per env step)."""
    gradient_steps: int = 1
    """Gradient steps per round."""
    target_update_interval: int = 200
    """Gradient steps between hard copies of the online network into the target network."""
    double_q: bool = True
    """Pick a* with the online network (double Q) instead of the target network."""
    epsilon_start: float = 1.0
    """ε at the first step."""
    epsilon_end: float = 0.05
    """ε after ``epsilon_decay_steps`` world-steps."""
    epsilon_decay_steps: int = 5000
    """World-steps of linear ε decay."""
    max_grad_norm: float = 10.0
    """Per-agent gradient norm clip."""
    torch_threads: int = 1
    """Calls ``torch.set_num_threads`` (process-wide) when the learner is built; 0 leaves it.
    These networks are tiny and latency-bound: on 2 busy cores, 2 intra-op threads made a
    step 8× slower than 1."""
    shared: bool = False
    """One Q-network for all agents (parameter sharing; each still learns from its own
    reward). The observation must tell agents apart (marec's carries the agent's one-hot)."""
    utility_input: str = "observation"
    """``observation``: the network maps the observation to one value per action;
    ``candidate``: one network scores each action from its candidate's features, shared
    across candidates (:mod:`agents.candidate_input`; needs the market's observation layout)."""

    def __post_init__(self) -> None:
        positive("dqn", "lr", self.lr)
        probability("dqn", "gamma", self.gamma)
        check(len(self.hidden) >= 1 and all(h >= 1 for h in self.hidden), "dqn", "hidden",
              self.hidden, "a non-empty tuple of positive ints")  # fmt: skip
        for name in ("buffer_size", "batch_size", "train_freq", "gradient_steps",
                     "target_update_interval"):  # fmt: skip
            check(getattr(self, name) >= 1, "dqn", name, getattr(self, name), "an int >= 1")
        check(self.learning_starts >= 0, "dqn", "learning_starts", self.learning_starts, ">= 0")
        check(self.epsilon_decay_steps >= 0, "dqn", "epsilon_decay_steps",
              self.epsilon_decay_steps, ">= 0")  # fmt: skip
        probability("dqn", "epsilon_start", self.epsilon_start)
        probability("dqn", "epsilon_end", self.epsilon_end)
        positive("dqn", "max_grad_norm", self.max_grad_norm)
        check(self.torch_threads >= 0, "dqn", "torch_threads", self.torch_threads, ">= 0")
        check(self.utility_input in UTILITY_INPUTS, "dqn", "utility_input", self.utility_input,
              ", ".join(UTILITY_INPUTS))  # fmt: skip


def candidate_input(info: EnvInfo, params: DQNParams, who: str) -> CandidateInput | None:
    """The per-action input builder when ``params.utility_input`` is ``candidate``."""
    return CandidateInput(info, who) if params.utility_input == "candidate" else None


def network_sizes(info: EnvInfo, params: DQNParams, inputs: CandidateInput | None) -> list[int]:
    """Layer widths of a Q-network: observation → A values, or action features → 1 value."""
    if inputs is None:
        return [info.obs_dim, *params.hidden, info.n_actions]
    return [inputs.dim, *params.hidden, 1]


class StackedMLP(nn.Module):
    """N independent MLPs; input (N, B, in) → output (N, B, out)."""

    def __init__(self, n: int, sizes: list[int], generator: torch.Generator) -> None:
        super().__init__()
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in itertools.pairwise(sizes):
            bound = 1.0 / math.sqrt(fan_in)  # PyTorch's nn.Linear default range
            w = torch.empty(n, fan_in, fan_out).uniform_(-bound, bound, generator=generator)
            b = torch.empty(n, 1, fan_out).uniform_(-bound, bound, generator=generator)
            self.weights.append(nn.Parameter(w))
            self.biases.append(nn.Parameter(b))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = len(self.weights) - 1
        for k, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(b, x, w)
            if k < last:
                x = torch.relu(x)
        return x


class Replay:
    """Ring buffer of world-steps, all agents of a world-step in one row."""

    def __init__(self, capacity: int, n: int, obs_dim: int, n_actions: int) -> None:
        self.capacity, self.size, self.pos = capacity, 0, 0
        self.obs = np.zeros((capacity, n, obs_dim), np.float32)
        self.next_obs = np.zeros((capacity, n, obs_dim), np.float32)
        self.actions = np.zeros((capacity, n), np.int64)
        self.rewards = np.zeros((capacity, n), np.float32)
        self.next_masks = np.zeros((capacity, n, n_actions), bool)
        self.terminated = np.zeros(capacity, np.float32)

    def add(self, tr: Transition) -> None:
        rows = (self.pos + np.arange(len(tr.rewards))) % self.capacity
        self.obs[rows], self.next_obs[rows] = tr.obs, tr.next_obs
        self.actions[rows], self.rewards[rows] = tr.actions, tr.rewards
        self.next_masks[rows], self.terminated[rows] = tr.next_masks, tr.terminated
        self.pos = int((self.pos + len(rows)) % self.capacity)
        self.size = min(self.size + len(rows), self.capacity)

    def sample(self, rng: np.random.Generator, batch: int) -> dict[str, torch.Tensor]:
        idx = rng.integers(0, self.size, batch)

        def agent_major(x: np.ndarray) -> torch.Tensor:  # (batch, N, ...) -> (N, batch, ...)
            return torch.from_numpy(np.ascontiguousarray(np.swapaxes(x[idx], 0, 1)))

        return {
            "obs": agent_major(self.obs),
            "next_obs": agent_major(self.next_obs),
            "actions": agent_major(self.actions),
            "rewards": agent_major(self.rewards),
            "next_masks": agent_major(self.next_masks),
            "terminated": torch.from_numpy(self.terminated[idx]),
        }


class ReplayTraining:
    """observe/update of a replay-and-target-network learner (DQN, deep MAQ-L): store each
    transition; every ``train_freq`` calls after ``learning_starts`` steps take
    ``gradient_steps`` steps of ``_gradient_step`` on replayed batches, copying the online
    network to the target every ``target_update_interval`` updates."""

    def observe(self, transition: Transition) -> None:
        check_transition(transition, self.name)
        self.replay.add(transition)
        self.steps_seen += len(transition.rewards)

    def update(self) -> int:
        self._calls += 1
        p = self.params
        if self.steps_seen < max(p.learning_starts, 1) or self._calls % p.train_freq:
            return 0
        for _ in range(p.gradient_steps):
            self._gradient_step(self.replay.sample(self.rng, p.batch_size))
            self.updates += 1
            if self.updates % p.target_update_interval == 0:
                self.target.load_state_dict(self.online.state_dict())
        return p.gradient_steps

    # -- checkpoints: networks, optimizer and torch Generator behind the JSON header -------
    checkpoint_counters: tuple[str, ...] = ("calls",)
    """Counters of ``_state`` beyond the base learner's, checked when a checkpoint loads."""

    def _state(self) -> dict:
        return {**super()._state(), "calls": self._calls}

    def _set_state(self, state: dict) -> None:
        super()._set_state(state)
        self._calls = int(state["calls"])

    def save(self, path: str) -> None:
        tensors = {"online": self.online.state_dict(), "target": self.target.state_dict(),
                   "optimizer": self.optimizer.state_dict(),
                   "torch_rng": self.torch_rng.get_state()}  # fmt: skip
        checkpoint.save_torch(path, self.header(), tensors)

    def load(self, path: str) -> None:
        """Restore a :meth:`save`; every tensor is tried on copies first, so a refused
        checkpoint (CheckpointError) leaves this learner unchanged."""
        header, tensors = checkpoint.load_torch(path)
        self._check_header(path, header)
        checkpoint.check_counters(path, header["state"], self.checkpoint_counters)
        try:
            for name in ("online", "target"):
                copy.deepcopy(getattr(self, name)).load_state_dict(tensors[name])
            check_optimizer_state(self.optimizer, tensors["optimizer"])
            copy.deepcopy(self.optimizer).load_state_dict(tensors["optimizer"])
            torch.Generator().set_state(tensors["torch_rng"])
        except (KeyError, IndexError, RuntimeError, ValueError, TypeError) as exc:
            raise checkpoint.CheckpointError(f"{path}: network state does not fit ({exc})") from exc
        self.online.load_state_dict(tensors["online"])
        self.target.load_state_dict(tensors["target"])
        self.optimizer.load_state_dict(tensors["optimizer"])
        self.torch_rng.set_state(tensors["torch_rng"])
        self._apply_state(path, header["state"])


class DQN(ReplayTraining, BaseLearner):
    """Independent DQN learners; see the module docstring."""

    name = "dqn"
    version = 1

    def __init__(self, info: EnvInfo, params: DQNParams, rng: np.random.Generator) -> None:
        super().__init__(info, params, rng)
        if params.torch_threads:
            torch.set_num_threads(params.torch_threads)
        self.torch_rng = torch.Generator().manual_seed(int(rng.integers(2**62)))
        self.inputs = candidate_input(info, params, self.name)
        sizes = network_sizes(info, params, self.inputs)
        networks = 1 if params.shared else self.n_agents
        self.online = StackedMLP(networks, sizes, self.torch_rng)
        self.target = StackedMLP(networks, sizes, self.torch_rng)
        self.target.load_state_dict(self.online.state_dict())
        self.optimizer = torch.optim.Adam(self.online.parameters(), lr=params.lr)
        self.replay = Replay(params.buffer_size, self.n_agents, info.obs_dim, info.n_actions)
        self._calls = 0

    @property
    def epsilon(self) -> float:
        p = self.params
        return linear_schedule(p.epsilon_start, p.epsilon_end, p.epsilon_decay_steps,
                               self.steps_seen)  # fmt: skip

    def act(self, batch: Batch, explore: bool = True) -> np.ndarray:
        with torch.no_grad():
            obs = torch.from_numpy(np.ascontiguousarray(batch.obs.transpose(1, 0, 2)))
            q = self._q(self.online, obs)
        q = q.numpy().transpose(1, 0, 2)  # (B, N, A)
        greedy = np.where(batch.masks, q, -np.inf).argmax(axis=-1)
        if not explore:
            return greedy
        groups = [[i] for i in range(self.n_agents)]
        return epsilon_greedy(greedy, batch.masks, self.epsilon, groups, self.rng)

    def _q(self, net: StackedMLP, obs: torch.Tensor) -> torch.Tensor:
        """(N, B, A) action values of agent-major observations (N, B, D)."""
        n, b, _ = obs.shape
        x = obs if self.inputs is None else self.inputs(obs).reshape(n, -1, self.inputs.dim)
        if self.params.shared:
            x = x.reshape(1, -1, x.shape[-1])
        return net(x).reshape(n, b, -1)

    def _gradient_step(self, b: dict[str, torch.Tensor]) -> None:
        q = self._q(self.online, b["obs"]).gather(2, b["actions"].unsqueeze(2)).squeeze(2)
        with torch.no_grad():
            chooser = self.online if self.params.double_q else self.target
            scores = self._q(chooser, b["next_obs"]).masked_fill(~b["next_masks"], -torch.inf)
            best = scores.argmax(dim=2, keepdim=True)
            v_next = self._q(self.target, b["next_obs"]).gather(2, best).squeeze(2)
            y = b["rewards"] + self.params.gamma * (1.0 - b["terminated"]) * v_next
        # sum over agents of each agent's mean loss: gradients stay per agent
        loss = nn.functional.smooth_l1_loss(q, y, reduction="none").mean(dim=1).sum()
        self.optimizer.zero_grad()
        loss.backward()
        self._clip_per_agent()
        self.optimizer.step()

    def _clip_per_agent(self) -> None:
        grads = [p.grad for p in self.online.parameters() if p.grad is not None]
        sq = sum(g.pow(2).flatten(1).sum(1) for g in grads)  # (N,)
        scale = (self.params.max_grad_norm / (sq.sqrt() + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(scale.view(-1, *([1] * (g.dim() - 1))))


def check_optimizer_state(optimizer: torch.optim.Optimizer, saved: Any) -> None:
    """Per-parameter optimizer tensors must have their parameter's shape (torch only checks
    the number of parameters, and a mis-shaped moment would fail at the next step)."""
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for index, values in dict(saved["state"]).items():
        for key, value in dict(values).items():
            shape = params[int(index)].shape
            if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape != shape:
                raise ValueError(
                    f"optimizer {key} of parameter {index} has shape {tuple(value.shape)}, "
                    f"expected {tuple(shape)}"
                )
