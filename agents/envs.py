"""Env access for the training loop: build envs by id and turn their dicts into batches.

Env ids: ``marec/...`` (``marec_env.parallel_env`` / ``vector_env``) or ``module:callable``
for any PettingZoo ParallelEnv factory (e.g. ``mpe2.simple_spread_v3:parallel_env``).

Two adapters give the loop the same interface (B worlds, stacked arrays):

- :class:`ParallelAdapter` — one PettingZoo ParallelEnv (B = 1), or several copies of one
  (``num_envs`` > 1 for envs without a native vector env); a finished world is reset with
  ``seed=None`` (continuing its stream), like the vector env does.
- :class:`VectorAdapter` — ``marec_env.vector_env`` (B = num_envs), per docs/CONTRACTS.md.

All agents must act at every step and finish together (true of the marec envs and mpe2).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import gymnasium
import numpy as np

from agents.base import Batch, EnvInfo, LearnerError


class EnvError(RuntimeError):
    """The env returned something the learners cannot use (NaN reward, missing agent, ...)."""


def make_parallel_env(env_id: str, overrides: dict[str, Any]) -> Any:
    if ":" in env_id:
        module, attr = env_id.split(":", 1)
        return getattr(importlib.import_module(module), attr)(**overrides)
    import marec_env

    return marec_env.parallel_env(env_id, **overrides)


def _has_native_vector_env(env_id: str) -> bool:
    if ":" in env_id:
        return False
    from marec_env import registry

    return bool(getattr(registry.get_spec(env_id), "market", True))


def open_env(env_id: str, overrides: dict[str, Any], num_envs: int) -> Any:
    """A training adapter with ``num_envs`` worlds."""
    if num_envs > 1 and _has_native_vector_env(env_id):
        import marec_env

        return VectorAdapter(env_id, marec_env.vector_env(env_id, num_envs=num_envs, **overrides))
    envs = [make_parallel_env(env_id, overrides) for _ in range(num_envs)]
    return ParallelAdapter(env_id, envs)


def env_info(env_id: str, env: Any) -> EnvInfo:
    """Check the spaces (identical across agents, Box obs, Discrete actions) and describe them."""
    agents = tuple(env.possible_agents)
    obs_spaces = [_box(env.observation_space(a), a) for a in agents]
    act_spaces = [env.action_space(a) for a in agents]
    for agent, space in zip(agents, act_spaces):
        if not isinstance(space, gymnasium.spaces.Discrete):
            raise LearnerError(f"agent {agent}: learners need Discrete actions, env has {space}")
    first = obs_spaces[0]
    if any(s.shape != first.shape for s in obs_spaces) or any(
        s.n != act_spaces[0].n for s in act_spaces
    ):
        raise LearnerError(f"env {env_id}: agents must have identical spaces")
    unwrapped = getattr(env, "unwrapped", env)
    layout = getattr(env, "obs_layout", None) or getattr(unwrapped, "obs_layout", None)
    return EnvInfo(
        env_id=env_id, agents=agents, obs_dim=int(np.prod(first.shape)),
        n_actions=int(act_spaces[0].n), obs_low=first.low.reshape(-1).astype(np.float64),
        obs_high=first.high.reshape(-1).astype(np.float64),
        obs_layout=dict(layout) if layout is not None else None,
        cooperative=_cooperative(unwrapped),
    )  # fmt: skip


def _cooperative(env: Any) -> bool | None:
    """Whether every agent gets the team reward: the env's ``cooperative`` flag (the matrix
    game), else the market config's ``reward_lambda == 0``; None when the env says neither."""
    flag = getattr(env, "cooperative", None)
    if flag is not None:
        return bool(flag)
    reward_lambda = getattr(getattr(env, "config", None), "reward_lambda", None)
    return None if reward_lambda is None else reward_lambda == 0


def _box(space: gymnasium.Space, agent: str) -> gymnasium.spaces.Box:
    if isinstance(space, gymnasium.spaces.Dict) and "observation" in space.spaces:
        space = space["observation"]
    if not isinstance(space, gymnasium.spaces.Box):
        raise LearnerError(f"agent {agent}: learners need Box observations, env has {space}")
    return space


def split_obs(obs: dict[str, Any], agents: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray | None]:
    """(…, N, D) observations and (…, N, A) masks (None if the obs carry none)."""
    missing = [a for a in agents if a not in obs]
    if missing:
        raise EnvError(f"no observation for {missing}: all agents must act every step")
    first = obs[agents[0]]
    if isinstance(first, dict):
        x = np.stack([np.asarray(obs[a]["observation"], np.float32) for a in agents], axis=-2)
        m = np.stack([np.asarray(obs[a]["action_mask"]) > 0 for a in agents], axis=-2)
        return x, m
    return np.stack([np.asarray(obs[a], np.float32) for a in agents], axis=-2), None


def env_masks(env: Any, agents: tuple[str, ...]) -> np.ndarray | None:
    hook = getattr(getattr(env, "unwrapped", env), "action_masks", None)
    if hook is None:
        return None
    masks = hook()
    return np.stack([np.asarray(masks[a]) > 0 for a in agents], axis=-2)


def oracle_hook(learner: Any) -> str:
    """The env method whose values a ``reads_oracle`` learner gets in ``batch.oracle``: its
    ``oracle_hook`` attribute (``best-response`` names its own), else the true utilities."""
    return getattr(learner, "oracle_hook", "oracle_action_values")


