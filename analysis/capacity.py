"""Capacity: the pure parts of the knee search (step plan, slope test, brackets, intervals)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

# One-sided 95%: a queue is growing only if even the low end of its slope is above 0.
Z_ONE_SIDED = 1.645
# ...and if it grows by more than this share of the offered rate (or MIN_GROWTH_PER_S): a
# backlog that creeps up by less would take minutes to matter, and one step cannot tell it
# from the depth's own noise.
GROWTH_SHARE = 0.02
MIN_GROWTH_PER_S = 1.0
ERROR_LIMIT = 0.01  # client capacity: errors stay below 1%


@dataclass(frozen=True)
class Slope:
    """Least-squares slope of a depth series, per second, with its one-sided 95% bounds."""

    per_s: float
    low: float
    high: float
    samples: int


def slope(t: ArrayLike, depth: ArrayLike) -> Slope | None:
    """The depth's trend over a step; None with fewer than 4 samples.

    Depth samples half a second apart are correlated, so the standard error uses the
    effective number of samples n(1-r)/(1+r), r the residuals' lag-1 autocorrelation.
    """
    x, y = np.asarray(t, dtype=np.float64), np.asarray(depth, dtype=np.float64)
    n = len(x)
    if n < 4 or np.ptp(x) == 0:
        return None
    xc = x - x.mean()
    beta = float((xc * (y - y.mean())).sum() / (xc * xc).sum())
    residuals = y - y.mean() - beta * xc
    r = _lag1(residuals)
    n_eff = max(3.0, n * (1 - r) / (1 + r))
    variance = (residuals * residuals).sum() / max(n - 2, 1)
    se = math.sqrt(variance / (xc * xc).sum() * (n - 2) / max(n_eff - 2, 1.0))
    return Slope(beta, beta - Z_ONE_SIDED * se, beta + Z_ONE_SIDED * se, n)


def _lag1(residuals: np.ndarray[tuple[int], np.dtype[np.float64]]) -> float:
    denominator = float((residuals * residuals).sum())
    if denominator == 0:
        return 0.0
    r = float((residuals[1:] * residuals[:-1]).sum()) / denominator
    return min(max(r, 0.0), 0.95)


def tolerance(rate: float) -> float:
    return max(GROWTH_SHARE * rate, MIN_GROWTH_PER_S)


def growing(s: Slope | None, rate: float) -> bool:
    """The backlog grows without bound: its slope is surely above 0, and by enough to matter."""
    if s is None:
        return False
    return s.low > 0 and s.per_s > tolerance(rate)


def undecided(s: Slope | None, rate: float) -> bool:
    """Neither surely growing nor surely flat: the slope's interval reaches past the
    tolerance, so a longer step is needed to tell."""
    return s is not None and not growing(s, rate) and s.high > tolerance(rate)


@dataclass(frozen=True)
class Step:
    """What one step of load measured; None where it measured nothing."""

    rate: float
    phase: str  # "ramp", "bisect", or "longer" (a step run again, twice as long, to decide)
    p99_ms: float | None  # client latency from the intended start
    error_rate: float
    late_share: float  # requests the generator started late
    slope: Slope | None  # of the queue (or the outstanding work)
    completion_p99_s: float | None  # request -> email; inf when work was never done
    requests: int = 0
    repeat: int = 0


@dataclass(frozen=True)
class Slos:
    p99_ms: float = 100.0
    work_s: float = 10.0


def client_ok(step: Step, slos: Slos) -> bool:
    return step.p99_ms is not None and step.p99_ms <= slos.p99_ms and step.error_rate < ERROR_LIMIT


def work_ok(step: Step, slos: Slos) -> bool:
    done = step.completion_p99_s is not None and step.completion_p99_s <= slos.work_s
    return done and not growing(step.slope, step.rate)


@dataclass(frozen=True)
class Knee:
    """A capacity: the highest rate that passed, bracketed by the lowest that failed.

    bound "measured": passed at `low`, failed at `high`; "lower": nothing failed up to `low`,
    and above it the harness could not follow (at `limit`); "upper": failed already at `high`.
    """

    low: float | None
    high: float | None
    bound: str
    limit: float | None = None

    @property
    def rps(self) -> float | None:
        """The number a gate may hold: only a measured knee is one."""
        return self.low if self.bound == "measured" else None

    def text(self) -> str:
        if self.bound == "lower" and self.low is None:
            return f"not measured: the harness fell behind at {self.limit or 0:,.0f}/s"
        if self.bound == "lower":
            return f"≥ {self.low:,.0f}/s (harness limit)"
        if self.bound == "upper":
            return f"< {self.high:,.0f}/s"
        return f"{self.low:,.0f}/s (fails at {self.high:,.0f})"


def bracket(points: Sequence[tuple[float, bool]]) -> tuple[float | None, float | None]:
    """(highest rate that passed below the lowest that failed, lowest that failed).

    A pass above a failure is noise at the edge and does not widen the claim.
    """
    fails = [rate for rate, ok in points if not ok]
    high = min(fails) if fails else None
    passes = [rate for rate, ok in points if ok and (high is None or rate < high)]
    return (max(passes) if passes else None), high


def knee(points: Sequence[tuple[float, bool]], limit: float | None) -> Knee:
    low, high = bracket(points)
    if high is None:
        return Knee(low, None, "lower", limit)
    if low is None:
        return Knee(None, high, "upper")
    return Knee(low, high, "measured")


def behind(late_share: float, requests: int, share: float, count: int) -> bool:
    """The generator fell behind: more starts late than `share` of them, and than `count`."""
    late = late_share * requests
    return late > max(count, share * requests)


def ramp_rates(start: float, factor: float, limit: float) -> list[float]:
    """start, start x factor, ... below the limit, then the limit itself."""
    rates, rate = [], start
    while rate < limit * 0.999:
        rates.append(round(rate, 1))
        rate *= factor
    return [*rates, round(limit, 1)]


@dataclass(frozen=True)
class Plan:
    start_rps: float = 25.0
    factor: float = 2.0
    limit_rps: float = 400.0  # the harness's limit: no step above it
    # A step whose generator started more of its requests late than this share (and a
    # handful) measured the harness, not the target: its rate becomes the limit, and its
    # verdicts do not count.
    late_share: float = 0.02
    late_count: int = 5

    def behind(self, step: Step) -> bool:
        return behind(step.late_share, step.requests, self.late_share, self.late_count)

    precision: float = 0.15  # bisect until the bracket's ends are within 15% of each other
    max_bisections: int = 3  # per knee


def span(k: Knee) -> tuple[float, float] | None:
    """The rates a bisection may still try: a measured knee's bracket, or a lower bound's gap
    up to a harness limit it stopped short of."""
    top = k.high if k.bound == "measured" else k.limit if k.bound == "lower" else None
    if k.low is None or top is None:
        return None
    return k.low, top


def to_refine(k: Knee, precision: float) -> float:
    """How wide a knee's span still is (top ÷ low), 0 when it needs no more steps."""
    gap = span(k)
    if gap is None:
        return 0.0
    ratio = gap[1] / gap[0]
    return ratio if ratio > 1 + precision else 0.0


