"""Independent tabular Q-learning (IQL): each agent learns its own table and acts alone.

Agent i keeps Q_i(s_i, a_i) over the state abstraction of :mod:`agents.abstraction` and
ignores the other agents (they are part of its environment), so it works unchanged with
cooperative, mixed and competitive rewards. One step, for every world b and agent i::

    target = r_i + γ · (1 − terminated) · V_i(s'_i)
    Q_i(s_i, a_i) += α · (target − Q_i(s_i, a_i))

with V_i(s') = max_a Q_i(s', a) (Q-learning, ``target="q"``) or the expectation of Q_i(s', ·)
under the ε-greedy behaviour policy (expected SARSA, ``target="sarsa"``: on-policy, and it
needs no deferred update when a world is reset inside a vector env). With B > 1 worlds, the
steps that land on the same table entry are averaged (not summed), so a large batch does not
multiply the learning rate; with B = 1 this is the plain update.

:class:`agents.maql.MAQL` subclasses this class: its hooks (``_greedy``, ``_values``,
``_uniform_values``, ``_apply``, ``_groups``) are where a coordination graph plugs in.
The loop itself (:class:`QLearner`) does not know how Q is stored; :mod:`agents.linear`
reuses it with linear values over per-candidate features.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from agents.abstraction import AbstractionParams, StateAbstraction
from agents.base import (
    BaseLearner,
    Batch,
    EnvInfo,
    Transition,
    check_transition,
    epsilon_greedy,
    linear_schedule,
    masked_argmax,
)
from agents.params import check, probability

TARGETS = ("q", "sarsa")


@dataclass(frozen=True)
class TDParams:
    """Hyper-parameters every ε-greedy temporal-difference learner here shares."""

    alpha: float = 0.1
    """Learning rate α of the update."""
    gamma: float = 0.9
    """Discount γ."""
    epsilon_start: float = 1.0
    """ε of ε-greedy exploration at the first step."""
    epsilon_end: float = 0.05
    """ε after ``epsilon_decay_steps`` world-steps (linear decay)."""
    epsilon_decay_steps: int = 2000
    """World-steps over which ε decays (a vector step of B worlds counts B)."""
    target: str = "q"
    """``q``: max over next actions (off-policy); ``sarsa``: expected SARSA (on-policy)."""

    def check_td(self, who: str) -> None:
        check(0.0 < self.alpha <= 1.0, who, "alpha", self.alpha, "(0, 1]")
        probability(who, "gamma", self.gamma)
        probability(who, "epsilon_start", self.epsilon_start)
        probability(who, "epsilon_end", self.epsilon_end)
        check(self.epsilon_decay_steps >= 0, who, "epsilon_decay_steps",
              self.epsilon_decay_steps, "an int >= 0")  # fmt: skip
        check(self.target in TARGETS, who, "target", self.target, str(list(TARGETS)))


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


class QLearner(BaseLearner):
    """ε-greedy TD learning for N agents over a batch of worlds, whatever Q looks like.

    Subclasses say what a state is and how Q is stored: ``_encode`` (observations → states),
    ``_rows`` (states → (B, N, A) values) and ``_apply`` (one step along the TD errors, (B, N)).
    :class:`TabularIQL` keeps tables, :class:`agents.linear.LinearIQL` linear weights.
    """

    params: TDParams

    def __init__(self, info: EnvInfo, params: TDParams, rng: np.random.Generator) -> None:
        super().__init__(info, params, rng)
        self._pending: list[Transition] = []

    def _encode(self, obs: np.ndarray) -> Any:
        raise NotImplementedError

    def _rows(self, states: Any) -> np.ndarray:
        raise NotImplementedError

    def _apply(self, states: Any, actions: np.ndarray, delta: np.ndarray) -> None:
        raise NotImplementedError

    # -- acting ----------------------------------------------------------------------
    @property
    def epsilon(self) -> float:
        p = self.params
        return linear_schedule(p.epsilon_start, p.epsilon_end, p.epsilon_decay_steps,
                               self.steps_seen)  # fmt: skip

    def act(self, batch: Batch, explore: bool = True) -> np.ndarray:
        states = self._encode(batch.obs)
        greedy = self._greedy(states, batch.masks)
        if not explore:
            return greedy
        return epsilon_greedy(greedy, batch.masks, self.epsilon, self._groups(), self.rng)

    def _groups(self) -> list[list[int]]:
        return [[i] for i in range(self.n_agents)]  # every agent explores alone

    def _greedy(self, states: Any, masks: np.ndarray) -> np.ndarray:
        return masked_argmax(self._rows(states), masks)

    # -- learning --------------------------------------------------------------------
    def observe(self, transition: Transition) -> None:
        check_transition(transition, self.name)
        self._pending.append(transition)
        self.steps_seen += len(transition.rewards)

    def update(self) -> int:
        done = 0
        for tr in self._pending:
            done += self._td_update(tr)
        self._pending.clear()
        self.updates += done
        return done

    def _td_update(self, tr: Transition) -> int:
        states = self._encode(tr.obs)
        next_states = self._encode(tr.next_obs)
        best_next = self._greedy(next_states, tr.next_masks)
        v_next = self._values(next_states, best_next)
        if self.params.target == "sarsa":
            eps = self.epsilon
            v_next = (1.0 - eps) * v_next + eps * self._uniform_values(next_states, tr.next_masks)
        alive = 1.0 - tr.terminated.astype(np.float64)[:, None]
        target = tr.rewards + self.params.gamma * alive * v_next
        delta = target - self._values(states, tr.actions)
        self._apply(states, tr.actions, delta)
        return len(tr.rewards)

    def _values(self, states: Any, actions: np.ndarray) -> np.ndarray:
        """(B, N): Q_i(s_i, a_i)."""
        return np.take_along_axis(self._rows(states), actions[..., None], axis=-1)[..., 0]

    def _uniform_values(self, states: Any, masks: np.ndarray) -> np.ndarray:
        """(B, N): mean of Q_i(s_i, ·) over the allowed actions (uniform exploration)."""
        rows = self._rows(states)
        return np.where(masks, rows, 0.0).sum(-1) / np.maximum(masks.sum(-1), 1)


class TabularIQL(QLearner):
    """Independent Q-learners with ε-greedy exploration; see the module docstring."""

    name = "iql"
    version = 1

    def __init__(self, info: EnvInfo, params: IQLParams, rng: np.random.Generator) -> None:
        super().__init__(info, params, rng)
        self.abstraction = StateAbstraction(info, params, needed_by=self.name)
        shape = (self.n_agents, self.abstraction.n_states, info.n_actions)
        self.q = np.full(shape, params.q_init, dtype=np.float64)
        self._agent_index = np.arange(self.n_agents)

    def _encode(self, obs: np.ndarray) -> np.ndarray:
        """(B, N) abstract states of a batch of observations (MAQ-L appends pair states)."""
        return self.abstraction.encode(obs)

    def _rows(self, states: np.ndarray) -> np.ndarray:
        """(B, N, A): each agent's Q-values in its own state."""
        return self.q[self._agent_index, states]

    def _apply(self, states: np.ndarray, actions: np.ndarray, delta: np.ndarray) -> None:
        flat = np.ravel_multi_index(
            (np.broadcast_to(self._agent_index, states.shape), states, actions), self.q.shape
        )
        averaged_step(self.q, flat.ravel(), delta.ravel(), self.params.alpha)

    # -- checkpoints -----------------------------------------------------------------
    def _arrays(self) -> dict[str, np.ndarray]:
        return {"q": self.q}

    def _set_arrays(self, arrays: dict[str, Any]) -> None:
        self.q = np.array(arrays["q"], dtype=np.float64)


def averaged_step(table: np.ndarray, flat: np.ndarray, delta: np.ndarray, alpha: float) -> None:
    """table.flat[k] += α · mean of the deltas aimed at k (one plain step when k is unique)."""
    if len(np.unique(flat)) == len(flat):
        table.flat[flat] += alpha * delta
        return
    keys, inverse = np.unique(flat, return_inverse=True)
    sums = np.bincount(inverse, weights=delta)
    counts = np.bincount(inverse)
    table.flat[keys] += alpha * (sums / counts)
