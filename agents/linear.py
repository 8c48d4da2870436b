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

:class:`LinearIQL`: each agent alone, as IQL (the TD target and ε schedule are IQL's).

:class:`LinearMAQL`: MAQ-L on a coordination graph with linear local terms and linear pair
terms q_ij(o, a_i, a_j) = u_ij · ψ(o, a_i, a_j), where ψ is a one-hot of the two actions'
rank classes (MAQ-L's ``edge_ranks``) and, where the env has the shared candidate board, a
bit that says whether the two actions show the same item (one slot wasted). The joint
action comes from max-plus messages, the update is MAQ-L's agent-based one (see
:mod:`agents.maql`); with ``graph="none"`` it is :class:`LinearIQL` step for step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from agents.base import EnvInfo
from agents.features import CandidateFeatures
from agents.iql import QLearner, TDParams
from agents.maql import MaxPlusActing, _action_classes
from agents.maxplus import GRAPHS
from agents.params import check

_TINY = 1e-12


@dataclass(frozen=True)
class LinearIQLParams(TDParams):
    """Hyper-parameters of linear IQL (α is the normalised LMS step, see the module)."""

    def __post_init__(self) -> None:
        self.check_td(type(self).__name__)


@dataclass(frozen=True)
class LinearMAQLParams(LinearIQLParams):
    """Hyper-parameters of linear MAQ-L (the local part is linear IQL's)."""

    graph: str = "full"
    """Coordination graph: ``full`` (every pair), ``ring`` (i with i+1) or ``none`` (= IQL)."""
    rounds: int = 3
    """Max-plus rounds per action selection."""
    normalise: bool = True
    """Subtract each message's mean (keeps messages bounded on graphs with cycles)."""
    edge_ranks: int = 2
    """Pair features: one-hot of the two actions' rank classes (ranks 0 … ``edge_ranks`` − 1
    one class each, lower ranks one more); 0: every action its own class."""
    same_item: bool = True
    """Add the pair feature 'the two actions show the same item' (needs ``cand_rival_rank``;
    ignored on envs without the board)."""
    log_messages: int = 64
    """How many of the latest messages ``message_log`` keeps (0: none)."""
    maximise_team_reward: bool = False
    """MAQ-L maximises the agents' summed reward; on an env whose agents are paid differently
    (reward_lambda > 0, own payoffs) it is refused unless this is true (a team reference)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        who = type(self).__name__
        check(self.graph in GRAPHS, who, "graph", self.graph, str(list(GRAPHS)))
        check(self.rounds >= 1, who, "rounds", self.rounds, "an int >= 1")
        check(self.edge_ranks >= 0, who, "edge_ranks", self.edge_ranks, "an int >= 0")
        check(self.log_messages >= 0, who, "log_messages", self.log_messages, ">= 0")


def nlms_step(weights: np.ndarray, features: np.ndarray, delta: np.ndarray, alpha: float) -> None:
    """weights (M, d) += α Σ_b δ_bm φ_bm / Σ_b ‖φ_bm‖², for features (B, M, d), delta (B, M)."""
    num = np.einsum("bm,bmd->md", delta, features)
    den = np.einsum("bmd,bmd->m", features, features)
    weights += alpha * num / np.maximum(den, _TINY)[:, None]


class LinearIQL(QLearner):
    """Independent learners with linear values over per-action features; see the module."""

    name = "iql-linear"
    version = 1

    def __init__(self, info: EnvInfo, params: LinearIQLParams, rng: np.random.Generator) -> None:
        super().__init__(info, params, rng)
        self.features = CandidateFeatures(info, needed_by=self.name)
        self.w = np.zeros((self.n_agents, self.features.dim), dtype=np.float64)

    def _encode(self, obs: np.ndarray) -> Any:
        return self.features(obs)  # (B, N, A, dim)

    def _rows(self, states: Any) -> np.ndarray:
        return np.einsum("bnad,nd->bna", states, self.w)

    def _apply(self, states: Any, actions: np.ndarray, delta: np.ndarray) -> None:
        taken = np.take_along_axis(states, actions[:, :, None, None], axis=2)[:, :, 0]
        nlms_step(self.w, taken, delta, self.params.alpha)

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"w": self.w}

    def _set_arrays(self, arrays: dict[str, Any]) -> None:
        self.w = np.array(arrays["w"], dtype=np.float64)


class _Encoded(NamedTuple):
    phi: np.ndarray
    """(B, N, A, dim) local features."""
    same: list[np.ndarray]
    """Per edge (B, A, A) bool: the two actions show the same item (empty: no such feature)."""


class LinearMAQL(MaxPlusActing, LinearIQL):
    """MAQ-L with linear local and pair terms; see the module docstring."""

    name = "maql-linear"
    version = 1

    def __init__(self, info: EnvInfo, params: LinearMAQLParams, rng: np.random.Generator) -> None:
        super().__init__(info, params, rng)
        self._init_graph(params.graph, params.log_messages)
        self._cls = _action_classes(info, params.edge_ranks)
        self._n_cls = int(self._cls.max()) + 1
        self._use_same = params.same_item and self.features.board is not None
        width = self._n_cls**2 + (1 if self._use_same else 0)
        self.u = np.zeros((len(self.graph.edges), width), dtype=np.float64)

    def _encode(self, obs: np.ndarray) -> Any:
        same = [self.features.same_item(obs, i, j) for i, j in self.graph.edges] \
            if self._use_same else []  # fmt: skip
        return _Encoded(super()._encode(obs), same)

    def _rows(self, states: Any) -> np.ndarray:
        return super()._rows(states.phi)

    def _pair_rows(self, states: _Encoded) -> list[np.ndarray]:
        n, b = self._n_cls, states.phi.shape[0]
        rows = []
        for e in range(len(self.graph.edges)):
            table = self.u[e, : n * n].reshape(n, n)[self._cls][:, self._cls]
            if self._use_same:
                rows.append(table + self.u[e, -1] * states.same[e])
            else:
                rows.append(np.broadcast_to(table, (b, *table.shape)))
        return rows

    def _pair_features(self, states: _Encoded, e: int, actions: np.ndarray) -> np.ndarray:
        """(B, width) ψ of edge e at the joint action."""
        i, j = self.graph.edges[e]
        b = len(actions)
        psi = np.zeros((b, self.u.shape[1]))
        psi[np.arange(b), self._cls[actions[:, i]] * self._n_cls + self._cls[actions[:, j]]] = 1
        if self._use_same:
            psi[:, -1] = states.same[e][np.arange(b), actions[:, i], actions[:, j]]
        return psi

    def _values(self, states: Any, actions: np.ndarray) -> np.ndarray:
        value = super()._values(states, actions)  # Q_k = q_k + ½ Σ_j q_kj
        for e, (i, j) in enumerate(self.graph.edges):
            half = 0.5 * self._pair_features(states, e, actions) @ self.u[e]
            value[:, i] += half
            value[:, j] += half
        return value

    def _apply(self, states: Any, actions: np.ndarray, delta: np.ndarray) -> None:
        super()._apply(states.phi, actions, delta)  # w_k: each agent's own TD error
        for e, (i, j) in enumerate(self.graph.edges):
            step = delta[:, i] / self.degree[i] + delta[:, j] / self.degree[j]
            psi = self._pair_features(states, e, actions)[:, None]
            nlms_step(self.u[e : e + 1], psi, step[:, None], self.params.alpha)

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"w": self.w, "u": self.u}

    def _set_arrays(self, arrays: dict[str, Any]) -> None:
        super()._set_arrays(arrays)
        self.u = np.array(arrays["u"], dtype=np.float64)
