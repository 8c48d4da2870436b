"""DMARL's learner: synchronous advantage actor-critic (A2C) per agent, on one node or many.

Why A2C and not PPO-clip: DMARL's distributed step is "every node computes a local policy
gradient, the nodes combine them, every node applies the same combined gradient". A2C makes
exactly one gradient step per rollout, so that step *is* the exchanged quantity: the mean of
W nodes' gradients of equal-sized rollouts is the gradient of the concatenated rollout, and
a 2-node update equals a 1-node update on twice the data (tested). PPO's several epochs of
shuffled minibatches would make each node's minibatch composition, not just its data, part
of the result, and the market is close to a contextual bandit (a page's value hardly depends
on later pages), where PPO's sample reuse buys little.

Per agent i (agents learn alone, from their own reward, like IQL; the stacked weights of
:class:`agents.dqn.StackedMLP` hold N separate networks, nothing is shared across agents):

- actor π_i(a | o) = softmax over the *allowed* actions of an MLP's logits (masked logits
  are set to a large negative number: they get probability 0 and no gradient);
- critic V_i(o), a separate MLP;
- every ``rollout_steps`` env steps: GAE(λ) advantages, bootstrapped through truncations and
  not through terminations; loss = −Σ logπ·Â − ``ent_coef``·H + ``vf_coef``·(R − V)², each a
  mean over the rollout; per-agent gradient-norm clip; Adam.

Distributed: when ``torch.distributed`` is initialised (see :mod:`agents.dmarl.trainer`) the
learner joins the default process group through :class:`agents.dmarl.comm.Exchange` and the
``sharing`` mode says what crosses the network: ``all`` (average gradients), ``graph``
(consensus on parameters with ring/full neighbours), ``none`` (nothing). Advantage
normalisation uses the statistics of all nodes' advantages in ``all`` mode (the returns that
go with the gradients), so that it too matches the single-node update on the concatenated
batch. Randomness: the network initialisation uses a torch.Generator seeded from the
learner's numpy Generator; action sampling uses the numpy Generator (Gumbel-max).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from agents import checkpoint
from agents.base import BaseLearner, Batch, EnvInfo, Transition, check_transition
from agents.dmarl.comm import GRAPHS, SHARING, Exchange
from agents.dqn import StackedMLP
from agents.params import check, positive, probability

MASKED_LOGIT = -1e9
"""Finite, so that probability × log-probability of a masked action is 0, not NaN."""


@dataclass(frozen=True)
class DMARLParams:
    """Hyper-parameters of DMARL (A2C per agent with gradient sharing across nodes)."""

    lr: float = 3e-3
    """Adam learning rate."""
    gamma: float = 0.9
    """Discount γ."""
    gae_lambda: float = 0.95
    """GAE λ (1 = Monte-Carlo returns, 0 = one-step TD)."""
    rollout_steps: int = 16
    """Env steps (of all B worlds of a node) per gradient update."""
    hidden: tuple[int, ...] = (64, 64)
    """Hidden layer widths of each agent's actor and of its critic."""
    ent_coef: float = 0.01
    """Weight of the policy-entropy bonus."""
    vf_coef: float = 0.5
    """Weight of the critic's squared error."""
    max_grad_norm: float = 1.0
    """Per-agent gradient norm clip (applied to the combined gradient)."""
    normalize_advantages: bool = True
    """Standardise advantages per agent (over all nodes' rollouts in ``all`` mode)."""
    sharing: str = "all"
    """What the nodes exchange: ``all`` (average gradients), ``graph`` (average parameters
    with neighbours), ``none`` (nothing: W independent replicas)."""
    graph: str = "ring"
    """Communication graph of ``graph`` sharing: ``ring`` or ``full``."""
    bucket_kb: int = 256
    """Gradients are flattened into buckets of at most this many KiB per all-reduce."""
    torch_threads: int = 1
    """Calls ``torch.set_num_threads`` (process-wide) when built; 0 leaves it. Tiny networks
    are latency-bound: extra intra-op threads only contend with the env and the peers."""

    def __post_init__(self) -> None:
        positive("dmarl", "lr", self.lr)
        probability("dmarl", "gamma", self.gamma)
        probability("dmarl", "gae_lambda", self.gae_lambda)
        check(self.rollout_steps >= 1, "dmarl", "rollout_steps", self.rollout_steps, "an int >= 1")
        check(len(self.hidden) >= 1 and all(h >= 1 for h in self.hidden), "dmarl", "hidden",
              self.hidden, "a non-empty tuple of positive ints")  # fmt: skip
        for name in ("ent_coef", "vf_coef"):
            value = getattr(self, name)
            check(np.isfinite(value) and value >= 0, "dmarl", name, value, "a float >= 0")
        positive("dmarl", "max_grad_norm", self.max_grad_norm)
        check(self.sharing in SHARING, "dmarl", "sharing", self.sharing, ", ".join(SHARING))
        check(self.graph in GRAPHS, "dmarl", "graph", self.graph, ", ".join(GRAPHS))
        check(self.bucket_kb >= 1, "dmarl", "bucket_kb", self.bucket_kb, "an int >= 1")
        check(self.torch_threads >= 0, "dmarl", "torch_threads", self.torch_threads, ">= 0")


