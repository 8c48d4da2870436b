"""Deep MAQ-L: a deep coordination graph (Böhmer, Kurin & Whiteson, ICML 2020) with max-plus.

The joint action value decomposes over a coordination graph G = (agents, E), as in tabular
and linear MAQ-L, but both kinds of term are neural networks *shared by all agents and all
edges* (parameter sharing)::

    Q(s, a) = Σ_i f(o_i)[a_i] + Σ_(i,j)∈E f_ij(a_i, a_j)
    f_ij(a_i, a_j) = ½ (g(o_i, o_j)[a_i, a_j] + g(o_j, o_i)[a_j, a_i])

f (the utility network) maps one agent's observation to A values; g (the payoff network)
maps a pair of observations to an A × A table, symmetrised so that f_ij does not depend on
which end of the edge is called i. With ``pair_rank`` R ≥ 1 g outputs two A × R factors
and the table is their product (low-rank payoffs, Böhmer et al. 2020): 2·A·R outputs to fit
instead of A² (1,024 per edge on the v1 slate). Two learned pair bits can add to it, or
replace it (``pair_network=False``):

- ``same_item``: u · "the two actions show the same item", read from the shared candidate
  board (``cand_rival_rank``) as linear MAQ-L reads it
  (:meth:`agents.features.CandidateFeatures.same_item`). A network can only learn that bit
  from two raw observations by matching board entries over A × A action pairs; given as an
  input, duplicates cost what they cost after a few hundred updates.
- ``same_level``: Σ_l v_l · "both actions claim level l" (action = candidate × L + level; in
  the positioned slate the level is the claimed position, so v_l prices a collision there).

Acting is max-plus on G (:func:`agents.maxplus.max_plus`,
every message counted in ``messages`` and kept in ``message_log`` like the other MAQ-L
variants); exploration is ε-greedy over the joint action of each connected component.

Learning, ``credit="agent"`` (default): agent-wise, as in sparse cooperative Q-learning (Kok
& Vlassis 2006): agent k's share of Q is Q_k = f(o_k)[a_k] + ½ Σ_(k,j)∈E f_kj(a_k, a_j), and
its TD error uses its own reward and the joint greedy action a* at s' (max-plus on the online
networks, double Q)::

    y_k = r_k + γ (1 − terminated) Q_k^target(s', a*)

``credit="joint"``: the deep coordination graph's own loss (Böhmer et al. 2020), one TD error
per world on the summed value, Σ_k Q_k against Σ_k y_k: each utility learns its part of the
team's value instead of the whole of it (with no edges this is VDN, Sunehag et al. 2018).
At γ = 0 the target is the reward and the max-plus pass over s' is skipped.

Huber loss summed over agents, Adam on both networks, one gradient-norm clip, a hard target
copy every ``target_update_interval`` steps; replay, schedule and seeding are DQN's
(:mod:`agents.dqn`). With ``graph="none"`` and the agent-wise loss there is no pair term and
Q_k = f(o_k)[a_k]: the learner is DQN-IQL with one network shared by all agents (``dqn``
with ``shared=True``) step for step. It maximises the team's reward: on envs that pay agents
differently it is refused unless ``maximise_team_reward`` (capability
supports_competitive=False).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from agents.acting import MaxPlusActing, MaxPlusParams
from agents.base import BaseLearner, Batch, EnvInfo
from agents.dqn import (
    DQNParams,
    Replay,
    ReplayTraining,
    StackedMLP,
    candidate_input,
    network_sizes,
)
from agents.exploration import epsilon_greedy, linear_schedule
from agents.features import CandidateFeatures
from agents.maxplus import CoordinationGraph, max_plus
from agents.params import check

CREDITS = ("agent", "joint")


@dataclass(frozen=True)
class MAQLDeepParams(DQNParams, MaxPlusParams):
    """Hyper-parameters of deep MAQ-L (the utility network's are DQN's, acting is max-plus;
    ``graph="none"`` is shared DQN-IQL)."""

    pair_hidden: tuple[int, ...] = (64,)
    """Hidden layer widths of the payoff network g(o_i, o_j)."""
    pair_rank: int = 0
    """0: g outputs a full A × A table per edge; R ≥ 1: g outputs two A × R factors and the
    table is their product (low-rank payoffs, Böhmer et al. 2020), 2·A·R outputs to fit."""
    pair_network: bool = True
    """False: no payoff network; the pair term is only the learned weights of the bits
    below (``same_item``, ``same_level``)."""
    same_item: bool = True
    """Add the learned pair term u · "the two actions show the same item" (read from the
    ``cand_rival_rank`` board; ignored on envs without it, e.g. the matrix game)."""
    same_level: bool = False
    """Add Σ_l v_l · "both actions claim level l" (one learned weight per level; in the
    positioned slate a level is the claimed position, so v_l prices a collision on
    position l). Needs the candidate board's layout; ignored where actions have one level."""
    credit: str = "agent"
    """``agent``: each agent's share Q_k is fitted to its own reward (sparse cooperative
    Q-learning, Kok & Vlassis 2006; with no edges: DQN-IQL). ``joint``: the summed value
    Σ_k Q_k is fitted to the summed reward (the deep coordination graph's loss, Böhmer et
    al. 2020; with no edges: VDN)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        who = "maql-deep"
        self.check_max_plus(who)
        check(all(h >= 1 for h in self.pair_hidden), who, "pair_hidden", self.pair_hidden,
              "a tuple of positive ints")  # fmt: skip
        check(self.pair_rank >= 0, who, "pair_rank", self.pair_rank, "an int >= 0")
        check(self.credit in CREDITS, who, "credit", self.credit, str(list(CREDITS)))


class CoordinationNet(nn.Module):
    """Utility network f and payoff network g, each one MLP shared by all agents / edges,
    plus the learned weights of the pair bits (same item, same level)."""

    def __init__(self, info: EnvInfo, params: MAQLDeepParams, gen: torch.Generator,
                 levels: int = 1) -> None:  # fmt: skip
        super().__init__()
        a, d = info.n_actions, info.obs_dim
        self.n_actions, self.rank = a, params.pair_rank
        self.inputs = candidate_input(info, params, "maql-deep")
        self.utility = StackedMLP(1, network_sizes(info, params, self.inputs), gen)
        self.payoff: StackedMLP | None = None
        if params.pair_network:
            width = 2 * a * self.rank if self.rank else a * a
            self.payoff = StackedMLP(1, [2 * d, *params.pair_hidden, width], gen)
        # (1, 1): stacked like StackedMLP parameters, for the per-stack gradient clip.
        self.same_weight = nn.Parameter(torch.zeros((1, 1)))
        self.level_weight: nn.Parameter | None = None
        if params.same_level and levels > 1:
            self.level_weight = nn.Parameter(torch.zeros((1, levels)))
            onehot = (torch.arange(a)[None, :] % levels == torch.arange(levels)[:, None]).float()
            bits = onehot[:, :, None] * onehot[:, None, :]  # [a_i, a_j both at level l]
            self.register_buffer("level_bits", bits, persistent=False)  # (L, A, A)

    def local(self, obs: torch.Tensor) -> torch.Tensor:
        """(N, B, A) f(o_i) of agent-major observations (N, B, D)."""
        n, b, _ = obs.shape
        x = obs if self.inputs is None else self.inputs(obs)
        return self.utility(x.reshape(1, -1, x.shape[-1])).reshape(n, b, -1)

    def pairs(
        self, obs: torch.Tensor, edges: list[tuple[int, int]], same: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(E, B, A, A) symmetrised f_ij(a_i, a_j) of every edge (i, j); ``same`` (E, B, A, A)
        the same-item bits of each edge's action pairs, or None."""
        a = self.n_actions
        payoff = obs.new_zeros((len(edges), obs.shape[1], a, a))
        if not edges:
            return payoff
        if self.payoff is not None:
            payoff = payoff + self._network_payoffs(obs, edges)
        if same is not None:
            payoff = payoff + self.same_weight[0, 0] * same
        if self.level_weight is not None:
            payoff = payoff + torch.einsum("l,lxy->xy", self.level_weight[0], self.level_bits)
        return payoff

    def pairs_at(self, obs: torch.Tensor, edges: list[tuple[int, int]], actions: torch.Tensor,
                 same_at: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        """(E, B) f_ij(a_i, a_j) of every edge at the joint action ``actions`` (N, B): the
        entries of :meth:`pairs` that a TD step reads, without building the A × A tables
        unless the payoff network needs them. ``same_at`` (E, B): the same-item bits there."""
        i, j = (torch.tensor(side) for side in zip(*edges))
        first, second = actions[i], actions[j]  # (E, B)
        value = obs.new_zeros(first.shape)
        if self.payoff is not None:
            table = self._network_payoffs(obs, edges).flatten(2)  # (E, B, A·A)
            taken = (first * self.n_actions + second).unsqueeze(2)
            value = value + table.gather(2, taken).squeeze(2)
        if same_at is not None:
            value = value + self.same_weight[0, 0] * same_at
        if self.level_weight is not None:
            levels = self.level_weight.shape[1]
            level = first % levels
            weight = self.level_weight[0][level]
            value = value + torch.where(level == second % levels, weight, 0.0)
        return value

    def _network_payoffs(self, obs: torch.Tensor, edges: list[tuple[int, int]]) -> torch.Tensor:
        """½ (g(o_i, o_j)[a_i, a_j] + g(o_j, o_i)[a_j, a_i]), g full or low-rank."""
        assert self.payoff is not None
        i, j = (torch.tensor(side) for side in zip(*edges))
        forward = torch.cat([obs[i], obs[j]], dim=-1)  # (E, B, 2D)
        backward = torch.cat([obs[j], obs[i]], dim=-1)
        e, b, two_d = forward.shape
        a = self.n_actions
        both = self.payoff(torch.cat([forward, backward]).reshape(1, 2 * e * b, two_d))
        if self.rank:
            factors = both.reshape(2, e, b, 2, a, self.rank)
            both = factors[:, :, :, 0] @ factors[:, :, :, 1].transpose(-1, -2)
        both = both.reshape(2, e, b, a, a)
        return 0.5 * (both[0] + both[1].transpose(-1, -2))


class MAQLDeep(ReplayTraining, BaseLearner):
    """Deep coordination graph with max-plus; see the module docstring."""

    name = "maql-deep"
    version = 3  # 2: the same-item pair weight; 3: the network is optional, level weights

    def __init__(self, info: EnvInfo, params: MAQLDeepParams, rng: np.random.Generator) -> None:
        super().__init__(info, params, rng)
        if params.torch_threads:
            torch.set_num_threads(params.torch_threads)
        self.torch_rng = torch.Generator().manual_seed(int(rng.integers(2**62)))
        self.graph = CoordinationGraph(self.n_agents, params.graph)
        self.edges = self.graph.edges
        wants_bits = (params.same_item or params.same_level) and self.edges
        candidates = CandidateFeatures(info, needed_by=self.name) \
            if wants_bits and _has_board(info) else None  # fmt: skip
        self.features = candidates if params.same_item else None
        levels = candidates.levels if candidates is not None else 1
        self.online = CoordinationNet(info, params, self.torch_rng, levels)
        self.target = copy.deepcopy(self.online)
        self.optimizer = torch.optim.Adam(self.online.parameters(), lr=params.lr)
        self.replay = Replay(params.buffer_size, self.n_agents, info.obs_dim, info.n_actions)
        self.acting = MaxPlusActing(self.graph, params)
        self._calls = 0

    @property
    def epsilon(self) -> float:
        p = self.params
        return linear_schedule(p.epsilon_start, p.epsilon_end, p.epsilon_decay_steps,
                               self.steps_seen)  # fmt: skip

    def _same(self, obs: torch.Tensor) -> torch.Tensor | None:
        """(E, B, A, A) float same-item bits of every edge, from agent-major obs (N, B, D)."""
        if self.features is None:
            return None
        batch_major = obs.numpy().transpose(1, 0, 2)
        same = np.stack([self.features.same_item(batch_major, i, j) for i, j in self.edges])
        return torch.from_numpy(same.astype(np.float32))

    def _same_at(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor | None:
        """(E, B) float same-item bits of every edge at the joint action (N, B)."""
        if self.features is None:
            return None
        batch_major = obs.numpy().transpose(1, 0, 2)
        rows = np.arange(batch_major.shape[0])
        candidate = self.features.candidate_of[actions.numpy()]  # (N, B)
        same = [self.features.same_candidates(batch_major, i, j)[rows, candidate[i], candidate[j]]
                for i, j in self.edges]  # fmt: skip
        return torch.from_numpy(np.stack(same).astype(np.float32))

    # -- acting: max-plus on the graph -----------------------------------------------------
    def _terms(self, net: CoordinationNet, obs: torch.Tensor) -> tuple[np.ndarray, list]:
        """(B, N, A) utilities and per-edge (B, A, A) payoffs, as float64 arrays."""
        with torch.no_grad():
            local = net.local(obs).numpy().transpose(1, 0, 2).astype(np.float64)
            pair = list(net.pairs(obs, self.edges, self._same(obs)).numpy().astype(np.float64))
        return local, pair

    def act(self, batch: Batch, explore: bool = True) -> np.ndarray:
        obs = torch.from_numpy(np.ascontiguousarray(batch.obs.transpose(1, 0, 2)))
        actions, messages = self.acting.choose(*self._terms(self.online, obs), batch.masks)
        self.messages += messages
        if not explore:
            return actions
        return epsilon_greedy(actions, batch.masks, self.epsilon, self.acting.groups, self.rng)

    # -- learning: agent-wise TD on Q_k ----------------------------------------------------
    def _agent_values(self, net: CoordinationNet, obs: torch.Tensor,
                      actions: torch.Tensor) -> torch.Tensor:  # fmt: skip
        """(N, B) Q_k(s, a): own utility plus half of each incident edge's payoff."""
        value = net.local(obs).gather(2, actions.unsqueeze(2)).squeeze(2)
        if not self.edges:
            return value
        pair = net.pairs_at(obs, self.edges, actions, self._same_at(obs, actions))
        shares = torch.zeros_like(value)
        for e, (i, j) in enumerate(self.edges):
            half = 0.5 * pair[e]
            shares = shares.index_add(0, torch.tensor([i, j]), torch.stack([half, half]))
        return value + shares

    def _gradient_step(self, b: dict[str, torch.Tensor]) -> None:
        q = self._agent_values(self.online, b["obs"], b["actions"])  # (N, batch)
        y = b["rewards"] if self.params.gamma == 0.0 else self._td_target(b)
        if self.params.credit == "joint":  # Σ_k Q_k against Σ_k y_k, one loss per world
            q, y = q.sum(dim=0, keepdim=True), y.sum(dim=0, keepdim=True)
        loss = nn.functional.smooth_l1_loss(q, y, reduction="none").mean(dim=1).sum()
        self.optimizer.zero_grad()
        loss.backward()
        grads = [p.grad for p in self.online.parameters() if p.grad is not None]
        norm = sum(g.pow(2).flatten(1).sum(1) for g in grads).sqrt()  # one shared network
        scale = (self.params.max_grad_norm / (norm + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(scale.view(-1, *([1] * (g.dim() - 1))))
        self.optimizer.step()

    def _td_target(self, b: dict[str, torch.Tensor]) -> torch.Tensor:
        """(N, batch) y_k = r_k + γ (1 − terminated) Q_k^target(s', a*), a* by max-plus (γ = 0:
        the caller uses r_k and skips this: the same target at a fraction of the cost)."""
        with torch.no_grad():
            chooser = self.online if self.params.double_q else self.target
            masks = b["next_masks"].numpy().transpose(1, 0, 2)
            local, pair = self._terms(chooser, b["next_obs"])  # a target: messages not counted
            p = self.params
            best = max_plus(local, pair, self.graph, masks, p.rounds, p.normalise).actions
            best = torch.from_numpy(np.ascontiguousarray(best.T))
            v_next = self._agent_values(self.target, b["next_obs"], best)
            return b["rewards"] + self.params.gamma * (1.0 - b["terminated"]) * v_next

    # -- checkpoints (ReplayTraining's, plus the max-plus float count) ---------------------
    checkpoint_counters = ("calls", "floats")

    def _state(self) -> dict:
        return {**super()._state(), "floats": self.acting.floats}

    def _set_state(self, state: dict) -> None:
        super()._set_state(state)
        self.acting.floats = int(state["floats"])


def _has_board(info: EnvInfo) -> bool:
    layout = info.obs_layout or {}
    return "cand_rival_rank" in layout and "cand_valid" in layout
