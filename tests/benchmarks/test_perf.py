"""make perf judges its goals on medians of rounds and says how far each could be off."""

from __future__ import annotations

from benchmarks.perf import median_interval


def test_the_median_of_rounds_comes_with_an_interval_that_leaves_out_the_outliers() -> None:
    rounds = [0.72, 0.80, 0.83, 0.86, 0.87, 0.89, 0.90, 0.92, 0.96, 0.97, 1.02, 1.08]
    median, low, high = median_interval(list(reversed(rounds)))
    assert median == (0.89 + 0.90) / 2
    # The 2nd and 11th of 12: an order-statistic interval, whatever the noise's shape.
    assert (low, high) == (0.80, 1.02)


def test_a_single_round_is_its_own_interval() -> None:
    assert median_interval([0.93]) == (0.93, 0.93, 0.93)
