"""Soak test: run the vector env (B worlds) and the ParallelEnv for a fixed wall time each
with random actions, and report steps, NaN/inf count and resident memory at start and end.

``python -m benchmarks soak [--seconds 300] [--num-envs 256] [--env-id marec/mixed-v0]``

A NaN is any non-finite value in a reward, an info value or an observation; an observation
outside its space counts separately. Memory is the process's resident set size (RSS) after the
first reset and after the last step: flat memory means nothing accumulates per step.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass
class SoakResult:
    mode: str
    seconds: float
    steps: int
    """env.step calls."""
    world_steps: int
    """steps × worlds (B for the vector env, 1 for the ParallelEnv)."""
    non_finite: int
    """Non-finite values seen in rewards, infos and observations."""
    outside_space: int
    """Observations outside their Box."""
    rss_start_mib: float
    rss_end_mib: float
    peak_rss_mib: float


def rss_mib() -> float:
    """Current resident set size in MiB (Linux /proc; peak RSS elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return peak_rss_mib()


def peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def _bad(values: Any) -> int:
    array = np.asarray(values, dtype=np.float64)
    return int(array.size - np.isfinite(array).sum())


def soak_vector(env_id: str, num_envs: int, seconds: float, seed: int) -> SoakResult:
    import marec_env

    env = marec_env.vector_env(env_id, num_envs=num_envs)
    rng = np.random.default_rng(seed)
    box = env.observation_space(env.possible_agents[0])
    n_actions = int(env.action_space(env.possible_agents[0]).n)
    obs, _ = env.reset(seed=seed)
    start_rss, steps, bad, outside = rss_mib(), 0, 0, 0
    shape = (num_envs, len(env.possible_agents))
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        obs, rewards, _, _, infos = env.step(rng.integers(n_actions, size=shape))
        steps += 1
        for agent in env.possible_agents:
            o = obs[agent]
            bad += _bad(rewards[agent]) + _bad(o)
            bad += sum(_bad(v) for k, v in infos[agent].items() if k != "final_observation")
            outside += int(((o < box.low) | (o > box.high)).any(axis=1).sum())
    elapsed = time.perf_counter() - start
    return SoakResult(f"vector B={num_envs}", elapsed, steps, steps * num_envs, bad, outside,
                      start_rss, rss_mib(), peak_rss_mib())  # fmt: skip


def soak_parallel(env_id: str, seconds: float, seed: int) -> SoakResult:
    import marec_env

    env = marec_env.parallel_env(env_id)
    rng = np.random.default_rng(seed)
    box = env.observation_space(env.possible_agents[0])
    obs, _ = env.reset(seed=seed)
    start_rss, steps, bad, outside = rss_mib(), 0, 0, 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        if not env.agents:
            obs, _ = env.reset()
        actions = {a: int(rng.integers(env.action_space(a).n)) for a in env.agents}
        obs, rewards, _, _, infos = env.step(actions)
        steps += 1
        bad += _bad(list(rewards.values()))
        for agent, o in obs.items():
            bad += _bad(o) + _bad(list(infos[agent].values()))
            outside += int(not box.contains(o))
    elapsed = time.perf_counter() - start
    return SoakResult("parallel", elapsed, steps, steps, bad, outside, start_rss, rss_mib(),
                      peak_rss_mib())  # fmt: skip


def report(results: Sequence[SoakResult]) -> str:
    lines = [
        "| env | seconds | steps | world-steps | world-steps/s | NaN/inf | outside space | "
        "RSS start MiB | RSS end MiB | peak RSS MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.mode} | {r.seconds:.0f} | {r.steps} | {r.world_steps} | "
            f"{r.world_steps / r.seconds:,.0f} | {r.non_finite} | {r.outside_space} | "
            f"{r.rss_start_mib:.0f} | {r.rss_end_mib:.0f} | {r.peak_rss_mib:.0f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks soak", description=__doc__)
    parser.add_argument("--seconds", type=float, default=300.0, help="per env (default 300)")
    parser.add_argument("--num-envs", type=int, default=256, help="vector env worlds B")
    parser.add_argument("--env-id", default="marec/mixed-v0")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    results = [
        soak_vector(args.env_id, args.num_envs, args.seconds, args.seed),
        soak_parallel(args.env_id, args.seconds, args.seed),
    ]
    print(f"soak of {args.env_id}, random actions, seed {args.seed}\n")
    print(report(results))
    if args.json:
        from benchmarks import atomic

        atomic.write_text(args.json, json.dumps([asdict(r) for r in results], indent=2) + "\n")
    failed = any(r.non_finite or r.outside_space for r in results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
