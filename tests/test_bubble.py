"""The filter-bubble measurement (benchmarks/bubble.py) on the long-run presets."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import bubble

SMALL = {"n_items": 300, "initial_items": 300, "n_users": 40}


def test_slopes_are_least_squares_slopes_of_greedy_minus_random() -> None:
    rng = np.random.default_rng(0)
    size = bubble.BubbleSize(seeds=3, worlds=1, steps=1, burn_in=0, episodes=6)
    series = {arm: rng.random((3, 6, len(bubble.METRICS))) for arm in bubble.ARMS}
    result = bubble.BubbleResult("marec/filter-bubble-v2", size, series)
    diff = series["greedy"] - series["random"]
    expected = [[np.polyfit(np.arange(6), diff[s, :, m], 1)[0] for m in range(4)]
                for s in range(3)]  # fmt: skip
    np.testing.assert_allclose(result.slopes(), expected, atol=1e-12)


def test_both_arms_fork_from_one_burn_in_and_the_run_is_reproducible() -> None:
    size = bubble.BubbleSize(seeds=1, worlds=2, steps=30, burn_in=2, episodes=1)
    runs = [bubble.start_run("marec/filter-bubble-v2", 7, size, **SMALL) for _ in range(2)]
    for env, policies in runs:
        for _ in range(size.burn_in):
            bubble.play_episode(env.market, policies["random"], size)
    (one, one_policies), (two, two_policies) = runs
    counts = [env.market.world.counts.item_impressions for env, _ in runs]
    np.testing.assert_array_equal(counts[0], counts[1])  # one state at the fork
    np.testing.assert_array_equal(one.market.population.preference,
                                  two.market.population.preference)  # fmt: skip
    greedy = bubble.play_episode(one.market, one_policies["greedy"], size)
    random = bubble.play_episode(two.market, two_policies["random"], size)
    assert greedy != random and all(0 <= v <= 1 for v in (*greedy, *random))
    with pytest.raises(ValueError, match="not a long-run preset"):
        bubble.start_run("marec/coop-slate-v1", 0, size)


@pytest.mark.parametrize("env_id", ["marec/filter-bubble-v1", "marec/filter-bubble-v2"])
def test_report_states_every_metric_trend_with_a_ci(env_id: str) -> None:
    size = bubble.BubbleSize(seeds=2, worlds=2, steps=20, burn_in=1, episodes=3)
    result = bubble.measure(env_id, size, **SMALL)
    assert {arm: s.shape for arm, s in result.series.items()} == {
        arm: (2, 3, len(bubble.METRICS)) for arm in bubble.ARMS
    }
    lines = bubble.report(result, np.random.default_rng(0))
    trends = [line for line in lines if line.startswith("- ")]
    assert [t.split(":")[0][2:] for t in trends] == list(bubble.METRICS)
    assert all("per episode" in t and "seeds positive" in t for t in trends)


def test_greedy_concentrates_exposure_on_the_trending_preset() -> None:
    """Greedy pages put more of an episode's impressions on its ten most-shown items than
    random ones (seed 3; at the validity table's size the gap is about 0.12 to 0.17)."""
    size = bubble.BubbleSize(seeds=1, worlds=4, steps=100, burn_in=1, episodes=1)
    top10 = bubble.METRICS.index("top-10 share")
    arms = {arm: bubble.run_arm("marec/filter-bubble-v2", arm, 3, size)[0, top10]
            for arm in bubble.ARMS}  # fmt: skip
    assert arms["greedy"] > arms["random"] + 0.05
