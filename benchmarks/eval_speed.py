"""Evaluation wall time: the ParallelEnv path against the vector env, in one process.

``python -m benchmarks.eval_speed scenarios/coop-slate.yaml --episodes 20 60`` times one
evaluation (``eval_episodes`` greedy episodes, evaluation env built included, as a run builds
it once) of each of the scenario's learners on both backends, alternating them, and prints
the best of ``--repeats`` times and their ratio. Both play the same episodes (world k of the
vector env is the ParallelEnv's episode with seed k), so the per-episode returns printed
agree for every deterministic policy (``random`` draws its own numbers per batch). Learners
are untrained: evaluation costs the same whatever the values hold.
"""

from __future__ import annotations

import argparse
import functools
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from agents import registry
from agents.envs import make_parallel_env, open_env
from agents.fast_eval import evaluate_vector
from agents.train import evaluate
from benchmarks import scenario as scen


def time_one(play: Callable[[], tuple], repeats: int) -> tuple[float, float]:
    """(best wall seconds, team return) of ``repeats`` calls."""
    best, team = float("inf"), float("nan")
    for _ in range(repeats):
        start = time.perf_counter()
        team = play()[1]
        best = min(best, time.perf_counter() - start)
    return best, team


def _parallel(env_id: str, overrides: dict, learner: Any, seeds: list[int], oracle: bool):
    return evaluate(make_parallel_env(env_id, overrides), learner, seeds, oracle)


def _vector(env_id: str, overrides: dict, learner: Any, seeds: list[int], oracle: bool):
    import marec_env

    env = marec_env.vector_env(env_id, num_envs=len(seeds), **overrides)
    return evaluate_vector(env, learner, seeds, oracle)


def measure(scenario: scen.Scenario, episodes: int, repeats: int) -> list[dict]:
    env_id, overrides = scenario.env_id, dict(scenario.env_overrides)
    info = open_env(env_id, overrides, 1).info
    seeds = [int(s) for s in np.random.SeedSequence(0).generate_state(episodes)]
    warm_up = registry.make_learner("greedy", info, {}, np.random.default_rng(0))
    _vector(env_id, overrides, warm_up, seeds[:2], False)  # compiled kernels, caches: untimed
    _parallel(env_id, overrides, warm_up, seeds[:1], False)
    rows = []
    for entry in scenario.learners:
        learner = registry.make_learner(entry.name, info, dict(entry.params),
                                        np.random.default_rng(0))  # fmt: skip
        oracle = registry.get_spec(entry.name).capabilities.reads_oracle

        parallel = functools.partial(_parallel, env_id, overrides, learner, seeds, oracle)
        vector = functools.partial(_vector, env_id, overrides, learner, seeds, oracle)
        t_vec, team_vec = time_one(vector, repeats)
        t_par, team_par = time_one(parallel, repeats)
        rows.append({"learner": entry.label, "episodes": episodes, "parallel_s": t_par,
                     "vector_s": t_vec, "ratio": t_par / t_vec,
                     "team_parallel": team_par, "team_vector": team_vec})  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", help="scenario file or name (scenarios/)")
    parser.add_argument("--episodes", type=int, nargs="+", default=None,
                        help="eval_episodes to time (default: the scenario's)")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    scenario = scen.load(args.scenario)
    print(f"{scenario.name} ({scenario.env_id}): one evaluation, best of {args.repeats}")
    print("| learner | episodes | ParallelEnv s | vector s | ratio | team return (par / vec) |")
    print("|---|---|---|---|---|---|")
    for episodes in args.episodes or [scenario.eval_episodes]:
        for r in measure(scenario, episodes, args.repeats):
            print(f"| {r['learner']} | {r['episodes']} | {r['parallel_s']:.2f} | "
                  f"{r['vector_s']:.2f} | {r['ratio']:.1f}x | "
                  f"{r['team_parallel']:.4f} / {r['team_vector']:.4f} |")  # fmt: skip


if __name__ == "__main__":
    main()