def oracle_values(
    env: Any, agents: tuple[str, ...], name: str = "oracle_action_values"
) -> np.ndarray:
    """(…, N, A) the env's evaluation-only values from its hook ``name`` (a learner's
    ``oracle_hook``: true utilities, or best-response values)."""
    hook = getattr(getattr(env, "unwrapped", env), name, None)
    if hook is None:
        raise LearnerError(f"this learner reads the oracle, and the env has no {name}()")
    values = hook()
    return np.stack([np.asarray(values[a], np.float64) for a in agents], axis=-2)


def check_rewards(rewards: np.ndarray, env_id: str) -> None:
    if not np.all(np.isfinite(rewards)):
        raise EnvError(f"env {env_id} returned a non-finite reward: {rewards.tolist()}")


@dataclass
class StepOut:
    batch: Batch
    """What the agents see next (reset worlds show their first observation)."""
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    final_obs: np.ndarray
    """(B, N, D): the observation the step led to (before any reset)."""
    final_masks: np.ndarray


class ParallelAdapter:
    """B copies of a PettingZoo ParallelEnv stepped one after another."""

    def __init__(self, env_id: str, envs: list[Any]) -> None:
        self.env_id, self.envs = env_id, envs
        self.info = env_info(env_id, envs[0])
        self.agents = self.info.agents
        self.num_envs = len(envs)

    def _batch(self, i: int, obs: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        x, m = split_obs(obs, self.agents)
        if m is None:
            m = env_masks(self.envs[i], self.agents)
        if m is None:
            m = np.ones((len(self.agents), self.info.n_actions), bool)
        return x, m

    def reset(self, seed: int | None) -> Batch:
        seeds = np.random.SeedSequence(seed).generate_state(self.num_envs) if seed is not None \
            else [None] * self.num_envs  # fmt: skip
        rows = [self._batch(i, env.reset(seed=None if s is None else int(s))[0])
                for i, (env, s) in enumerate(zip(self.envs, seeds))]  # fmt: skip
        return Batch(np.stack([r[0] for r in rows]), np.stack([r[1] for r in rows]))

    def oracle(self) -> np.ndarray:
        return np.stack([oracle_values(env, self.agents) for env in self.envs])

    def step(self, actions: np.ndarray) -> StepOut:
        obs, masks, final_obs, final_masks = [], [], [], []
        rewards = np.zeros((self.num_envs, len(self.agents)), np.float32)
        term = np.zeros(self.num_envs, bool)
        trunc = np.zeros(self.num_envs, bool)
        for i, env in enumerate(self.envs):
            o, r, te, tr, _ = env.step({a: int(actions[i, k]) for k, a in enumerate(self.agents)})
            rewards[i] = [r[a] for a in self.agents]
            x, m = self._batch(i, o)
            final_obs.append(x)
            final_masks.append(m)
            term[i] = any(te[a] for a in self.agents)
            trunc[i] = any(tr[a] for a in self.agents) and not term[i]
            if term[i] or trunc[i]:
                x, m = self._batch(i, env.reset()[0])
            obs.append(x)
            masks.append(m)
        check_rewards(rewards, self.env_id)
        return StepOut(Batch(np.stack(obs), np.stack(masks)), rewards, term, trunc,
                       np.stack(final_obs), np.stack(final_masks))  # fmt: skip

    def close(self) -> None:
        for env in self.envs:
            env.close()


class VectorAdapter:
    """``marec_env.vector_env``: dicts of (B, ...) arrays, worlds reset inside step()."""

    def __init__(self, env_id: str, env: Any) -> None:
        self.env_id, self.env = env_id, env
        self.info = env_info(env_id, env)
        self.agents = self.info.agents
        self.num_envs = int(env.num_envs)

    def _batch(self, obs: dict[str, Any]) -> Batch:
        x, m = split_obs(obs, self.agents)
        if m is None:
            m = env_masks(self.env, self.agents)
        if m is None:
            m = np.ones((self.num_envs, len(self.agents), self.info.n_actions), bool)
        return Batch(x, m)

    def reset(self, seed: int | None) -> Batch:
        return self._batch(self.env.reset(seed=seed)[0])

    def oracle(self) -> np.ndarray:
        return oracle_values(self.env, self.agents)

    def step(self, actions: np.ndarray) -> StepOut:
        acts = {a: np.ascontiguousarray(actions[:, k], np.int64) for k, a in enumerate(self.agents)}
        obs, rew, term, trunc, infos = self.env.step(acts)
        rewards = np.stack([np.asarray(rew[a], np.float32) for a in self.agents], axis=1)
        check_rewards(rewards, self.env_id)
        terminated = np.any([np.asarray(term[a]) for a in self.agents], axis=0)
        truncated = np.any([np.asarray(trunc[a]) for a in self.agents], axis=0) & ~terminated
        batch = self._batch(obs)
        done = terminated | truncated
        final = batch.obs.copy()
        if done.any():
            final = np.stack([np.asarray(infos[a]["final_observation"], np.float32)
                              for a in self.agents], axis=1)  # fmt: skip
        # masks at a final observation are not reported; nothing is masked there
        final_masks = np.where(done[:, None, None], True, batch.masks)
        return StepOut(batch, rewards, terminated, truncated, final, final_masks)

    def close(self) -> None:
        self.env.close()
