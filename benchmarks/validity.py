"""The validity table: does each v1 preset pose a decision problem worth benchmarking?

``python -m benchmarks validity [--quick] [--out docs/VALIDITY.md]`` measures, for every
``-v1`` market preset, with fixed seeds and stated sizes:

- engagement: per-impression and page CTR, CTR by position (under random actions), session
  length and the share of leaving users who churn;
- information: R² of the true utility of a candidate from public features (within each
  agent's list), with the v0 features alone and with the v1 public features;
- references: team return of random, greedy, greedy-dedup, the per-agent oracle and the
  joint oracle (the random→oracle gap; the value of perfect coordination = joint − per-agent);
- what public information buys: the joint oracle's rule on utilities predicted from public
  features by a least-squares fit on random play (:mod:`benchmarks.public_oracle`), and the
  share of the gap it closes;
- the best open-loop policy: the best of random constant joint actions (found by search);
- on the long-run presets, the filter-bubble trend (:mod:`benchmarks.bubble`): exposure
  concentration and cross-user overlap per episode under greedy vs random, forked from one
  burn-in, and the paired trend of greedy − random with 95% CIs over seeds.

Figures are means over worlds with a 95% normal interval where it is cheap to give one.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchmarks import bubble, public_oracle
from benchmarks.bubble import BubbleSize
from benchmarks.policies import learner_act, open_vector

BANDS = """\
## Bands and their sources

- **Per-impression CTR: 1–6 %.** Feed and news impression logs click a few percent of
  impressions (MIND, Wu et al. 2020: about 4 %); a page of 4 is not clicked 3 times in 4.
- **CTR(position 1) / CTR(position 2) with positions at random: 1.5–4.** The AOL 2006 query
  log gives positions 1–5 about 42, 12, 8, 6, 5 % of all clicks (3.5×); web-search studies
  put position 1 at 18–34 % and position 2 at 10–17 % CTR (about 2×).
- **CTR falls with position** (the examination hypothesis: Joachims et al. 2005, eye
  tracking and click logs; Craswell et al. 2008, the cascade model).

The v1 presets reach these with ``utility_scale`` 3.0, ``no_click_utility`` 6.0 and
``position_decay`` 2.0 (examination weights 1, 0.40, 0.25, 0.19 for slots 1–4).
"""


BUBBLE_INTRO = """\
## Filter bubble

Does a greedy recommender concentrate exposure and homogenise what users see over a long run,
relative to a random one (Chaney et al. 2018)? Per seed, both arms continue one long run from
the same state after a burn-in under random; the trend is the slope per episode of
greedy − random (design: `benchmarks/bubble.py`). `marec/filter-bubble-v1`'s backbones only
personalise; `marec/filter-bubble-v2` adds a trending (popularity) row, which ranks by the
clicks the platform's own pages produced."""


V0_COLUMNS = slice(0, len(public_oracle.V0_PARTS))
"""The v0 features' columns of :func:`benchmarks.public_oracle.public_features`."""
PUBLIC = "oracle-joint on public features"
"""The joint oracle's rule on utilities predicted from public features
(:mod:`benchmarks.public_oracle`)."""


@dataclass
class Rollout:
    """What a policy did over one run of ``worlds`` × ``steps``."""

    returns: np.ndarray
    """(W,) mean over agents of each world's summed reward."""
    shows: np.ndarray = field(default_factory=lambda: np.zeros(0))
    clicks: np.ndarray = field(default_factory=lambda: np.zeros(0))
    pages: int = 0
    clicked_pages: int = 0
    session_lengths: list[int] = field(default_factory=list)
    leavers: int = 0
    churned: int = 0
    features: list[np.ndarray] = field(default_factory=list)
    utilities: list[np.ndarray] = field(default_factory=list)
    budget_used: list[float] = field(default_factory=list)
    """Per finished episode and agent: the share of ``agent_budget`` it spent (auctions)."""
    budget_out: list[bool] = field(default_factory=list)
    """Per finished episode and agent: whether it ended unable to enter the auction (budget
    left below the reserve price)."""


