"""Batched env: B independent worlds of one preset, stepped as arrays, auto-resetting."""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np

from marec_env.config import MarketConfig
from marec_env.frontend import AgentInterface
from marec_env.market import Market
from marec_env.threads import env_threads
from marec_env.validation import SeedError, check_num_envs, check_seed, require_reset


class VectorMarketEnv:
    """``num_envs`` worlds of the same market (shared catalog, independent users and
    randomness), with the ParallelEnv's dynamics: the same :class:`Market` code at W = B.

    Every return value is a dict over agents of arrays with a leading batch dimension B.
    Agents, spaces, observation packing and action checks are the ParallelEnv's
    (:class:`~marec_env.frontend.AgentInterface`); spaces describe one world.
    Worlds that reach ``max_cycles`` (or whose episode ends with the user's visit,
    ``episode_end="session"``) are reset inside the same ``step``; their last observation is
    in ``infos[agent]["final_observation"]`` and ``truncations`` (``terminations``) marks them.
    """

    metadata = {"name": "marec_market_vector_v0", "autoreset_mode": "same-step"}

    def __init__(self, config: MarketConfig, num_envs: int, env_id: str = "marec/custom"):
        num_envs = check_num_envs(num_envs, config)  # numpy ints too; must fit in memory
        self.config = config
        self.env_id = env_id
        self.num_envs = num_envs
        self.market = Market(config, num_worlds=num_envs)
        self.interface = AgentInterface(
            config.n_agents, self.market.layout.size, config.n_actions, config.observation
        )
        self.possible_agents = list(self.interface.possible_agents)
        self.agents = list(self.possible_agents)
        self.obs_layout = self.market.layout.slices
        self.state_space = self.interface.state_space
        self._all = np.arange(num_envs)
        self._seeded = False
        self._obs = np.zeros((num_envs, config.n_agents, self.market.layout.size), np.float32)

    def observation_space(self, agent: str) -> gymnasium.spaces.Space:
        """The space of one world's observation (a Dict with ``action_mask`` in dict mode)."""
        return self.interface.observation_space(agent)

    def action_space(self, agent: str) -> gymnasium.spaces.Space:
        """The space of one world's action."""
        return self.interface.action_space(agent)

    @env_threads
    def reset(self, seed: int | list[int] | None = None, options: dict[str, Any] | None = None):
        """Reset every world. ``seed``: one int seeds the market's shared streams; a list of
        ``num_envs`` ints seeds world b alone with ``seed[b]``, so that world b plays the
        episode of a ParallelEnv reset with ``seed[b]`` (:mod:`marec_env.streams`)."""
        if isinstance(seed, (list, tuple)):  # Gymnasium's per-world seeds (not an array)
            self.market.seed_worlds([np.random.SeedSequence(s) for s in self._seeds(seed)])
            self._seeded = True
            seed = None
        seed = check_seed(seed)
        if seed is not None or not self._seeded:
            self.market.seed(np.random.SeedSequence(seed))
            self._seeded = True
        self.market.reset_worlds(self._all)
        self._obs = obs = self.market.observations()
        return self._split(obs), {a: {} for a in self.possible_agents}

    def _seeds(self, seeds: Any) -> list[int]:
        if len(seeds) != self.num_envs:
            raise SeedError(f"reset(seed=[...]) needs one seed per world: {self.num_envs} "
                            f"worlds, got {len(seeds)} seeds")  # fmt: skip
        checked = [check_seed(s) for s in seeds]
        if any(s is None for s in checked):
            raise SeedError("reset(seed=[...]): every world's seed must be an integer >= 0")
        return [int(s) for s in checked if s is not None]

    @env_threads
    def step(self, actions: dict[str, Any] | np.ndarray):
        require_reset(self._seeded, "step()")
        joint = self.interface.batched_actions(actions, self.num_envs, self.market.action_masks)
        result = self.market.step(joint)
        obs = self.market.observations()
        done = np.flatnonzero(result.truncated | result.terminated)
        final = obs
        if len(done):
            final = obs.copy()
            self.market.reset_worlds(done)
            obs = self.market.observations()
        self._obs = obs
        infos = {
            a: {**{k: v[:, i] for k, v in result.info.items()}, "final_observation": final[:, i]}
            for i, a in enumerate(self.possible_agents)
        }
        rewards = self.interface.per_agent_column(result.rewards)
        terminations = {a: result.terminated.copy() for a in self.possible_agents}
        truncations = {a: result.truncated.copy() for a in self.possible_agents}
        return self._split(obs), rewards, terminations, truncations, infos

    def _split(self, obs: np.ndarray) -> dict[str, Any]:
        return self.interface.pack(obs, self.market.action_masks)

    def state(self) -> np.ndarray:
        """(B, N × obs_dim): each world's agents' observations concatenated."""
        require_reset(self._seeded, "state()")
        return self._obs.reshape(self.num_envs, -1).copy()

    def action_masks(self) -> dict[str, np.ndarray]:
        require_reset(self._seeded, "action_masks()")
        return self.interface.per_agent(self.market.action_masks())

    def oracle_action_values(self) -> dict[str, np.ndarray]:
        """True utility per action for each world's current user. Evaluation only."""
        require_reset(self._seeded, "oracle_action_values()")
        return self.interface.per_agent(self.market.oracle_action_values())

    def best_response_action_values(self) -> dict[str, np.ndarray]:
        """Each agent's expected own reward per action this step, the others playing their
        backbone's top candidate at the middle bid (:mod:`marec_env.counterfactual`).
        Evaluation only."""
        require_reset(self._seeded, "best_response_action_values()")
        return self.interface.per_agent(self.market.best_response_action_values())

    def close(self) -> None:
        """Nothing to release."""
