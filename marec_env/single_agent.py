"""One learning agent in a marec market, the other recommenders driven by given policies.

A plain ``gymnasium.Env`` (it passes ``gymnasium.utils.env_checker.check_env``), so any
single-agent library (Stable-Baselines3, CleanRL, Tianshou, RLlib) trains on marec as is:

>>> from marec_env import SingleAgentEnv
>>> env = SingleAgentEnv("marec/compete-auction-v0", others="greedy")
>>> obs, info = env.reset(seed=0)
>>> obs, reward, terminated, truncated, info = env.step(env.action_space.sample())

``others`` is ``"greedy"`` (each backbone's top-1 valid candidate, middle bid in auctions: the
``greedy`` baseline), ``"random"`` (uniform over allowed actions, drawn from this env's
``np_random``, so ``reset(seed)`` fixes them too), any ``callable(observation) -> action`` (a
trained policy, e.g. a loaded checkpoint's greedy action), or a dict giving one of these per
other agent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import gymnasium
import numpy as np

Policy = Callable[[Any], Any]
"""A policy of another agent: its observation (as the parallel env gives it) → an action."""
BUILTIN_POLICIES = ("greedy", "random")


class SingleAgentEnv(gymnasium.Env):
    """``agent`` learns; every other agent of the parallel env follows ``others``.

    ``env`` is a marec env id (built with ``**overrides``) or an already built PettingZoo
    ParallelEnv. Spaces are those of ``agent`` in the parallel env. The episode ends for the
    learner when the parallel env ends it (truncation after ``max_cycles``).
    """

    def __init__(
        self,
        env: str | Any,
        agent: str = "recommender_0",
        others: str | Policy | Mapping[str, str | Policy] = "greedy",
        **overrides: Any,
    ) -> None:
        if isinstance(env, str):
            import marec_env

            env = marec_env.parallel_env(env, **overrides)
        elif overrides:
            raise TypeError(f"config overrides {sorted(overrides)} need an env id, not a built env")
        self.parallel_env = env
        if agent not in env.possible_agents:
            raise KeyError(f"unknown agent {agent!r}; this env's agents are {env.possible_agents}")
        self.agent = agent
        self.other_agents = [a for a in env.possible_agents if a != agent]
        self.policies = {a: self._policy(a, others) for a in self.other_agents}
        self.observation_space = env.observation_space(agent)
        self.action_space = env.action_space(agent)
        self.render_mode = getattr(env, "render_mode", None)
        self.metadata = dict(getattr(env, "metadata", {}))
        self._last_obs: dict[str, Any] = {}

    def _policy(self, agent: str, others: str | Policy | Mapping[str, str | Policy]) -> Policy:
        if isinstance(others, Mapping):
            missing = [a for a in self.other_agents if a not in others]
            if missing:
                raise KeyError(f"others has no policy for {missing}; give one per other agent")
            others = others[agent]
        if callable(others):
            return others
        if others == "greedy":
            return lambda obs: self.greedy_action(agent, obs)
        if others == "random":
            return lambda obs: self._random_action(agent)
        raise ValueError(
            f"others must be one of {list(BUILTIN_POLICIES)}, a callable(observation) -> "
            f"action, or a dict of those per agent; got {others!r}"
        )

    # ------------------------------------------------------------------ built-in policies
    def _allowed(self, agent: str) -> np.ndarray:
        """Boolean mask of the actions ``agent`` may take now (all, if the env has no masks)."""
        n = int(self.parallel_env.action_space(agent).n)
        masks = getattr(self.parallel_env, "action_masks", None)
        if masks is None:
            return np.ones(n, dtype=bool)
        return np.asarray(masks()[agent], dtype=bool)

    def greedy_action(self, agent: str, obs: Any) -> int:
        """The top-1 valid candidate (candidates come in descending backbone score), middle
        bid in auctions: the ``greedy`` baseline of ``agents.baselines``."""
        allowed = self._allowed(agent)
        layout = getattr(self.parallel_env, "obs_layout", None)
        if layout is None or "cand_valid" not in layout:
            return int(np.argmax(allowed))  # no candidates to read: first allowed action
        flat = obs["observation"] if isinstance(obs, Mapping) else obs
        valid = np.asarray(flat)[layout["cand_valid"]] > 0.5
        bid_levels = allowed.size // valid.size
        rank_actions = np.arange(valid.size) * bid_levels + bid_levels // 2
        usable = valid & allowed[rank_actions]
        return int(rank_actions[np.argmax(usable)]) if usable.any() else int(np.argmax(allowed))

    def _random_action(self, agent: str) -> int:
        return int(self.np_random.choice(np.flatnonzero(self._allowed(agent))))

    # ------------------------------------------------------------------------ gymnasium API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)  # seeds np_random, which drives the "random" policy
        observations, infos = self.parallel_env.reset(seed=seed, options=options)
        self._last_obs = observations
        return observations[self.agent], dict(infos[self.agent])

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        if self.agent not in self.parallel_env.agents:
            raise RuntimeError("the episode is over; call reset() before step()")
        actions = {self.agent: action}
        for other in self.other_agents:
            if other in self.parallel_env.agents:
                actions[other] = self.policies[other](self._last_obs[other])
        observations, rewards, terminations, truncations, infos = self.parallel_env.step(actions)
        self._last_obs = observations
        return (
            observations[self.agent],
            float(rewards[self.agent]),
            bool(terminations[self.agent]),
            bool(truncations[self.agent]),
            dict(infos[self.agent]),
        )

    def render(self) -> Any:
        return self.parallel_env.render()

    def close(self) -> None:
        self.parallel_env.close()
