"""``--tensorboard DIR``: every tidy row's measurements become TensorBoard scalars, one run
per (learner, seed), readable back with TensorBoard's own event reader."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from benchmarks import cli, results
from benchmarks import tensorboard as tb
from tests.test_bench_cli import fake_train


def _scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    events = EventAccumulator(str(run_dir))
    events.Reload()
    return {
        tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]
    }


def test_run_writes_the_rows_as_scalars(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli.runner, "load_trainer", lambda: (fake_train, SimpleNamespace))
    out, logs = tmp_path / "out", tmp_path / "tb"
    argv = ["run", "smoke-v0", "--steps", "30", "--seeds", "2", "--learners", "iql,greedy"]
    assert cli.main([*argv, "--out", str(out), "--no-progress", "--tensorboard", str(logs)]) == 0
    rows = results.read_rows(out)
    assert {p.parent.relative_to(logs).as_posix() for p in logs.rglob("events.out.tfevents*")} == {
        "iql/seed0",
        "iql/seed1",
        "greedy/seed0",
        "greedy/seed1",
    }
    for label, seed in (("iql", 1), ("greedy", 0)):
        written = _scalars(logs / tb.run_name(label, seed))
        mine = [r for r in rows if r["learner"] == label and r["seed"] == seed]
        assert written["eval_return"] == [
            (r["step"], pytest.approx(r["eval_return"])) for r in mine
        ]
        assert {"ctr", "return/recommender_0", "slot_share/recommender_1"} <= set(written)
        assert not {"seed", "step", "git_commit", "config_hash"} & set(written)


def test_train_writes_one_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli.runner, "load_trainer", lambda: (fake_train, SimpleNamespace))
    logs = tmp_path / "tb"
    argv = ["train", "smoke-v0", "--learner", "iql", "--seed", "3", "--steps", "30"]
    assert cli.main([*argv, "--out", str(tmp_path / "o"), "--tensorboard", str(logs)]) == 0
    assert [p.name for p in logs.iterdir()] == ["iql"]
    assert _scalars(logs / "iql" / "seed3")["eval_return"]


def test_scalars_keep_finite_measurements_only() -> None:
    row = {
        "scenario": "s",
        "learner": "a b/c",
        "seed": 0,
        "step": 5,
        "eval_return": 1.5,
        "ctr": float("nan"),
        "flag": True,
        "git_commit": "abc",
        "note": "x",
        "updates": 3,
    }
    assert tb.scalars(row) == {"eval_return": 1.5, "updates": 3.0}
    assert tb.run_name("a b/c", 2) == "a_b_c/seed2"


def test_missing_tensorboard_is_bad_input_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli.runner, "load_trainer", lambda: (fake_train, SimpleNamespace))
    monkeypatch.setattr(tb, "available", lambda: False)
    out = tmp_path / "out"
    argv = ["run", "smoke-v0", "--steps", "30", "--out", str(out), "--tensorboard", str(tmp_path)]
    assert cli.main(argv) == 2
    assert "pip install tensorboard" in capsys.readouterr().err and not out.exists()
