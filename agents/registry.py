"""The one list of learners. The benchmark runner and the tests both iterate :data:`LEARNERS`.

Each :class:`LearnerSpec` names a factory, its default hyper-parameters (a frozen dataclass
instance; ``describe(name)`` prints each field's docstring) and :class:`Capabilities` that a
runner can filter on. :func:`make_learner` builds one for an env and refuses envs it cannot
handle, naming the capability.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from agents import checkpoint
from agents.base import EnvInfo, Learner, LearnerError
from agents.baselines import (
    BestResponseLearner,
    GreedyLearner,
    NoParams,
    OracleLearner,
    RandomLearner,
)
from agents.heuristics import (
    DedupGreedyLearner,
    DedupParams,
    JointOracleLearner,
    JointOracleParams,
    PIDPacingLearner,
    PIDParams,
)
from agents.linear import LinearIQLParams, LinearMAQLParams, make_iql_linear, make_maql_linear
from agents.params import build_params, field_docs, unknown_name_error
from agents.tabular import IQLParams, MAQLParams, make_iql, make_maql


@dataclass(frozen=True)
class Capabilities:
    """What a learner needs from the env and what it does; runners filter on these."""

    trainable: bool
    """Has observe()/update(): the loop trains it."""
    evaluation_only: bool = False
    """Never trains and reads privileged information (a reference, not a learner)."""
    reads_oracle: bool = False
    """Needs ``env.unwrapped.oracle_action_values()`` at every step."""
    needs_obs_layout: bool = False
    """Reads named parts of the observation (``env.unwrapped.obs_layout``)."""
    needs_messages: bool = False
    """Agents exchange messages to choose the joint action (a coordination graph); the loop
    records the learner's ``messages`` count."""
    shares_gradients: bool = False
    """Agents' gradients are averaged across replicas (distributed training)."""
    supports_competitive: bool = True
    """Each agent optimises its own reward; False: maximises the agents' summed reward, so
    :func:`make_learner` refuses envs whose agents are paid differently unless the learner's
    ``maximise_team_reward`` parameter says to run it there as a team-reward reference."""
    vectorised: bool = True
    """Accepts a batch of B > 1 worlds (the vector env); the loop refuses ``num_envs`` > 1."""


@dataclass(frozen=True)
class LearnerSpec:
    name: str
    factory: Callable[[EnvInfo, Any, np.random.Generator], Learner]
    default_params: Any
    """Default hyper-parameters: a frozen dataclass instance, or a zero-argument function
    returning one (deep learners: their parameters live next to torch code, imported late)."""
    capabilities: Capabilities
    description: str

    @property
    def params(self) -> Any:
        """The default hyper-parameters (a frozen dataclass instance)."""
        if dataclasses.is_dataclass(self.default_params):
            return self.default_params
        return self.default_params()


def _dqn(info: EnvInfo, params: Any, rng: np.random.Generator) -> Learner:
    from agents.dqn import DQN  # torch is imported only when a deep learner is built

    return DQN(info, params, rng)


@functools.cache
def _dqn_params() -> Any:
    from agents.dqn import DQNParams

    return DQNParams()


def _maql_deep(info: EnvInfo, params: Any, rng: np.random.Generator) -> Learner:
    from agents.maql_deep import MAQLDeep

    return MAQLDeep(info, params, rng)


@functools.cache
def _maql_deep_params() -> Any:
    from agents.maql_deep import MAQLDeepParams

    return MAQLDeepParams()


def _dmarl(info: EnvInfo, params: Any, rng: np.random.Generator) -> Learner:
    from agents.dmarl import DMARL  # torch(.distributed) only when DMARL is built

    return DMARL(info, params, rng)


@functools.cache
def _dmarl_params() -> Any:
    from agents.dmarl import DMARLParams

    return DMARLParams()


_TABULAR = Capabilities(trainable=True, needs_obs_layout=True)
_LINEAR = Capabilities(trainable=True, needs_obs_layout=True)
LEARNERS: dict[str, LearnerSpec] = {}


def register(spec: LearnerSpec) -> None:
    """Add a learner (other modules, e.g. DMARL, register theirs the same way)."""
    if spec.name in LEARNERS:
        raise ValueError(f"learner {spec.name!r} is already registered")
    LEARNERS[spec.name] = spec


