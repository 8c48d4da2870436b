"""MAQ-L: sparse cooperative Q-learning on a coordination graph, acting by max-plus.

Following Kok & Vlassis (2006), the joint Q-function is a sum of local and pairwise terms::

    Q(s, a) = Σ_i q_i(s_i, a_i) + Σ_(i,j)∈E q_ij(s_ij, a_i, a_j)

q_i is agent i's own table (the same state abstraction as IQL); q_ij is a payoff table for a
pair of agents that contend for the page. ``edge_state="none"`` shares one q_ij(a_i, a_j)
over all states; ``"collide"`` (the default on the markets) by which of i's and j's top
``edge_ranks`` candidates are the same item (bit c·R + c' for i's rank c = j's rank c', read
from the shared ``cand_rival_rank`` board: exactly the action pairs that would show one item
twice and waste a slot); ``"contested"`` by s_ij = (is i's rank-0 candidate
held by another agent too, is j's) — the 4 situations in which two agents may put the same
item on the page, where the duplicate leaves a slot empty; ``"joint"`` by the pair of abstract
states s_ij = (s_i, s_j) (|S|² rows: far too many to learn in a short run). ``edge_ranks``
lumps the actions into candidate-rank classes (default: rank 0, rank 1, lower) so that each
q_ij has 16 × 3 × 3 entries (``collide``) on the market envs and learns from few samples.
The board makes the pair term strictly more informed than either agent's own state, which
only says whether *some* agent holds its candidate: that is what the edges add. On the matrix game
(3 actions, constant state) it is the full 3 × 3 table.
Agent k's share of Q is Q_k = q_k + ½ Σ_{j∈Γ(k)} q_kj, so Q = Σ_k Q_k, and each agent keeps
its own reward — the *agent-based* update::

    a*  = max-plus argmax_a Q(s', a)                         (messages, see agents.maxplus)
    δ_k = r_k + γ (1 − terminated) Q_k(s', a*) − Q_k(s, a)
    q_k(s_k, a_k)         += α δ_k
    q_ij(s_ij, a_i, a_j)  += α (δ_i / |Γ(i)| + δ_j / |Γ(j)|)   (K&V 2006, edge-based Q_ij)

With ``target="sarsa"``, Q_k(s', a*) becomes its expectation under the ε-greedy joint policy.
Exploration is ε-greedy on the joint action of each connected component of the graph.

With ``graph="none"`` there are no edges, max-plus returns every agent's own argmax, the
components are single agents and the update is IQL's: same seed → same actions and same
tables, step for step (tests/test_learners.py checks it).

Messages: every max-plus call sends (2·``rounds`` + 1)·|E| :class:`~agents.maxplus.Message`
objects per world; training makes two calls per step (the action at s, and a* at s' for the
target), greedy evaluation one. ``messages`` counts them (per world), ``floats`` their
payload, ``message_log`` keeps the last ``log_messages`` and the ``agents.maql`` logger
reports each call at DEBUG level.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from agents.base import EnvInfo, LearnerError
from agents.iql import IQLParams, TabularIQL, averaged_step
from agents.maxplus import GRAPHS, CoordinationGraph, Message, max_plus
from agents.params import check

log = logging.getLogger("agents.maql")
EDGE_STATES = ("auto", "none", "contested", "collide", "joint")


@dataclass(frozen=True)
class MAQLParams(IQLParams):
    """Hyper-parameters of MAQ-L (the local part is IQL's)."""

    graph: str = "full"
    """Coordination graph: ``full`` (every pair), ``ring`` (i with i+1) or ``none`` (= IQL)."""
    rounds: int = 3
    """Max-plus rounds per action selection (exact after 1 round on a single edge)."""
    normalise: bool = True
    """Subtract each message's mean (keeps messages bounded on graphs with cycles)."""
    edge_state: str = "auto"
    """State of the pair payoff q_ij: ``collide`` (which of the two agents' top ranks hold
    the same item, read from the ``cand_rival_rank`` board), ``contested`` (the two rank-0
    overlap bits), ``none`` (no state), ``joint`` (s_i, s_j); ``auto``: ``collide`` where the
    env has the board, else ``contested``."""
    edge_ranks: int = 2
    """Action classes of q_ij: the candidate ranks 0 … ``edge_ranks`` − 1 one class each, all
    lower ranks (any bid level) one more class; 0: every action its own class. A class pair's
    payoff is shared by its action pairs (max-plus sees the expanded A × A table)."""
    log_messages: int = 64
    """How many of the latest messages ``message_log`` keeps (0: none)."""
    maximise_team_reward: bool = False
    """MAQ-L maximises the agents' summed reward; on an env whose agents are paid differently
    (reward_lambda > 0, own payoffs) it is refused unless this is true (a team reference)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.graph in GRAPHS, "MAQLParams", "graph", self.graph, str(list(GRAPHS)))
        check(self.rounds >= 1, "MAQLParams", "rounds", self.rounds, "an int >= 1")
        check(self.edge_state in EDGE_STATES, "MAQLParams", "edge_state", self.edge_state,
              str(list(EDGE_STATES)))  # fmt: skip
        check(self.edge_ranks >= 0, "MAQLParams", "edge_ranks", self.edge_ranks, "an int >= 0")
        check(self.log_messages >= 0, "MAQLParams", "log_messages", self.log_messages, ">= 0")


class MaxPlusActing:
    """Acting by max-plus on a coordination graph, every message counted and logged.

    Mixed into a :class:`~agents.iql.QLearner` that provides ``_rows(states)`` (the local
    terms, (B, N, A)) and ``_pair_rows(states)`` (one (B, A, A) payoff per edge); MAQ-L's
    tabular and linear variants both act through it.
    """

    graph: CoordinationGraph
    params: Any
    messages: int
    n_agents: int

    def _init_graph(self, graph: str, log_messages: int) -> None:
        self.graph = CoordinationGraph(self.n_agents, graph)
        self.degree = np.array([max(len(nb), 1) for nb in self.graph.neighbours], np.float64)
        """|Γ(i)| (at least 1): agent i's share of each pair term's update."""
        self.floats = 0
        self.message_log: deque[Message] = deque(maxlen=log_messages)

    def _groups(self) -> list[list[int]]:
        return self.graph.components  # explore the joint action of agents that coordinate

    def _greedy(self, states: Any, masks: np.ndarray) -> np.ndarray:
        local, pair = self._rows(states), self._pair_rows(states)  # type: ignore[attr-defined]
        result = max_plus(local, pair, self.graph, masks,
                          self.params.rounds, self.params.normalise)  # fmt: skip
        worlds, n_actions = masks.shape[0], masks.shape[-1]
        self.messages += len(result.messages) * worlds
        self.floats += len(result.messages) * worlds * n_actions
        self.message_log.extend(result.messages)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("max-plus: %d messages x %d worlds, value %s", len(result.messages),
                      worlds, np.round(result.value[:4], 3))  # fmt: skip
        return result.actions

    def _uniform_values(self, states: Any, masks: np.ndarray) -> np.ndarray:
        """(B, N): agent k's share of Q under uniform joint exploration, pair terms halved."""
        value = super()._uniform_values(states, masks)  # type: ignore[misc]
        pair = self._pair_rows(states)  # type: ignore[attr-defined]
        for rows, (i, j) in zip(pair, self.graph.edges, strict=True):
            both = masks[:, i, :, None] & masks[:, j, None, :]
            mean = np.where(both, rows, 0.0).sum((1, 2)) / np.maximum(both.sum((1, 2)), 1)
            value[:, i] += 0.5 * mean
            value[:, j] += 0.5 * mean
        return value

    def _state(self) -> dict[str, Any]:
        return {**super()._state(), "floats": self.floats}  # type: ignore[misc]

    def _set_state(self, state: dict[str, Any]) -> None:
        super()._set_state(state)  # type: ignore[misc]
        self.floats = int(state["floats"])


class MAQL(MaxPlusActing, TabularIQL):
    """Sparse cooperative Q-learning with max-plus; see the module docstring."""

    name = "maql"
    version = 1

    def __init__(self, info: EnvInfo, params: MAQLParams, rng: np.random.Generator) -> None:
        super().__init__(info, params, rng)
        self._init_graph(params.graph, params.log_messages)
        n_states = self.abstraction.n_states
        self._cls = _action_classes(info, params.edge_ranks)
        self.edge_state = _resolve_edge_state(info, params.edge_state)
        self._board = _board(info, params) if self.edge_state == "collide" else None
        edge_states = {"none": 1, "contested": 4, "joint": n_states * n_states,
                       "collide": 2 ** (params.edge_ranks**2)}[self.edge_state]  # fmt: skip
        n_cls = int(self._cls.max()) + 1
        shape = (len(self.graph.edges), edge_states, n_cls, n_cls)
        self.q_edge = np.zeros(shape, dtype=np.float64)

    def _encode(self, obs: np.ndarray) -> np.ndarray:
        """(B, N + E): the agents' abstract states, then (``collide``) each edge's pair state."""
        local = super()._encode(obs)
        if self._board is None or not self.graph.edges:
            return local
        codes = [self._board.code(obs, i, j) for i, j in self.graph.edges]
        return np.concatenate([local, np.stack(codes, axis=-1).reshape(len(local), -1)], axis=1)

    def _rows(self, states: np.ndarray) -> np.ndarray:
        return super()._rows(states[:, : self.n_agents])

    def _edge_index(self, states: np.ndarray, e: int) -> np.ndarray:
        """(B,) row of q_edge[e] for each world."""
        if self.edge_state == "none":
            return np.zeros(len(states), dtype=np.int64)
        if self.edge_state == "collide":
            return states[:, self.n_agents + e]
        i, j = self.graph.edges[e]
        if self.edge_state == "contested":
            top = self.abstraction.contested_top
            return 2 * top(states[:, i]) + top(states[:, j])
        return states[:, i] * self.abstraction.n_states + states[:, j]

    def _pair_rows(self, states: np.ndarray) -> list[np.ndarray]:
        cls = self._cls
        return [self.q_edge[e][self._edge_index(states, e)][:, cls][:, :, cls]
                for e in range(len(self.graph.edges))]  # fmt: skip

    def _values(self, states: np.ndarray, actions: np.ndarray) -> np.ndarray:
        value = super()._values(states, actions)  # q_k(s_k, a_k), a fresh array
        for e, (i, j) in enumerate(self.graph.edges):
            ci, cj = self._cls[actions[:, i]], self._cls[actions[:, j]]
            half = 0.5 * self.q_edge[e][self._edge_index(states, e), ci, cj]
            value[:, i] += half
            value[:, j] += half
        return value

    def _apply(self, states: np.ndarray, actions: np.ndarray, delta: np.ndarray) -> None:
        super()._apply(states[:, : self.n_agents], actions, delta)  # q_k += α δ_k, as IQL
        for e, (i, j) in enumerate(self.graph.edges):
            step = delta[:, i] / self.degree[i] + delta[:, j] / self.degree[j]
            flat = np.ravel_multi_index(
                (np.full(len(states), e), self._edge_index(states, e),
                 self._cls[actions[:, i]], self._cls[actions[:, j]]), self.q_edge.shape,
            )  # fmt: skip
            averaged_step(self.q_edge, flat, step, self.params.alpha)

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"q": self.q, "q_edge": self.q_edge}

    def _set_arrays(self, arrays: dict[str, Any]) -> None:
        super()._set_arrays(arrays)
        self.q_edge = np.array(arrays["q_edge"], dtype=np.float64)


