"""The agents' side of every marec env: names, spaces, observation packing, action checks.

The ParallelEnv (one world), the vector env (B worlds) and the matrix game each hold one
:class:`AgentInterface`, so their agents, spaces and checks cannot drift apart. Observations
and masks arrive as arrays whose second-to-last axis is the agent: (N, D) for one world,
(B, N, D) for B worlds; each agent gets its slice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium
import numpy as np

from marec_env.validation import (
    check_actions_against_mask,
    validate_action_dict,
    validate_batched_actions,
)

AGENT_PREFIX = "recommender_"


def agent_names(n_agents: int) -> list[str]:
    """``recommender_0`` … ``recommender_{N-1}``."""
    return [f"{AGENT_PREFIX}{i}" for i in range(n_agents)]


class AgentInterface:
    """Agents, their (identical) spaces, observation packing and action validation.

    ``observation="dict"`` wraps each observation as {"observation", "action_mask"}.
    """

    def __init__(
        self,
        n_agents: int,
        obs_dim: int,
        n_actions: int,
        observation: str = "box",
        bounds: tuple[float, float] = (-1.0, 1.0),
    ) -> None:
        self.possible_agents = agent_names(n_agents)
        self.n_actions = n_actions
        self.dict_observations = observation == "dict"
        low, high = bounds
        self.box = gymnasium.spaces.Box(low, high, (obs_dim,), np.float32)
        self.mask_space = gymnasium.spaces.Box(0, 1, (n_actions,), np.int8)
        self.single_observation_space: gymnasium.spaces.Space = (
            gymnasium.spaces.Dict({"observation": self.box, "action_mask": self.mask_space})
            if self.dict_observations
            else self.box
        )
        self.single_action_space = gymnasium.spaces.Discrete(n_actions)
        self.state_space = gymnasium.spaces.Box(low, high, (obs_dim * n_agents,), np.float32)

    # ------------------------------------------------------------------ agents and spaces
    def check_agent(self, agent: str) -> None:
        if agent not in self.possible_agents:
            raise KeyError(f"unknown agent {agent!r}; this env's agents are {self.possible_agents}")

    def observation_space(self, agent: str) -> gymnasium.spaces.Space:
        self.check_agent(agent)
        return self.single_observation_space

    def action_space(self, agent: str) -> gymnasium.spaces.Space:
        self.check_agent(agent)
        return self.single_action_space

    # ------------------------------------------------------------------ observations
    def pack(self, obs: np.ndarray, masks: Callable[[], np.ndarray]) -> dict[str, Any]:
        """Agent → its observation, wrapped with its action mask in dict mode; ``masks`` is
        called only then. The observations are views into one copy of ``obs``, so a caller
        mutating them never changes the env's own buffer (``state()``)."""
        obs = obs.copy()
        if self.dict_observations:
            mask = masks()
            return {
                a: {"observation": obs[..., i, :], "action_mask": mask[..., i, :]}
                for i, a in enumerate(self.possible_agents)
            }
        return self.per_agent(obs)

    def per_agent(self, values: np.ndarray) -> dict[str, Any]:
        """Agent → its slice along the agent axis (second to last)."""
        return {a: values[..., i, :] for i, a in enumerate(self.possible_agents)}

    def per_agent_column(self, values: np.ndarray) -> dict[str, Any]:
        """Agent → column i of a (B, N) array."""
        return {a: values[:, i] for i, a in enumerate(self.possible_agents)}

    # ------------------------------------------------------------------ actions
    def joint_action(
        self,
        actions: Any,
        live_agents: Sequence[str],
        masks: Callable[[], np.ndarray] | None = None,
    ) -> np.ndarray:
        """(N,) int64 from a ParallelEnv action dict, checked against the live agents and,
        where a mask is published (dict mode), against ``masks()`` (N, A)."""
        joint = validate_action_dict(actions, live_agents, self.n_actions)
        if self.dict_observations and masks is not None:
            check_actions_against_mask(joint, masks(), live_agents)
        return joint

    def batched_actions(
        self, actions: Any, num_envs: int, masks: Callable[[], np.ndarray]
    ) -> np.ndarray:
        """(B, N) int64 from a dict of (B,) arrays or a (B, N) array, checked against
        ``masks()`` (B, N, A) in dict mode."""
        joint = validate_batched_actions(actions, self.possible_agents, num_envs, self.n_actions)
        if self.dict_observations:
            check_actions_against_mask(joint, masks(), self.possible_agents)
        return joint
