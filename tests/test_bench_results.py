"""Tidy rows, atomic CSV/JSONL, results-directory protection and summary.md."""

from __future__ import annotations

import csv
import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from benchmarks import results, summary
from benchmarks import scenario as scen
from benchmarks.results import ResultsDir, ResultsDirError

AGENTS = ("recommender_0", "recommender_1")


@dataclass
class Record:
    """Stand-in for agents.train.EvalRecord (same fields)."""

    step: int
    eval_return: float
    wall_time: float = 0.5
    team_return: float = 1.0
    agent_returns: dict = field(default_factory=lambda: dict.fromkeys(AGENTS, 0.5))
    metrics: dict = field(default_factory=lambda: {"ctr": 0.2, "slot_share/recommender_0": 0.6})
    updates: int = 10
    messages: int = 0


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


def rows_for(learner: str, seed: int, returns: list[float]) -> list[dict]:
    prov = results.provenance("hash")
    return [
        results.record_to_row("unit", learner, seed, Record(step=50 * (i + 1), eval_return=r), prov)
        for i, r in enumerate(returns)
    ]


def test_row_has_ids_metrics_and_provenance() -> None:
    row = rows_for("random", 3, [1.5])[0]
    assert (row["scenario"], row["learner"], row["seed"], row["step"]) == ("unit", "random", 3, 50)
    assert row["eval_return"] == 1.5 and row["return/recommender_1"] == 0.5
    assert row["ctr"] == 0.2 and row["slot_share/recommender_0"] == 0.6
    for col in results.PROVENANCE_COLUMNS:
        assert row[col]
    assert row["config_hash"] == "hash"


def test_git_commit_outside_a_repo_is_unknown(tmp_path: Path) -> None:
    assert results.git_commit(str(tmp_path)) == "unknown"
    inside = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True)
    if inside.returncode == 0:
        assert results.git_commit() == inside.stdout.strip()


