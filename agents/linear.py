"""IQL and MAQ-L with linear values over per-action features (:mod:`agents.features`).

The tabular learners must guess which coarse state matters; here every agent's value is
linear in what the observation says about the candidate an action shows::

    q_i(o, a_i) = w_i · φ_i(o, a_i)

so what a learner finds out about one candidate (a popular item, an item another agent ranks
high) carries over to every other candidate with similar features: a recommender's value
function, as in linear contextual bandits. The step is the batch-normalised LMS rule::

    w_i += α · Σ_b δ_bi φ_bi / Σ_b ‖φ_bi‖²        (δ: the TD error of agent i in world b)

which is the plain NLMS update at B = 1, is stable for α in (0, 2), and with one-hot features
is exactly the tabular step: α keeps its meaning (the fraction of the error corrected).

:func:`make_iql_linear` (``iql-linear``): each agent alone, acting by independent argmax
(the TD loop and ε schedule are :class:`agents.td.TDLearner`'s, as for tabular IQL).

:func:`make_maql_linear` (``maql-linear``): MAQ-L on a coordination graph with linear local
terms and linear pair terms q_ij(o, a_i, a_j) = u_ij · ψ(o, a_i, a_j), where ψ is a one-hot
of the two actions' rank classes (``edge_ranks``) and, where the env has the shared candidate
board, a bit that says whether the two actions show the same item (one slot wasted). The
joint action comes from max-plus messages, the update is MAQ-L's agent-based one (see
:mod:`agents.tabular`); with ``graph="none"`` it is ``iql-linear`` step for step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from agents.acting import IndependentArgmax, MaxPlusActing, MaxPlusParams
from agents.base import EnvInfo
from agents.features import CandidateFeatures, rank_classes
from agents.maxplus import CoordinationGraph, add_pair_shares, add_uniform_pair_shares, edge_errors
from agents.params import check
from agents.td import TDLearner, TDParams

_TINY = 1e-12


@dataclass(frozen=True)
class LinearIQLParams(TDParams):
    """Hyper-parameters of linear IQL (α is the normalised LMS step, see the module)."""

    def __post_init__(self) -> None:
        self.check_td(type(self).__name__)


@dataclass(frozen=True)
class LinearMAQLParams(LinearIQLParams, MaxPlusParams):
    """Hyper-parameters of linear MAQ-L (the local part is linear IQL's, acting is max-plus)."""

    edge_ranks: int = 2
    """Pair features: one-hot of the two actions' rank classes (ranks 0 … ``edge_ranks`` − 1
    one class each, lower ranks one more); 0: every action its own class."""
    same_item: bool = True
    """Add the pair feature 'the two actions show the same item' (needs ``cand_rival_rank``;
    ignored on envs without the board)."""
    same_level: bool = False
    """Add one pair feature per level l: 'both actions claim level l' (action = candidate ×
    L + level; in the positioned slate the level is the claimed position, so its weight
    prices a collision there). Ignored where actions have one level."""

    def __post_init__(self) -> None:
        super().__post_init__()
        who = type(self).__name__
        self.check_max_plus(who)
        check(self.edge_ranks >= 0, who, "edge_ranks", self.edge_ranks, "an int >= 0")


def nlms_step(weights: np.ndarray, features: np.ndarray, delta: np.ndarray, alpha: float) -> None:
    """weights (M, d) += α Σ_b δ_bm φ_bm / Σ_b ‖φ_bm‖², for features (B, M, d), delta (B, M)."""
    num = np.einsum("bm,bmd->md", delta, features)
    den = np.einsum("bmd,bmd->m", features, features)
    weights += alpha * num / np.maximum(den, _TINY)[:, None]


class Encoded(NamedTuple):
    phi: np.ndarray
    """(B, N, A, dim) local features."""
    same: list[np.ndarray]
    """Per edge (B, A, A) bool: the two actions show the same item (empty: no such feature)."""


class LinearQ:
    """Weights w (N, dim) of q_i = w_i · φ_i and, given a coordination graph (MAQ-L), weights
    u (E, width) of the pair terms q_ij = u_ij · ψ over ``edge_ranks`` rank classes."""

    def __init__(self, info: EnvInfo, alpha: float, needed_by: str,
                 graph: CoordinationGraph | None = None, edge_ranks: int = 2,
                 same_item: bool = True, same_level: bool = False) -> None:  # fmt: skip
        self.alpha = alpha
        self.features = CandidateFeatures(info, needed_by=needed_by)
        self.w = np.zeros((len(info.agents), self.features.dim), dtype=np.float64)
        self.graph = graph
        self.u: np.ndarray | None = None
        self._use_same = False
        if graph is not None:
            self._cls = rank_classes(info, edge_ranks)
            self._n_cls = int(self._cls.max()) + 1
            self._use_same = same_item and self.features.board is not None
            # u: [rank-class pairs | same item | both at level 0 … L−1]
            self._same_col = self._n_cls**2
            self._level_col = self._same_col + (1 if self._use_same else 0)
            levels = self.features.levels if same_level and self.features.levels > 1 else 0
            self._level = np.arange(info.n_actions) % max(levels, 1)
            self._levels = levels
            width = self._level_col + levels
            self.u = np.zeros((len(graph.edges), width), dtype=np.float64)

    def encode(self, obs: np.ndarray) -> Encoded:
        same = [self.features.same_item(obs, i, j) for i, j in self.graph.edges] \
            if self._use_same and self.graph is not None else []  # fmt: skip
        return Encoded(self.features(obs), same)

    def rows(self, states: Encoded) -> np.ndarray:
        return np.einsum("bnad,nd->bna", states.phi, self.w)

    def pair_rows(self, states: Encoded) -> list[np.ndarray]:
        if self.graph is None or self.u is None:
            return []
        n, b = self._n_cls, states.phi.shape[0]
        rows = []
        for e in range(len(self.graph.edges)):
            table = self.u[e, : n * n].reshape(n, n)[self._cls][:, self._cls]
            if self._levels:
                weight = self.u[e, self._level_col + self._level]  # (A,) its level's weight
                table = table + np.where(self._level[:, None] == self._level, weight[:, None], 0)
            if self._use_same:
                rows.append(table + self.u[e, self._same_col] * states.same[e])
            else:
                rows.append(np.broadcast_to(table, (b, *table.shape)))
        return rows

    def _pair_features(self, states: Encoded, e: int, edge: tuple[int, int], width: int,
                       actions: np.ndarray) -> np.ndarray:  # fmt: skip
        """(B, width) ψ of edge number e, (i, j), at the joint action."""
        i, j = edge
        b = len(actions)
        psi = np.zeros((b, width))
        psi[np.arange(b), self._cls[actions[:, i]] * self._n_cls + self._cls[actions[:, j]]] = 1
        if self._use_same:
            psi[:, self._same_col] = states.same[e][np.arange(b), actions[:, i], actions[:, j]]
        if self._levels:
            level = self._level[actions[:, i]]
            both = level == self._level[actions[:, j]]
            psi[np.arange(b)[both], self._level_col + level[both]] = 1.0
        return psi

    def values(self, states: Encoded, actions: np.ndarray) -> np.ndarray:
        """(B, N): Q_k = w_k · φ_k(a_k) + ½ Σ_j u_kj · ψ(a_k, a_j)."""
        value = np.take_along_axis(self.rows(states), actions[..., None], axis=-1)[..., 0]
        if self.graph is not None and self.u is not None:
            width = self.u.shape[1]
            taken = [self._pair_features(states, e, edge, width, actions) @ self.u[e]
                     for e, edge in enumerate(self.graph.edges)]  # fmt: skip
            add_pair_shares(value, taken, self.graph)
        return value

    def uniform_values(self, states: Encoded, masks: np.ndarray) -> np.ndarray:
        rows = self.rows(states)
        value = np.where(masks, rows, 0.0).sum(-1) / np.maximum(masks.sum(-1), 1)
        if self.graph is not None:
            add_uniform_pair_shares(value, self.pair_rows(states), self.graph, masks)
        return value

    def step(self, states: Encoded, actions: np.ndarray, delta: np.ndarray) -> None:
        """w_k along its own TD error; u_ij along δ_i / |Γ(i)| + δ_j / |Γ(j)| (NLMS both)."""
        taken = np.take_along_axis(states.phi, actions[:, :, None, None], axis=2)[:, :, 0]
        nlms_step(self.w, taken, delta, self.alpha)
        if self.graph is None or self.u is None:
            return
        steps = edge_errors(delta, self.graph)
        for e, (edge, step) in enumerate(zip(self.graph.edges, steps, strict=True)):
            psi = self._pair_features(states, e, edge, self.u.shape[1], actions)[:, None]
            nlms_step(self.u[e : e + 1], psi, step[:, None], self.alpha)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"w": self.w} if self.u is None else {"w": self.w, "u": self.u}

    def set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.w = np.array(arrays["w"], dtype=np.float64)
        if self.u is not None:
            self.u = np.array(arrays["u"], dtype=np.float64)


def make_iql_linear(info: EnvInfo, params: LinearIQLParams, rng: np.random.Generator) -> TDLearner:
    """Independent learners with linear values over per-action features."""
    value = LinearQ(info, params.alpha, needed_by="iql-linear")
    return TDLearner("iql-linear", 1, info, params, rng, value,
                     IndependentArgmax(len(info.agents)))  # fmt: skip


def make_maql_linear(
    info: EnvInfo, params: LinearMAQLParams, rng: np.random.Generator
) -> TDLearner:
    """MAQ-L with linear local and pair terms, max-plus acting on ``params.graph``."""
    graph = CoordinationGraph(len(info.agents), params.graph)
    value = LinearQ(info, params.alpha, "maql-linear", graph, params.edge_ranks, params.same_item,
                    params.same_level)  # fmt: skip
    return TDLearner("maql-linear", 1, info, params, rng, value, MaxPlusActing(graph, params))
