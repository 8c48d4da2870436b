"""Env throughput against mpe2's simple_spread in the same process (ratios survive noisy hosts).

    python -m benchmarks throughput [--rounds 3] [--seconds 3] [--num-envs 4096]
                                    [--large-items 10000 --large-envs 1024] [--stages]

Whole episodes only, resets and redeploys included. Each measurement runs in its own child
process (so its peak RSS is its own) and alternates with mpe2 ``simple_spread_v3`` (N=3) in
that process, round after round; a round of ours is whole episodes. Reported: the median over
rounds of ours, of mpe2 and of the per-round ratio, the peak RSS, and with ``--stages`` the
share of time per stage of the step (:mod:`marec_env.profiling`).
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
STAGES = (  # (module, attribute, stage): functions timed from outside when --stages is on
    ("marec_env.step", "reset_worlds", "reset (whole worlds)"),
    ("marec_env.step", "propose", "proposals"),
    ("marec_env.mechanisms:GSPAuction", "fill_page", "mechanism (page)"),
    ("marec_env.mechanisms:TeamDraft", "fill_page", "mechanism (page)"),
    ("marec_env.mechanisms:JointSlate", "fill_page", "mechanism (page)"),
    ("marec_env.mechanisms:ClaimedSlate", "fill_page", "mechanism (page)"),
    ("marec_env.mechanisms:ShuffledSlate", "fill_page", "mechanism (page)"),
    ("marec_env.mechanisms:SingleEntryGSP", "fill_page", "mechanism (page)"),
    ("marec_env.step", "choose", "choice"),
    ("marec_env.step", "settle", "rewards"),
    ("marec_env.step", "update_users", "user update"),
    ("marec_env.step", "feed_back", "backbone feedback"),
    ("marec_env.step", "measure", "metrics"),
    ("marec_env.step", "turn_over", "sessions"),
    ("marec_env.step", "tick", "clock and redeploys"),
    ("marec_env.step", "refresh_candidates", "candidates"),
    ("marec_env.market:Market", "observations", "observations"),
    ("marec_env.market_env:MarketEnv", "step", "ParallelEnv.step (all of it)"),
    ("marec_env.vector:VectorMarketEnv", "step", "VectorMarketEnv.step (all of it)"),
)
"""The step's stages (:data:`marec_env.step.STAGES`; ``advance`` looks each up at call time,
so wrapping the module attribute times it)."""


def mpe2_round(seconds: float, seed: int = 0) -> float:
    """mpe2 simple_spread_v3 (3 agents) env-steps/s over whole episodes for ~``seconds``."""
    from mpe2 import simple_spread_v3

    return _parallel_round(lambda: simple_spread_v3.parallel_env(N=3, max_cycles=25), seconds, seed)


def _parallel_round(make: Callable, seconds: float, seed: int, count: list | None = None) -> float:
    env = make()
    spaces = {a: env.action_space(a) for a in env.possible_agents}
    n_actions = {a: s.n for a, s in spaces.items()}
    rng = np.random.default_rng(seed)
    steps, start = 0, time.perf_counter()
    env.reset(seed=seed)
    while True:
        actions = {a: int(rng.integers(n_actions[a])) for a in env.agents}
        _, _, terms, truncs, _ = env.step(actions)
        steps += 1
        if not env.agents or all(terms.values()) or all(truncs.values()):
            if time.perf_counter() - start >= seconds:
                break
            env.reset()
    if count is not None:
        count[0] += steps
    return steps / (time.perf_counter() - start)


def _install_stage_timers() -> None:
    import importlib

    from marec_env import profiling

    for target, attribute, name in STAGES:
        module_name, _, cls = target.partition(":")
        owner = importlib.import_module(module_name)
        owner = getattr(owner, cls) if cls else owner
        if hasattr(owner, attribute):  # the step may have been restructured
            profiling.instrument(owner, attribute, name)
    profiling.enable()


def _stage_table(total_seconds: float, steps: int) -> list[dict]:
    from marec_env import profiling

    rows = [
        {"stage": name, "ms_per_step": 1e3 * sec / steps, "share": sec / total_seconds}
        for name, (sec, _calls) in profiling.totals().items()
    ]
    return sorted(rows, key=lambda r: -r["share"])


def parallel_child(env_id: str, overrides: dict, rounds: int, seconds: float, stages: bool):
    """Child process: ParallelEnv vs mpe2, alternating rounds of whole episodes."""
    import marec_env

    make = lambda: marec_env.parallel_env(env_id, **overrides)  # noqa: E731
    _parallel_round(make, 0.5, 0)  # warm-up: text cache, compiled kernels
    if stages:
        _install_stage_timers()
    results, timed = [], [0, 0.0]
    for r in range(rounds):
        start = time.perf_counter()
        ours = _parallel_round(make, seconds, r, timed)
        timed[1] += time.perf_counter() - start
        results.append((ours, mpe2_round(seconds, r)))
    out = {"rounds": results, "peak_rss_gib": _peak_rss_gib()}
    if stages:
        out["stages"] = _stage_table(timed[1], timed[0])
    return out


def vector_child(
    env_id: str, overrides: dict, num_envs: int, rounds: int, episodes: int, stages: bool
) -> dict:
    """Child process: user-steps/s of the vector env over whole episodes (auto-resets and
    redeploys included), alternating with mpe2 rounds of comparable length."""
    import marec_env

    env = marec_env.vector_env(env_id, num_envs=num_envs, **overrides)
    horizon = env.config.max_cycles
    n = env.action_space(env.possible_agents[0]).n
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    env.reset(seed=0)
    first_reset = time.perf_counter() - start
    if stages:
        _install_stage_timers()
    results, timed_steps, timed_seconds = [], 0, 0.0
    for r in range(rounds):
        start = time.perf_counter()
        for _ in range(episodes * horizon):  # the last step of each episode auto-resets
            env.step(rng.integers(n, size=(num_envs, len(env.possible_agents))))
        elapsed = time.perf_counter() - start
        timed_steps, timed_seconds = timed_steps + episodes * horizon, timed_seconds + elapsed
        ours = episodes * horizon * num_envs / elapsed
        results.append((ours, mpe2_round(min(elapsed, 3.0), r)))
    out = {"rounds": results, "peak_rss_gib": _peak_rss_gib(), "first_reset_s": first_reset}
    if stages:
        out["stages"] = _stage_table(timed_seconds, timed_steps)
    return out


def _peak_rss_gib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 2**30  # Linux: KiB


def _run_child(call: str) -> dict:
    code = f"import json; from benchmarks.throughput import *; print(json.dumps({call}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"throughput child failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _summary(result: dict) -> tuple[float, float, float]:
    rounds = result["rounds"]
    return (
        statistics.median(r[0] for r in rounds),
        statistics.median(r[1] for r in rounds),
        statistics.median(r[0] / r[1] for r in rounds),
    )


def _print_stages(rows: list[dict]) -> None:
    for row in rows:
        print(f"    {row['stage']:<44}{row['ms_per_step']:>10.2f} ms{100 * row['share']:>8.1f} %")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks throughput", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--env-id", default=DEFAULT_ENV)
    parser.add_argument("--backbones", default=None, help="comma-separated; default: preset's")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (median)")
    parser.add_argument("--seconds", type=float, default=3.0, help="ParallelEnv round length")
    parser.add_argument("--num-envs", type=int, default=4096, help="vector env B (0: skip)")
    parser.add_argument("--episodes", type=int, default=1, help="vector episodes per round")
    parser.add_argument("--max-cycles", type=int, default=None, help="episode length override")
    parser.add_argument("--large-items", type=int, default=10000, help="0: skip the large row")
    parser.add_argument("--large-envs", type=int, default=1024)
    parser.add_argument(
        "--num-threads", type=int, default=None, help="env num_threads (default: the preset's, 1)"
    )
    parser.add_argument("--stages", action="store_true", help="print the per-stage breakdown")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args(argv)
    overrides: dict = {"n_items": 1000}
    if args.backbones:
        overrides["backbones"] = tuple(args.backbones.split(","))
    if args.max_cycles:
        overrides["max_cycles"] = args.max_cycles
    if args.num_threads is not None:
        overrides["num_threads"] = args.num_threads
    results = {}
    par = _run_child(
        f"parallel_child({args.env_id!r}, {overrides!r}, {args.rounds}, {args.seconds}, "
        f"{args.stages})"
    )
    results["parallel"] = par
    mine, theirs, ratio = _summary(par)
    print(f"{'measurement (whole episodes, median of rounds)':<52}{'value':>14}")
    print(f"{'mpe2 simple_spread_v3 (3 agents), env-steps/s':<52}{theirs:>14,.0f}")
    print(f"{'marec ParallelEnv ' + args.env_id + ', env-steps/s':<52}{mine:>14,.0f}")
    print(f"{'  ratio marec / mpe2 (median of per-round ratios)':<52}{ratio:>14.2f}")
    print(f"{'  peak RSS, GiB':<52}{par['peak_rss_gib']:>14.2f}")
    if args.stages:
        _print_stages(par["stages"])
    vector_rows = []
    if args.num_envs:
        vector_rows.append((args.num_envs, overrides))
    if args.large_items and args.large_envs:
        large = {**overrides, "n_items": args.large_items}
        large["initial_items"] = round(800 * args.large_items / 1000)
        vector_rows.append((args.large_envs, large))
    for num_envs, row_overrides in vector_rows:
        call = (
            f"vector_child({args.env_id!r}, {row_overrides!r}, {num_envs}, {args.rounds}, "
            f"{args.episodes}, {args.stages})"
        )
        vec = _run_child(call)
        results[f"vector B={num_envs} items={row_overrides['n_items']}"] = vec
        ours, theirs, _ratio = _summary(vec)
        label = f"vector env B={num_envs}, {row_overrides['n_items']:,} items"
        print(f"{label + ', user-steps/s':<52}{ours:>14,.0f}")
        print(f"{'  mpe2 in the same process, env-steps/s':<52}{theirs:>14,.0f}")
        print(f"{'  peak RSS, GiB':<52}{vec['peak_rss_gib']:>14.2f}")
        print(f"{'  first reset (all worlds), s':<52}{vec['first_reset_s']:>14.2f}")
        if args.stages:
            _print_stages(vec["stages"])
    print(
        "bars: ParallelEnv >= 2x mpe2; vector B=4096 >= 150,000 user-steps/s within 4 GiB; "
        "10,000 items at B=1,024 >= 30,000 user-steps/s"
    )
    if args.json:
        from benchmarks.atomic import write_text

        write_text(args.json, json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
