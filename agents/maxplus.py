"""Coordination graphs and max-plus action selection (Kok & Vlassis, JMLR 2006).

The joint action value decomposes over a graph G = (agents, E)::

    Q(a) = Σ_i f_i(a_i) + Σ_(i,j)∈E f_ij(a_i, a_j)

Max-plus finds (approximately, exactly on trees) argmax_a Q(a) by message passing. In every
round each agent i sends each neighbour j::

    μ_ij(a_j) = max_{a_i} [ f_i(a_i) + f_ij(a_i, a_j) + Σ_{k ∈ Γ(i)\\{j}} μ_ki(a_i) ] − c_ij

where c_ij, the mean of the message, keeps values bounded on graphs with cycles
(normalisation). After each round agent i picks argmax_{a_i} f_i(a_i) + Σ_k μ_ki(a_i); the
joint action is evaluated with the full Q and the best one seen so far is kept (anytime).

Synchronous rounds can leave two agents that both want one item flipping together (each
moves away from the other at the same time) or undecided on ties. A last *sequential
decoding* pass settles them: agents decide in index order, and each decided agent i sends
each later neighbour j the message f_ij(a_i*, ·), so j maximises f_j + Σ_{decided i} f_ij(a_i*, ·)
+ Σ_{undecided k} μ_kj — the standard way to read a MAP assignment off max-product messages.
Its joint action is one more anytime candidate. Every message is a :class:`Message`; a call
sends exactly (2·rounds + 1)·|E| of them.

Everything is batched over B independent worlds: f_i is (B, N, A), f_ij is (B, A, A).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from agents.base import masked_argmax

GRAPHS = ("full", "ring", "none")


@dataclass(frozen=True)
class Message:
    """One max-plus message: sender's view of the receiver's actions, for B worlds."""

    sender: int
    receiver: int
    round: int
    values: np.ndarray = field(repr=False)
    """(B, A): μ_sender→receiver(a_receiver) in each world."""


@dataclass
class MaxPlusResult:
    actions: np.ndarray
    """(B, N) the best joint action found."""
    value: np.ndarray
    """(B,) its value Q(a)."""
    messages: list[Message]


class CoordinationGraph:
    """Which agent pairs share a payoff term: ``full``, ``ring`` or ``none``."""

    def __init__(self, n_agents: int, kind: str) -> None:
        if kind not in GRAPHS:
            raise ValueError(f"graph must be one of {list(GRAPHS)}, got {kind!r}")
        self.kind = kind
        self.n_agents = n_agents
        if kind == "full":
            edges = [(i, j) for i in range(n_agents) for j in range(i + 1, n_agents)]
        elif kind == "ring" and n_agents > 1:
            pairs = {tuple(sorted((i, (i + 1) % n_agents))) for i in range(n_agents)}
            edges = sorted(pairs)
        else:
            edges = []
        self.edges: list[tuple[int, int]] = edges
        self.neighbours: list[list[int]] = [[] for _ in range(n_agents)]
        for i, j in edges:
            self.neighbours[i].append(j)
            self.neighbours[j].append(i)
        self.components = _components(self.neighbours)
        self.degree = np.array([max(len(nb), 1) for nb in self.neighbours], np.float64)
        """|Γ(i)| (at least 1): agent i's share of each pair term's update."""
        # every directed edge i→j with the index of its stored table and whether i is first
        self.directed: list[tuple[int, int, int, bool]] = [
            (i, j, e, True) for e, (i, j) in enumerate(edges)
        ] + [(j, i, e, False) for e, (i, j) in enumerate(edges)]

    def __repr__(self) -> str:
        return f"CoordinationGraph({self.kind!r}, n_agents={self.n_agents}, edges={self.edges})"


def _components(neighbours: list[list[int]]) -> list[list[int]]:
    seen: set[int] = set()
    out = []
    for start in range(len(neighbours)):
        if start in seen:
            continue
        stack, comp = [start], []
        seen.add(start)
        while stack:
            i = stack.pop()
            comp.append(i)
            for j in neighbours[i]:
                if j not in seen:
                    seen.add(j)
                    stack.append(j)
        out.append(sorted(comp))
    return out


# ------------------------------------------------- agent shares of a decomposed Q (MAQ-L)
# Agent k's share of Q is Q_k = f_k + ½ Σ_{j∈Γ(k)} f_kj, so Q = Σ_k Q_k; each agent learns
# from its own reward, and a pair term moves by δ_i / |Γ(i)| + δ_j / |Γ(j)| (Kok & Vlassis
# 2006, edge-based update).
def add_pair_shares(
    value: np.ndarray, pair_values: list[np.ndarray], graph: CoordinationGraph
) -> None:
    """value (B, N) += half of each edge's (B,) payoff at the joint action, to both ends."""
    for e, (i, j) in enumerate(graph.edges):
        half = 0.5 * pair_values[e]
        value[:, i] += half
        value[:, j] += half


