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


# ------------------------------------------------------------------ item 14
SECOND_SIGTERM = textwrap.dedent(
    """
    import os, signal, sys
    from dataclasses import dataclass
    from benchmarks import cli, plots, runner

    @dataclass
    class Record:
        step: int
        eval_return: float = 1.0
        wall_time: float = 0.1
        team_return: float = 1.0
        updates: int = 0
        messages: int = 0
        agent_returns: dict = None
        metrics: dict = None

        def __post_init__(self):
            self.agent_returns, self.metrics = {}, {}

    def train(cfg, callback=None, should_stop=None):
        for step in range(10, cfg.steps + 1, 10):
            callback(Record(step=step))

    runner.load_trainer = lambda: (train, lambda **kw: type("C", (), kw))
    draw = plots.render_all

    def render_all(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)  # Ctrl-C / SIGTERM twice during the report
        os.kill(os.getpid(), signal.SIGTERM)
        return draw(*args, **kwargs)

    plots.render_all = render_all
    sys.exit(cli.main(["run", "coop-slate", "--steps", "20", "--seeds", "1",
                       "--learners", "random", "--out", sys.argv[1], "--no-progress"]))
    """
)


def test_item14_second_sigterm_during_the_report_keeps_summary_report_and_plots(
    tmp_path: Path,
) -> None:
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-c", SECOND_SIGTERM, str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == cli.EXIT_INTERRUPTED, done.stderr[-2000:]
    assert "writing the summary, report and plots first" in done.stderr
    assert (out / "summary.md").is_file() and (out / "report.md").is_file()
    assert list((out / "plots").glob("*.png"))
    assert json.loads((out / results.META_FILE).read_text())["status"] == "complete"


def _finished_run(out: Path) -> None:
    store = ResultsDir.open(out, scenario())
    for learner in ("random", "greedy"):
        for seed in (0, 1):
            store.replace_unit(learner, seed, [row(learner, seed, 100, 1.0 + seed)])
            store.mark_complete(learner, seed)
    store.save("complete")
    store.close()


@pytest.mark.parametrize("damage", ["truncated jsonl", "garbage jsonl line", "jsonl not rows"])
def test_item14_damaged_results_jsonl_names_the_file_and_the_recovery(
    damage: str, tmp_path: Path, capsys
) -> None:
    _finished_run(tmp_path)
    jsonl = tmp_path / results.JSONL_FILE
    text = jsonl.read_text()
    damaged = {
        "truncated jsonl": text[: len(text) - 40],
        "garbage jsonl line": text + "\x00\x17{{\n",
        "jsonl not rows": "[1, 2]\n",
    }
    jsonl.write_text(damaged[damage])
    with pytest.raises(ResultsDirError, match=r"results.jsonl is damaged.*delete results.jsonl"):
        ResultsDir.open(tmp_path, scenario())
    assert cli.main(["plot", str(tmp_path)]) == cli.EXIT_USAGE
    assert "results.jsonl is damaged" in capsys.readouterr().err
    # the recovery it names works: the CSV holds the same rows
    jsonl.unlink()
    with ResultsDir.open(tmp_path, scenario()) as store:
        assert len(store.rows) == 4


@pytest.mark.parametrize("garbage", ["{not json", "[1, 2]", '"x"', '{"completed": 5}',
                                     '{"completed": [["a"]]}', "\xff\xfe"])  # fmt: skip
def test_item14_garbage_run_json_names_the_file_and_the_recovery(
    garbage: str, tmp_path: Path, capsys
) -> None:
    _finished_run(tmp_path)
    (tmp_path / results.META_FILE).write_text(garbage, encoding="latin-1")
    with pytest.raises(ResultsDirError, match=r"run.json: .*(unreadable|damaged).*To recover"):
        ResultsDir.open(tmp_path, scenario())
    assert cli.main(["plot", str(tmp_path)]) == cli.EXIT_USAGE
    assert "run.json" in capsys.readouterr().err
    (tmp_path / results.META_FILE).unlink()  # the recovery it names: the rows are still there
    assert results.read_meta(tmp_path) is None and len(results.read_rows(tmp_path)) == 4


def test_item14_complete_run_json_without_its_rows_is_refused(tmp_path: Path, capsys) -> None:
    _finished_run(tmp_path)
    (tmp_path / results.JSONL_FILE).unlink()
    (tmp_path / results.CSV_FILE).unlink()
    with pytest.raises(ResultsDirError, match=r"4 finished run.*rows are missing"):
        ResultsDir.open(tmp_path, scenario())
    assert cli.main(["plot", str(tmp_path)]) == cli.EXIT_USAGE
    assert "rows are missing" in capsys.readouterr().err


# ------------------------------------------------------------------ item 13
BAD_SCENARIOS = {
    "matrix game nope": ("marec/matrix-game-v0", {"game": "nope"}, 1, "game"),
    "missing text_model": ("marec/mixed-v0", {"text_model": "/no/such/model"}, 1, "text_model"),
    "cache dir 5": ("marec/mixed-v0", {"embedding_cache_dir": 5}, 1, "embedding_cache_dir"),
    "num_envs 1e8": ("marec/mixed-v0", {}, 10**8, "num_envs=100000000"),
}


@pytest.mark.parametrize("case", sorted(BAD_SCENARIOS))
def test_item13_bad_scenario_exits_2_before_writing_anything(
    case: str, tmp_path: Path, capsys
) -> None:
    env_id, overrides, num_envs, field = BAD_SCENARIOS[case]
    raw = {"name": "bad", "env_id": env_id, "env_overrides": overrides, "learners": ["random"],
           "steps": 10, "eval_interval": 10, "seeds": 1, "num_envs": num_envs}  # fmt: skip
    path = tmp_path / "bad.yaml"
    path.write_text(json.dumps(raw))  # JSON is YAML
    out = tmp_path / "out"
    code = cli.main(["run", str(path), "--out", str(out), "--no-progress"])
    assert code == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "Traceback" not in err and field in err, err
    assert not out.exists()  # no run.json to block the corrected scenario
    with pytest.raises(scen.ScenarioError, match=field):
        scen.load(path)
