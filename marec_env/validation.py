"""Checks on what users hand to the env; every error names the field and what is allowed."""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


class ActionError(ValueError):
    """An action dict or action value that the env cannot accept."""


class EpisodeOverError(RuntimeError):
    """step() was called after every agent was done; call reset() first."""


def as_action(agent: str, value: Any, n_actions: int) -> int:
    """One action as a Python int, or :class:`ActionError` saying what is allowed."""
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ActionError(
            f"action for {agent!r} must be an integer in [0, {n_actions - 1}], "
            f"got {value!r} of type {type(value).__name__}"
        )
    if not 0 <= int(value) < n_actions:
        raise ActionError(
            f"action for {agent!r} is out of range: {int(value)} not in [0, {n_actions - 1}] "
            f"(must be in [0, {n_actions}))"
        )
    return int(value)


def validate_action_dict(actions: Any, agents: Sequence[str], n_actions: int) -> np.ndarray:
    """The joint action (N,) int64 of a ParallelEnv step, checked against the live agents."""
    if not agents:
        raise EpisodeOverError(
            "step() called after the episode ended (every agent done); call reset()"
        )
    if not isinstance(actions, Mapping):
        raise ActionError(f"actions must be a dict agent -> int, got {type(actions).__name__}")
    missing = [a for a in agents if a not in actions]
    extra = [a for a in actions if a not in agents]
    if missing or extra:
        unknown = " (unknown agent or no longer live)" if extra else ""
        raise ActionError(
            f"actions must have exactly one entry per live agent {list(agents)}; "
            f"missing {missing}, unexpected {extra}{unknown}"
        )
    return np.fromiter(
        (as_action(a, actions[a], n_actions) for a in agents), np.int64, count=len(agents)
    )


def validate_action_array(actions: Any, shape: tuple[int, int], n_actions: int) -> np.ndarray:
    """Batched actions (B, N) for the vector env, checked as a whole."""
    array = np.asarray(actions)
    if array.shape != shape:
        raise ActionError(f"actions must have shape {shape} (worlds, agents), got {array.shape}")
    if array.dtype.kind not in "iu":
        raise ActionError(
            f"actions must be integers in [0, {n_actions - 1}], got dtype {array.dtype}"
        )
    if array.size and (array.min() < 0 or array.max() >= n_actions):
        bad = array[(array < 0) | (array >= n_actions)][0]
        raise ActionError(f"action {int(bad)} out of range: allowed [0, {n_actions - 1}]")
    return array.astype(np.int64, copy=False)


def validate_batched_actions(
    actions: Any, agents: Sequence[str], num_envs: int, n_actions: int
) -> np.ndarray:
    """Vector-env actions, a dict agent → (B,) array or a (B, N) array, as (B, N) int64."""
    if isinstance(actions, Mapping):
        missing = [a for a in agents if a not in actions]
        extra = [a for a in actions if a not in agents]
        if missing or extra:
            raise ActionError(
                f"actions must have one (B,) array per agent {list(agents)}; "
                f"missing {missing}, unexpected {extra}"
            )
        columns = [np.asarray(actions[a]) for a in agents]
        for agent, column in zip(agents, columns):
            if column.shape != (num_envs,):
                raise ActionError(
                    f"actions[{agent!r}] must have shape ({num_envs},), got {column.shape}"
                )
        actions = np.stack(columns, axis=1)
    return validate_action_array(actions, (num_envs, len(agents)), n_actions)
