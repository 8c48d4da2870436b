"""Run a scenario's (learner, seed) units on several local processes (``run --jobs N``).

Each unit is independent (its own env, learner and seed), so units run in a pool of ``N``
spawned worker processes; a unit's result does not depend on which worker ran it or on
``N``. Workers only train: they send each evaluation row to the parent over a queue, and the
parent alone writes the results directory (under its lock) exactly as the one-process
runner does, so a crash or Ctrl-C keeps every evaluation already received. Ctrl-C / SIGTERM
in the parent sets a shared stop event that every worker's training loop polls; workers
ignore SIGINT themselves, so the parent decides what a stop means.
"""

from __future__ import annotations

import multiprocessing as mp
import queue as queue_module
import signal
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from benchmarks import results
from benchmarks.results import ResultsDir
from benchmarks.scenario import LearnerEntry, Scenario

_ROWS: Any = None
_STOP: Any = None


def _init_worker(rows: Any, stop: Any) -> None:
    global _ROWS, _STOP
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _ROWS, _STOP = rows, stop


def _train_unit(
    scenario: Scenario, entry: LearnerEntry, seed: int, prov: dict
) -> tuple[bool, list[results.Row]]:
    """In a worker: train one unit, streaming each row as it comes; returns whether it ran to
    the end and all its rows (the parent keeps these, whatever the queue delivered)."""
    from benchmarks.runner import load_trainer, make_config

    train_fn, factory = load_trainer()
    unit_rows: list[results.Row] = []

    def callback(record: Any) -> None:
        row = results.record_to_row(scenario.name, entry.label, seed, record, prov)
        unit_rows.append(row)
        _ROWS.put((entry.label, seed, row))

    result = train_fn(make_config(factory, scenario, entry, seed), callback=callback,
                      should_stop=_STOP.is_set)  # fmt: skip
    return not result.stopped_early, unit_rows


def run_units(
    scenario: Scenario,
    store: ResultsDir,
    units: list[tuple[LearnerEntry, int]],
    jobs: int,
    stop: Any,
    prov: dict[str, str],
    on_progress: Any,
    on_row: Any = None,
) -> int:
    """Train ``units`` on ``jobs`` processes; returns how many ran to the end. ``stop`` is the
    runner's StopFlag; ``on_progress(label, seed, step)`` follows each unit's evaluations."""
    context = mp.get_context("spawn")
    rows, shared_stop = context.Queue(), context.Event()
    unit_rows: dict[tuple[str, int], list[results.Row]] = {}
    finished = 0
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker,
                             initargs=(rows, shared_stop)) as pool:  # fmt: skip
        pending: dict[Future, tuple[str, int]] = {
            pool.submit(_train_unit, scenario, entry, seed, prov): (entry.label, seed)
            for entry, seed in units
        }
        try:
            while pending:
                if stop.is_set() and not shared_stop.is_set():
                    shared_stop.set()
                    for future in pending:
                        future.cancel()  # units not started yet never start
                done, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                _drain(rows, store, unit_rows, on_progress, on_row)
                for future in done:
                    label, seed = pending.pop(future)
                    if future.cancelled():
                        continue
                    complete, final_rows = future.result()
                    unit_rows[(label, seed)] = list(final_rows)
                    store.replace_unit(label, seed, list(final_rows))
                    if complete:
                        store.mark_complete(label, seed)
                        finished += 1
                    store.save("running")
        except KeyboardInterrupt:
            stop.set()
            shared_stop.set()
            raise
        finally:
            _drain(rows, store, unit_rows, on_progress, on_row)
    return finished


def _drain(rows: Any, store: ResultsDir, unit_rows: dict, on_progress: Any, on_row: Any) -> None:
    """Save every row waiting on the queue (rows of a unit already collected whole are
    ignored: a finished unit's own list is the record)."""
    while True:
        try:
            label, seed, row = rows.get_nowait()
        except queue_module.Empty:
            return
        kept = unit_rows.setdefault((label, seed), [])
        if any(r["step"] == row["step"] for r in kept):
            continue
        kept.append(row)
        store.replace_unit(label, seed, list(unit_rows[(label, seed)]))
        store.save("running")
        if on_row is not None:
            on_row(row)
        on_progress(label, seed, int(row["step"]))
