"""Compare learners on one env over seeds: final eval return (IQM, 95% bootstrap CI), wall
time and training throughput. A quick tool for learner development; the benchmark harness
(``python -m benchmarks``) is the full one.

    python -m agents.compare --env marec/coop-slate-v0 --learners maql iql random \\
        --seeds 0 1 2 3 4 --steps 20000 --eval-interval 5000 --eval-episodes 10 --jobs 2

``--set maql.rounds=2`` sets a hyper-parameter, ``--env-set n_items=300`` an env override
(values are parsed as Python literals when they can be).
"""

from __future__ import annotations

import argparse
import ast
import json
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from agents.train import TrainConfig, train


def iqm(values: np.ndarray) -> float:
    """Interquartile mean: the mean of the middle 50% (rliable's aggregate)."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    cut = int(np.floor(0.25 * len(x)))
    return float(x[cut : len(x) - cut].mean())


def bootstrap_ci(
    values: np.ndarray, stat: Any = iqm, reps: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """95% percentile bootstrap interval of ``stat`` over seeds (resampled with replacement)."""
    rng = np.random.default_rng(seed)
    x = np.asarray(values, dtype=np.float64)
    samples = [stat(x[rng.integers(0, len(x), len(x))]) for _ in range(reps)]
    return float(np.percentile(samples, 2.5)), float(np.percentile(samples, 97.5))


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _run(cfg: TrainConfig) -> dict[str, Any]:
    result = train(cfg)
    train_seconds = max(result.wall_time - result.eval_seconds, 1e-9)
    last = result.records[-1]
    return {
        "learner": cfg.learner, "seed": cfg.seed, "final_return": last.team_return,
        "eval_return": last.eval_return, "curve": [(r.step, r.team_return) for r in result.records],
        "wall_time": result.wall_time, "train_seconds": train_seconds,
        "updates_per_s": result.updates / train_seconds,
        "env_steps_per_s": result.steps / train_seconds,
        "messages_per_step": result.messages / max(result.steps, 1),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--env", default="marec/coop-slate-v0")
    ap.add_argument("--learners", nargs="+", default=["maql", "iql", "random"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    ap.add_argument("--steps", type=int, default=20_000)
    ap.add_argument("--eval-interval", type=int, default=5_000)
    ap.add_argument("--eval-episodes", type=int, default=10)
    ap.add_argument("--num-envs", type=int, default=1)
    ap.add_argument("--set", action="append", default=[], help="learner.param=value")
    ap.add_argument("--env-set", action="append", default=[], help="key=value")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--out", help="write every run as JSON here")
    args = ap.parse_args(argv)
    params: dict[str, dict[str, Any]] = {name: {} for name in args.learners}
    for item in args.set:
        key, value = item.split("=", 1)
        name, param = key.split(".", 1)
        params.setdefault(name, {})[param] = _literal(value)
    env_overrides = {k: _literal(v) for k, v in (s.split("=", 1) for s in args.env_set)}
    configs = [
        TrainConfig(args.env, env_overrides, name, params.get(name, {}), args.steps,
                    args.eval_interval, args.eval_episodes, seed, args.num_envs)
        for name in args.learners for seed in args.seeds
    ]  # fmt: skip
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        runs = list(pool.map(_run, configs))
    print(f"{args.env}  steps={args.steps}  seeds={args.seeds}  eval_episodes="
          f"{args.eval_episodes}  total {time.perf_counter() - start:.0f}s")  # fmt: skip
    print(f"{'learner':10s} {'IQM team return':>16s} {'95% CI':>18s} {'per seed':>40s} "
          f"{'wall s':>7s} {'upd/s':>8s} {'msg/step':>8s}")  # fmt: skip
    for name in args.learners:
        mine = [r for r in runs if r["learner"] == name]
        finals = np.array([r["final_return"] for r in mine])
        low, high = bootstrap_ci(finals)
        seeds = " ".join(f"{v:.1f}" for v in finals)
        print(f"{name:10s} {iqm(finals):16.2f} {f'[{low:.2f}, {high:.2f}]':>18s} {seeds:>40s} "
              f"{np.mean([r['wall_time'] for r in mine]):7.1f} "
              f"{np.mean([r['updates_per_s'] for r in mine]):8.0f} "
              f"{np.mean([r['messages_per_step'] for r in mine]):8.1f}")  # fmt: skip
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(runs, fh, indent=1)


if __name__ == "__main__":
    main()
