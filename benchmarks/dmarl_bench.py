"""DMARL benchmark: throughput and bytes at 1 and 2 workers, and learning curves against
independent learners and random.

    python -m benchmarks.dmarl_bench throughput [--env-id ID] [--updates 30] [--num-envs 8]
    python -m benchmarks.dmarl_bench curves scenarios/dmarl-coop.yaml [--seeds 5] [--workers 1,2]

``throughput`` trains (no evaluation) for a fixed number of updates on W ∈ {1, 2} local
processes (forked; one gloo group over loopback) in every sharing mode, and reports
samples/s (world-steps of all nodes), updates/s, the scaling efficiency
sps(W=2) / (2·sps(W=1)) and the bytes each node exchanges per update (payload and estimated
wire bytes; see agents/dmarl/comm.py). Every rank plays the same number of steps, so the
slowest rank sets the wall time. W = 1 and W = 2 are measured in the same run, alternating,
``--rounds`` times; the medians are reported (the host is noisy). Each round also measures
the host itself (:func:`host_scaling`: a pure-Python loop on 1 and 2 processes), because a
shared 2-core machine may not give two processes twice the work of one.

``curves`` trains every learner × seed of a scenario (learners with ``shares_gradients`` at
each ``--workers`` count, the others on one process) and reports, per learner, the IQM of the
final evaluation return over seeds with a 95% stratified-bootstrap CI
(benchmarks/stats.py), a learning-curve PNG, and whether each learner's CI lies above
random's. Everything is written atomically under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import time
import traceback
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import atomic, stats
from benchmarks import scenario as scen
from benchmarks.distributed import free_port

SHARING_MODES = ("all", "graph", "none")


# ---------------------------------------------------------------- forked ranks
def _rank_main(rank: int, world: int, port: int, fn: Any, args: tuple, queue: Any) -> None:
    import torch
    import torch.distributed as dist

    try:
        torch.set_num_threads(1)
        if world > 1:
            dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                                    world_size=world, timeout=timedelta(seconds=120))  # fmt: skip
        queue.put((rank, "ok", fn(rank, world, *args)))
    except BaseException:
        queue.put((rank, "error", traceback.format_exc()))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def run_ranks(world: int, fn: Any, *args: Any) -> list[Any]:
    """``fn(rank, world, *args)`` on ``world`` forked processes of one gloo group."""
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    port = free_port()
    procs = [ctx.Process(target=_rank_main, args=(r, world, port, fn, args, queue))
             for r in range(world)]  # fmt: skip
    for p in procs:
        p.start()
    out: dict[int, Any] = {}
    try:
        for _ in range(world):
            rank, status, value = queue.get(timeout=3600)
            if status != "ok":
                raise RuntimeError(f"rank {rank} failed:\n{value}")
            out[rank] = value
    finally:
        for p in procs:
            p.join(timeout=30)
    return [out[r] for r in range(world)]


# ---------------------------------------------------------------- throughput
def _throughput_rank(rank: int, world: int, env_id: str, overrides: dict, num_envs: int,
                     sharing: str, updates: int) -> dict[str, float]:  # fmt: skip
    from agents.envs import open_env
    from agents.registry import make_learner
    from agents.train import train_step

    env = open_env(env_id, overrides, num_envs)
    seq = np.random.SeedSequence(0).spawn(world)[rank]
    learner = make_learner("dmarl", env.info, {"sharing": sharing}, np.random.default_rng(seq))
    batch = env.reset(seed=int(seq.generate_state(1)[0]))
    while learner.updates < 1:  # warm-up: first update pays lazy imports and allocations
        batch, _, _ = train_step(env, learner, batch)
    steps, start = 0, time.perf_counter()
    while learner.updates < 1 + updates:
        batch, _, _ = train_step(env, learner, batch)
        steps += env.num_envs
    wall = time.perf_counter() - start
    counters = learner.exchange.counters()
    return {"steps": steps, "wall": wall, "updates": updates,
            "payload": counters["bytes_payload_per_update"],
            "wire": counters["bytes_wire_per_update"]}  # fmt: skip


def _busy_loop(iterations: int = 5_000_000) -> float:
    """Seconds of a pure-Python loop: a peer that needs no memory, no BLAS and no messages."""
    start, total = time.perf_counter(), 0
    for i in range(iterations):
        total += i
    return time.perf_counter() - start


def host_scaling() -> float:
    """Throughput of the busy loop on 2 forked processes over 2 × its throughput on one: what
    this host gives two independent CPU-bound processes (1.0 on two free cores)."""
    one = _busy_loop()
    with mp.get_context("fork").Pool(2) as pool:
        two = max(pool.map(_busy_loop, [5_000_000, 5_000_000]))
    return one / two


def throughput(args: argparse.Namespace) -> dict[str, Any]:
    overrides = json.loads(args.overrides)
    configs = [(1, "all")] + [(2, mode) for mode in SHARING_MODES]
    samples: dict[str, list[dict[str, float]]] = {f"W={w} {m}": [] for w, m in configs}
    host: list[float] = []
    for _ in range(args.rounds):
        host.append(host_scaling())
        for world, mode in configs:
            ranks = run_ranks(world, _throughput_rank, args.env_id, overrides, args.num_envs,
                              mode, args.updates)  # fmt: skip
            wall = max(r["wall"] for r in ranks)  # the slowest node sets the pace
            samples[f"W={world} {mode}"].append({
                "samples_per_s": sum(r["steps"] for r in ranks) / wall,
                "updates_per_s": args.updates / wall,
                "payload": ranks[0]["payload"], "wire": ranks[0]["wire"],
            })  # fmt: skip
    table = {key: {k: statistics.median(s[k] for s in runs) for k in runs[0]}
             for key, runs in samples.items()}  # fmt: skip
    base = table["W=1 all"]["samples_per_s"]
    for key, row in table.items():
        row["scaling_efficiency"] = row["samples_per_s"] / (int(key[2]) * base)
    return {"env_id": args.env_id, "overrides": overrides, "num_envs": args.num_envs,
            "updates": args.updates, "rounds": args.rounds, "table": table,
            "host_scaling": statistics.median(host)}  # fmt: skip


def throughput_markdown(result: dict[str, Any]) -> str:
    lines = [
        f"DMARL throughput on {result['env_id']} {result['overrides']}, B={result['num_envs']} "
        f"worlds per node, {result['updates']} updates, median of {result['rounds']} rounds",
        "",
        "| workers, sharing | samples/s | updates/s | scaling eff. | payload B/update/node "
        "| wire B/update/node |",
        "|---|---|---|---|---|---|",
    ]
    for key, row in result["table"].items():
        lines.append(f"| {key} | {row['samples_per_s']:.0f} | {row['updates_per_s']:.2f} | "
                     f"{row['scaling_efficiency']:.2f} | {row['payload']:.0f} | "
                     f"{row['wire']:.0f} |")  # fmt: skip
    if "host_scaling" in result:
        host = result["host_scaling"]
        lines += ["", f"Host peer, same rounds: two independent busy-loop processes reach "
                  f"{host:.2f} of twice one process's throughput, so W=2 efficiency / "
                  f"{host:.2f} is DMARL's own share."]  # fmt: skip
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- learning curves
def _curve_rank(rank: int, world: int, cfg: Any) -> list[tuple[int, float]]:
    """One node's run; W = 1 is the ordinary loop (the same run as W = 1 DMARL's, tested)."""
    from agents.dmarl.trainer import train_distributed
    from agents.train import train

    result = train(cfg) if world == 1 else train_distributed(cfg)
    return [(r.step, r.eval_return) for r in result.records]


def curves(args: argparse.Namespace) -> dict[str, Any]:
    from agents.registry import get_spec
    from agents.train import TrainConfig
    from benchmarks import runner

    scenario = scen.load(scen.resolve_path(args.scenario))
    seeds = list(range(args.seeds)) if args.seeds else list(scenario.seeds)
    workers = [int(w) for w in args.workers.split(",")]
    runs: dict[str, dict[int, list[tuple[int, float]]]] = {}
    for entry in scenario.learners:
        shares = get_spec(entry.name).capabilities.shares_gradients
        for world in workers if shares else [1]:
            label = f"{entry.label}@{world}w" if shares else entry.label
            runs[label] = {}
            for seed in seeds:
                cfg = runner.make_config(TrainConfig, scenario, entry, seed)
                start = time.perf_counter()
                runs[label][seed] = run_ranks(world, _curve_rank, cfg)[0]
                print(f"{label} seed {seed}: final {runs[label][seed][-1][1]:.3f} "
                      f"({time.perf_counter() - start:.0f} s)", flush=True)  # fmt: skip
    return summarise(scenario.name, runs)


def summarise(name: str, runs: dict[str, dict[int, list[tuple[int, float]]]]) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    table = {}
    for label, by_seed in runs.items():
        finals = [curve[-1][1] for curve in by_seed.values()]
        est = stats.bootstrap_interval(finals, "iqm", rng)
        steps = [s for s, _ in next(iter(by_seed.values()))]
        per_step = [[curve[i][1] for curve in by_seed.values()] for i in range(len(steps))]
        point, low, high = stats.curve_intervals(per_step, rng)
        curve = [point.tolist(), low.tolist(), high.tolist()]
        table[label] = {"iqm": est.point, "low": est.low, "high": est.high, "finals": finals,
                        "steps": steps, "curve": curve}  # fmt: skip
    add_comparisons(table, rng)
    return {"scenario": name, "table": table, "runs": {k: dict(v) for k, v in runs.items()}}


def add_comparisons(table: dict[str, dict[str, Any]], rng: np.random.Generator) -> None:
    """Against random: are the CIs disjoint, and the paired per-seed difference (seed s of
    every learner is evaluated on the same users, so the difference removes their spread)."""
    random = table.get("random")
    for row in table.values():
        row["above_random"] = random is not None and row["low"] > random["high"]
        if random is None:
            continue
        diff = np.subtract(row["finals"], random["finals"])
        est = stats.bootstrap_interval(diff, "iqm", rng)
        row["paired_diff"] = [est.point, est.low, est.high]


def curves_markdown(result: dict[str, Any]) -> str:
    lines = [f"Scenario {result['scenario']}: final evaluation return (mean over agents of the "
             "per-agent episode return), IQM over seeds [95% bootstrap CI]", "",
             "| learner | seeds | IQM [95% CI] | CI above random's | paired − random, IQM "
             "[95% CI] |", "|---|---|---|---|---|"]  # fmt: skip
    for label, row in result["table"].items():
        d = row.get("paired_diff", [np.nan] * 3)
        lines.append(f"| {label} | {len(row['finals'])} | {row['iqm']:.3f} "
                     f"[{row['low']:.3f}, {row['high']:.3f}] | "
                     f"{'yes' if row['above_random'] else 'no'} | "
                     f"{d[0]:+.3f} [{d[1]:+.3f}, {d[2]:+.3f}] |")  # fmt: skip
    return "\n".join(lines) + "\n"


def plot_curves(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for label, row in result["table"].items():
        point, low, high = (np.array(c) for c in row["curve"])
        ax.plot(row["steps"], point, marker="o", label=label)
        ax.fill_between(row["steps"], low, high, alpha=0.2)
    ax.set(xlabel="world-steps (all nodes)", ylabel="eval return (IQM, 95% CI)",
           title=result["scenario"])  # fmt: skip
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


# ---------------------------------------------------------------- command line
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dmarl_bench")
    sub = parser.add_subparsers(dest="command", required=True)
    tp = sub.add_parser("throughput", help="samples/s, updates/s, bytes at 1 and 2 workers")
    tp.add_argument("--env-id", default="marec/coop-slate-v0")
    tp.add_argument("--overrides", default='{"max_cycles": 50}', help="env overrides (JSON)")
    tp.add_argument("--num-envs", type=int, default=8)
    tp.add_argument("--updates", type=int, default=30)
    tp.add_argument("--rounds", type=int, default=3)
    cv = sub.add_parser("curves", help="learning curves of a scenario's learners, IQM + CI")
    cv.add_argument("scenario")
    cv.add_argument("--seeds", type=int, default=0, help="seeds 0..N-1 (default: scenario's)")
    cv.add_argument("--workers", default="1,2", help="worker counts of sharing learners")
    rs = sub.add_parser("summary", help="re-read a curves-*.json and rewrite its tables")
    rs.add_argument("json_file")
    for p in (tp, cv, rs):
        p.add_argument("--out", default="runs/dmarl-bench", help="output directory")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.command == "summary":
        result = json.loads(Path(args.json_file).read_text())
        add_comparisons(result["table"], np.random.default_rng(0))
        text, stem = curves_markdown(result), f"curves-{result['scenario']}"
        plot_curves(result, out / f"{stem}.png")
    elif args.command == "throughput":
        result = throughput(args)
        text = throughput_markdown(result)
        stem = "throughput"
    else:
        result = curves(args)
        text = curves_markdown(result)
        stem = f"curves-{result['scenario']}"
        plot_curves(result, out / f"{stem}.png")
    atomic.write_text(out / f"{stem}.json", json.dumps(result, indent=2) + "\n")
    atomic.write_text(out / f"{stem}.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
