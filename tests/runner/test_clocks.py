"""Clock offsets as NTP estimates them, against a fake server clock; the bound that flags a run."""

from __future__ import annotations

import itertools

import pytest

from runner.clocks import OFFSET_BOUND_S, beyond_bound, combine, estimate


def test_the_offset_is_the_server_time_minus_the_midpoint_of_the_shortest_exchange() -> None:
    ticks = itertools.count()

    # The runner's clock reads 0, 1, 2, ...; the first exchange takes 1 s, the others 1 s too,
    # and the server, 100 s ahead, answers in the middle.
    def clock() -> float:
        return float(next(ticks))

    def server() -> float:
        return 100.0 + next(ticks) - 0.0

    probe = estimate(server, clock)
    assert probe["rtt_s"] == 2.0
    assert probe["offset_s"] == pytest.approx(100.0)


def test_offsets_past_the_bound_or_drifting_are_named() -> None:
    near = {"offset_s": 0.001, "rtt_s": 0.002}
    far = {"offset_s": OFFSET_BOUND_S * 3, "rtt_s": 0.002}
    hosts = combine({"provider": near, "locust-0": near}, {"provider": near, "locust-0": far})
    assert hosts["provider"]["offset_s"] == 0.001
    assert hosts["locust-0"]["offset_s"] == pytest.approx((0.001 + OFFSET_BOUND_S * 3) / 2)
    why = beyond_bound(hosts)
    assert "locust-0" in why and "provider" not in why
    assert beyond_bound(combine({"provider": near}, {"provider": near})) == ""
