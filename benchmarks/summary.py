"""summary.md: per learner, IQM with a 95% bootstrap CI of the final evaluation return, and
the probability-of-improvement matrix between learners (rliable / marl-eval protocol)."""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import atomic, registries, stats
from benchmarks.results import Row

SUMMARY_FILE = "summary.md"
METRIC = "eval_return"
FEW_SEEDS = 5  # below this, bootstrap intervals over seeds are too rough to trust


def _num(value: Any) -> float:
    return float("nan") if value is None else float(value)


def final_scores(rows: list[Row], metric: str = METRIC) -> dict[str, dict[str, dict]]:
    """scenario → learner → {seed: (last step, metric at it)}: each seed's final evaluation."""
    out: dict[str, dict[str, dict]] = defaultdict(lambda: defaultdict(dict))
    for row in rows:
        unit = out[row["scenario"]][row["learner"]]
        seed, step = row["seed"], row["step"]
        if seed not in unit or step > unit[seed][0]:
            unit[seed] = (step, _num(row.get(metric)))
    for learners in out.values():  # seed order, not arrival order (--jobs): the same bootstrap
        for learner, unit in learners.items():
            learners[learner] = dict(sorted(unit.items()))
    return out


def _finite(values: list[float]) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    return arr[np.isfinite(arr)]


def learner_table(finals: dict[str, dict], rng: np.random.Generator, reps: int) -> list[str]:
    lines = [
        "| learner | seeds | last step (min–max) | IQM [95% CI] | mean | median |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for learner, per_seed in finals.items():
        steps = [s for s, _ in per_seed.values()]
        scores = _finite([v for _, v in per_seed.values()])
        span = f"{min(steps)}–{max(steps)}" if min(steps) != max(steps) else f"{steps[0]}"
        if scores.size == 0:
            lines.append(f"| {learner} | {len(per_seed)} | {span} | n/a | n/a | n/a |")
            continue
        est = stats.bootstrap_interval(scores, "iqm", rng, reps=reps)
        mean, median = float(np.mean(scores)), float(np.median(scores))
        lines.append(
            f"| {learner} | {scores.size} | {span} | {est.format()} | {mean:.3f} | {median:.3f} |"
        )
    return lines


def poi_table(finals: dict[str, dict], rng: np.random.Generator, reps: int) -> list[str]:
    learners = list(finals)
    scores = {k: _finite([v for _, v in finals[k].values()]) for k in learners}
    lines = ["| P(row > column) | " + " | ".join(learners) + " |"]
    lines.append("|---|" + "---:|" * len(learners))
    for a in learners:
        cells = []
        for b in learners:
            if a == b or scores[a].size == 0 or scores[b].size == 0:
                cells.append("—")
            else:
                cells.append(stats.poi_interval(scores[a], scores[b], rng, reps=reps).format(2))
        lines.append(f"| {a} | " + " | ".join(cells) + " |")
    return lines


def paired_table(
    finals: dict[str, dict], rng: np.random.Generator, reps: int, skip: list[str]
) -> list[str]:
    """Each later learner minus each earlier one, seed by seed (the seeds both finished)."""
    lines = [
        "| later − earlier | seeds | per seed | mean [95% CI] | later ahead |",
        "|---|---:|---|---:|---:|",
    ]
    learners = [k for k in finals if k not in skip]
    for i, later in enumerate(learners):
        for earlier in learners[:i]:
            seeds = sorted(set(finals[later]) & set(finals[earlier]))
            diffs = _finite([finals[later][s][1] - finals[earlier][s][1] for s in seeds])
            if diffs.size == 0:
                continue
            est = stats.bootstrap_interval(diffs, "mean", rng, reps=reps)
            each = " ".join(f"{d:+.2f}" for d in diffs)
            lines.append(f"| {later} − {earlier} | {diffs.size} | {each} | {est.format()} | "
                         f"{int((diffs > 0).sum())}/{diffs.size} |")  # fmt: skip
    return lines


def references(meta: dict[str, Any] | None) -> list[str]:
    """Labels of evaluation-only learners (the oracle): regret references, not learners."""
    entries = (meta or {}).get("config", {}).get("learners", [])
    reg = registries.learner_registry() if entries else {}
    out = []
    for entry in entries:
        caps = getattr(reg.get(entry.get("name")), "capabilities", None)
        if getattr(caps, "evaluation_only", False):
            out.append(str(entry.get("label") or entry.get("name")))
    return out


def _header(meta: dict[str, Any] | None, scenario: str) -> list[str]:
    lines = [f"# {scenario}: summary", ""]
    if not meta:
        return lines
    cfg, prov = meta.get("config", {}), meta.get("provenance", {})
    lines += [
        f"- env: `{cfg.get('env_id')}`, overrides: `{cfg.get('env_overrides')}`",
        f"- steps per run: {cfg.get('steps')}, evaluation every {cfg.get('eval_interval')} "
        f"steps over {cfg.get('eval_episodes')} episodes, seeds: {cfg.get('seeds')}",
        f"- status: {meta.get('status')}; git commit `{prov.get('git_commit')}`; "
        f"config hash `{str(meta.get('config_hash'))[:12]}`",
        "",
    ]
    return lines


def render(
    rows: list[Row], meta: dict[str, Any] | None = None, seed: int = 0, reps: int = 2000
) -> str:
    """The summary as Markdown; the bootstrap draws from ``default_rng(seed)`` (reproducible)."""
    rng = np.random.default_rng(seed)
    by_scenario = final_scores(rows)
    if not by_scenario:
        name = (meta or {}).get("scenario", "run")
        return "\n".join([*_header(meta, name), "No evaluation finished yet.", ""])
    lines: list[str] = []
    for scenario, finals in by_scenario.items():
        lines += _header(meta, scenario)
        lines += [
            f"## Final evaluation return (`{METRIC}` at each seed's last evaluation)",
            "",
            "IQM = interquartile mean over seeds; 95% CI = stratified percentile bootstrap "
            f"over seeds ({reps} resamples).",
            "",
            *learner_table(finals, rng, reps),
            "",
            "## Probability of improvement",
            "",
            "P(row > column): chance that a random seed of the row learner ends with a higher "
            "return than a random seed of the column learner (ties count ½), with a 95% "
            "bootstrap CI. 0.5 = no difference.",
            "",
            *poi_table(finals, rng, reps),
            "",
        ]
        refs = [r for r in references(meta) if r in finals]
        lines += [
            "## Paired differences",
            "",
            "A seed fixes the users of the evaluation episodes, so the same seed of two "
            "learners meets the same users: the per-seed difference removes that shared noise. "
            f"95% CI: percentile bootstrap of the mean difference over seeds ({reps} "
            "resamples). References are left out.",
            "",
            *paired_table(finals, rng, reps, skip=refs),
            "",
        ]
        if refs:
            lines += [
                f"Reference, not a learner: {', '.join(refs)} reads the env's evaluation-only "
                "oracle (true utilities); its return is the ceiling for regret.",
                "",
            ]
        fewest = min(len(v) for v in finals.values())
        if fewest < FEW_SEEDS:
            lines += [
                f"Note: only {fewest} seed(s) for some learner; with fewer than {FEW_SEEDS} "
                "seeds the intervals are rough.",
                "",
            ]
    return "\n".join(lines)


def write(directory: str | os.PathLike[str], rows: list[Row], meta: dict | None) -> Path:
    path = Path(directory) / SUMMARY_FILE
    atomic.write_text(path, render(rows, meta))
    return path
