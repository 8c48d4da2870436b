"""Tabular IQL and MAQ-L: Q in tables over a coarse state abstraction.

**IQL** (``iql``, ``iql-sarsa``): agent i keeps Q_i(s_i, a_i) over the state abstraction of
:mod:`agents.abstraction` and ignores the other agents (they are part of its environment),
so it works unchanged with cooperative, mixed and competitive rewards. It acts by
independent argmax; the TD loop is :class:`agents.td.TDLearner`'s::

    Q_i(s_i, a_i) += α · (r_i + γ (1 − terminated) V_i(s'_i) − Q_i(s_i, a_i))

**MAQ-L** (``maql``): sparse cooperative Q-learning on a coordination graph, acting by
max-plus (Kok & Vlassis 2006). The joint Q-function is a sum of local and pairwise terms::

    Q(s, a) = Σ_i q_i(s_i, a_i) + Σ_(i,j)∈E q_ij(s_ij, a_i, a_j)

q_i is agent i's own table (IQL's); q_ij a payoff table for a pair of agents that contend
for the page, indexed by the pair state s_ij of :class:`agents.abstraction.PairStates`
(``edge_state``: ``collide`` on the markets reads which of the two agents' top candidates
are the same item) and by the two actions' rank classes (:func:`agents.features.rank_classes`:
rank 0, rank 1, lower), so each q_ij has 16 × 3 × 3 entries (``collide``) on the market
envs. On the matrix game (3 actions, constant state) it is the full 3 × 3 table. Agent k's
share of Q is Q_k = q_k + ½ Σ_{j∈Γ(k)} q_kj, and each agent keeps its own reward — the
*agent-based* update::

    a*  = max-plus argmax_a Q(s', a)                         (messages, see agents.maxplus)
    δ_k = r_k + γ (1 − terminated) Q_k(s', a*) − Q_k(s, a)
    q_k(s_k, a_k)         += α δ_k
    q_ij(s_ij, a_i, a_j)  += α (δ_i / |Γ(i)| + δ_j / |Γ(j)|)   (K&V 2006, edge-based Q_ij)

Exploration is ε-greedy on the joint action of each connected component of the graph. With
``graph="none"`` there are no edges, max-plus returns every agent's own argmax, the
components are single agents and the update is IQL's: same seed → same actions and same
tables, step for step (tests/test_learners.py checks it). Messages: two max-plus calls per
training step (the action at s, and a* at s'), one per greedy evaluation step; see
:mod:`agents.acting`.

With B > 1 worlds, the steps that land on the same table entry are averaged (not summed), so
a large batch does not multiply the learning rate; with B = 1 this is the plain update.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from agents.abstraction import EDGE_STATES, AbstractionParams, PairStates, StateAbstraction
from agents.acting import IndependentArgmax, MaxPlusActing, MaxPlusParams
from agents.base import EnvInfo
from agents.features import rank_classes
from agents.maxplus import CoordinationGraph, add_pair_shares, add_uniform_pair_shares, edge_errors
from agents.params import check
from agents.td import TDLearner, TDParams


@dataclass(frozen=True)
class IQLParams(AbstractionParams, TDParams):
    """Hyper-parameters of tabular IQL (and the local part of MAQ-L)."""

    q_init: float = 0.0
    """Initial value of every table entry."""

    def __post_init__(self) -> None:
        who = type(self).__name__
        self.check_abstraction(who)
        self.check_td(who)
        check(math.isfinite(self.q_init), who, "q_init", self.q_init, "a finite number")


@dataclass(frozen=True)
class MAQLParams(IQLParams, MaxPlusParams):
    """Hyper-parameters of MAQ-L (the local part is IQL's, acting is max-plus)."""

    edge_state: str = "auto"
    """State of the pair payoff q_ij: ``collide`` (which of the two agents' top ranks hold
    the same item, read from the ``cand_rival_rank`` board), ``contested`` (the two rank-0
    overlap bits), ``none`` (no state), ``joint`` (s_i, s_j); ``auto``: ``collide`` where the
    env has the board, else ``contested``."""
    edge_ranks: int = 2
    """Action classes of q_ij: the candidate ranks 0 … ``edge_ranks`` − 1 one class each, all
    lower ranks (any bid level) one more class; 0: every action its own class. A class pair's
    payoff is shared by its action pairs (max-plus sees the expanded A × A table)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        who = type(self).__name__
        self.check_max_plus(who)
        check(self.edge_state in EDGE_STATES, who, "edge_state", self.edge_state,
              str(list(EDGE_STATES)))  # fmt: skip
        check(self.edge_ranks >= 0, who, "edge_ranks", self.edge_ranks, "an int >= 0")


class TabularQ:
    """Q-tables q (N, S, A) and, given a coordination graph (MAQ-L), pair tables q_edge
    (E, S_ij, C, C) over ``edge_state`` pair states and ``edge_ranks`` rank classes."""

    def __init__(self, info: EnvInfo, params: IQLParams, needed_by: str,
                 graph: CoordinationGraph | None = None, edge_state: str = "auto",
                 edge_ranks: int = 2) -> None:  # fmt: skip
        self.alpha = params.alpha
        self.n_agents = len(info.agents)
        self.abstraction = StateAbstraction(info, params, needed_by=needed_by)
        shape = (self.n_agents, self.abstraction.n_states, info.n_actions)
        self.q = np.full(shape, params.q_init, dtype=np.float64)
        self._agent_index = np.arange(self.n_agents)
        self.graph = graph
        self.q_edge: np.ndarray | None = None
        if graph is not None:
            self._cls = rank_classes(info, edge_ranks)
            self.pair_states = PairStates(info, self.abstraction, graph.edges, edge_state,
                                          edge_ranks)  # fmt: skip
            n_cls = int(self._cls.max()) + 1
            shape = (len(graph.edges), self.pair_states.n_states, n_cls, n_cls)
            self.q_edge = np.zeros(shape, dtype=np.float64)

    def encode(self, obs: np.ndarray) -> np.ndarray:
        """(B, N) abstract states, then (MAQ-L, ``collide``) each edge's pair state."""
        local = self.abstraction.encode(obs)
        return local if self.graph is None else self.pair_states.encode(obs, local)

    def rows(self, states: np.ndarray) -> np.ndarray:
        """(B, N, A): each agent's Q-values in its own state."""
        return self.q[self._agent_index, states[:, : self.n_agents]]

    def pair_rows(self, states: np.ndarray) -> list[np.ndarray]:
        """Per edge (B, A, A): q_ij in each world's pair state, expanded from rank classes."""
        if self.graph is None or self.q_edge is None:
            return []
        cls = self._cls
        return [self.q_edge[e][self.pair_states.index(states, e)][:, cls][:, :, cls]
                for e in range(len(self.graph.edges))]  # fmt: skip

    def values(self, states: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """(B, N): Q_k = q_k(s_k, a_k) + ½ Σ_j q_kj(s_kj, a_k, a_j)."""
        rows = self.rows(states)
        value = np.take_along_axis(rows, actions[..., None], axis=-1)[..., 0]
        if self.graph is not None and self.q_edge is not None:
            taken = [self.q_edge[e][self.pair_states.index(states, e),
                                    self._cls[actions[:, i]], self._cls[actions[:, j]]]
                     for e, (i, j) in enumerate(self.graph.edges)]  # fmt: skip
            add_pair_shares(value, taken, self.graph)
        return value

    def uniform_values(self, states: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """(B, N): Q_k's mean over uniformly random allowed (joint) actions."""
        rows = self.rows(states)
        value = np.where(masks, rows, 0.0).sum(-1) / np.maximum(masks.sum(-1), 1)
        if self.graph is not None:
            add_uniform_pair_shares(value, self.pair_rows(states), self.graph, masks)
        return value

    def step(self, states: np.ndarray, actions: np.ndarray, delta: np.ndarray) -> None:
        """q_k += α δ_k; q_ij += α (δ_i / |Γ(i)| + δ_j / |Γ(j)|); repeated entries averaged."""
        local = states[:, : self.n_agents]
        flat = np.ravel_multi_index(
            (np.broadcast_to(self._agent_index, local.shape), local, actions), self.q.shape
        )
        averaged_step(self.q, flat.ravel(), delta.ravel(), self.alpha)
        if self.graph is None or self.q_edge is None:
            return
        for e, ((i, j), step) in enumerate(zip(self.graph.edges, edge_errors(delta, self.graph))):
            flat = np.ravel_multi_index(
                (np.full(len(states), e), self.pair_states.index(states, e),
                 self._cls[actions[:, i]], self._cls[actions[:, j]]), self.q_edge.shape,
            )  # fmt: skip
            averaged_step(self.q_edge, flat, step, self.alpha)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"q": self.q} if self.q_edge is None else {"q": self.q, "q_edge": self.q_edge}

    def set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.q = np.array(arrays["q"], dtype=np.float64)
        if self.q_edge is not None:
            self.q_edge = np.array(arrays["q_edge"], dtype=np.float64)


def averaged_step(table: np.ndarray, flat: np.ndarray, delta: np.ndarray, alpha: float) -> None:
    """table.flat[k] += α · mean of the deltas aimed at k (one plain step when k is unique)."""
    if len(np.unique(flat)) == len(flat):
        table.flat[flat] += alpha * delta
        return
    keys, inverse = np.unique(flat, return_inverse=True)
    sums = np.bincount(inverse, weights=delta)
    counts = np.bincount(inverse)
    table.flat[keys] += alpha * (sums / counts)


def make_iql(info: EnvInfo, params: IQLParams, rng: np.random.Generator) -> TDLearner:
    """Independent tabular Q-learners (``iql``; ``iql-sarsa`` with ``target="sarsa"``)."""
    value = TabularQ(info, params, needed_by="iql")
    return TDLearner("iql", 1, info, params, rng, value, IndependentArgmax(len(info.agents)))


def make_maql(info: EnvInfo, params: MAQLParams, rng: np.random.Generator) -> TDLearner:
    """Tabular MAQ-L: local and pair tables, max-plus acting on ``params.graph``."""
    graph = CoordinationGraph(len(info.agents), params.graph)
    value = TabularQ(info, params, "maql", graph, params.edge_state, params.edge_ranks)
    return TDLearner("maql", 1, info, params, rng, value, MaxPlusActing(graph, params))
