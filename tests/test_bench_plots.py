"""Plots and report.md from synthetic tidy rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks import plots

AGENTS = ("recommender_0", "recommender_1", "recommender_2")
MARKET = ("ctr", "engagement", "diversity", "coverage", "exposure_gini", "cold_start_exposure")
PER_AGENT = ("own_reward", "clicks", "slot_share", "revenue", "payment")


def synthetic_rows(learners=("random", "iql"), seeds=3, steps=5) -> list[dict]:
    """Rows shaped like the runner's: market metrics plain, per-agent ones as key/agent."""
    rng = np.random.default_rng(0)
    rows = []
    for li, learner in enumerate(learners):
        for seed in range(seeds):
            for s in range(1, steps + 1):
                row = {"scenario": "synthetic", "learner": learner, "seed": seed, "step": 100 * s}
                row["eval_return"] = li * s + rng.normal()
                row.update({k: float(rng.uniform()) for k in MARKET})
                row["welfare"] = float(rng.uniform(0, 10))
                share = rng.dirichlet(np.ones(len(AGENTS)))
                for a, agent in enumerate(AGENTS):
                    row.update({f"{k}/{agent}": float(rng.uniform()) for k in PER_AGENT})
                    row[f"slot_share/{agent}"] = float(share[a])
                rows.append(row)
    return rows


def is_png(path: Path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def test_all_plots_and_report(tmp_path: Path) -> None:
    written = plots.render_all(tmp_path, synthetic_rows())
    assert {p.stem for p in written} == set(plots.PLOTS)
    assert all(is_png(p) for p in written)
    report = (tmp_path / plots.REPORT_FILE).read_text()
    for name, spec in plots.PLOTS.items():
        assert f"(plots/{name}.png)" in report and spec.how_to_read in report
    assert not list((tmp_path / plots.PLOT_DIR).glob("*.tmp"))


def test_missing_metrics_are_skipped_not_drawn_empty(tmp_path: Path) -> None:
    rows = [
        {k: v for k, v in r.items() if not k.startswith(("cold_start", "welfare"))}
        for r in synthetic_rows()
    ]
    written = {p.stem for p in plots.render_all(tmp_path, rows)}
    assert "cold_start" not in written and "welfare_revenue" not in written
    assert (
        "Not drawn (no data in the rows): welfare_revenue, cold_start"
        in (tmp_path / plots.REPORT_FILE).read_text()
    )


def test_no_rows_writes_a_report_only(tmp_path: Path) -> None:
    assert plots.render_all(tmp_path, []) == []
    assert "no results yet" in (tmp_path / plots.REPORT_FILE).read_text()


def test_learning_curve_labels_and_band() -> None:
    fig = plots.learning_curves(synthetic_rows(), np.random.default_rng(0))
    ax = fig.axes[0]
    assert ax.get_title() and ax.get_xlabel() == "environment steps" and ax.get_ylabel()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["random", "iql"]
    assert len(ax.collections) == 2  # one CI band per learner


def test_per_agent_lines_and_market_fallback() -> None:
    rows = synthetic_rows(learners=("iql",))
    fig = plots.per_agent(rows, ["ctr", "slot_share"], "t")
    ctr_ax, share_ax = fig.axes
    assert [line.get_label() for line in share_ax.lines] == list(AGENTS)
    assert [line.get_label() for line in ctr_ax.lines] == ["market"]


def test_value_falls_back_to_agent_mean() -> None:
    row = {"slot_share/a": 0.2, "slot_share/b": 0.4, "ctr": None}
    assert plots.value(row, "slot_share") == pytest.approx(0.3)
    assert np.isnan(plots.value(row, "ctr")) and np.isnan(plots.value(row, "welfare"))


def test_interrupted_seed_with_fewer_steps(tmp_path: Path) -> None:
    rows = [r for r in synthetic_rows() if not (r["seed"] == 2 and r["step"] > 200)]
    assert all(is_png(p) for p in plots.render_all(tmp_path, rows))
