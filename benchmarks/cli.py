"""``python -m benchmarks``: run scenarios, train one unit, re-plot, list, throughput.

Exit codes: 0 success; 2 bad input (one-line message on stderr, nothing written or
overwritten); 130 interrupted by Ctrl-C (finished evaluations, summary and plots are kept).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from agents.base import LearnerError
from agents.params import ParamError
from benchmarks import overrides, registries, results, runner, summary
from benchmarks import scenario as scen
from benchmarks import tensorboard as tb
from benchmarks.results import ResultsDir, ResultsDirError
from benchmarks.scenario import Scenario, ScenarioError
from marec_env.config import ConfigError

DEFAULT_SCENARIO = scen.SCENARIO_DIR / "default.yaml"
EXIT_USAGE, EXIT_INTERRUPTED = 2, 130


def missing_dependency(exc: ModuleNotFoundError) -> str:
    """One line naming the missing package and how to install the optional extras."""
    name = (exc.name or str(exc)).split(".")[0]
    return (f"{name} is not installed: it is an optional dependency of this command; "
            'install the extras with `pip install -e ".[dev]"`')  # fmt: skip


class UsageError(Exception):
    """Bad input: reported as one line on stderr with exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line instead of usage + error
        raise UsageError(f"{self.prog}: {message} (see --help)")


def _comma_list(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected comma-separated names, e.g. iql,maql")
    return names


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def _add_scenario_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "scenario",
        nargs="?",
        default=str(DEFAULT_SCENARIO),
        help="scenario YAML path or name in scenarios/ (default: scenarios/default.yaml)",
    )
    p.add_argument("--steps", type=_positive_int, help="env steps per run (eval_interval scales)")
    p.add_argument("--out", help="results directory (default: runs/<scenario>-<timestamp>)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY.PATH=VALUE",
        help="override a scenario value, e.g. env_overrides.drift_rate=0.3 (repeatable)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--tensorboard", metavar="DIR", help="also write TensorBoard event files to DIR")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m benchmarks",
        description="marec benchmark harness: run scenarios, re-plot results, list, throughput.",
        epilog="Exit codes: 0 done, 2 bad input (nothing written), 130 interrupted by Ctrl-C.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser("run", help="train every learner × seed of a scenario, then report")
    _add_scenario_args(run)
    run.add_argument("--learners", type=_comma_list, help="comma-separated learners to run")
    run.add_argument("--seeds", type=_positive_int, help="number of seeds (0..N-1)")
    run.add_argument(
        "--jobs", type=_positive_int, default=1,
        help="train (learner, seed) runs on this many local processes (default 1)",
    )  # fmt: skip
    train = sub.add_parser("train", help="train one learner on one seed and write its rows")
    _add_scenario_args(train)
    train.add_argument("--learner", required=True, help="learner name or label")
    train.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    train.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        help="local processes sharing gradients (spawns torchrun; dmarl)",
    )
    train.add_argument(
        "--rdzv-endpoint",
        metavar="HOST:PORT",
        help="rendezvous of --workers (default 127.0.0.1 at a free port)",
    )
    plot = sub.add_parser("plot", help="re-render summary, plots and report of a results dir")
    plot.add_argument("directory", help="results directory written by `run`")
    plot.add_argument(
        "--video",
        action="store_true",
        help="also record a greedy episode of the scenario's env as episode.gif",
    )
    plot.add_argument(
        "--video-steps", type=_positive_int, default=60, help="frames in the GIF (default 60)"
    )
    sub.add_parser("list", help="list scenarios, env ids and learners")
    # Listed for --help only: main() hands everything after `throughput` to its own parser.
    sub.add_parser("throughput", help="env-steps/s of the env vs mpe2 (see its --help)")
    sub.add_parser("soak", help="long run of the vector env and ParallelEnv: NaN, memory")
    sub.add_parser("validity", help="write docs/VALIDITY.md for the v1 presets (--help)")
    return parser


def load_scenario(args: argparse.Namespace, **flags: Any) -> Scenario:
    path = scen.resolve_path(args.scenario)
    raw = overrides.apply_flags(scen.read_raw(path), steps=args.steps, **flags)
    for assignment in args.set:
        raw = overrides.apply_set(raw, assignment)
    try:
        return scen.from_dict(raw, default_name=path.stem)
    except ScenarioError as exc:
        raise ScenarioError(f"{path}: {exc}") from None


def _out_dir(args: argparse.Namespace, scenario: Scenario, suffix: str = "") -> Path:
    if args.out:
        return Path(args.out)
    return Path("runs") / f"{scenario.name}{suffix}-{time.strftime('%Y%m%d-%H%M%S')}"


def finalize(store: ResultsDir) -> None:
    """summary.md, plots and report.md from whatever rows the store holds."""
    from benchmarks import plots  # matplotlib import: only when drawing

    summary.write(store.path, store.rows, store.meta)
    plots.render_all(store.path, store.rows, agent_labels=agent_labels(store.meta))


def agent_labels(meta: dict[str, Any]) -> dict[str, str]:
    """``recommender_i`` → ``recommender_i (kind)`` from the run's env config, when known."""
    config = meta.get("config") or {}
    try:
        import marec_env

        spec = marec_env.get_spec(config.get("env_id", ""))
        if not spec.market:
            return {}
        kinds = spec.config(**(config.get("env_overrides") or {})).backbones
    except (ImportError, ValueError, TypeError):
        return {}
    return {f"recommender_{i}": f"recommender_{i} ({kind})" for i, kind in enumerate(kinds)}