class ActorCritic(nn.Module):
    """N agents' actors and critics, stacked: obs (N, B, D) → logits (N, B, A), values (N, B)."""

    def __init__(self, n: int, obs_dim: int, n_actions: int, hidden: tuple[int, ...],
                 generator: torch.Generator) -> None:  # fmt: skip
        super().__init__()
        self.actor = StackedMLP(n, [obs_dim, *hidden, n_actions], generator)
        self.critic = StackedMLP(n, [obs_dim, *hidden, 1], generator)
        with torch.no_grad():  # small initial logits: start near the uniform policy
            self.actor.weights[-1].mul_(0.01)
            self.actor.biases[-1].zero_()

    def forward(self, obs: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.actor(obs).masked_fill(~masks, MASKED_LOGIT)
        return torch.log_softmax(logits, dim=-1), self.critic(obs).squeeze(-1)


def agent_major(x: np.ndarray) -> torch.Tensor:
    """(T, B, N, ...) numpy → (N, T·B, ...) tensor."""
    t, b, n = x.shape[:3]
    moved = np.moveaxis(x, 2, 0).reshape(n, t * b, *x.shape[3:])
    return torch.from_numpy(np.ascontiguousarray(moved))


def gae(rewards: np.ndarray, values: np.ndarray, next_values: np.ndarray,
        terminated: np.ndarray, done: np.ndarray, gamma: float,
        lam: float) -> np.ndarray:  # fmt: skip
    """GAE(λ) advantages, all (T, B, N); ``terminated``/``done`` (T, B) cut bootstrap/trace."""
    adv = np.zeros_like(rewards)
    running = np.zeros_like(rewards[0])
    for t in reversed(range(len(rewards))):
        alive = 1.0 - terminated[t][:, None]
        delta = rewards[t] + gamma * alive * next_values[t] - values[t]
        running = delta + gamma * lam * (1.0 - done[t][:, None]) * running
        adv[t] = running
    return adv


class DMARL(BaseLearner):
    """A2C per agent; gradients or parameters shared across nodes. See the module docstring."""

    name = "dmarl"
    version = 1

    def __init__(self, info: EnvInfo, params: DMARLParams, rng: np.random.Generator) -> None:
        super().__init__(info, params, rng)
        if params.torch_threads:
            torch.set_num_threads(params.torch_threads)
        self.torch_rng = torch.Generator().manual_seed(int(rng.integers(2**62)))
        self.net = ActorCritic(self.n_agents, info.obs_dim, info.n_actions, params.hidden,
                               self.torch_rng)  # fmt: skip
        self.exchange = Exchange(params.sharing, params.graph, params.bucket_kb * 1024)
        self.exchange.broadcast_parameters(self.net)  # identical start on every node
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=params.lr)
        self.rollout: list[Transition] = []

    def _forward(self, obs: np.ndarray, masks: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.from_numpy(np.ascontiguousarray(obs.transpose(1, 0, 2), dtype=np.float32))
        m = torch.from_numpy(np.ascontiguousarray(masks.transpose(1, 0, 2)))
        return self.net(x, m)

    def act(self, batch: Batch, explore: bool = True) -> np.ndarray:
        with torch.no_grad():
            logp, _ = self._forward(batch.obs, batch.masks)
        logits = logp.numpy().transpose(1, 0, 2)  # (B, N, A)
        logits = np.where(batch.masks, logits, -np.inf)
        if explore:  # Gumbel-max: a sample of softmax(logits), never a masked action
            logits = logits + self.rng.gumbel(size=logits.shape)
        return logits.argmax(axis=-1)

    def observe(self, transition: Transition) -> None:
        check_transition(transition, self.name)
        self.rollout.append(transition)
        self.steps_seen += len(transition.rewards)

    def update(self) -> int:
        if len(self.rollout) < self.params.rollout_steps:
            return 0
        rollout, self.rollout = self.rollout, []
        self.gradient_step(rollout)
        return 1

    def gradient_step(self, rollout: list[Transition]) -> dict[str, float]:
        """One A2C update from a rollout (a list of T transitions of B worlds); the combined
        gradient (``all``) or the consensus (``graph``) happens here. Returns loss terms."""
        p = self.params
        self.exchange.bytes.start_update()
        keys = ("obs", "masks", "actions", "rewards", "next_obs", "next_masks")
        stack = {k: np.stack([getattr(tr, k) for tr in rollout]) for k in keys}
        terminated = np.stack([tr.terminated for tr in rollout]).astype(np.float32)
        done = np.maximum(terminated, np.stack([tr.truncated for tr in rollout]))
        t, b, n = stack["rewards"].shape
        with torch.no_grad():
            values = self._values(stack["obs"], stack["masks"])
            next_values = self._values(stack["next_obs"], stack["next_masks"])
        adv = gae(stack["rewards"], values, next_values, terminated, done, p.gamma, p.gae_lambda)
        returns = torch.from_numpy(np.moveaxis(adv + values, 2, 0).reshape(n, t * b))
        advantages = agent_major(adv)
        if p.normalize_advantages:
            advantages = self._normalise(advantages)
        logp, value = self.net(agent_major(stack["obs"]), agent_major(stack["masks"]))
        taken = logp.gather(2, agent_major(stack["actions"]).unsqueeze(2)).squeeze(2)
        entropy = -(logp.exp() * logp).sum(-1)  # (N, T·B); masked actions contribute 0
        policy_loss = -(taken * advantages).mean(1)
        value_loss = (returns - value).pow(2).mean(1)
        loss = (policy_loss + p.vf_coef * value_loss - p.ent_coef * entropy.mean(1)).sum()
        self.optimizer.zero_grad()
        loss.backward()
        self.exchange.average_gradients(self.net)
        self._clip_per_agent()
        self.optimizer.step()
        self.exchange.consensus(self.net)
        self.updates += 1
        return {"policy_loss": float(policy_loss.detach().mean()),
                "value_loss": float(value_loss.detach().mean()),
                "entropy": float(entropy.detach().mean())}  # fmt: skip

    def _values(self, obs: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """Critic values (T, B, N) of stacked observations (T, B, N, D)."""
        t, b, n = obs.shape[:3]
        _, v = self.net(agent_major(obs), agent_major(masks))
        return np.moveaxis(v.numpy().reshape(n, t, b), 0, 2).astype(np.float32)

    def _normalise(self, adv: torch.Tensor) -> torch.Tensor:
        """Standardise each agent's advantages with the statistics of every node sharing."""
        count = torch.full((adv.shape[0],), float(adv.shape[1]))
        stats = torch.stack([adv.sum(1), adv.pow(2).sum(1), count], 1).double()
        total, squares, count = self.exchange.sum_statistics(stats).unbind(1)
        mean = total / count
        std = (squares / count - mean.pow(2)).clamp(min=0).sqrt()
        return ((adv - mean[:, None].float()) / (std[:, None].float() + 1e-8)).float()

    def _clip_per_agent(self) -> None:
        grads = [q.grad for q in self.net.parameters() if q.grad is not None]
        sq = sum(g.pow(2).flatten(1).sum(1) for g in grads)  # (N,): each agent's own norm
        scale = (self.params.max_grad_norm / (sq.sqrt() + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(scale.view(-1, *([1] * (g.dim() - 1))))

    # -- checkpoints -----------------------------------------------------------------
    def _arrays(self) -> dict[str, np.ndarray]:
        return {k: v.detach().numpy().copy() for k, v in self.net.state_dict().items()}

    def save(self, path: str) -> None:
        header = self.header()
        header["state"]["exchange"] = self.exchange.counters()
        tensors = {"net": self.net.state_dict(), "optimizer": self.optimizer.state_dict(),
                   "torch_rng": self.torch_rng.get_state()}  # fmt: skip
        checkpoint.save_torch(path, header, tensors)

    def load(self, path: str) -> None:
        header, tensors = checkpoint.load_torch(path)
        checkpoint.check_header(header, self.name, self.version, self.info.header(),
                                asdict(self.params))  # fmt: skip
        try:
            self.net.load_state_dict(tensors["net"])
            self.optimizer.load_state_dict(tensors["optimizer"])
            self.torch_rng.set_state(tensors["torch_rng"])
        except (KeyError, RuntimeError, ValueError) as exc:
            raise checkpoint.CheckpointError(f"{path}: network state does not fit ({exc})") from exc
        self._set_state(header["state"])
        self.rollout = []  # a rollout in progress is not saved: learning resumes at a boundary
