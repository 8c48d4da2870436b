"""Train every (learner, seed) of a scenario and record each evaluation as a tidy row.

The training loop itself is ``agents.train.train`` (docs/CONTRACTS.md); this module only
builds its configs, turns its ``EvalRecord`` callbacks into rows, saves after every
evaluation (so a crash keeps all finished evaluations), skips units a previous attempt
finished (resume), and stops cleanly on Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any

from benchmarks import registries, results
from benchmarks.results import ResultsDir
from benchmarks.scenario import LearnerEntry, Scenario, config_hash

TrainFn = Callable[..., Any]
"""``train(cfg, callback=..., should_stop=...)`` as in agents.train."""
ConfigFactory = Callable[..., Any]


class StopFlag:
    """Set by the first Ctrl-C (training stops after the current step); a second Ctrl-C
    raises KeyboardInterrupt at once, for a learner that does not poll ``should_stop``."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def is_set(self) -> bool:
        return self._event.is_set()

    def set(self) -> None:
        self._event.set()

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self._event.is_set():
            raise KeyboardInterrupt
        self._event.set()
        print(
            "\nstopping after the current step (Ctrl-C again to abort now)…",
            file=sys.stderr,
            flush=True,
        )

    def _defer(self, signum: int, frame: FrameType | None) -> None:
        self._event.set()
        print(
            "\nwriting the summary, report and plots first; they take a few seconds…",
            file=sys.stderr,
            flush=True,
        )

    @contextmanager
    def deferring(self) -> Iterator[StopFlag]:
        """While the block runs (the final report), Ctrl-C / SIGTERM only set the flag: the
        report of a finished or stopped run is always written (main thread only)."""
        with self._routed(self._defer):
            yield self

    @contextmanager
    def installed(self) -> Iterator[StopFlag]:
        """Route SIGINT/SIGTERM to :meth:`handle` while the block runs (main thread only)."""
        with self._routed(self.handle):
            yield self

    @contextmanager
    def _routed(self, handler: Callable[[int, FrameType | None], None]) -> Iterator[StopFlag]:
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


@dataclass
class Outcome:
    """How a run ended."""

    interrupted: bool
    """True when stopped by Ctrl-C / SIGTERM before every unit finished."""
    units_done: int
    """(learner, seed) units finished, including ones finished by an earlier attempt."""
    units_total: int


def load_trainer() -> tuple[TrainFn, ConfigFactory]:
    """``agents.train.train`` and ``TrainConfig`` (imported late: they bring the envs in)."""
    from agents.train import TrainConfig, train

    return train, TrainConfig


def make_config(factory: ConfigFactory, scenario: Scenario, entry: LearnerEntry, seed: int):
    return factory(
        env_id=scenario.env_id,
        env_overrides=dict(scenario.env_overrides),
        learner=entry.name,
        learner_params=dict(entry.params),
        steps=scenario.steps,
        eval_interval=scenario.eval_interval,
        eval_episodes=scenario.eval_episodes,
        seed=seed,
        num_envs=scenario.num_envs,
        eval_vector=scenario.eval_backend == "vector" and registries.learner_vectorised(entry.name),
    )


class _Progress:
    """tqdm over all units' steps; advanced at each evaluation (the only callback we get)."""

    def __init__(self, total: int, initial: int, enabled: bool) -> None:
        from tqdm import tqdm

        # initial: steps of units finished before a resume, so they do not distort the ETA
        self.bar = tqdm(
            total=total, initial=initial, unit="step", disable=not enabled, dynamic_ncols=True
        )

    def unit(self, label: str, seed: int) -> None:
        self.bar.set_description(f"{label} seed {seed}")

    def advance(self, n: int) -> None:
        if n > 0:
            self.bar.update(n)

    def close(self) -> None:
        self.bar.close()


def run_scenario(
    scenario: Scenario,
    store: ResultsDir,
    train_fn: TrainFn,
    config_factory: ConfigFactory,
    stop: StopFlag,
    progress: bool = True,
    on_row: Callable[[results.Row], None] | None = None,
    jobs: int = 1,
) -> Outcome:
    """Train the scenario's units not yet completed in ``store``; rows are saved as they come
    and also handed to ``on_row`` (e.g. a TensorBoard writer). ``jobs`` > 1 trains units on
    that many local processes (:mod:`benchmarks.parallel`; same rows, any order)."""
    units = [(e, s) for e in scenario.learners for s in scenario.seeds]
    prov = results.provenance(config_hash(scenario))
    finished = sum((e.label, s) in store.completed for e, s in units)
    bar = _Progress(len(units) * scenario.steps, finished * scenario.steps, progress)
    try:
        if jobs > 1:
            _run_parallel(scenario, store, units, jobs, stop, prov, bar, on_row)
        else:
            _run_in_turn(scenario, store, units, train_fn, config_factory, stop, bar, prov, on_row)
    except KeyboardInterrupt:
        stop.set()
    except BaseException:
        store.save("failed")
        raise
    finally:
        bar.close()
    done = sum((e.label, s) in store.completed for e, s in units)
    interrupted = done < len(units)
    store.save("interrupted" if interrupted else "complete")
    return Outcome(interrupted, done, len(units))


def _run_in_turn(scenario, store, units, train_fn, config_factory, stop, bar, prov, on_row) -> None:
    """Units one after another in this process; stops at the first one stopped early."""
    for entry, seed in units:
        if stop.is_set():
            return
        if (entry.label, seed) not in store.completed:
            bar.unit(entry.label, seed)
            args = (scenario, entry, seed, store, train_fn, config_factory, stop, bar, prov,
                    on_row)  # fmt: skip
            if not _run_unit(*args):
                return
            store.mark_complete(entry.label, seed)
            store.save("running")


def _run_parallel(scenario, store, units, jobs, stop, prov, bar, on_row) -> None:
    """Units on ``jobs`` processes (:mod:`benchmarks.parallel`); the bar follows each one."""
    from benchmarks import parallel

    pending = [(e, s) for e, s in units if (e.label, s) not in store.completed]
    last_step: dict[tuple[str, int], int] = {}

    def on_progress(label: str, seed: int, step: int) -> None:
        bar.unit(label, seed)
        bar.advance(step - last_step.get((label, seed), 0))
        last_step[(label, seed)] = step

    parallel.run_units(scenario, store, pending, jobs, stop, prov, on_progress, on_row)


def _run_unit(
    scenario: Scenario,
    entry: LearnerEntry,
    seed: int,
    store: ResultsDir,
    train_fn: TrainFn,
    config_factory: ConfigFactory,
    stop: StopFlag,
    bar: _Progress,
    prov: dict[str, str],
    on_row: Callable[[results.Row], None] | None = None,
) -> bool:
    """Train one (learner, seed); True when it ran to the end (not stopped early)."""
    unit_rows: list[results.Row] = []
    last_step = 0

    def callback(record: Any) -> None:
        nonlocal last_step
        row = results.record_to_row(scenario.name, entry.label, seed, record, prov)
        unit_rows.append(row)
        store.replace_unit(entry.label, seed, list(unit_rows))  # drops an older partial try
        store.save("running")
        if on_row is not None:
            on_row(row)
        bar.advance(int(record.step) - last_step)
        last_step = int(record.step)

    cfg = make_config(config_factory, scenario, entry, seed)
    result = train_fn(cfg, callback=callback, should_stop=stop.is_set)
    # TrainResult.stopped_early tells a stop after the last step (complete) from a real one.
    complete = not getattr(result, "stopped_early", stop.is_set())
    if complete:
        bar.advance(scenario.steps - last_step)
    return complete
