"""The one temporal-difference learner: a value function and an acting rule, passed in.

Every tabular and linear learner here (``iql``, ``iql-sarsa``, ``maql``, ``iql-linear``,
``maql-linear``) is a :class:`TDLearner` built from two parts:

- a **value function** (:class:`ValueFunction`): how observations become states, how Q is
  stored (a table, linear weights; with or without pair terms on a coordination graph) and
  how it moves along TD errors. :mod:`agents.tabular` and :mod:`agents.linear` hold one each;
- an **acting rule** (:mod:`agents.acting`): independent argmax, or max-plus on the graph.

One step, for every world b and agent i, with Q_i agent i's share of the value (its own
term, plus half of each pair term it is part of)::

    a*     = greedy joint action at s'                       (the acting rule)
    target = r_i + γ · (1 − terminated) · Q_i(s', a*)
    δ_i    = target − Q_i(s, a)                              (value.step moves Q along δ)

With ``target="sarsa"`` (expected SARSA: on-policy, and it needs no deferred update when a
world is reset inside a vector env) Q_i(s', a*) becomes its expectation under the ε-greedy
behaviour, ``(1 − ε) Q_i(s', a*) + ε · mean over allowed actions``. Exploration is ε-greedy,
ε decaying linearly over ``epsilon_decay_steps`` world-steps, for each of the acting rule's
groups (one agent alone, or a component of the graph jointly).

A new TD learner is one new module with its value function, its hyper-parameters and a
factory returning ``TDLearner(...)``, plus one line in :mod:`agents.registry`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from agents.base import BaseLearner, Batch, EnvInfo, Transition, check_transition
from agents.exploration import epsilon_greedy, linear_schedule
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


class ValueFunction(Protocol):
    """Q over a batch of B worlds × N agents × A actions, however it is stored."""

    def encode(self, obs: np.ndarray) -> Any:
        """States of observations (B, N, obs_dim), in whatever form the other methods read."""

    def rows(self, states: Any) -> np.ndarray:
        """(B, N, A): each agent's own term for every action."""

    def pair_rows(self, states: Any) -> list[np.ndarray]:
        """Per coordination-graph edge (B, A, A) payoffs; empty without pair terms."""

    def values(self, states: Any, actions: np.ndarray) -> np.ndarray:
        """(B, N): Q_i, agent i's share of the value of the joint action (B, N)."""

    def uniform_values(self, states: Any, masks: np.ndarray) -> np.ndarray:
        """(B, N): Q_i under uniformly random allowed actions (expected SARSA)."""

    def step(self, states: Any, actions: np.ndarray, delta: np.ndarray) -> None:
        """Move Q_i(s, a) along the TD errors δ (B, N)."""

    def arrays(self) -> dict[str, np.ndarray]:
        """The learned arrays, by checkpoint name."""

    def set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore :meth:`arrays` (shapes already checked)."""


class ActingRule(Protocol):
    """Greedy joint action from a value function, and who explores together."""

    groups: list[list[int]]
    """Agents whose actions ε-greedy replaces together (a partition of the agents)."""

    def greedy(self, value: Any, states: Any, masks: np.ndarray) -> tuple[np.ndarray, int]:
        """(B, N) greedy actions among the allowed ones, and the messages sent for them."""

    def state(self) -> dict[str, Any]:
        """JSON-able counters for the checkpoint header."""

    def set_state(self, state: dict[str, Any]) -> None: ...


class TDLearner(BaseLearner):
    """ε-greedy TD learning of ``value``, acting by ``acting``; see the module docstring."""

    params: TDParams

    def __init__(self, name: str, version: int, info: EnvInfo, params: TDParams,
                 rng: np.random.Generator, value: ValueFunction,
                 acting: ActingRule) -> None:  # fmt: skip
        super().__init__(info, params, rng)
        self.name, self.version = name, version
        self.value = value
        self.acting = acting
        self._pending: list[Transition] = []

    # -- acting ----------------------------------------------------------------------
    @property
    def epsilon(self) -> float:
        p = self.params
        return linear_schedule(p.epsilon_start, p.epsilon_end, p.epsilon_decay_steps,
                               self.steps_seen)  # fmt: skip

    def act(self, batch: Batch, explore: bool = True) -> np.ndarray:
        greedy = self._greedy(self.value.encode(batch.obs), batch.masks)
        if not explore:
            return greedy
        return epsilon_greedy(greedy, batch.masks, self.epsilon, self.acting.groups, self.rng)

    def _greedy(self, states: Any, masks: np.ndarray) -> np.ndarray:
        actions, messages = self.acting.greedy(self.value, states, masks)
        self.messages += messages
        return actions

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
        value = self.value
        states, next_states = value.encode(tr.obs), value.encode(tr.next_obs)
        v_next = value.values(next_states, self._greedy(next_states, tr.next_masks))
        if self.params.target == "sarsa":
            eps = self.epsilon
            v_next = (1.0 - eps) * v_next + eps * value.uniform_values(next_states, tr.next_masks)
        alive = 1.0 - tr.terminated.astype(np.float64)[:, None]
        target = tr.rewards + self.params.gamma * alive * v_next
        delta = target - value.values(states, tr.actions)
        value.step(states, tr.actions, delta)
        return len(tr.rewards)

    # -- checkpoints: the value's arrays, the acting rule's counters -------------------
    def _state(self) -> dict[str, Any]:
        return {**super()._state(), **self.acting.state()}

    def _set_state(self, state: dict[str, Any]) -> None:
        super()._set_state(state)
        self.acting.set_state(state)

    def _arrays(self) -> dict[str, np.ndarray]:
        return self.value.arrays()

    def _set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.value.set_arrays(arrays)