@dataclass
class Search:
    """The steps so far, and what they say about both knees."""

    plan: Plan
    slos: Slos
    steps: list[Step] = field(default_factory=list)

    def limit(self) -> float:
        """The harness's limit, lowered to the first rate at which a step fell behind."""
        fell_behind = [s.rate for s in self.steps if self.plan.behind(s)]
        return min([self.plan.limit_rps, *fell_behind])

    def kept(self) -> list[Step]:
        """The steps the knees rest on: the generator kept up, and of a rate run twice, the
        longer (later) run."""
        latest = {s.rate: s for s in self.steps if not self.plan.behind(s)}
        return sorted(latest.values(), key=lambda s: s.rate)

    def knees(self) -> tuple[Knee, Knee]:
        kept = self.kept()
        client = [(s.rate, client_ok(s, self.slos)) for s in kept]
        work = [(s.rate, work_ok(s, self.slos)) for s in kept]
        return knee(client, self.limit()), knee(work, self.limit())

    def next_bisection(self, done: dict[str, int]) -> tuple[str, float] | None:
        """The knee whose bracket is widest and still has bisections left, and its midpoint."""
        client, work = self.knees()
        wide = [
            (to_refine(k, self.plan.precision), name, k)
            for name, k in (("client", client), ("work", work))
            if done[name] < self.plan.max_bisections
        ]
        wide = [w for w in wide if w[0] > 0]
        if not wide:
            return None
        _, name, k = max(wide, key=lambda w: w[0])
        gap = span(k)
        assert gap is not None
        return name, round(math.sqrt(gap[0] * gap[1]), 1)


def search(measure: Callable[[float, str], Step], plan: Plan, slos: Slos) -> Search:
    """Ramp until both knees have failed (or the limit), then bisect each bracket; a step
    whose queue the slope test cannot call is run again, twice as long."""
    state = Search(plan, slos)

    def step(rate: float, phase: str) -> None:
        measured = measure(rate, phase)
        state.steps.append(measured)
        # A step the generator fell behind on tells nothing of the target, however long.
        if not plan.behind(measured) and undecided(measured.slope, rate):
            state.steps.append(measure(rate, "longer"))

    for rate in ramp_rates(plan.start_rps, plan.factor, plan.limit_rps):
        step(rate, "ramp")
        client, work = state.knees()
        if (client.high is not None and work.high is not None) or state.limit() <= rate:
            break
    done = {"client": 0, "work": 0}
    while (chosen := state.next_bisection(done)) is not None:
        name, rate = chosen
        done[name] += 1
        step(rate, "bisect")
    return state