def rollout(
    env_id: str,
    act,
    worlds: int,
    steps: int,
    seed: int,
    overrides: dict[str, Any],
    record_features: bool = False,
) -> Rollout:
    """Run ``act(obs, masks, market) -> (W, N) actions`` on a fresh market for ``steps``."""
    env, info = open_vector(env_id, worlds, overrides)
    market = env.market
    cfg = market.config
    market.seed(np.random.SeedSequence(seed))
    market.reset_worlds(np.arange(worlds))
    out = Rollout(returns=np.zeros(worlds), shows=np.zeros(cfg.slots), clicks=np.zeros(cfg.slots))
    rows = np.arange(worlds)
    for _ in range(steps):
        obs = market.observations()
        masks = market.action_masks().astype(bool)
        if record_features:
            _record(out, obs, market, info)
        before_user = market.sessions.user.copy()
        before_steps = market.sessions.steps.copy()
        before_stated = market.population.stated[rows, before_user].copy()
        result = market.step(act(obs, masks, market))
        out.returns += result.rewards.mean(axis=1)
        page, choice = market.last_page, market.last_choice
        out.shows += (page.item >= 0).sum(axis=0)
        out.clicks += np.bincount(choice, minlength=cfg.slots + 1)[: cfg.slots]
        out.pages += worlds
        out.clicked_pages += int((choice < cfg.slots).sum())
        ended = (market.sessions.steps == 0) | result.terminated  # a visit-episode ended
        out.session_lengths += (before_steps[ended] + 1).tolist()
        out.leavers += int(ended.sum())
        after = market.population.stated[rows[ended], before_user[ended]]
        out.churned += int((after != before_stated[ended]).any(axis=1).sum())
        done = np.flatnonzero(result.truncated | result.terminated)
        if len(done):
            if cfg.agent_budget > 0:
                spend = market.world.spend[done].ravel()
                out.budget_used += (spend / cfg.agent_budget).tolist()
                out.budget_out += (cfg.agent_budget - spend < cfg.reserve_price).tolist()
            market.reset_worlds(done)
    return out


def _record(out: Rollout, obs: np.ndarray, market, info) -> None:
    """Per candidate: v0 features, v1 public features and the true utility (hidden)."""
    k, levels = market.config.candidates, market.setup.mechanism.levels
    utility = market.oracle_action_values()[..., ::levels]  # (W, N, K)
    features = public_oracle.public_features(obs, info.obs_layout, k, market.config.n_topics)
    out.features.append(features.reshape(-1, k, features.shape[-1]))
    out.utilities.append(utility.reshape(-1, k))


def within_list_r2(features: np.ndarray, utility: np.ndarray, columns: slice) -> float:
    """R² of a least-squares fit of utility on features, both centred within each list
    (what an agent's choice among its K candidates depends on); fit on the first half of
    the lists, scored on the second."""
    x = features[:, :, columns]
    x = x - x.mean(axis=1, keepdims=True)
    y = utility - utility.mean(axis=1, keepdims=True)
    half = len(x) // 2
    fit_x, fit_y = x[:half].reshape(-1, x.shape[2]), y[:half].reshape(-1)
    coef, *_ = np.linalg.lstsq(fit_x, fit_y, rcond=None)
    test_x, test_y = x[half:].reshape(-1, x.shape[2]), y[half:].reshape(-1)
    residual = test_y - test_x @ coef
    return float(1.0 - residual.var() / max(test_y.var(), 1e-12))


def _constant_act(actions: np.ndarray):
    def act(obs, masks, market):
        return np.broadcast_to(actions, masks.shape[:2]).copy()

    return act