for _spec in (
    LearnerSpec("random", RandomLearner, NoParams(), Capabilities(trainable=False),
                "Uniform over allowed actions (seeded)."),
    LearnerSpec("greedy", GreedyLearner, NoParams(),
                Capabilities(trainable=False, needs_obs_layout=True),
                "Backbone's top-1 candidate, middle bid in auctions."),
    LearnerSpec("oracle", OracleLearner, NoParams(),
                Capabilities(trainable=False, evaluation_only=True, reads_oracle=True),
                "Best true action value (env's evaluation-only oracle hook); regret reference."),
    LearnerSpec("iql", make_iql, IQLParams(), _TABULAR,
                "Independent tabular Q-learning on a coarse state abstraction."),
    LearnerSpec("iql-sarsa", make_iql, IQLParams(target="sarsa"), _TABULAR,
                "Independent tabular learning with the on-policy expected-SARSA target."),
    LearnerSpec("dqn", _dqn, _dqn_params, Capabilities(trainable=True),
                "Independent DQN per agent (replay, target network, double Q)."),
    LearnerSpec("maql", make_maql, MAQLParams(),
                dataclasses.replace(_TABULAR, needs_messages=True, supports_competitive=False),
                "Sparse cooperative Q-learning on a coordination graph, max-plus messages."),
    LearnerSpec("iql-linear", make_iql_linear, LinearIQLParams(), _LINEAR,
                "Independent Q-learning, values linear in the shown candidate's features."),
    LearnerSpec("maql-linear", make_maql_linear, LinearMAQLParams(),
                dataclasses.replace(_LINEAR, needs_messages=True, supports_competitive=False),
                "MAQ-L with linear local and pair terms (same-item pair feature), max-plus."),
    LearnerSpec("maql-deep", _maql_deep, _maql_deep_params,
                Capabilities(trainable=True, needs_messages=True, supports_competitive=False),
                "Deep coordination graph: shared utility and pair payoff networks, max-plus."),
    LearnerSpec("dmarl", _dmarl, _dmarl_params,
                Capabilities(trainable=True, shares_gradients=True),
                "Actor-critic (A2C) per agent; gradients shared across torch.distributed nodes."),
    LearnerSpec("greedy-dedup", DedupGreedyLearner, DedupParams(),
                Capabilities(trainable=False, needs_obs_layout=True),
                "Backbone top-1 skipping items an earlier agent shows; match-ordered positions."),
    LearnerSpec("pid-pacing", PIDPacingLearner, PIDParams(),
                Capabilities(trainable=False, needs_obs_layout=True),
                "Backbone top-1; a PID controller paces the bid to spend the budget evenly."),
    LearnerSpec("best-response", BestResponseLearner, NoParams(),
                Capabilities(trainable=False, evaluation_only=True, reads_oracle=True),
                "Competitive reference: each agent best-responds (own reward) to greedy bidders."),
    LearnerSpec("oracle-joint", JointOracleLearner, JointOracleParams(),
                Capabilities(trainable=False, evaluation_only=True, reads_oracle=True,
                             needs_obs_layout=True, supports_competitive=False),
                "Team one-step oracle: distinct items by true utility, best on top."),
):  # fmt: skip
    register(_spec)


def get_spec(name: str) -> LearnerSpec:
    if name not in LEARNERS:
        raise unknown_name_error("learner", name, list(LEARNERS))
    return LEARNERS[name]


def make_params(name: str, overrides: dict[str, Any] | None = None) -> Any:
    """The learner's default hyper-parameters with ``overrides``; unknown names raise."""
    spec = get_spec(name)
    return build_params(type(spec.params), spec.params, dict(overrides or {}), name)


def describe(name: str) -> dict[str, tuple[Any, str]]:
    """Hyper-parameter name → (default, docstring)."""
    spec = get_spec(name)
    docs = field_docs(type(spec.params))
    return {f.name: (getattr(spec.params, f.name), docs.get(f.name, ""))
            for f in dataclasses.fields(spec.params)}  # fmt: skip


def make_learner(
    name: str, info: EnvInfo, params: dict[str, Any] | Any | None, rng: np.random.Generator
) -> Learner:
    """Build learner ``name`` for an env; ``params`` is a dict of overrides or a dataclass."""
    spec = get_spec(name)
    if not dataclasses.is_dataclass(params):
        params = make_params(name, params)
    elif type(params) is not type(spec.params):
        raise LearnerError(f"{name} takes {type(spec.params).__name__}, got {type(params)}")
    if spec.capabilities.needs_obs_layout and info.obs_layout is None:
        raise LearnerError(
            f"learner {name!r} has capability needs_obs_layout (it reads named parts of the "
            f"observation) but env {info.env_id!r} exposes no obs_layout"
        )
    check_reward_structure(name, params, info.env_id, info.cooperative)
    learner = spec.factory(info, params, rng)
    learner.name = name  # e.g. "iql-sarsa" is built by make_iql; checkpoints carry the name
    return learner


def check_reward_structure(name: str, params: Any, env_id: str, cooperative: bool | None) -> None:
    """A team-reward maximiser on an env whose agents are paid differently (``cooperative``
    False): LearnerError unless its ``maximise_team_reward`` parameter accepts that it ignores
    each agent's own reward. The harness calls this before a run writes anything."""
    if get_spec(name).capabilities.supports_competitive or cooperative is not False:
        return
    if not getattr(params, "maximise_team_reward", False):
        raise LearnerError(
            f"learner {name!r} has supports_competitive=False (it maximises the agents' summed "
            f"reward), but env {env_id!r} pays agents differently (reward_lambda > 0 or "
            f"own payoffs); set its parameter maximise_team_reward=true to run it there "
            f"anyway as a team-reward reference"
        )


def load_learner(path: str, info: EnvInfo, rng: np.random.Generator | None = None) -> Learner:
    """Rebuild the learner a checkpoint was written by (its saved hyper-parameters) and load."""
    header = checkpoint.read_header(path)
    name = header.get("learner")
    if name not in LEARNERS:
        raise checkpoint.CheckpointError(f"{path}: written by unknown learner {name!r}")
    learner = make_learner(name, info, header.get("params", {}), rng or np.random.default_rng())
    learner.load(path)
    return learner
