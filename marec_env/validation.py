"""Checks on what users hand to the env; every error names the field and what is allowed."""

from __future__ import annotations

import functools
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


# ---------------------------------------------------------------- issue 12, items 7-12
class NotResetError(RuntimeError):
    """The env was used before its first reset()."""


class SeedError(ValueError):
    """A reset seed that is not None or an integer >= 0."""


def require_reset(was_reset: bool, what: str) -> None:
    """NotResetError for ``what`` (e.g. ``"step()"``) on an env never reset (item 9)."""
    if not was_reset:
        raise NotResetError(f"{what} called before reset(); call reset() first")


def check_seed(seed: Any) -> int | None:
    """None, or the seed as a Python int >= 0 (numpy ints too); SeedError otherwise (item 10).

    ``True`` is refused: it would silently act as seed 1."""
    if isinstance(seed, np.ndarray) and seed.shape == ():
        seed = seed[()]
    if seed is None:
        return None
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise SeedError(
            f"reset(seed=...) must be None or an integer >= 0, got {seed!r} of type "
            f"{type(seed).__name__}"
        )
    if int(seed) < 0:
        raise SeedError(f"reset(seed=...) must be None or an integer >= 0, got {int(seed)}")
    return int(seed)


def check_num_envs(num_envs: Any, config: Any) -> int:
    """``num_envs`` as a Python int >= 1 (numpy ints too) whose worlds fit in memory."""
    from marec_env.config_checks import check_memory

    if isinstance(num_envs, np.ndarray) and num_envs.shape == ():
        num_envs = num_envs[()]
    ok = isinstance(num_envs, numbers.Integral) and not isinstance(num_envs, (bool, np.bool_))
    if not ok or int(num_envs) < 1:
        raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
    check_memory(config, int(num_envs))
    return int(num_envs)


def check_actions_against_mask(joint: np.ndarray, masks: np.ndarray, agents: Sequence[str]) -> None:
    """ActionError naming the first agent whose action its published mask forbids (item 7).

    ``joint`` is (N,) or (B, N); ``masks`` (N, A) or (B, N, A). Only called where a mask is
    published (``observation="dict"``); with Box observations an action the mask would
    forbid (a candidate slot the backbone could not fill) is accepted and harmless: the
    page shows a filler item in that slot and nothing else changes."""
    joint2, masks3 = np.atleast_2d(joint), masks.reshape(-1, *masks.shape[-2:])
    allowed = np.take_along_axis(masks3, joint2[:, :, None], axis=2)[:, :, 0].astype(bool)
    if allowed.all():
        return
    world, index = (int(i[0]) for i in np.nonzero(~allowed))
    agent, action = agents[index], int(joint2[world, index])
    where = f" in world {world}" if joint.ndim == 2 else ""
    legal = np.flatnonzero(masks3[world, index]).tolist()
    raise ActionError(
        f"action {action} for {agent!r}{where} is masked out (action_mask is 0 there: no "
        f"candidate in that slot); allowed actions: {legal}"
    )


def unaliased(obs: np.ndarray) -> np.ndarray:
    """A copy of the env's observation buffer, so a caller mutating what step() or reset()
    returned never changes ``env.state()`` (item 12)."""
    return obs.copy()


def check_aec_action(aec: Any, action: Any) -> None:
    """Refuse, before the AEC env buffers it, an action its agent may not give (item 8):
    out of range or of the wrong type, or masked out where a mask is published. A refused
    action changes nothing, so the env stays usable."""
    agent = aec.agent_selection
    if aec.terminations.get(agent) or aec.truncations.get(agent):
        if action is not None:
            raise ActionError(f"{agent!r} is done: its action must be None, got {action!r}")
        return
    value = as_action(agent, action, int(aec.action_space(agent).n))
    observation = aec.observe(agent)
    if isinstance(observation, Mapping) and "action_mask" in observation:
        mask = np.asarray(observation["action_mask"])
        check_actions_against_mask(np.array([value]), mask[None, :], [agent])


@functools.cache
def _checked_aec_class() -> type:
    from pettingzoo.utils.conversions import parallel_to_aec_wrapper

    class CheckedParallelToAEC(parallel_to_aec_wrapper):
        """PettingZoo's parallel→AEC conversion, checking each action when it is given."""

        def step(self, action: Any) -> None:
            check_aec_action(self, action)
            super().step(action)

    return CheckedParallelToAEC


def checked_aec(parallel: Any) -> Any:
    """The AEC version of ``parallel`` (as ``parallel_to_aec``) that refuses a bad action at
    the agent that gives it instead of at the last agent."""
    from pettingzoo.utils.wrappers import OrderEnforcingWrapper

    return OrderEnforcingWrapper(_checked_aec_class()(parallel))
