"""The training loop: ``train(TrainConfig) -> TrainResult``, as in docs/CONTRACTS.md.

One loop serves the PettingZoo ParallelEnv (``num_envs=1``) and the vector env
(``num_envs>1``): :mod:`agents.envs` turns both into batches of B worlds. Each step::

    actions = learner.act(batch, explore=True)     # (B, N)
    out     = env.step(actions)                    # finished worlds are reset inside
    learner.observe(Transition(...)); learner.update()

``steps`` counts world-steps (a vector step of B worlds is B steps). After every
``eval_interval`` steps, and at the end, :func:`evaluate` plays ``eval_episodes`` episodes
greedily (no exploration, no learning) on a separate ParallelEnv; episode k of every
evaluation is reset with the same seed, so successive evaluations see the same users. With
``eval_vector`` the same episodes are played as the worlds of one vector env
(:func:`agents.fast_eval.evaluate_vector`).
Learners that do not train (random, greedy, oracle) are only evaluated, at the same steps.

Seeds: ``np.random.SeedSequence(cfg.seed).spawn(3)`` → training env, evaluation episodes,
learner (whose Generator also seeds its torch.Generator). Nothing reads global RNG state.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agents import registry
from agents.base import Batch, Learner, LearnerError, Transition
from agents.envs import (
    check_rewards,
    env_info,
    env_masks,
    make_parallel_env,
    open_env,
    oracle_hook,
    oracle_values,
    split_obs,
)
from agents.fast_eval import evaluate_vector
from agents.params import ParamError
from marec_env.vector import VectorMarketEnv

PER_AGENT_KEYS = ("own_reward", "clicks", "slot_share", "revenue", "payment")
NOT_METRICS = ("backbone_id", "final_observation")


@dataclass(frozen=True)
class TrainConfig:
    env_id: str
    env_overrides: dict[str, Any] = field(default_factory=dict)
    learner: str = "iql"
    learner_params: dict[str, Any] = field(default_factory=dict)
    steps: int = 10_000
    """Training world-steps."""
    eval_interval: int = 2_000
    eval_episodes: int = 5
    seed: int = 0
    num_envs: int = 1
    eval_vector: bool = False
    """Evaluate market presets on one vector env of ``eval_episodes`` worlds stepped together,
    world k seeded with episode k's seed (:mod:`agents.fast_eval`: the same episodes as the
    ParallelEnv path, several times faster); False plays ParallelEnv episodes one per seed
    (the reference). The benchmark harness sets it (scenario ``eval_backend``)."""

    def __post_init__(self) -> None:
        for name, low in (("steps", 1), ("eval_interval", 1), ("eval_episodes", 1),
                          ("num_envs", 1), ("seed", 0)):  # fmt: skip
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ParamError(f"TrainConfig.{name} must be an integer >= {low}, got {value!r}")
        registry.get_spec(self.learner)  # unknown learner: error now, not mid-run


@dataclass(frozen=True)
class EvalRecord:
    step: int
    wall_time: float
    eval_return: float
    """Mean over agents of the per-agent episode return (mean over episodes)."""
    team_return: float
    """Episode sum of the ``team_reward`` info (sum of agents' rewards if the env has none)."""
    agent_returns: dict[str, float]
    metrics: dict[str, float]
    updates: int
    messages: int


@dataclass
class TrainResult:
    config: TrainConfig
    records: list[EvalRecord]
    learner: Learner
    steps: int
    wall_time: float
    updates: int
    messages: int
    stopped_early: bool
    eval_seconds: float = 0.0
    """Part of ``wall_time`` spent evaluating (training throughput excludes it)."""


def train(
    cfg: TrainConfig,
    callback: Callable[[EvalRecord], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainResult:
    env_seed, eval_seed, learner_seed = np.random.SeedSequence(cfg.seed).spawn(3)
    spec = registry.get_spec(cfg.learner)
    if cfg.num_envs > 1 and not spec.capabilities.vectorised:
        raise LearnerError(f"learner {cfg.learner!r} is not vectorised: run it with num_envs=1")
    env = open_env(cfg.env_id, dict(cfg.env_overrides), cfg.num_envs)
    eval_env = _eval_env(cfg)
    learner = registry.make_learner(cfg.learner, env.info, dict(cfg.learner_params),
                                    np.random.default_rng(learner_seed))  # fmt: skip
    eval_seeds = [int(s) for s in eval_seed.generate_state(cfg.eval_episodes)]
    reads_oracle = spec.capabilities.reads_oracle
    trainable = spec.capabilities.trainable
    records: list[EvalRecord] = []
    start, step, updates, stopped, eval_seconds = time.perf_counter(), 0, 0, False, 0.0
    next_eval = cfg.eval_interval
    batch = env.reset(seed=int(env_seed.generate_state(1)[0])) if trainable else None
    try:
        while step < cfg.steps:
            if trainable:
                batch, _, n_updates = train_step(env, learner, batch)
                updates += n_updates
                step += env.num_envs
            else:  # nothing to learn: jump to the next evaluation
                step = min(next_eval, cfg.steps)
            if step >= next_eval or step >= cfg.steps:
                eval_start = time.perf_counter()
                record = _evaluate_record(eval_env, learner, eval_seeds, reads_oracle, step,
                                          eval_start - start, updates)  # fmt: skip
                eval_seconds += time.perf_counter() - eval_start
                records.append(record)
                if callback is not None:
                    callback(record)
                next_eval = (step // cfg.eval_interval + 1) * cfg.eval_interval
            if should_stop is not None and should_stop():
                stopped = step < cfg.steps
                break
    finally:
        env.close()
        eval_env.close()
    messages = learner.messages if spec.capabilities.needs_messages else 0
    return TrainResult(cfg, records, learner, step, time.perf_counter() - start, updates,
                       messages, stopped, eval_seconds)  # fmt: skip


def train_step(env: Any, learner: Any, batch: Batch) -> tuple[Batch, np.ndarray, int]:
    """Act with exploration, step the env adapter, learn: (next batch, actions, updates)."""
    actions = learner.act(batch, explore=True)
    out = env.step(actions)
    learner.observe(Transition(
        obs=batch.obs, masks=batch.masks, actions=actions, rewards=out.rewards,
        next_obs=out.final_obs, next_masks=out.final_masks, terminated=out.terminated,
        truncated=out.truncated,
    ))  # fmt: skip
    return out.batch, actions, int(learner.update())


def _eval_env(cfg: TrainConfig) -> Any:
    """The evaluation env: a vector env of ``eval_episodes`` worlds (``eval_vector`` on a
    market preset) or one ParallelEnv."""
    import marec_env

    if cfg.eval_vector and ":" not in cfg.env_id and marec_env.get_spec(cfg.env_id).market:
        return marec_env.vector_env(cfg.env_id, num_envs=cfg.eval_episodes,
                                    **dict(cfg.env_overrides))  # fmt: skip
    return make_parallel_env(cfg.env_id, dict(cfg.env_overrides))


def _evaluate_record(eval_env: Any, learner: Any, seeds: list[int], reads_oracle: bool,
                     step: int, wall: float, updates: int) -> EvalRecord:  # fmt: skip
    messages_before = getattr(learner, "messages", 0)
    play = evaluate_vector if isinstance(eval_env, VectorMarketEnv) else evaluate
    returns, team, metrics, decisions = play(eval_env, learner, seeds, reads_oracle)
    messages_eval = getattr(learner, "messages", 0) - messages_before
    if hasattr(learner, "messages"):
        learner.messages = messages_before  # the record counts training messages only
        metrics["eval_messages_per_step"] = messages_eval / max(decisions, 1)
    return EvalRecord(
        step=step, wall_time=wall, eval_return=float(np.mean(list(returns.values()))),
        team_return=team, agent_returns=returns, metrics=metrics, updates=updates,
        messages=int(messages_before),
    )  # fmt: skip


def evaluate(
    env: Any, learner: Learner, seeds: list[int], reads_oracle: bool = False
) -> tuple[dict[str, float], float, dict[str, float], int]:
    """Greedy episodes, one per seed: (agent returns, team return, metrics, decisions).

    Returns and metrics are means over episodes; a metric is the episode mean of an info key,
    per agent (``key/agent``) for own_reward, clicks, slot_share, revenue and payment, else
    averaged over agents under its plain name.
    """
    info = env_info("eval", env)
    agents = info.agents
    hook = oracle_hook(learner)
    ep_returns, ep_team, ep_metrics, decisions = [], [], [], 0
    for seed in seeds:
        obs, _ = env.reset(seed=seed)
        totals = np.zeros(len(agents))
        team, sums, t = 0.0, {}, 0
        while True:
            x, m = split_obs(obs, agents)
            if m is None:
                m = env_masks(env, agents)
            m = np.ones((len(agents), info.n_actions), bool) if m is None else m
            oracle = oracle_values(env, agents, hook)[None] if reads_oracle else None
            actions = learner.act(Batch(x[None], m[None], oracle), explore=False)[0]
            obs, rew, term, trunc, infos = env.step(
                {a: int(actions[k]) for k, a in enumerate(agents)}
            )
            r = np.array([rew[a] for a in agents], dtype=np.float64)
            check_rewards(r, str(getattr(env, "metadata", {}).get("name", "eval env")))
            totals += r
            team += _team_reward(infos, agents, r)
            _accumulate(sums, infos, agents)
            t += 1
            if all(term[a] or trunc[a] for a in agents):
                break
        decisions += t
        ep_returns.append(totals)
        ep_team.append(team)
        ep_metrics.append({k: v / t for k, v in sums.items()})
    returns = np.mean(ep_returns, axis=0)
    keys = sorted({k for m in ep_metrics for k in m})
    metrics = {k: float(np.mean([m.get(k, math.nan) for m in ep_metrics])) for k in keys}
    return ({a: float(returns[k]) for k, a in enumerate(agents)}, float(np.mean(ep_team)),
            metrics, decisions)  # fmt: skip


def _team_reward(infos: dict[str, Any], agents: tuple[str, ...], rewards: np.ndarray) -> float:
    first = infos.get(agents[0], {})
    if "team_reward" in first:
        return float(first["team_reward"])
    return float(rewards.sum())


def _accumulate(sums: dict[str, float], infos: dict[str, Any], agents: tuple[str, ...]) -> None:
    plain: dict[str, list[float]] = {}
    for agent in agents:
        for key, value in infos.get(agent, {}).items():
            if key in NOT_METRICS or not np.isscalar(value):
                continue
            if key in PER_AGENT_KEYS:
                name = f"{key}/{agent}"
                sums[name] = sums.get(name, 0.0) + float(value)
            else:
                plain.setdefault(key, []).append(float(value))
    for key, values in plain.items():
        sums[key] = sums.get(key, 0.0) + float(np.mean(values))
