"""Acting rules of the temporal-difference learners: how a value function becomes actions.

:class:`IndependentArgmax`: every agent takes the best action of its own values and explores
alone (independent learners). :class:`MaxPlusActing`: the agents agree on a joint action by
max-plus messages on a coordination graph (:mod:`agents.maxplus`) and explore the joint
action of each connected component of the graph (MAQ-L).

Both read a value function's ``rows(states)`` ((B, N, A) local terms); max-plus also reads
its ``pair_rows(states)`` (one (B, A, A) payoff per edge). ``greedy`` returns the actions
and the number of messages it sent (every world counted), which the learner adds to its
``messages`` counter.

Messages: every max-plus call sends (2·``rounds`` + 1)·|E| :class:`~agents.maxplus.Message`
objects per world. ``floats`` counts their payload, ``message_log`` keeps the last
``log_messages`` and the ``agents.maql`` logger reports each call at DEBUG level.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from agents.base import masked_argmax
from agents.maxplus import GRAPHS, CoordinationGraph, Message, max_plus
from agents.params import check

log = logging.getLogger("agents.maql")


class LocalValues(Protocol):
    def rows(self, states: Any) -> np.ndarray: ...


class GraphValues(LocalValues, Protocol):
    def pair_rows(self, states: Any) -> list[np.ndarray]: ...


@dataclass(frozen=True)
class MaxPlusParams:
    """Hyper-parameters of max-plus acting on a coordination graph (every MAQ-L variant)."""

    graph: str = "full"
    """Coordination graph: ``full`` (every pair), ``ring`` (i with i+1) or ``none`` (= IQL)."""
    rounds: int = 3
    """Max-plus rounds per action selection (exact after 1 round on a single edge)."""
    normalise: bool = True
    """Subtract each message's mean (keeps messages bounded on graphs with cycles)."""
    log_messages: int = 64
    """How many of the latest messages ``message_log`` keeps (0: none)."""
    maximise_team_reward: bool = False
    """MAQ-L maximises the agents' summed reward; on an env whose agents are paid differently
    (reward_lambda > 0, own payoffs) it is refused unless this is true (a team reference)."""

    def check_max_plus(self, who: str) -> None:
        check(self.graph in GRAPHS, who, "graph", self.graph, str(list(GRAPHS)))
        check(self.rounds >= 1, who, "rounds", self.rounds, "an int >= 1")
        check(self.log_messages >= 0, who, "log_messages", self.log_messages, ">= 0")


class IndependentArgmax:
    """Each agent takes the best allowed action of its own values and explores alone."""

    def __init__(self, n_agents: int) -> None:
        self.groups = [[i] for i in range(n_agents)]

    def greedy(self, value: LocalValues, states: Any, masks: np.ndarray) -> tuple[np.ndarray, int]:
        return masked_argmax(value.rows(states), masks), 0

    def state(self) -> dict[str, Any]:
        return {}

    def set_state(self, state: dict[str, Any]) -> None:
        del state


class MaxPlusActing:
    """The joint action by max-plus on a coordination graph, every message counted and logged;
    exploration is joint within each connected component of the graph."""

    def __init__(self, graph: CoordinationGraph, params: MaxPlusParams) -> None:
        self.graph = graph
        self.groups = graph.components
        self.rounds, self.normalise = params.rounds, params.normalise
        self.floats = 0
        self.message_log: deque[Message] = deque(maxlen=params.log_messages)

    def greedy(self, value: GraphValues, states: Any, masks: np.ndarray) -> tuple[np.ndarray, int]:
        return self.choose(value.rows(states), value.pair_rows(states), masks)

    def choose(
        self, local: np.ndarray, pair: list[np.ndarray], masks: np.ndarray
    ) -> tuple[np.ndarray, int]:
        """Max-plus on (B, N, A) local terms and per-edge (B, A, A) payoffs: the joint action
        and the messages sent (``maql-deep`` calls this with its networks' outputs)."""
        result = max_plus(local, pair, self.graph, masks, self.rounds, self.normalise)
        worlds, n_actions = masks.shape[0], masks.shape[-1]
        self.floats += len(result.messages) * worlds * n_actions
        self.message_log.extend(result.messages)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("max-plus: %d messages x %d worlds, value %s", len(result.messages),
                      worlds, np.round(result.value[:4], 3))  # fmt: skip
        return result.actions, len(result.messages) * worlds

    def state(self) -> dict[str, Any]:
        return {"floats": self.floats}

    def set_state(self, state: dict[str, Any]) -> None:
        self.floats = int(state["floats"])
