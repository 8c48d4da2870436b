"""The filter-bubble measurement: over a long run, does a greedy recommender concentrate
exposure and homogenise what users see, relative to a random one (Chaney et al. 2018)?

The design is paired, per seed, on a long-run preset (users, backbones and counts persist
across episodes):

1. **Burn-in.** ``burn_in`` episodes under the random policy give the backbones clicks to
   learn from (a new run's collaborative filter sees nothing, so every user is shown the
   same few items and overlap only falls while it learns: a cold-start effect, not a bubble).
2. **Fork.** From that same state (same seed, same burn-in) one arm continues under
   ``greedy`` (every agent shows its backbone's top item) and one under ``random`` (a random
   candidate of the same lists), for ``episodes`` episodes each.
3. **Per episode:** exposure concentration, as the Gini coefficient of the episode's
   impressions over the catalog and as the share of impressions that went to the episode's
   ten most-shown items (the Gini saturates near 1 when most of the catalog goes unshown in
   an episode), and the cross-user overlap (mean Jaccard similarity over pairs of users of
   one world) of the items *shown* and of the items *clicked*.
4. **The trend:** per seed, the least-squares slope over episodes of greedy − random. Its mean
   over seeds, with a 95% stratified-bootstrap CI, says whether greedy raises the quantity
   over time relative to random; a CI above 0 is the filter-bubble bar.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks import stats
from benchmarks.policies import learner_act, open_vector

METRICS = ("exposure Gini", "top-10 share", "overlap shown", "overlap clicked")
ARMS = ("random", "greedy")
MAX_USERS_PER_WORLD = 30
"""Users per world whose sets enter the overlap (bounds the pairs at 435 per world)."""


@dataclass(frozen=True)
class BubbleSize:
    """How much to run: ``seeds`` × 2 arms × (``burn_in`` + ``episodes``) episodes."""

    seeds: int
    """Independent runs, seeds ``first_seed`` … ``first_seed + seeds − 1``."""
    worlds: int
    """Worlds per run (each its own population and backbones)."""
    steps: int
    """Steps per episode (``max_cycles``)."""
    burn_in: int
    """Episodes under the random policy before the arms fork."""
    episodes: int
    """Measured episodes per arm."""
    first_seed: int = 1000


@dataclass
class BubbleResult:
    """Per-episode measurements of both arms; ``series[arm]`` is (seeds, episodes, metrics)."""

    env_id: str
    size: BubbleSize
    series: dict[str, np.ndarray]

    def slopes(self) -> np.ndarray:
        """(seeds, metrics) least-squares slope per episode of greedy − random."""
        diff = self.series["greedy"] - self.series["random"]
        x = np.arange(diff.shape[1], dtype=np.float64)
        x -= x.mean()
        return np.einsum("e,sem->sm", x, diff) / (x @ x)


def cross_user_overlap(seen: dict[tuple[int, int], set[int]]) -> float:
    """Mean Jaccard similarity of the item sets of pairs of users of one world."""
    scores = []
    for w in sorted({key[0] for key in seen}):
        sets = [s for (world, _), s in seen.items() if world == w and s]
        for a, b in itertools.combinations(sets[:MAX_USERS_PER_WORLD], 2):
            scores.append(len(a & b) / len(a | b))
    return float(np.mean(scores)) if scores else 0.0


def run_arm(env_id: str, arm: str, seed: int, size: BubbleSize, **overrides: Any) -> np.ndarray:
    """(episodes, metrics) of one arm of one seed: burn-in under random, then ``arm``."""
    env, policies = start_run(env_id, seed, size, **overrides)
    for _ in range(size.burn_in):
        play_episode(env.market, policies["random"], size)
    rows = [play_episode(env.market, policies[arm], size) for _ in range(size.episodes)]
    env.close()
    return np.array(rows, np.float64).reshape(size.episodes, len(METRICS))


def start_run(env_id: str, seed: int, size: BubbleSize, **overrides: Any):
    """A vector env seeded for a new long run, and the policies of both arms."""
    env, info = open_vector(env_id, size.worlds, {"max_cycles": size.steps, **overrides})
    if not env.market.config.long_run:
        raise ValueError(f"{env_id} is not a long-run preset (long_run=False)")
    env.market.seed(np.random.SeedSequence(seed))
    return env, {name: learner_act(name, info, seed) for name in ARMS}


def play_episode(market, act, size: BubbleSize) -> tuple[float, ...]:
    """The next episode of the run under ``act``; its value of each of :data:`METRICS`."""
    market.reset_worlds(np.arange(size.worlds))  # long run: users and backbones carry over
    shown: dict[tuple[int, int], set[int]] = {}
    clicked: dict[tuple[int, int], set[int]] = {}
    impressions = np.zeros((size.worlds, market.config.n_items), np.int64)
    gini = 0.0
    for _ in range(size.steps):
        users = market.sessions.user.copy()
        result = market.step(act(market.observations(), market.action_masks() > 0, market))
        _record_page(market, users, shown, clicked, impressions)
        gini = float(result.info["exposure_gini"][:, 0].mean())  # the episode so far
    top = -np.sort(-impressions, axis=1)[:, :10].sum(axis=1) / impressions.sum(axis=1)
    return gini, float(top.mean()), cross_user_overlap(shown), cross_user_overlap(clicked)


def _record_page(market, users: np.ndarray, shown: dict, clicked: dict,
                 impressions: np.ndarray) -> None:  # fmt: skip
    items, choice = market.last_page.item, market.world.last.choice
    for w in range(len(users)):
        page = items[w]
        on_page = page[page >= 0]
        np.add.at(impressions[w], on_page, 1)
        key = (w, int(users[w]))
        shown.setdefault(key, set()).update(on_page.tolist())
        if choice[w] < len(page) and page[choice[w]] >= 0:
            clicked.setdefault(key, set()).add(int(page[choice[w]]))


def measure(env_id: str, size: BubbleSize, **overrides: Any) -> BubbleResult:
    seeds = range(size.first_seed, size.first_seed + size.seeds)
    series = {
        arm: np.stack([run_arm(env_id, arm, seed, size, **overrides) for seed in seeds])
        for arm in ARMS
    }
    return BubbleResult(env_id, size, series)


def report(result: BubbleResult, rng: np.random.Generator) -> list[str]:
    """The markdown section: per-episode means of both arms, then the paired trends."""
    size = result.size
    last = size.first_seed + size.seeds - 1
    lines = [
        f"Seeds {size.first_seed}–{last}, {size.worlds} worlds × {size.steps} steps per "
        f"episode; {size.burn_in} burn-in episodes under random, then {size.episodes} per arm "
        "from the same state. Means over seeds:",
        "",
        "| episode | " + " | ".join(f"{m} ({arm})" for m in METRICS for arm in ARMS) + " |",
        "|---|" + "---|" * (len(METRICS) * len(ARMS)),
    ]
    means = {arm: result.series[arm].mean(axis=0) for arm in ARMS}
    for e in range(size.episodes):
        cells = [f"{means[arm][e, m]:.3f}" for m in range(len(METRICS)) for arm in ARMS]
        lines.append(f"| {e} | " + " | ".join(cells) + " |")
    lines += ["", "Trend of greedy − random per episode (mean slope over seeds, 95% CI):", ""]
    slopes = result.slopes()
    for m, name in enumerate(METRICS):
        ci = stats.bootstrap_interval(slopes[:, m], "mean", rng)
        verdict = "rises" if ci.low > 0 else "falls" if ci.high < 0 else "shows no clear trend"
        positive = int((slopes[:, m] > 0).sum())
        lines.append(
            f"- {name}: {ci.point:+.5f} [{ci.low:+.5f}, {ci.high:+.5f}] per episode, "
            f"{positive}/{size.seeds} seeds positive: greedy − random {verdict} over time"
        )
    return lines
