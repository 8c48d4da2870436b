"""Env throughput against mpe2's simple_spread in the same run (ratios survive noisy hosts).

    python -m benchmarks throughput [--seconds 5] [--num-envs 4096] [--env-id ID]

Reports env-steps/s of the ParallelEnv (3 agents, 1,000 items), user-steps/s and peak memory
of the vector env (measured in a child process so its peak RSS is its own), and mpe2's
simple_spread_v3 (3 agents) env-steps/s. Peer and ours alternate in rounds; the ratio is the
median of per-round ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np

DEFAULT_ENV = "marec/coop-slate-v0"
FOUNDATION_BACKBONES = ("cf", "content", "popularity")


def _steps_per_second(make: Callable, seconds: float, seed: int = 0) -> float:
    env = make()
    env.reset(seed=seed)
    spaces = {a: env.action_space(a) for a in env.possible_agents}
    rng = np.random.default_rng(seed)
    n_actions = {a: s.n for a, s in spaces.items()}
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        actions = {a: int(rng.integers(n_actions[a])) for a in env.agents}
        _, _, terms, truncs, _ = env.step(actions)
        steps += 1
        if not env.agents or all(terms.values()) or all(truncs.values()):
            env.reset()
    return steps / (time.perf_counter() - start)


def make_marec(env_id: str, backbones: tuple[str, ...]) -> Callable:
    import marec_env

    return lambda: marec_env.parallel_env(env_id, backbones=backbones, n_items=1000)


def make_mpe2() -> Callable:
    from mpe2 import simple_spread_v3

    return lambda: simple_spread_v3.parallel_env(N=3, max_cycles=25)


def vector_child(env_id: str, num_envs: int, steps: int, backbones: tuple[str, ...]) -> dict:
    """Runs in a child process: user-steps/s and this process's peak RSS."""
    import resource

    import marec_env

    env = marec_env.vector_env(env_id, num_envs=num_envs, backbones=backbones)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    n = env.action_space(env.possible_agents[0]).n
    actions = rng.integers(n, size=(num_envs, len(env.possible_agents)))
    for _ in range(3):  # warm caches and allocator
        env.step(actions)
    start = time.perf_counter()
    for _ in range(steps):
        env.step(actions)
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    return {"user_steps_per_s": steps * num_envs / elapsed, "peak_rss_gib": peak / 2**30}


def run_vector(env_id: str, num_envs: int, steps: int, backbones: tuple[str, ...]) -> dict:
    code = (
        "import json, sys; from benchmarks.throughput import vector_child; "
        f"print(json.dumps(vector_child({env_id!r}, {num_envs}, {steps}, {backbones!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks throughput", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--num-envs", type=int, default=4096)
    parser.add_argument("--vector-steps", type=int, default=20)
    parser.add_argument("--env-id", default=DEFAULT_ENV)
    parser.add_argument(
        "--backbones",
        default=",".join(FOUNDATION_BACKBONES),
        help="comma-separated backbone kinds of the 3 agents",
    )
    args = parser.parse_args(argv)
    backbones = tuple(args.backbones.split(","))
    ours, peer = make_marec(args.env_id, backbones), make_mpe2()
    rounds = []
    for _ in range(args.rounds):
        mine = _steps_per_second(ours, args.seconds)
        theirs = _steps_per_second(peer, args.seconds)
        rounds.append((mine, theirs))
    mine = statistics.median(r[0] for r in rounds)
    theirs = statistics.median(r[1] for r in rounds)
    ratio = statistics.median(r[0] / r[1] for r in rounds)
    vec = run_vector(args.env_id, args.num_envs, args.vector_steps, backbones)
    print(f"{'measurement':<48}{'value':>14}")
    print(f"{'mpe2 simple_spread_v3 (3 agents), env-steps/s':<48}{theirs:>14,.0f}")
    print(f"{'marec ParallelEnv ' + args.env_id + ', env-steps/s':<48}{mine:>14,.0f}")
    print(f"{'  ratio marec / mpe2 (median of rounds)':<48}{ratio:>14.2f}")
    print(
        f"{f'marec vector env B={args.num_envs}, user-steps/s':<48}"
        f"{vec['user_steps_per_s']:>14,.0f}"
    )
    print(f"{'  vector env / mpe2 env-steps':<48}{vec['user_steps_per_s'] / theirs:>14.1f}")
    print(f"{'  vector env peak RSS, GiB':<48}{vec['peak_rss_gib']:>14.2f}")
    print(
        f"backbones: {', '.join(backbones)}; bars: ParallelEnv >= 40,000 env-steps/s, "
        "vector >= 300,000 user-steps/s within 6 GiB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
