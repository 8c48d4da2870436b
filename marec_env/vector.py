"""Batched env: B independent worlds of one preset, stepped as arrays, auto-resetting."""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np

from marec_env.config import MarketConfig
from marec_env.market import Market
from marec_env.threads import env_threads
from marec_env.validation import ActionError, validate_action_array


class VectorMarketEnv:
    """``num_envs`` worlds of the same market (shared catalog, independent users and
    randomness), with the ParallelEnv's dynamics: the same :class:`Market` code at W = B.

    Every return value is a dict over agents of arrays with a leading batch dimension B.
    Worlds that reach ``max_cycles`` are reset inside the same ``step``; their last
    observation is in ``infos[agent]["final_observation"]`` and ``truncations`` marks them.
    """

    metadata = {"name": "marec_market_vector_v0", "autoreset_mode": "same-step"}

    def __init__(self, config: MarketConfig, num_envs: int, env_id: str = "marec/custom"):
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
        self.config = config
        self.env_id = env_id
        self.num_envs = num_envs
        self.market = Market(config, num_worlds=num_envs)
        self.possible_agents = [f"recommender_{i}" for i in range(config.n_agents)]
        self.agents = list(self.possible_agents)
        self.obs_layout = self.market.layout.slices
        self._box = gymnasium.spaces.Box(-1.0, 1.0, (self.market.layout.size,), np.float32)
        self._action_space = gymnasium.spaces.Discrete(config.n_actions)
        self._all = np.arange(num_envs)
        self._seeded = False

    def observation_space(self, agent: str) -> gymnasium.spaces.Space:
        """The space of one world's observation."""
        return self._box

    def action_space(self, agent: str) -> gymnasium.spaces.Space:
        """The space of one world's action."""
        return self._action_space

    @env_threads
    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None or not self._seeded:
            self.market.seed(np.random.SeedSequence(seed))
            self._seeded = True
        self.market.reset_worlds(self._all)
        obs = self.market.observations()
        return self._split(obs), {a: {} for a in self.possible_agents}

    @env_threads
    def step(self, actions: dict[str, Any] | np.ndarray):
        joint = self._joint(actions)
        result = self.market.step(joint)
        obs = self.market.observations()
        done = np.flatnonzero(result.truncated)
        final = obs
        if len(done):
            final = obs.copy()
            self.market.reset_worlds(done)
            obs = self.market.observations()
        infos = {
            a: {**{k: v[:, i] for k, v in result.info.items()}, "final_observation": final[:, i]}
            for i, a in enumerate(self.possible_agents)
        }
        rewards = {a: result.rewards[:, i] for i, a in enumerate(self.possible_agents)}
        terminations = {a: np.zeros(self.num_envs, bool) for a in self.possible_agents}
        truncations = {a: result.truncated.copy() for a in self.possible_agents}
        return self._split(obs), rewards, terminations, truncations, infos

    def _joint(self, actions: dict[str, Any] | np.ndarray) -> np.ndarray:
        shape = (self.num_envs, self.config.n_agents)
        if isinstance(actions, dict):
            missing = [a for a in self.possible_agents if a not in actions]
            extra = [a for a in actions if a not in self.possible_agents]
            if missing or extra:
                raise ActionError(
                    f"actions must have one (B,) array per agent {self.possible_agents}; "
                    f"missing {missing}, unexpected {extra}"
                )
            columns = [np.asarray(actions[a]) for a in self.possible_agents]
            for agent, column in zip(self.possible_agents, columns):
                if column.shape != (self.num_envs,):
                    raise ActionError(
                        f"actions[{agent!r}] must have shape ({self.num_envs},), got {column.shape}"
                    )
            actions = np.stack(columns, axis=1)
        return validate_action_array(actions, shape, self.config.n_actions)

    def _split(self, obs: np.ndarray) -> dict[str, Any]:
        if self.config.observation == "dict":
            masks = self.market.action_masks()
            return {
                a: {"observation": obs[:, i], "action_mask": masks[:, i]}
                for i, a in enumerate(self.possible_agents)
            }
        return {a: obs[:, i] for i, a in enumerate(self.possible_agents)}

    def state(self) -> np.ndarray:
        """(B, N × obs_dim): each world's agents' observations concatenated."""
        return self.market.observations().reshape(self.num_envs, -1)

    def action_masks(self) -> dict[str, np.ndarray]:
        masks = self.market.action_masks()
        return {a: masks[:, i] for i, a in enumerate(self.possible_agents)}

    def oracle_action_values(self) -> dict[str, np.ndarray]:
        """True utility per action for each world's current user. Evaluation only."""
        values = self.market.oracle_action_values()
        return {a: values[:, i] for i, a in enumerate(self.possible_agents)}

    def close(self) -> None:
        """Nothing to release."""
