"""Issue 12, results directory: items 1 (exclusive lock, no lost rows), 13 (scenario fully
validated before anything is written) and 14 (second SIGTERM, damaged files)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from benchmarks import cli, results
from benchmarks import scenario as scen
from benchmarks.results import ResultsDir, ResultsDirError

REPO = Path(__file__).resolve().parent.parent


def scenario(**change) -> scen.Scenario:
    raw = {
        "name": "unit",
        "env_id": "marec/coop-slate-v0",
        "learners": ["random", "greedy"],
        "steps": 100,
        "eval_interval": 50,
        "seeds": 2,
    }
    return scen.from_dict({**raw, **change})


def row(learner: str, seed: int, step: int, value: float) -> dict:
    return {"scenario": "unit", "learner": learner, "seed": seed, "step": step,
            "eval_return": value}  # fmt: skip


HOLDER = textwrap.dedent(
    """
    import sys, time
    from benchmarks.dirlock import DirLock
    lock = DirLock(sys.argv[1])
    print("locked", flush=True)
    sys.stdin.readline()  # hold until the test closes stdin
    """
)


@pytest.fixture
def held_by_other_process(tmp_path: Path):
    """A second process holding the results directory's lock (as a running `run` would)."""
    out = tmp_path / "D"
    out.mkdir()
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(out)],
        cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert child.stdout is not None and child.stdout.readline().strip() == "locked"
    yield out, child.pid
    child.stdin.close()  # type: ignore[union-attr]
    child.wait(timeout=30)


def test_item1_second_writer_is_refused_naming_the_holder(held_by_other_process) -> None:
    out, pid = held_by_other_process
    # A different configuration into the same (still empty) directory: both used to succeed.
    with pytest.raises(ResultsDirError, match=f"in use by pid {pid} on .*choose another --out"):
        ResultsDir.open(out, scenario(steps=600))
    with pytest.raises(ResultsDirError, match=f"pid {pid}"):
        ResultsDir.open(out, scenario())
    assert not (out / results.META_FILE).exists()


def test_item1_cli_run_into_a_locked_directory_exits_2(held_by_other_process, capsys) -> None:
    out, pid = held_by_other_process
    code = cli.main(["run", "coop-slate", "--steps", "20", "--out", str(out), "--no-progress"])
    assert code == cli.EXIT_USAGE
    assert f"pid {pid}" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == [".lock"]


def test_item1_lock_is_released_on_close_and_by_a_dead_holder(tmp_path: Path) -> None:
    with ResultsDir.open(tmp_path, scenario()) as store:
        store.save("running")
    # Closed: another process can now take the directory (and resume the run).
    probe = "import sys; from benchmarks.dirlock import DirLock; DirLock(sys.argv[1])"
    done = subprocess.run([sys.executable, "-c", probe, str(tmp_path)], cwd=REPO)
    assert done.returncode == 0
    # A holder killed outright leaves its lock file behind, but not the lock.
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)],
        cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert child.stdout is not None and child.stdout.readline().strip() == "locked"
    child.kill()
    child.wait(timeout=30)
    with ResultsDir.open(tmp_path, scenario()) as again:
        assert again.meta["status"] == "running"


def test_item1_save_never_drops_rows_another_writer_appended(tmp_path: Path) -> None:
    store = ResultsDir.open(tmp_path, scenario())
    store.replace_unit("random", 0, [row("random", 0, 50, 1.0)])
    store.mark_complete("random", 0)
    store.save("running")
    # A writer that did not take the lock (an older marec, a script) adds its unit's rows.
    other = [*results.read_rows(tmp_path), row("greedy", 1, 50, 9.0)]
    results.write_rows(tmp_path, other)
    meta = json.loads((tmp_path / results.META_FILE).read_text())
    meta["completed"].append(["greedy", 1])
    (tmp_path / results.META_FILE).write_text(json.dumps(meta))
    os.utime(tmp_path / results.JSONL_FILE, ns=(1, 1))  # even with an old mtime

    store.replace_unit("random", 1, [row("random", 1, 50, 2.0)])
    store.save("running")
    units = {(r["learner"], r["seed"]) for r in results.read_rows(tmp_path)}
    assert units == {("random", 0), ("greedy", 1), ("random", 1)}
    assert ("greedy", 1) in ResultsDir.open(tmp_path, scenario()).completed
    store.close()
