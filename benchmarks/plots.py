"""PNG plots of a results directory and the report.md that embeds them.

Plots read the tidy rows only (see results.py), so ``python -m benchmarks plot DIR`` redraws
them at any time. Metric columns follow docs/CONTRACTS.md: market-level metrics under their
plain name (``ctr``), per-agent ones as ``f"{key}/{agent}"`` (``slot_share/recommender_0``).
A metric missing from the rows is skipped, not drawn empty.

Figures are built with ``matplotlib.figure.Figure`` (Agg canvas), never pyplot: no GUI
backend, no global figure registry to leak. Colours are Okabe-Ito (colour-blind safe) and
lines also differ in style, so they stay apart in greyscale print.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from benchmarks import atomic, stats
from benchmarks.results import Row

PLOT_DIR, REPORT_FILE = "plots", "report.md"
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000")
LINESTYLES = ("-", "--", "-.", ":")
Curve = tuple[np.ndarray, list[np.ndarray]]  # steps, per-step seed values


def style(i: int) -> dict[str, Any]:
    return {"color": OKABE_ITO[i % len(OKABE_ITO)], "linestyle": LINESTYLES[i % len(LINESTYLES)]}


def value(row: Row, key: str) -> float:
    """Market-level ``key``, or the mean over agents of ``key/<agent>``; NaN if absent."""
    v = row.get(key)
    if v is None:
        per_agent = [row[c] for c in row if c.startswith(f"{key}/") and row[c] is not None]
        return float(np.mean(per_agent)) if per_agent else math.nan
    return float(v)


def by_learner(rows: list[Row]) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        out[str(row["learner"])].append(row)
    return dict(out)


def curve(rows: list[Row], get: Callable[[Row], float]) -> Curve:
    """Steps present in ``rows`` and, at each, the finite values over seeds."""
    at: dict[int, list[float]] = defaultdict(list)
    for row in rows:
        v = get(row)
        if math.isfinite(v):
            at[int(row["step"])].append(v)
    steps = np.array(sorted(at), dtype=np.int64)
    return steps, [np.asarray(at[s]) for s in steps]


def agents_of(rows: list[Row], key: str) -> list[str]:
    names = {c.split("/", 1)[1] for row in rows for c in row if c.startswith(f"{key}/")}
    return sorted(names, key=lambda a: (len(a), a))  # recommender_2 before recommender_10


def has(rows: list[Row], key: str) -> bool:
    return any(math.isfinite(value(r, key)) for r in rows)


def _band(ax: Axes, c: Curve, label: str, i: int, rng: np.random.Generator) -> None:
    steps, values = c
    if steps.size == 0:
        return
    point, low, high = stats.curve_intervals(values, rng, reps=300)
    ax.plot(steps, point, label=label, linewidth=2, **style(i))
    ax.fill_between(steps, low, high, color=style(i)["color"], alpha=0.2, linewidth=0)


def _mean_line(ax: Axes, c: Curve, label: str, i: int) -> None:
    steps, values = c
    if steps.size:
        ax.plot(steps, [v.mean() for v in values], label=label, linewidth=1.8, **style(i))


def _finish(ax: Axes, title: str, ylabel: str, legend: bool = True) -> None:
    ax.set_title(title, fontsize=11)
    ax.set_xlabel("environment steps")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, frameon=False)


def save(fig: Figure, path: Path) -> Path:
    fig.tight_layout()
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    return path


def learning_curves(rows: list[Row], rng: np.random.Generator) -> Figure | None:
    if not has(rows, "eval_return"):
        return None
    fig = Figure(figsize=(7.5, 4.5))
    ax = fig.subplots()
    for i, (learner, lrows) in enumerate(by_learner(rows).items()):
        _band(ax, curve(lrows, lambda r: value(r, "eval_return")), learner, i, rng)
    _finish(ax, "Evaluation return: IQM over seeds, 95% bootstrap CI", "episode return")
    return fig


def per_agent(rows: list[Row], keys: list[str], title: str) -> Figure | None:
    """Grid: a row per learner, a column per metric; a line per agent (mean over seeds),
    or one market-level line where the metric is not recorded per agent."""
    keys = [k for k in keys if has(rows, k)]
    if not keys:
        return None
    groups = by_learner(rows)
    fig = Figure(figsize=(4.2 * len(keys) + 1, 2.6 * len(groups) + 0.6))
    axes = np.atleast_2d(fig.subplots(len(groups), len(keys), squeeze=False))
    for r, (learner, lrows) in enumerate(groups.items()):
        for c, key in enumerate(keys):
            ax = axes[r, c]
            agents = agents_of(lrows, key)
            for i, agent in enumerate(agents):
                col = f"{key}/{agent}"
                _mean_line(ax, curve(lrows, lambda row, col=col: _cell(row, col)), agent, i)
            if not agents:
                _mean_line(ax, curve(lrows, lambda row, key=key: value(row, key)), "market", 6)
            _finish(ax, f"{learner}: {key.replace('_', ' ')}", key)
    fig.suptitle(title, fontsize=13)
    return fig


def _cell(row: Row, col: str) -> float:
    v = row.get(col)
    return math.nan if v is None else float(v)


def market_metrics(rows: list[Row], keys: list[str], title: str) -> Figure | None:
    """A panel per metric, a line per learner: IQM over seeds with a 95% bootstrap band."""
    keys = [k for k in keys if has(rows, k)]
    if not keys:
        return None
    rng = np.random.default_rng(1)
    fig = Figure(figsize=(4.6 * len(keys), 4.0))
    axes = fig.subplots(1, len(keys), squeeze=False)[0]
    for ax, key in zip(axes, keys):
        for i, (learner, lrows) in enumerate(by_learner(rows).items()):
            _band(ax, curve(lrows, lambda r, key=key: value(r, key)), learner, i, rng)
        _finish(ax, key.replace("_", " "), key)
    fig.suptitle(title, fontsize=13)
    return fig


def by_agent_or_learner(rows: list[Row], keys: list[str], title: str) -> Figure | None:
    """Per-agent grid where any of ``keys`` is recorded per agent; else a line per learner."""
    if any(agents_of(rows, k) for k in keys):
        return per_agent(rows, keys, title)
    return market_metrics(rows, keys, title)


def _final_rows(rows: list[Row]) -> list[Row]:
    last: dict[tuple, Row] = {}
    for row in rows:
        key = (row["learner"], row["seed"])
        if key not in last or row["step"] > last[key]["step"]:
            last[key] = row
    return list(last.values())


def _revenue(row: Row) -> float:
    per_agent = [row[c] for c in row if c.startswith("revenue/") and row[c] is not None]
    if per_agent:
        return float(np.sum(per_agent))
    return _cell(row, "revenue")


def welfare_revenue(rows: list[Row]) -> Figure | None:
    if not has(rows, "welfare"):
        return None
    fig = Figure(figsize=(11, 4.2))
    left, right = fig.subplots(1, 2)
    groups = by_learner(rows)
    for i, (learner, lrows) in enumerate(groups.items()):
        _mean_line(left, curve(lrows, lambda r: value(r, "welfare")), learner, i)
        final = [r for r in _final_rows(lrows) if math.isfinite(_revenue(r))]
        xs = [value(r, "welfare") for r in final]
        ys = [_revenue(r) for r in final]
        right.scatter(xs, ys, label=learner, color=style(i)["color"], marker="os^Dv<>"[i % 7])
    _finish(left, "User welfare over training (mean over seeds)", "welfare")
    right.set_title("Final evaluation: welfare vs revenue (a dot per seed)", fontsize=11)
    right.set_xlabel("user welfare")
    right.set_ylabel("total agent revenue")
    right.grid(alpha=0.3)
    if right.get_legend_handles_labels()[0]:
        right.legend(fontsize=8, frameon=False)
    return fig


class PlotSpec(NamedTuple):
    title: str
    """Heading in report.md."""
    build: Callable[[list[Row], np.random.Generator], Figure | None]
    """Figure from the rows, or None when the rows lack its metrics."""
    how_to_read: str
    """The one sentence under the plot in report.md."""


# File stem → spec. Order = order in the report.
PLOTS: dict[str, PlotSpec] = {
    "learning_curves": PlotSpec(
        "Learning curves",
        lambda rows, rng: learning_curves(rows, rng),
        "Higher is better; the band is the 95% bootstrap CI of the IQM over seeds, and "
        "bands that do not overlap indicate a reliable difference.",
    ),
    "slot_share": PlotSpec(
        "Slot share per agent",
        lambda rows, rng: per_agent(rows, ["slot_share"], "Slot share per agent"),
        "Each line is the fraction of page slots an agent won; one agent taking everything "
        "means the others stopped competing or cooperating usefully.",
    ),
    "ctr_engagement": PlotSpec(
        "CTR and engagement",
        lambda rows, rng: by_agent_or_learner(rows, ["ctr", "engagement"], "CTR and engagement"),
        "Click-through rate and user engagement (per agent where the env records them per "
        "agent, else market-wide with a line per learner): do users like what they are shown?",
    ),
    "clicks": PlotSpec(
        "Clicks and reward per agent",
        lambda rows, rng: per_agent(rows, ["clicks", "own_reward"], "Clicks and reward per agent"),
        "Clicks each agent's items received and each agent's own reward: which recommender "
        "users actually reward, as opposed to who merely wins slots.",
    ),
    "welfare_revenue": PlotSpec(
        "User welfare vs agent revenue",
        lambda rows, rng: welfare_revenue(rows),
        "Left: user welfare during training; right: each seed's final welfare against "
        "the agents' total revenue; up-right is good for both, up-left means revenue is "
        "taken from users.",
    ),
    "diversity_exposure": PlotSpec(
        "Diversity, coverage and exposure Gini",
        lambda rows, rng: market_metrics(
            rows, ["diversity", "coverage", "exposure_gini"], "Diversity, coverage, exposure"
        ),
        "Falling diversity or coverage with rising exposure Gini is the signature of a filter "
        "bubble / popularity concentration (Gini 0 = equal exposure, 1 = one item gets all).",
    ),
    "cold_start": PlotSpec(
        "Cold-start exposure",
        lambda rows, rng: market_metrics(rows, ["cold_start_exposure"], "Cold-start exposure"),
        "Share of impressions given to newly released items; near zero means new items never "
        "get the exposure they need to be learned about.",
    ),
}


def with_agent_labels(rows: list[Row], labels: dict[str, str]) -> list[Row]:
    """Rows whose per-agent columns name the agent as ``labels`` says (for legends)."""

    def rename(column: str) -> str:
        key, _, agent = column.rpartition("/")
        return f"{key}/{labels[agent]}" if key and agent in labels else column

    return [{rename(c): v for c, v in row.items()} for row in rows]


def render_all(
    directory: str | os.PathLike[str],
    rows: list[Row],
    seed: int = 0,
    agent_labels: dict[str, str] | None = None,
) -> list[Path]:
    """Draw every plot that has data into DIR/plots and write DIR/report.md.

    ``agent_labels`` maps agent ids to legend names, e.g. ``recommender_0 (cf)``."""
    if agent_labels:
        rows = with_agent_labels(rows, agent_labels)
    directory = Path(directory)
    (directory / PLOT_DIR).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    written: list[tuple[str, Path]] = []
    for name, spec in PLOTS.items():
        fig = spec.build(rows, rng) if rows else None
        if fig is not None:
            written.append((name, save(fig, directory / PLOT_DIR / f"{name}.png")))
    atomic.write_text(directory / REPORT_FILE, report(rows, [n for n, _ in written]))
    return [p for _, p in written]


def report(rows: list[Row], names: list[str]) -> str:
    scenarios = sorted({str(r["scenario"]) for r in rows}) or ["(no results yet)"]
    lines = [f"# Report: {', '.join(scenarios)}", "", "Numbers: see summary.md.", ""]
    for name in names:
        spec = PLOTS[name]
        image = f"![{spec.title}]({PLOT_DIR}/{name}.png)"
        lines += [f"## {spec.title}", "", spec.how_to_read, "", image, ""]
    missing = [n for n in PLOTS if n not in names]
    if missing:
        lines += [f"Not drawn (no data in the rows): {', '.join(missing)}.", ""]
    return "\n".join(lines)
