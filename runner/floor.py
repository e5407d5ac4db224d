"""The harness's own floor: GET /noop at each rate the scenarios use, before them.

What a target answers at once still shows some latency: the load generator's and the
loopback's. One Locust run per variant plays each rate as a stage; each stage's rows become one
repeat of the reserved scenario `floor`, and meta.json's `floor` says which rate it used.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from core.contracts import FLOOR_SCENARIO
from core.scenarios import Scenario

# Rates are the scenarios' peaks, capped: beyond ~200/s the generator's own CPU is the floor
# (a spike's 400/s is measured at 200/s), and below 10/s a few seconds hold too few requests
# (the loopback does not get faster below that).
MIN_RATE, MAX_RATE = 10.0, 200.0
SECONDS = 8.0  # of load per variant, shared by its rates
QUICK_SECONDS = 2.0
USERS = 20  # a /noop answer takes about a millisecond: few users hold every slot


def floor_rates(scenarios: Iterable[Scenario]) -> dict[float, list[str]]:
    """Each rate the floor measures, with the scenarios it stands beside, slowest first."""
    rates: dict[float, list[str]] = {}
    for s in scenarios:
        rate = min(max(s.peak_rate, MIN_RATE), MAX_RATE)
        rates.setdefault(rate, []).append(s.name)
    return dict(sorted(rates.items()))


def floor_scenario(rates: Sequence[float], quick: bool) -> Scenario:
    """One Locust run of loadtests/noop.py: each rate a stage of equal length."""
    each_s = (QUICK_SECONDS if quick else SECONDS) / len(rates)
    return Scenario(
        FLOOR_SCENARIO,
        "noop",
        each_s * len(rates),
        stages=tuple((each_s, r) for r in rates),
        users=USERS,
        about="GET /noop at each rate the scenarios use: the generator + loopback floor",
    )


def split_stages(
    rows: Iterable[Mapping[str, Any]], t0: float, stages: Sequence[tuple[float, float]]
) -> list[dict[str, Any]]:
    """The rows with `repeat` set to the index of the stage their intended start fell in."""
    ends, at = [], t0
    for duration_s, _ in stages:
        at += duration_s
        ends.append(at)
    out = []
    for row in rows:
        intended = float(row["intended_start"])
        stage = next((i for i, end in enumerate(ends) if intended < end), len(ends) - 1)
        out.append({**row, "repeat": stage})
    return out