def add_uniform_pair_shares(
    value: np.ndarray, pair: list[np.ndarray], graph: CoordinationGraph, masks: np.ndarray
) -> None:
    """value (B, N) += half of each edge's mean payoff over the allowed action pairs (the
    pair part of Q_k under uniform joint exploration)."""
    for rows, (i, j) in zip(pair, graph.edges, strict=True):
        both = masks[:, i, :, None] & masks[:, j, None, :]
        mean = np.where(both, rows, 0.0).sum((1, 2)) / np.maximum(both.sum((1, 2)), 1)
        value[:, i] += 0.5 * mean
        value[:, j] += 0.5 * mean


def edge_errors(delta: np.ndarray, graph: CoordinationGraph) -> list[np.ndarray]:
    """Per edge (i, j) the (B,) step of its pair term: δ_i / |Γ(i)| + δ_j / |Γ(j)|."""
    d = graph.degree
    return [delta[:, i] / d[i] + delta[:, j] / d[j] for i, j in graph.edges]


def joint_value(
    local: np.ndarray, pair: list[np.ndarray], graph: CoordinationGraph, actions: np.ndarray
) -> np.ndarray:
    """(B,) Q(a) = Σ_i f_i(a_i) + Σ_(i,j) f_ij(a_i, a_j)."""
    rows = np.arange(len(actions))
    value = local[rows[:, None], np.arange(local.shape[1]), actions].sum(axis=1)
    for e, (i, j) in enumerate(graph.edges):
        value = value + pair[e][rows, actions[:, i], actions[:, j]]
    return value


def max_plus(
    local: np.ndarray,
    pair: list[np.ndarray],
    graph: CoordinationGraph,
    masks: np.ndarray,
    rounds: int,
    normalise: bool = True,
) -> MaxPlusResult:
    """Approximate argmax of the decomposed Q by ``rounds`` of synchronous message passing."""
    b, _, a = local.shape
    allowed_local = np.where(masks, local, -np.inf)
    inbox = {(i, j): np.zeros((b, a)) for i, j, _, _ in graph.directed}  # μ_ij over j's actions
    best = masked_argmax(local, masks)  # round 0: every agent alone
    best_value = joint_value(local, pair, graph, best)
    sent: list[Message] = []
    # f_ij as (B, A_i, A_j) for both directions of every edge
    oriented = {(i, j): pair[e] if first else pair[e].transpose(0, 2, 1)
                for i, j, e, first in graph.directed}  # fmt: skip
    for r in range(rounds if graph.edges else 0):
        new = {}
        for i, j, _, _ in graph.directed:
            belief = allowed_local[:, i].copy()
            for k in graph.neighbours[i]:
                if k != j:
                    belief += inbox[(k, i)]
            msg = (belief[:, :, None] + oriented[(i, j)]).max(axis=1)
            if normalise:
                msg -= msg.sum(axis=1, keepdims=True) / a
            new[(i, j)] = msg
            sent.append(Message(i, j, r, msg))
        inbox = new
        beliefs = local.copy()
        for (_i, j), msg in inbox.items():
            beliefs[:, j] += msg
        actions = masked_argmax(beliefs, masks)
        _keep_better(best, best_value, actions, joint_value(local, pair, graph, actions))
    if graph.edges:
        actions = _sequential_decoding(allowed_local, oriented, graph, inbox, rounds, sent)
        _keep_better(best, best_value, actions, joint_value(local, pair, graph, actions))
    return MaxPlusResult(best, best_value, sent)


def _keep_better(
    best: np.ndarray, best_value: np.ndarray, actions: np.ndarray, value: np.ndarray
) -> None:
    better = value > best_value
    best[better], best_value[better] = actions[better], value[better]


def _sequential_decoding(
    allowed_local: np.ndarray,
    oriented: dict[tuple[int, int], np.ndarray],
    graph: CoordinationGraph,
    inbox: dict[tuple[int, int], np.ndarray],
    rounds: int,
    sent: list[Message],
) -> np.ndarray:
    """Agents decide in index order, conditioning on their decided neighbours' actions."""
    b, n, _ = allowed_local.shape
    rows = np.arange(b)
    decided = np.zeros((b, n), dtype=np.int64)
    for j in range(n):
        belief = allowed_local[:, j].copy()  # masked actions stay at -inf
        for i in graph.neighbours[j]:
            if i < j:
                msg = oriented[(i, j)][rows, decided[:, i]]  # f_ij(a_i*, ·)
                sent.append(Message(i, j, rounds, msg))
                belief += msg
            else:
                belief += inbox[(i, j)]
        decided[:, j] = belief.argmax(axis=-1)
    return decided