def test_csv_and_jsonl_round_trip(tmp_path: Path) -> None:
    rows = [*rows_for("random", 0, [1.0, float("nan")]), {"scenario": "unit", "extra": 1}]
    results.write_rows(tmp_path, rows)
    back = results.read_rows(tmp_path)
    assert back[0] == rows[0]
    assert back[1]["eval_return"] is None  # NaN is stored as null: valid JSON
    with open(tmp_path / results.CSV_FILE, newline="") as fh:
        table = list(csv.DictReader(fh))
    header = list(table[0])
    assert header[:4] == list(results.ID_COLUMNS) and header[-1] == "marec_env_version"
    assert table[1]["eval_return"] == "" and table[2]["extra"] == "1"
    os.remove(tmp_path / results.JSONL_FILE)  # the CSV alone reads back with numbers
    assert results.read_rows(tmp_path)[0]["eval_return"] == 1.0
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_open_new_directory_and_resume(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b"
    store = ResultsDir.open(out, scenario())
    store.replace_unit("random", 0, rows_for("random", 0, [1.0]))
    store.mark_complete("random", 0)
    store.save("running")
    again = ResultsDir.open(out, scenario())
    assert again.completed == {("random", 0)} and len(again.rows) == 1
    again.replace_unit("random", 0, rows_for("random", 0, [2.0, 3.0]))  # replaces, not appends
    assert [r["eval_return"] for r in again.rows] == [2.0, 3.0]


def test_other_scenario_or_config_is_refused_untouched(tmp_path: Path) -> None:
    store = ResultsDir.open(tmp_path, scenario())
    store.replace_unit("random", 0, rows_for("random", 0, [1.0]))
    store.save()
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(ResultsDirError, match="another configuration"):
        ResultsDir.open(tmp_path, scenario(steps=200))
    with pytest.raises(ResultsDirError, match="scenario 'unit', not 'other'"):
        ResultsDir.open(tmp_path, scenario(name="other"))
    assert before == {p.name: p.read_bytes() for p in tmp_path.iterdir()}


def test_bad_output_paths(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(ResultsDirError, match="not a directory"):
        ResultsDir.open(a_file, scenario())
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(ResultsDirError, match="refusing to write"):
        ResultsDir.open(foreign, scenario())
    nested = a_file / "sub"
    with pytest.raises(ResultsDirError, match="not a directory"):
        ResultsDir.open(nested, scenario())


def test_unwritable_output_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Permission bits do not stop root (CI containers), so fake the access check.
    monkeypatch.setattr(results.os, "access", lambda path, mode: False)
    with pytest.raises(ResultsDirError, match="not writable"):
        ResultsDir.open(tmp_path / "new", scenario())
    assert not (tmp_path / "new").exists()


def test_corrupt_run_record(tmp_path: Path) -> None:
    (tmp_path / results.META_FILE).write_text("{not json")
    with pytest.raises(ResultsDirError, match="unreadable run record"):
        ResultsDir.open(tmp_path, scenario())


def test_summary_table_and_poi(tmp_path: Path) -> None:
    # Final returns (last step of each seed): random 1, 2, 3; greedy 5, 6, 7.
    rows = []
    for seed in range(3):
        rows += rows_for("random", seed, [0.0, 1.0 + seed])
        rows += rows_for("greedy", seed, [0.0, 5.0 + seed])
    text = summary.render(rows, {"scenario": "unit", "config": {"env_id": "e"}})
    # IQM of 3 values: window [0.75, 2.25] → (0.25·1 + 1·2 + 0.25·3) / 1.5 = 2.0.
    assert "| random | 3 | 100 | 2.000 [" in text
    assert "| greedy | 3 | 100 | 6.000 [" in text
    # Every greedy seed beats every random seed: P(greedy > random) = 1 with CI [1, 1].
    assert "| greedy | 1.00 [1.00, 1.00] | — |" in text
    assert "| random | — | 0.00 [0.00, 0.00] |" in text
    assert "fewer than 5" in text
    # Paired by seed: greedy − random = +4 on every seed, so the bootstrap CI is [4, 4].
    assert "| greedy − random | 3 | +4.00 +4.00 +4.00 | 4.000 [4.000, 4.000] | 3/3 |" in text
    path = summary.write(tmp_path, rows, None)
    assert path.read_text() == summary.render(rows, None)


def test_summary_does_not_depend_on_the_order_rows_arrived_in() -> None:
    # --jobs N streams a learner's seeds in the order they finish; the bootstrap must not care.
    values = [3.0, 9.0, 1.0, 7.0, 4.0, 8.0]
    rows = [row for seed, v in enumerate(values) for row in rows_for("random", seed, [0.0, v])]
    finishing = [rows[i] for i in (2, 3, 0, 1, 10, 11, 4, 5, 8, 9, 6, 7)]
    assert summary.render(finishing, None) == summary.render(rows, None)


def test_summary_without_rows() -> None:
    assert "No evaluation finished yet" in summary.render([], {"scenario": "x"})


def test_run_record_is_json(tmp_path: Path) -> None:
    store = ResultsDir.open(tmp_path, scenario())
    store.save("complete")
    meta = json.loads((tmp_path / results.META_FILE).read_text())
    assert meta["status"] == "complete" and meta["config"]["steps"] == 100
    assert meta["config_hash"] == scen.config_hash(scenario())


def test_resuming_a_run_from_before_eval_backend_says_how(tmp_path: Path) -> None:
    old = scenario(eval_backend="parallel")
    store = ResultsDir.open(tmp_path, old)
    store.save("partial")
    meta = json.loads((tmp_path / results.META_FILE).read_text())
    del meta["config"]["eval_backend"]  # as written before the field existed
    (tmp_path / results.META_FILE).write_text(json.dumps(meta))
    store.close()
    with pytest.raises(ResultsDirError, match="add 'eval_backend: parallel' to the scenario"):
        ResultsDir.open(tmp_path, scenario())
    ResultsDir.open(tmp_path, old).close()  # the same configuration resumes
