"""``run --jobs N``: units on N processes give the rows one process gives; Ctrl-C keeps what
arrived and exits 130."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import cli, results

ROOT = Path(__file__).resolve().parent.parent
QUICK = ["--set", "env_overrides.max_cycles=20", "--set", "eval_episodes=1", "--no-progress"]


def _by_unit(out: Path) -> dict[tuple, tuple]:
    rows = results.read_rows(out)
    return {(r["learner"], r["seed"], r["step"]): (r["eval_return"], r["team_return"], r["updates"])
            for r in rows}  # fmt: skip


def test_jobs_give_the_rows_of_one_process(tmp_path: Path) -> None:
    args = ["run", "smoke-v0", "--steps", "40", "--seeds", "2", "--learners", "random,iql", *QUICK]
    assert cli.main([*args, "--out", str(tmp_path / "one")]) == 0
    assert cli.main([*args, "--jobs", "2", "--out", str(tmp_path / "two")]) == 0
    one, two = _by_unit(tmp_path / "one"), _by_unit(tmp_path / "two")
    assert len(one) == 2 * 2 * 5  # learners × seeds × evaluations (the interval scales: 8)
    assert two == one
    assert results.read_meta(tmp_path / "two")["status"] == "complete"
    assert cli.main([*args, "--jobs", "2", "--out", str(tmp_path / "two")]) == 0  # resumes


def test_ctrl_c_with_jobs_keeps_what_arrived(tmp_path: Path) -> None:
    out = tmp_path / "interrupted"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "benchmarks", "run", "smoke-v0", "--seeds", "2", "--jobs", "2",
           "--steps", "20000", "--out", str(out), "--no-progress"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    while not (out / results.JSONL_FILE).exists() and time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err.decode()
    assert results.read_rows(out), "evaluations that arrived are kept"
    meta = results.read_meta(out)
    assert meta["status"] == "interrupted"
    assert (out / "summary.md").exists()