def _share(run: Rollout) -> str:
    """Mean share of the budget an agent spent per episode, and how often it ran out."""
    if not run.budget_used:
        return "no episode ended"
    return f"{np.mean(run.budget_used):.2f} (ran out: {np.mean(run.budget_out):.0%})"


def _ci(values: np.ndarray) -> str:
    half = 1.96 * values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else 0.0
    return f"{values.mean():.2f} ± {half:.2f}"


def preset_rows(env_id: str, size: dict[str, int], overrides: dict[str, Any]) -> dict[str, str]:
    """Every measurement of one preset, formatted."""
    import marec_env

    worlds, steps, search = size["worlds"], size["steps"], size["search"]
    env, info = open_vector(env_id, 1, overrides)
    cfg = marec_env.make_config(env_id, **overrides)
    row: dict[str, str] = {}
    rng = np.random.default_rng(0)

    def random_act(obs, masks, market):
        keys = np.where(masks, rng.random(masks.shape), -1.0)
        return keys.argmax(axis=-1)

    rand = rollout(env_id, random_act, worlds, steps, 0, overrides, record_features=True)
    ctr = rand.clicks / np.maximum(rand.shows, 1)
    row["impression CTR (random)"] = f"{rand.clicks.sum() / rand.shows.sum():.3f}"
    row["page CTR (random)"] = f"{rand.clicked_pages / rand.pages:.3f}"
    row["CTR by position (random)"] = " / ".join(f"{c:.3f}" for c in ctr)
    row["session length (pages)"] = f"{np.mean(rand.session_lengths):.2f}"
    row["churn (share of leavers)"] = f"{rand.churned / max(rand.leavers, 1):.3f}"
    features = np.concatenate(rand.features)
    utility = np.concatenate(rand.utilities)
    row["R² utility, v0 features"] = f"{within_list_r2(features, utility, V0_COLUMNS):.3f}"
    row["R² utility, + public"] = f"{within_list_r2(features, utility, slice(0, None)):.3f}"
    coef = public_oracle.fit(features, utility)
    public = public_oracle.act(info, coef, cfg.candidates, cfg.n_topics)

    returns = {"random": rand.returns}
    policies = ["greedy", "greedy-dedup", "oracle", "oracle-joint"]
    if cfg.agent_budget > 0:
        policies += ["pid-pacing", "best-response"]
    for name in policies:
        run = rollout(env_id, learner_act(name, info, 0), worlds, steps, 0, overrides)
        returns[name] = run.returns
        greedy_ctr = run.clicks.sum() / max(run.shows.sum(), 1)
        row[f"impression CTR ({name})"] = f"{greedy_ctr:.3f}"
        if cfg.agent_budget > 0:
            row[f"budget spent by episode end ({name})"] = _share(run)
    returns[PUBLIC] = rollout(env_id, public, worlds, steps, 0, overrides).returns
    for name, value in returns.items():
        row[f"return: {name}"] = _ci(value)
    gap = returns["oracle-joint"].mean() - returns["random"].mean()
    row["random→joint-oracle gap"] = f"{gap:.2f}"
    coordination = returns["oracle-joint"].mean() - returns["oracle"].mean()
    row["value of perfect coordination"] = f"{coordination:.2f}"
    best, best_actions = -np.inf, None
    search_rng = np.random.default_rng(1)
    for _ in range(search):
        actions = search_rng.integers(min(cfg.n_actions, 3 * cfg.n_actions // cfg.candidates),
                                      size=cfg.n_agents)  # fmt: skip
        run = rollout(env_id, _constant_act(actions), worlds, steps, 0, overrides)
        if run.returns.mean() > best:
            best, best_actions = run.returns.mean(), actions
    row["best open-loop (search)"] = f"{best:.2f} (actions {best_actions.tolist()})"
    for name in ("greedy", "greedy-dedup", PUBLIC):
        share = (returns[name].mean() - returns["random"].mean()) / gap if gap else float("nan")
        row[f"share of gap: {name}"] = f"{share:.2f}"
    env.close()
    return row


SIZES = {
    "full": {"worlds": 8, "steps": 200, "search": 6},
    "quick": {"worlds": 4, "steps": 100, "search": 4},
}
BUBBLE_SIZES = {
    "full": BubbleSize(seeds=10, worlds=8, steps=200, burn_in=3, episodes=15),
    "quick": BubbleSize(seeds=3, worlds=4, steps=100, burn_in=2, episodes=5),
}


def build(size_name: str, env_ids: Sequence[str] | None = None) -> str:
    import marec_env

    size = SIZES[size_name]
    ids = list(env_ids or [s.id for s in marec_env.ENV_SPECS
                           if s.market and not s.id.endswith("-v0")])  # fmt: skip
    started = time.perf_counter()
    tables: dict[str, dict[str, str]] = {}
    bubbles: list[str] = []
    for env_id in ids:
        overrides = {"max_cycles": size["steps"]}
        if marec_env.make_config(env_id).long_run:
            print(f"validity: {env_id} (filter bubble)", file=sys.stderr, flush=True)
            result = bubble.measure(env_id, BUBBLE_SIZES[size_name])
            bubbles += [f"## Filter bubble (`{env_id}`, long run)", "",
                        *bubble.report(result, np.random.default_rng(0)), ""]  # fmt: skip
            continue
        print(f"validity: {env_id}", file=sys.stderr, flush=True)
        tables[env_id] = preset_rows(env_id, size, overrides)
    keys = list(dict.fromkeys(k for t in tables.values() for k in t))
    header = "| quantity | " + " | ".join(f"`{i}`" for i in tables) + " |"
    lines = [
        "# Validity of the v1 presets",
        "",
        "Written by `python -m benchmarks validity"
        + (" --quick" if size_name == "quick" else "")
        + f"` ({size['worlds']} worlds × {size['steps']} steps per run, seed 0, "
        f"{time.perf_counter() - started:.0f} s). Returns are per-agent episode sums "
        "(mean over worlds ± 95% normal interval). Do not edit by hand.",
        "",
        BANDS,
        "## Table",
        "",
        header,
        "|---|" + "---|" * len(tables),
    ]
    for key in keys:
        lines.append(f"| {key} | " + " | ".join(t.get(key, "—") for t in tables.values()) + " |")
    lines += [
        "",
        "Not measured here: the value of foresight (γ > 0 vs γ = 0) needs trained learners;"
        " `scenarios/clickbait-v1.yaml` measures it on `marec/clickbait-v1`, whose episode is"
        " one user's visit: its returns above sum the pages of consecutive visits, and it has"
        " no churn inside an episode. `best-response` (auction presets) plays each agent's best"
        " response for its own expected profit to greedy bidders (it reads hidden utilities)."
        " `budget spent`: the mean share of `agent_budget` an agent spent by the end of an"
        " episode; `ran out`: the share of agent-episodes that ended with less than the"
        " reserve price left (unable to enter the auction). Where agents rarely run out,"
        " pacing a budget has little to gain. `oracle-joint on public features`: the joint"
        " oracle's rule on utilities predicted from the public candidate features by a"
        " least-squares fit on the random run's labels (`benchmarks/public_oracle.py`); it"
        " never reads hidden utilities to act, so its share of the gap estimates what the"
        " observation lets a learner reach (not a bound: a learner may fit a better"
        " function, and must learn from clicks what this fit reads from labels).",
        "",
    ]
    if bubbles:
        lines += [BUBBLE_INTRO, "", *bubbles]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks validity", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller runs (about a minute)")
    parser.add_argument("--out", default="docs/VALIDITY.md", help="markdown file to write")
    parser.add_argument("--env", action="append", help="only these env ids (repeatable)")
    args = parser.parse_args(argv)
    from benchmarks.atomic import write_text

    text = build("quick" if args.quick else "full", args.env)
    write_text(args.out, text)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0