def _train(
    scenario: Scenario, out: Path, progress: bool, report: bool, tensorboard: str | None = None,
    jobs: int = 1,
) -> int:  # fmt: skip
    ResultsDir.check(out, scenario)  # every refusal before anything is created or imported
    train_fn, factory = runner.load_trainer()
    if tensorboard is not None and not tb.available():
        raise UsageError("--tensorboard needs the tensorboard package: pip install tensorboard")
    store = ResultsDir.open(out, scenario)
    if store.completed:
        n = len(scenario.learners) * len(scenario.seeds)
        print(f"resuming {out}: {len(store.completed)} of {n} runs already done", file=sys.stderr)
    with store:  # holds the directory's lock until the report is written
        stop = runner.StopFlag()
        with stop.installed(), tb.optional_log(tensorboard) as on_row:
            outcome = runner.run_scenario(
                scenario, store, train_fn, factory, stop, progress, on_row, jobs=jobs
            )
        if report:
            with stop.deferring():  # a second SIGTERM must not lose the report
                finalize(store)
    print(f"results in {out} ({outcome.units_done}/{outcome.units_total} runs finished)")
    return EXIT_INTERRUPTED if outcome.interrupted or stop.is_set() else 0


def cmd_run(args: argparse.Namespace) -> int:
    scenario = load_scenario(args, learners=args.learners, seeds=args.seeds)
    out = _out_dir(args, scenario)
    return _train(scenario, out, not args.no_progress, report=True, tensorboard=args.tensorboard,
                  jobs=args.jobs)  # fmt: skip


def cmd_train(args: argparse.Namespace) -> int:
    if args.seed < 0:
        raise UsageError(f"--seed must be >= 0, got {args.seed}")
    scenario = load_scenario(args, learners=[args.learner])
    scenario = scen.from_dict({**scenario.to_dict(), "seeds": [args.seed]}, scenario.name)
    out = _out_dir(args, scenario, f"-{args.learner}-s{args.seed}")
    from benchmarks import distributed

    try:
        if distributed.launched():  # a torchrun worker: rank 0 alone writes
            distributed.exit_worker(distributed.train_node(scenario, out, not args.no_progress))
        if args.workers > 1:
            return distributed.spawn_local(args, scenario, out)
    except distributed.LaunchError as exc:
        raise UsageError(str(exc)) from None
    return _train(scenario, out, not args.no_progress, report=False, tensorboard=args.tensorboard)


def cmd_plot(args: argparse.Namespace) -> int:
    directory = Path(args.directory)
    if not directory.is_dir():
        raise UsageError(f"plot: {directory} is not a directory")
    meta = results.read_meta(directory)
    rows = results.read_rows(directory)
    if meta is None and not rows:
        raise UsageError(f"plot: {directory} holds no results ({results.CSV_FILE})")
    results.check_writable_dir(directory)
    with results.lock_dir(directory):  # not while a run is still writing there
        meta, rows = results.read_meta(directory), results.read_rows(directory)
        results.check_rows_present(directory, meta or {}, rows)
        finalize(ResultsDir(directory, meta or {}, rows))
    print(f"wrote {directory / summary.SUMMARY_FILE} and {directory / 'report.md'}")
    if args.video:
        from benchmarks.episode_gif import episode_gif

        gif = episode_gif(directory, (meta or {}).get("config", {}), args.video_steps)
        print(f"wrote {gif}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    print("Scenarios (scenarios/*.yaml):")
    for path in scen.list_files():
        try:
            s = scen.load(path)
            first = s.description.split(". ")[0].rstrip(".")
            print(f"  {path.stem:<18} {s.env_id:<26} {first}")
        except ScenarioError as exc:
            print(f"  {path.stem:<18} INVALID: {exc}")
    print("\nEnv ids")
    for env_id in registries.env_ids():
        print(f"  {env_id}")
    print("\nLearners")
    for name in registries.learner_names():
        print(f"  {name:<12} {registries.learner_description(name)}".rstrip())
    return 0


def cmd_throughput(argv: list[str]) -> int:
    try:
        from benchmarks.throughput import main as throughput_main
    except ModuleNotFoundError as exc:
        if exc.name != "benchmarks.throughput":
            raise
        raise UsageError("throughput: benchmarks/throughput.py is not in this checkout") from None
    code = throughput_main(argv)
    return int(code or 0)


COMMANDS = {"run": cmd_run, "train": cmd_train, "plot": cmd_plot, "list": cmd_list}


# Bad input, including the env's and the learners' own config errors (raised when a run
# builds its env or learner; LearnerError: a learner that cannot handle the scenario's env).
BAD_INPUT = (UsageError, ScenarioError, ResultsDirError, ConfigError, ParamError, LearnerError)


def _dispatch(argv: list[str]) -> int:
    if argv[:1] == ["throughput"]:
        return cmd_throughput(argv[1:])
    if argv[:1] == ["soak"]:  # issue 12: long-run NaN / memory check
        from benchmarks.soak import main as soak_main

        return soak_main(argv[1:])
    if argv[:1] == ["validity"]:
        from benchmarks.validity import main as validity_main

        return validity_main(argv[1:])
    args = build_parser().parse_args(argv)
    args.argv = argv  # `train --workers` re-runs the command line in each worker
    return COMMANDS[args.command](args)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return _dispatch(argv)
    except BAD_INPUT as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ModuleNotFoundError as exc:  # an optional dependency (tensorboard, mpe2, ...)
        print(f"error: {missing_dependency(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # outside training (e.g. while plotting)
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
