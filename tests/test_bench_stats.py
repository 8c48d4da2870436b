"""benchmarks.stats against hand-computed examples and the rliable definitions."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import stats


def test_iqm_fractional_hand_example() -> None:
    # Sorted [1, 2, 3, 4, 5, 100], n = 6: value i covers [i, i+1); the middle half is
    # [n/4, 3n/4] = [1.5, 4.5]. Overlaps: 2 → 0.5, 3 → 1, 4 → 1, 5 → 0.5 (1 and 100 → 0).
    # IQM = (0.5·2 + 3 + 4 + 0.5·5) / (n/2) = (1 + 3 + 4 + 2.5) / 3 = 10.5 / 3 = 3.5.
    assert stats.iqm([100, 3, 1, 5, 2, 4]) == pytest.approx(3.5)


def test_iqm_whole_quartiles() -> None:
    # n = 8: the window [2, 6] holds exactly the sorted values 3, 4, 5, 6 → mean 4.5.
    assert stats.iqm(np.arange(1, 9)) == pytest.approx(4.5)
    # n = 1 and n = 2: the window covers the middle of the only / both values.
    assert stats.iqm([7.0]) == pytest.approx(7.0)
    assert stats.iqm([1.0, 3.0]) == pytest.approx(2.0)


def test_iqm_weights_sum_to_one() -> None:
    for m in range(1, 30):
        w = stats.iqm_weights(m)
        assert w.sum() == pytest.approx(1.0)
        assert np.all(w >= 0) and np.allclose(w, w[::-1])  # symmetric trimming


def test_iqm_matches_scipy_trim_mean_when_quartiles_are_whole() -> None:
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(3)
    for n in (4, 8, 12, 40):
        x = rng.normal(size=n)
        assert stats.iqm(x) == pytest.approx(scipy_stats.trim_mean(x, 0.25))


def test_mean_and_median_aggregates() -> None:
    # runs × tasks = 2 × 3; per-task means over runs: [2, 5, 30].
    scores = np.array([[1.0, 4.0, 20.0], [3.0, 6.0, 40.0]])
    assert stats.aggregate_mean(scores) == pytest.approx((2 + 5 + 30) / 3)
    assert stats.aggregate_median(scores) == pytest.approx(5.0)
    # IQM pools all six scores: sorted [1, 3, 4, 6, 20, 40], window [1.5, 4.5]:
    # (0.5·3 + 4 + 6 + 0.5·20) / 3 = 21.5 / 3.
    assert stats.aggregate_iqm(scores) == pytest.approx(21.5 / 3)


def test_probability_of_improvement_hand_example() -> None:
    # X = [1, 2, 3], Y = [2, 2, 0]; pairs (x, y) count 1 if x > y, 1/2 if equal:
    # x=1: (1<2, 1<2, 1>0) → 1;  x=2: (½, ½, 1) → 2;  x=3: (1, 1, 1) → 3.  Total 6 / 9.
    assert stats.probability_of_improvement([1, 2, 3], [2, 2, 0]) == pytest.approx(6 / 9)
    assert stats.probability_of_improvement([2, 2, 0], [1, 2, 3]) == pytest.approx(3 / 9)


def test_probability_of_improvement_averages_tasks() -> None:
    # Task 0: X always wins (1); task 1: all tied (½) → mean 0.75.
    x = np.array([[5.0, 1.0], [6.0, 1.0]])
    y = np.array([[0.0, 1.0], [1.0, 1.0], [2.0, 1.0]])
    assert stats.probability_of_improvement(x, y) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="same tasks"):
        stats.probability_of_improvement(x, y[:, :1])


def test_bootstrap_is_reproducible_and_brackets_the_point() -> None:
    scores = np.random.default_rng(0).normal(size=10)
    a = stats.bootstrap_interval(scores, "iqm", np.random.default_rng(42), reps=500)
    b = stats.bootstrap_interval(scores, "iqm", np.random.default_rng(42), reps=500)
    assert a == b
    assert a.low <= a.point <= a.high and a.low < a.high


def test_bootstrap_never_touches_global_rng() -> None:
    # The legacy global state is read on purpose: it must be the same afterwards.
    before = np.random.get_state()[1].copy()  # noqa: NPY002
    stats.bootstrap_interval([1.0, 2.0, 5.0], "mean", np.random.default_rng(0), reps=50)
    stats.poi_interval([1.0, 2.0], [0.0, 3.0], np.random.default_rng(0), reps=50)
    assert np.array_equal(before, np.random.get_state()[1])  # noqa: NPY002


def test_bootstrap_is_stratified_per_task() -> None:
    # Task 0 is all 0s and task 1 all 100s: resampling runs within each task keeps the
    # mean at exactly 50, so the interval collapses. Pooled resampling would not.
    scores = np.array([[0.0, 100.0]] * 4)
    est = stats.bootstrap_interval(scores, "mean", np.random.default_rng(0), reps=300)
    assert (est.point, est.low, est.high) == (50.0, 50.0, 50.0)


def test_poi_interval_for_separated_groups() -> None:
    est = stats.poi_interval([10, 11, 12], [0, 1, 2], np.random.default_rng(1), reps=200)
    assert (est.point, est.low, est.high) == (1.0, 1.0, 1.0)


def test_curve_intervals_allow_different_seed_counts() -> None:
    point, low, high = stats.curve_intervals(
        [[1.0, 2.0, 3.0], [4.0, 4.0], [9.0]], np.random.default_rng(0), reps=100
    )
    assert point == pytest.approx([2.0, 4.0, 9.0])
    assert np.all(low <= point) and np.all(point <= high)


@pytest.mark.parametrize("bad", [[], [1.0, float("nan")], [[[1.0]]]])
def test_bad_scores_raise(bad: list) -> None:
    with pytest.raises(ValueError):
        stats.bootstrap_interval(bad, "iqm", np.random.default_rng(0), reps=10)
