"""``python -m benchmarks``: bad input exits 2 with one line and writes nothing; an end-to-end
run of the default scenario writes rows, summary, report and plots; Ctrl-C exits 130."""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from benchmarks import cli, results

ROOT = Path(__file__).resolve().parent.parent
HAVE_TRAINER = importlib.util.find_spec("agents.train") is not None
needs_trainer = pytest.mark.skipif(not HAVE_TRAINER, reason="agents/train.py not there yet")


def bench(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "benchmarks", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "no-such-scenario"], "scenario file not found"),
        (["run", "smoke-v0", "--seeds", "0"], "--seeds: expected an integer >= 1"),
        (["run", "smoke-v0", "--steps", "x"], "--steps: expected an integer"),
        (["run", "smoke-v0", "--learners", "iql,nope"], "unknown learner 'nope'"),
        (["run", "smoke-v0", "--set", "steps=many"], "--set steps: expected integer"),
        (["run", "smoke-v0", "--set", "env_overrides.slots=99"], "slots (99) must be <="),
        (["train", "smoke-v0", "--learner", "iql", "--seed", "-1"], "--seed must be >= 0"),
        (["plot", "does/not/exist"], "is not a directory"),
        (["frobnicate"], "invalid choice"),
        ([], "required"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err


def test_out_is_a_file_and_foreign_dir_are_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a_file = tmp_path / "taken"
    a_file.write_text("keep me")
    assert cli.main(["run", "smoke-v0", "--out", str(a_file)]) == 2
    assert a_file.read_text() == "keep me"
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.md").write_text("mine")
    assert cli.main(["run", "smoke-v0", "--out", str(foreign)]) == 2
    assert [p.name for p in foreign.iterdir()] == ["notes.md"]
    assert "refusing to write" in capsys.readouterr().err


def test_plot_on_an_empty_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["plot", str(tmp_path)]) == 2
    assert "holds no results" in capsys.readouterr().err


def test_list_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "default" in out and "marec/coop-slate-v0" in out and "iql" in out


