"""The scenario runner with a stand-in for agents.train.train: rows, resume, Ctrl-C."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from benchmarks import runner
from benchmarks import scenario as scen
from benchmarks.results import ResultsDir, read_rows


@dataclass(frozen=True)
class Config:
    """Stand-in for agents.train.TrainConfig."""

    env_id: str
    env_overrides: dict
    learner: str
    learner_params: dict
    steps: int
    eval_interval: int
    eval_episodes: int
    seed: int
    num_envs: int = 1
    eval_vector: bool = False


@dataclass
class Record:
    step: int
    eval_return: float
    wall_time: float = 0.0
    team_return: float = 0.0
    agent_returns: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    updates: int = 0
    messages: int = 0


class FakeTrain:
    """Evaluates every eval_interval steps; can send SIGINT to itself after some evaluations."""

    def __init__(self, interrupt_after: int | None = None) -> None:
        self.calls: list[Config] = []
        self.interrupt_after = interrupt_after
        self.evals = 0

    def __call__(self, cfg: Config, callback: Any = None, should_stop: Any = None) -> None:
        self.calls.append(cfg)
        for step in range(cfg.eval_interval, cfg.steps + 1, cfg.eval_interval):
            callback(Record(step=step, eval_return=cfg.seed + step / cfg.steps))
            self.evals += 1
            if self.evals == self.interrupt_after:
                os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, through the handler
            if should_stop():
                return


def scenario() -> scen.Scenario:
    return scen.from_dict(
        {
            "name": "unit",
            "env_id": "marec/coop-slate-v0",
            "env_overrides": {"slots": 3},
            "learners": ["random", {"name": "greedy", "params": {}}],
            "steps": 40,
            "eval_interval": 10,
            "seeds": 2,
        }
    )


def run(out: Path, train: FakeTrain) -> runner.Outcome:
    store = ResultsDir.open(out, scenario())
    stop = runner.StopFlag()
    with stop.installed():
        return runner.run_scenario(scenario(), store, train, Config, stop, progress=False)


def test_all_units_run_and_rows_are_saved(tmp_path: Path) -> None:
    train = FakeTrain()
    outcome = run(tmp_path, train)
    assert (outcome.interrupted, outcome.units_done, outcome.units_total) == (False, 4, 4)
    assert [(c.learner, c.seed) for c in train.calls] == [
        ("random", 0), ("random", 1), ("greedy", 0), ("greedy", 1)
    ]  # fmt: skip
    assert train.calls[0].env_overrides == {"slots": 3} and train.calls[0].steps == 40
    rows = read_rows(tmp_path)
    assert len(rows) == 16 and {r["step"] for r in rows} == {10, 20, 30, 40}
    assert ResultsDir.open(tmp_path, scenario()).meta["status"] == "complete"


def test_ctrl_c_keeps_finished_evaluations_and_resume_completes(tmp_path: Path) -> None:
    # SIGINT after the 6th evaluation: unit (random, 1) stops after its 2nd evaluation.
    outcome = run(tmp_path, FakeTrain(interrupt_after=6))
    assert outcome.interrupted and outcome.units_done == 1
    rows = read_rows(tmp_path)
    assert len(rows) == 6  # 4 of (random, 0) + 2 of the interrupted (random, 1)
    store = ResultsDir.open(tmp_path, scenario())
    assert store.meta["status"] == "interrupted" and store.completed == {("random", 0)}
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored

    train = FakeTrain()
    outcome = run(tmp_path, train)  # same config: resumes, skipping the finished unit
    assert not outcome.interrupted and outcome.units_done == 4
    resumed = [(c.learner, c.seed) for c in train.calls]
    assert resumed == [("random", 1), ("greedy", 0), ("greedy", 1)]
    rows = read_rows(tmp_path)
    assert len(rows) == 16  # the partial (random, 1) rows were replaced, not duplicated


def test_second_interrupt_aborts_at_once(tmp_path: Path) -> None:
    class Stubborn(FakeTrain):
        def __call__(self, cfg: Config, callback: Any = None, should_stop: Any = None) -> None:
            callback(Record(step=10, eval_return=1.0))
            raise KeyboardInterrupt  # what the handler raises on the second Ctrl-C

    outcome = run(tmp_path, Stubborn())
    assert outcome.interrupted and outcome.units_done == 0
    assert len(read_rows(tmp_path)) == 1


def test_failure_is_recorded_and_raised(tmp_path: Path) -> None:
    class Broken(FakeTrain):
        def __call__(self, cfg: Config, callback: Any = None, should_stop: Any = None) -> None:
            raise RuntimeError("learner bug")

    with pytest.raises(RuntimeError, match="learner bug"):
        run(tmp_path, Broken())
    assert ResultsDir.open(tmp_path, scenario()).meta["status"] == "failed"
