"""The capacity search's pure parts on synthetic targets: knees found, bounds kept as bounds."""

from __future__ import annotations

import numpy as np

from analysis.capacity import (
    Knee,
    Plan,
    Slope,
    Slos,
    Step,
    behind,
    bracket,
    growing,
    knee,
    ramp_rates,
    search,
    slope,
)
from analysis.gate.thresholds import Names, evaluate, parse_thresholds

SLOS = Slos(p99_ms=100.0, work_s=10.0)


class SyntheticTarget:
    """Latency flat at 20 ms until `bend_rps`, then rising by `ms_per_rps`; a queue that keeps
    up until `work_rps`, then grows by the excess. Seeded noise on both."""

    def __init__(
        self, bend_rps: float, ms_per_rps: float, work_rps: float, behind_above: float = 1e9
    ) -> None:
        self.bend_rps, self.ms_per_rps, self.work_rps = bend_rps, ms_per_rps, work_rps
        self.behind_above = behind_above  # the generator starts 10% late above this rate
        self.rng = np.random.default_rng(7)
        self.rates: list[float] = []

    def knee_rps(self, slo_ms: float) -> float:
        return self.bend_rps + (slo_ms - 20.0) / self.ms_per_rps

    def __call__(self, rate: float, phase: str) -> Step:
        self.rates.append(rate)
        p99 = 20.0 + self.ms_per_rps * max(0.0, rate - self.bend_rps)
        t = np.arange(0, 8, 0.5)
        depth = max(0.0, rate - self.work_rps) * t + self.rng.normal(0, 3, len(t)) + 10
        return Step(
            rate=rate,
            phase=phase,
            p99_ms=p99 * float(self.rng.uniform(0.97, 1.03)),
            error_rate=0.0,
            late_share=0.1 if rate > self.behind_above else 0.0,
            slope=slope(t, depth),
            completion_p99_s=0.3,
            requests=int(rate * 8),
        )


def test_the_search_finds_a_known_knee_within_its_bracket() -> None:
    target = SyntheticTarget(bend_rps=150, ms_per_rps=2.0, work_rps=90)  # client knee at 190/s
    found = search(target, Plan(start_rps=10, limit_rps=1000, precision=0.15), SLOS)
    client, work = found.knees()
    assert client.bound == "measured" and client.low is not None and client.high is not None
    assert client.low <= target.knee_rps(SLOS.p99_ms) < client.high
    assert client.high / client.low <= 1.15
    assert work.bound == "measured" and work.low is not None and work.high is not None
    assert work.low <= 90 < work.high * 1.05  # the queue grows only past the workers' rate
    assert client.rps == client.low


def test_a_knee_above_the_harness_limit_is_a_lower_bound_not_a_number() -> None:
    target = SyntheticTarget(bend_rps=900, ms_per_rps=2.0, work_rps=2000)
    found = search(target, Plan(start_rps=25, limit_rps=300), SLOS)
    client, work = found.knees()
    assert max(target.rates) == 300  # no step above the limit
    for k in (client, work):
        assert k.bound == "lower" and k.limit == 300
        assert k.rps is None
        assert k.text() == "≥ 300/s (harness limit)"


def test_a_step_the_generator_fell_behind_on_caps_the_claim() -> None:
    # The target would fail at 900/s, but the generator falls behind above 250/s: that step
    # measured the harness, so the claim stops below it.
    target = SyntheticTarget(bend_rps=900, ms_per_rps=2.0, work_rps=2000, behind_above=250)
    found = search(target, Plan(start_rps=25, limit_rps=1600), SLOS)
    client, _ = found.knees()
    assert max(target.rates) == 400  # the ramp stopped at the first step that fell behind
    assert client.bound == "lower" and client.rps is None
    assert client.low is not None and client.limit is not None
    assert client.low <= 250 < client.limit and client.limit / client.low <= 1.15
    assert client.text() == f"≥ {client.low:,.0f}/s (harness limit)"


def test_a_step_the_slope_test_cannot_call_is_run_again_longer() -> None:
    # A wide slope interval (+0.5 ± 5 jobs/s) at 200/s: neither growing nor surely flat. Run
    # twice as long, it shows a queue growing by 6 jobs/s.
    phases: list[tuple[float, str]] = []

    def measure(rate: float, phase: str) -> Step:
        phases.append((rate, phase))
        wide = rate >= 200 and phase != "longer"
        s = Slope(0.5, -4.5, 5.5, 16) if wide else Slope(6.0, 5.0, 7.0, 32)
        s = s if rate >= 200 else Slope(0.0, -0.5, 0.5, 16)
        return Step(rate, phase, 10.0, 0.0, 0.0, s, 0.5)

    found = search(measure, Plan(start_rps=100, limit_rps=200, max_bisections=0), SLOS)
    assert phases == [(100, "ramp"), (200, "ramp"), (200, "longer")]
    _, work = found.knees()
    assert (work.bound, work.low, work.high) == ("measured", 100, 200)


def test_a_target_failing_at_the_lowest_rate_is_an_upper_bound() -> None:
    k = knee([(25.0, False), (50.0, False)], 400)
    assert (k.bound, k.rps, k.text()) == ("upper", None, "< 25/s")


def test_a_pass_above_a_failure_does_not_widen_the_claim() -> None:
    assert bracket([(50, True), (100, False), (141, True), (200, False)]) == (50, 100)


def test_a_handful_of_late_starts_is_not_a_generator_behind() -> None:
    # As the runner flags it: more than 2% of the starts late, and more than 5.
    assert not behind(0.05, 88, 0.02, 5)  # 4 of 88 at a low rate on a busy machine
    assert behind(0.05, 1000, 0.02, 5)
    assert not behind(0.015, 1000, 0.02, 5)


def test_the_ramp_stops_at_the_limit() -> None:
    assert ramp_rates(25, 2, 300) == [25, 50, 100, 200, 300]


def test_the_slope_test_tells_a_growing_queue_from_noise() -> None:
    rng = np.random.default_rng(3)
    t = np.arange(0, 8, 0.5)
    # A queue near its workers' rate: depth wanders (correlated from sample to sample) but
    # does not grow.
    wander = np.cumsum(rng.normal(0, 2, len(t))) * 0.3 + 20
    assert not growing(slope(t, wander), rate=100)
    assert growing(slope(t, 20 + 5.0 * t + rng.normal(0, 3, len(t))), rate=100)
    # Surely rising, but by 0.1 jobs/s at 100/s offered: not a backlog that matters.
    assert not growing(slope(t, 20 + 0.1 * t), rate=100)
    assert slope(t[:3], t[:3]) is None


def test_the_gate_holds_a_measured_knee_and_skips_a_bound() -> None:
    summary = {
        "scenarios": ["steady"],
        "results": [
            {
                "scenario": "steady",
                "variant": "delegated",
                "endpoint": "login",
                "capacity": {"client_rps": None, "work_rps": 250.0},
            }
        ],
    }
    text = (
        "delegated.steady.login.capacity.work_rps >= 200\n"
        "delegated.steady.login.capacity.client_rps >= 200\n"
    )
    checks = evaluate(parse_thresholds(text, Names.known(summary)), summary)
    assert [(c.value, c.status) for c in checks] == [(250.0, "pass"), (None, "skip")]


def test_knee_text_says_where_it_failed() -> None:
    assert Knee(180.0, 200.0, "measured").text() == "180/s (fails at 200)"
    assert Slope(1.0, 0.5, 1.5, 16).per_s == 1.0