def test_subprocess_exit_code_and_stderr() -> None:
    proc = bench("run", "no-such-scenario", timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("error: scenario file not found")


def fake_train(cfg: SimpleNamespace, callback: Any, should_stop: Any, interrupt: bool = False):
    """Stand-in for agents.train.train: one evaluation per eval_interval, CONTRACTS metrics."""
    agents = ("recommender_0", "recommender_1")
    for step in range(cfg.eval_interval, cfg.steps + 1, cfg.eval_interval):
        metrics = {"ctr": 0.1, "welfare": 1.0, "diversity": 0.5, "cold_start_exposure": 0.0}
        metrics.update({f"slot_share/{a}": 0.5 for a in agents})
        metrics.update({f"revenue/{a}": cfg.seed + 0.1 for a in agents})
        callback(
            SimpleNamespace(
                step=step,
                wall_time=0.0,
                eval_return=cfg.seed + step / cfg.steps,
                team_return=1.0,
                agent_returns=dict.fromkeys(agents, 1.0),
                metrics=metrics,
                updates=step,
                messages=0,
            )
        )
        if interrupt:
            os.kill(os.getpid(), signal.SIGINT)
        if should_stop():
            return


@pytest.mark.parametrize("interrupt", [False, True])
def test_run_with_a_stand_in_trainer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, interrupt: bool
) -> None:
    train = functools.partial(fake_train, interrupt=interrupt)
    monkeypatch.setattr(cli.runner, "load_trainer", lambda: (train, SimpleNamespace))
    out = tmp_path / "out"
    argv = ["run", "smoke-v0", "--steps", "30", "--seeds", "2", "--out", str(out), "--no-progress"]
    assert cli.main(argv) == (130 if interrupt else 0)
    rows = results.read_rows(out)
    interval = results.read_meta(out)["config"]["eval_interval"]  # scaled down with --steps
    assert len(rows) == (1 if interrupt else 4 * 2 * (30 // interval))
    assert results.read_meta(out)["status"] == ("interrupted" if interrupt else "complete")
    assert "| random |" in (out / "summary.md").read_text()
    assert (out / "report.md").exists() and all(p.stat().st_size > 5000 for p in _pngs(out))
    if not interrupt:  # `plot DIR` redraws everything from the rows alone
        drawn = [p.name for p in _pngs(out)]
        shutil.rmtree(out / "plots")
        (out / "summary.md").unlink()
        assert cli.main(["plot", str(out)]) == 0
        assert (out / "summary.md").exists() and [p.name for p in _pngs(out)] == drawn


def test_train_one_unit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli.runner, "load_trainer", lambda: (fake_train, SimpleNamespace))
    out = tmp_path / "unit"
    argv = ["train", "smoke-v0", "--learner", "iql", "--seed", "4", "--steps", "30"]
    assert cli.main([*argv, "--out", str(out), "--no-progress"]) == 0
    rows = results.read_rows(out)
    assert rows and {(r["learner"], r["seed"]) for r in rows} == {("iql", 4)}
    assert not (out / "summary.md").exists()  # rows only: a launcher's worker


def _pngs(out: Path) -> list[Path]:
    return sorted((out / "plots").glob("*.png"))


@needs_trainer
def test_run_default_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "run"
    quick = ["--set", "env_overrides.max_cycles=50", "--set", "eval_episodes=1"]
    args = ["run", "scenarios/default.yaml", "--steps", "100", "--seeds", "1", *quick]
    args += ["--out", str(out)]
    proc = bench(*args, "--no-progress")
    assert proc.returncode == 0, proc.stderr
    rows = results.read_rows(out)
    learners = {r["learner"] for r in rows}
    assert learners == {"random", "greedy-dedup", "dmarl"}
    assert all(r["git_commit"] and len(r["config_hash"]) == 64 for r in rows)
    assert (out / results.CSV_FILE).stat().st_size > 0
    assert "IQM" in (out / "summary.md").read_text()
    assert "plots/learning_curves.png" in (out / "report.md").read_text()
    assert len(_pngs(out)) >= 4 and all(p.stat().st_size > 5000 for p in _pngs(out))


@needs_trainer
def test_rerun_into_the_same_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # In-process (no second interpreter start): same config resumes, another is refused.
    out = tmp_path / "run"
    quick = ["--set", "env_overrides.max_cycles=20", "--set", "eval_episodes=1"]
    args = ["run", "smoke-v0", "--steps", "20", "--seeds", "1", "--learners", "random,iql"]
    args += [*quick, "--out", str(out), "--no-progress"]
    assert cli.main(args) == 0
    before = (out / results.CSV_FILE).read_bytes()
    assert cli.main([*args, "--set", "eval_episodes=2"]) == 2
    assert "another configuration" in capsys.readouterr().err
    assert (out / results.CSV_FILE).read_bytes() == before
    assert cli.main(args) == 0  # same config: resumes, nothing left to do
    assert "2 of 2 runs already done" in capsys.readouterr().err
    assert (out / results.CSV_FILE).read_bytes() == before


@needs_trainer
def test_ctrl_c_keeps_what_finished(tmp_path: Path) -> None:
    out = tmp_path / "interrupted"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "benchmarks", "run", "smoke-v0", "--seeds", "1", "--out", str(out)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not (out / results.JSONL_FILE).exists() and time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err.decode()
    assert results.read_rows(out), "finished evaluations are kept"
    assert results.read_meta(out)["status"] == "interrupted"
    assert (out / "summary.md").exists() and _pngs(out)


def test_missing_optional_dependency_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def needs_tensorboard(argv: list[str]) -> int:
        raise ModuleNotFoundError(
            "No module named 'tensorboard.summary'", name="tensorboard.summary"
        )

    monkeypatch.setattr(cli, "_dispatch", needs_tensorboard)
    assert cli.main(["list"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: tensorboard is not installed")
    assert 'pip install -e ".[dev]"' in err[0]
