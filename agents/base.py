"""The learner protocol and what every learner shares.

Every learner works on *batches*: B independent worlds × N agents. The PettingZoo ParallelEnv
is the B=1 case, the vector env the B>1 case; :mod:`agents.train` converts the env's per-agent
dicts to the stacked arrays below, so a learner has one code path for both.

The protocol (``act / observe / update / save / load``):

- ``act(batch, explore) -> (B, N) int64 actions``; ``explore=False`` is greedy evaluation and
  draws no random numbers.
- ``observe(transition)`` hands over one step of experience; ``update() -> int`` learns from
  what was observed and returns how many updates it made. Learners that do not learn
  (random, greedy, oracle) have neither: ``is_trainable(learner)`` is False for them.
- ``save(path)`` / ``load(path)``: see :mod:`agents.checkpoint`.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from agents import checkpoint


class LearnerError(ValueError):
    """A learner cannot handle this env, or was fed invalid experience."""


@dataclass(frozen=True, eq=False)
class EnvInfo:
    """What a learner may know about the env: spaces, agent names, the observation layout."""

    env_id: str
    agents: tuple[str, ...]
    obs_dim: int
    n_actions: int
    obs_low: np.ndarray
    obs_high: np.ndarray
    obs_layout: dict[str, slice] | None = None
    """``env.unwrapped.obs_layout`` when the env has one (marec envs do; mpe2 does not)."""
    cooperative: bool | None = None
    """True: every agent is paid the same team reward (a market with reward_lambda 0, a
    common-payoff game); False: agents' rewards differ; None: the env does not say (mpe2)."""

    def header(self) -> dict[str, Any]:
        """The JSON-able identity a checkpoint is checked against."""
        return {"env_id": self.env_id, "agents": list(self.agents),
                "obs_shape": [self.obs_dim], "n_actions": self.n_actions}  # fmt: skip

    def layout_part(self, key: str, needed_by: str) -> slice:
        if self.obs_layout is None or key not in self.obs_layout:
            have = sorted(self.obs_layout) if self.obs_layout else "no obs_layout"
            raise LearnerError(
                f"{needed_by} needs obs_layout[{key!r}] (capability needs_obs_layout); "
                f"env {self.env_id!r} has {have}"
            )
        return self.obs_layout[key]


@dataclass
class Batch:
    """What the agents see at one step of B worlds (N agents, A actions)."""

    obs: np.ndarray
    """(B, N, obs_dim) float32."""
    masks: np.ndarray
    """(B, N, A) bool: allowed actions (all True when the env has no masks)."""
    oracle: np.ndarray | None = None
    """(B, N, A) true action values; filled by the loop only for ``reads_oracle`` learners."""


@dataclass
class Transition:
    """One step of B worlds: ``next_obs`` of a finished world is its final observation."""

    obs: np.ndarray
    masks: np.ndarray
    actions: np.ndarray
    """(B, N) int64."""
    rewards: np.ndarray
    """(B, N) float32."""
    next_obs: np.ndarray
    next_masks: np.ndarray
    terminated: np.ndarray
    """(B,) bool: the episode ended for real; no bootstrapping."""
    truncated: np.ndarray
    """(B,) bool: cut by the time limit; the value of next_obs is bootstrapped."""


@runtime_checkable
class Learner(Protocol):
    """Acts; every learner in :data:`agents.registry.LEARNERS` is one."""

    name: str
    info: EnvInfo

    def act(self, batch: Batch, explore: bool = True) -> np.ndarray: ...
    def save(self, path: str) -> None: ...
    def load(self, path: str) -> None: ...


@runtime_checkable
class TrainableLearner(Learner, Protocol):
    """Acts and learns."""

    def observe(self, transition: Transition) -> None: ...
    def update(self) -> int: ...


def is_trainable(learner: Learner) -> bool:
    return isinstance(learner, TrainableLearner)


def check_transition(tr: Transition, name: str) -> None:
    """NaN/inf rewards or observations would silently corrupt every value estimate."""
    if not np.all(np.isfinite(tr.rewards)):
        bad = np.argwhere(~np.isfinite(tr.rewards))[0]
        raise LearnerError(
            f"{name}: non-finite reward {tr.rewards[tuple(bad)]} (world {bad[0]}, agent {bad[1]})"
        )
    if not (np.all(np.isfinite(tr.obs)) and np.all(np.isfinite(tr.next_obs))):
        raise LearnerError(f"{name}: non-finite observation in transition")


def masked_argmax(values: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """argmax over the last axis among allowed actions (first index on ties)."""
    return np.where(masks, values, -np.inf).argmax(axis=-1)


class BaseLearner:
    """Shared plumbing: env checks, the seeded Generator, counters and checkpoint headers.

    Subclasses set ``name`` and ``version``, and implement ``_arrays()`` / ``_set_arrays()``
    (numpy state) or override ``save``/``load`` (torch state).
    """

    name = "base"
    version = 1

    def __init__(self, info: EnvInfo, params: Any, rng: np.random.Generator) -> None:
        self.info = info
        self.params = params
        self.rng = rng
        self.n_agents = len(info.agents)
        self.updates = 0
        self.messages = 0
        self.steps_seen = 0

    # -- checkpoint plumbing -------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        """JSON-able counters and the Generator state (so a reload continues exactly)."""
        return {"updates": self.updates, "messages": self.messages,
                "steps_seen": self.steps_seen, "rng": self.rng.bit_generator.state}  # fmt: skip

    def _set_state(self, state: dict[str, Any]) -> None:
        self.updates = int(state["updates"])
        self.messages = int(state["messages"])
        self.steps_seen = int(state["steps_seen"])
        self.rng.bit_generator.state = copy.deepcopy(state["rng"])

    def header(self) -> dict[str, Any]:
        return checkpoint.make_header(
            self.name, self.version, self.info.header(), asdict(self.params), self._state()
        )

    def _arrays(self) -> dict[str, np.ndarray]:
        return {}

    def _set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        del arrays

    def save(self, path: str) -> None:
        checkpoint.save_npz(path, self.header(), self._arrays())

    def load(self, path: str) -> None:
        """Restore a :meth:`save`; everything is checked first, so a refused checkpoint
        (CheckpointError) leaves this learner unchanged."""
        header, arrays = checkpoint.load_npz(path)
        self._check_header(path, header)
        expected = self._arrays()
        for key, value in expected.items():
            if key not in arrays or arrays[key].shape != value.shape:
                got = arrays[key].shape if key in arrays else "missing"
                raise checkpoint.CheckpointError(
                    f"{path}: array {key!r} has shape {got}, this learner needs {value.shape}"
                )
        self._apply_state(path, header["state"])
        self._set_arrays(arrays)

    def _check_header(self, path: str, header: dict[str, Any]) -> None:
        checkpoint.check_header(header, self.name, self.version, self.info.header(),
                                asdict(self.params))  # fmt: skip
        checkpoint.check_counters(path, header["state"])
        checkpoint.check_rng_state(path, self.rng, header["state"].get("rng"))

    def _apply_state(self, path: str, state: dict[str, Any]) -> None:
        """``_set_state``, rolled back if a subclass's part of the state does not parse."""
        before = self._state()
        try:
            self._set_state(state)
        except (KeyError, TypeError, ValueError) as exc:
            self._set_state(before)
            raise checkpoint.CheckpointError(
                f"{path}: checkpoint state is malformed ({exc})"
            ) from None