def _action_classes(info: EnvInfo, edge_ranks: int) -> np.ndarray:
    """(A,) class of each action in q_ij: min(candidate rank, edge_ranks); identity if 0."""
    actions = np.arange(info.n_actions, dtype=np.int64)
    if edge_ranks == 0:
        return actions
    k = info.n_actions
    if info.obs_layout is not None and "cand_valid" in info.obs_layout:
        part = info.obs_layout["cand_valid"]
        k = max(part.stop - part.start, 1)
    rank = actions // max(info.n_actions // k, 1)  # auctions: action = rank · levels + level
    return np.minimum(rank, edge_ranks)


class _Board:
    """Pair state of ``edge_state="collide"``, read from the ``cand_rival_rank`` board: bit
    (c · R + c') is set when agent i's rank-c candidate is agent j's rank-c' candidate
    (c, c' < R = ``edge_ranks``), i.e. when that action pair would show one item twice."""

    def __init__(self, start: int, n_agents: int, candidates: int, ranks: int) -> None:
        self.start, self.n_agents, self.k, self.ranks = start, n_agents, candidates, ranks

    def code(self, obs: np.ndarray, i: int, j: int) -> np.ndarray:
        code = np.zeros(obs.shape[0], dtype=np.int64)
        for c in range(self.ranks):
            held = obs[:, i, self.start + c * self.n_agents + j]  # 1 − rank / K, 0: not held
            for c2 in range(self.ranks):
                hit = np.abs(held - (1.0 - c2 / self.k)) < 0.5 / self.k
                code |= hit.astype(np.int64) << (c * self.ranks + c2)
        return code


def _resolve_edge_state(info: EnvInfo, edge_state: str) -> str:
    if edge_state != "auto":
        return edge_state
    has_board = info.obs_layout is not None and "cand_rival_rank" in info.obs_layout
    return "collide" if has_board else "contested"


def _board(info: EnvInfo, params: MAQLParams) -> _Board:
    if info.obs_layout is None or "cand_rival_rank" not in info.obs_layout:
        raise LearnerError(
            f"maql: edge_state='collide' reads the cand_rival_rank part of the observation, "
            f"and env {info.env_id!r} has none; use edge_state='contested' or 'none'"
        )
    part = info.obs_layout["cand_rival_rank"]
    n_agents = len(info.agents)
    k = (part.stop - part.start) // n_agents
    if not 1 <= params.edge_ranks <= min(3, k):
        raise LearnerError(f"maql: edge_state='collide' needs 1 <= edge_ranks <= "
                           f"{min(3, k)}, got {params.edge_ranks}")  # fmt: skip
    return _Board(part.start, n_agents, k, params.edge_ranks)
