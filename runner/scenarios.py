"""Every scenario as data: load, provider faults over time, worker faults, and the work's env."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

Json = dict[str, Any]

# The provider on a good day: lognormal latency, median ~150 ms (sigma 0.5: p99 ~ 480 ms).
HEALTHY: Json = {"latency": {"kind": "lognormal", "median_ms": 150, "sigma": 0.5}}
SLOW: Json = {"latency": {"kind": "lognormal", "median_ms": 800, "sigma": 0.8}}
DOWN: Json = {
    "latency": {"kind": "fixed", "ms": 50},
    "errors": [{"status": 503, "probability": 0.7}],
    "hang_probability": 0.3,
    "hang_max_s": 10,
}
RATE_LIMITED: Json = {**HEALTHY, "rate_limit": {"per_s": 8, "burst": 8}}

QUICK_DURATION_S = 5.0
QUICK_DRAIN_S = 20.0
DRAIN_S = 60.0


@dataclass(frozen=True)
class WorkerFault:
    at_s: float
    action: str = "kill"  # SIGKILL one worker, then start a replacement at once


@dataclass(frozen=True)
class Scenario:
    name: str
    locustfile: str  # loadtests/<locustfile>.py
    duration_s: float
    rate: float = 0.0  # open model: requests started per second
    stages: tuple[tuple[float, float], ...] = ()  # or stepped (duration_s, rate) stages
    faults: Json = field(default_factory=lambda: HEALTHY)  # the provider's base fault model
    timeline: tuple[Json, ...] = ()  # POST /control/timeline events, at_s from load start
    worker_faults: tuple[WorkerFault, ...] = ()
    work_env: Mapping[str, str] = field(default_factory=dict)  # for workers and target-sync
    quick_env: Mapping[str, str] = field(default_factory=dict)  # added to work_env when shortened
    options: Mapping[str, object] = field(default_factory=dict)  # extra loadtests flags
    users: int = 200  # Locust users: above rate x worst latency, or starts run late
    about: str = ""

    @property
    def peak_rate(self) -> float:
        return max((r for _, r in self.stages), default=self.rate)

    def shortened(self, duration_s: float = QUICK_DURATION_S) -> Scenario:
        """The same shape squeezed into duration_s: stages, fault windows and kills scaled."""
        k = duration_s / self.duration_s
        return replace(
            self,
            duration_s=duration_s,
            stages=tuple((d * k, r) for d, r in self.stages),
            timeline=tuple(
                {**e, "at_s": e["at_s"] * k, "duration_s": e["duration_s"] * k}
                for e in self.timeline
            ),
            worker_faults=tuple(replace(f, at_s=f.at_s * k) for f in self.worker_faults),
            work_env={**self.work_env, **self.quick_env},
        )

    def describe(self) -> Json:
        """As meta.json records it: timeline events carry their target (provider or worker)."""
        load: Json = (
            {"model": "open", "stages": [list(s) for s in self.stages]}
            if self.stages
            else {"model": "open", "arrival_rate": self.rate}
        )
        events = [{**e, "target": "provider"} for e in self.timeline]
        events += [
            {"at_s": f.at_s, "duration_s": 0.0, "action": f.action, "target": "worker"}
            for f in self.worker_faults
        ]
        return {
            "name": self.name,
            "locustfile": f"loadtests/{self.locustfile}.py",
            "duration_s": self.duration_s,
            "load": {**load, "users": self.users, "options": dict(self.options)},
            "faults": self.faults,
            "timeline": sorted(events, key=lambda e: float(e["at_s"])),
            "work_env": dict(self.work_env),
            "about": self.about,
        }


def _window(at_s: float, duration_s: float, faults: Json, label: str) -> Json:
    return {"at_s": at_s, "duration_s": duration_s, "faults": faults, "label": label}


# name            file       secs  load                           provider / workers
SCENARIOS: tuple[Scenario, ...] = (
    Scenario("steady", "login", 30, rate=20, about="logins below saturation, healthy provider"),
    Scenario("slow-provider", "login", 30, rate=20, faults=SLOW, users=400,
             about="provider median ~800 ms with a long tail"),
    Scenario("outage", "login", 40, rate=20, users=400,
             timeline=(_window(10, 15, DOWN, "outage: 503s and hangs"),),
             about="healthy, then 503s and hangs for a window, then healthy"),
    Scenario("rate-limited", "login", 30, rate=20, faults=RATE_LIMITED,
             about="token bucket of 8/s: 429 with Retry-After"),
    Scenario("spike", "login", 40, stages=((10, 20), (10, 100), (10, 200), (10, 400)), users=1000,
             about="arrival rate stepped up past saturation"),
    Scenario("webhook-burst", "webhook", 30, rate=3, options={"redelivery_share": 0.1},
             about="signed payment webhooks, orders of 1-60 seats, 10% redeliveries"),
    Scenario("hung-ticket", "webhook", 30, rate=3, work_env={"TICKET_HANG_PROBABILITY": "0.03"},
             about="webhooks; a ticket subprocess hangs now and then (killed at its timeout)"),
    Scenario("worker-crash", "login", 30, rate=20, worker_faults=(WorkerFault(12),),
             # Short job timeouts: arq re-runs a dead worker's job only after timeout + 10 s.
             work_env={"EMAIL_JOB_TIMEOUT_S": "5", "TICKET_JOB_TIMEOUT_S": "5"},
             # Shortened, shorter still; the provider's read timeout stays below the job's, and
             # a healthy provider (p99.99 under 1 s) never comes near either.
             quick_env={"EMAIL_JOB_TIMEOUT_S": "2", "TICKET_JOB_TIMEOUT_S": "2",
                        "PROVIDER_READ_TIMEOUT_S": "1.5"},
             about="a worker SIGKILLed mid-run and replaced"),
)  # fmt: skip

BY_NAME = {s.name: s for s in SCENARIOS}


class UnknownScenario(ValueError):
    pass


def choose(names: str, quick: bool, duration_s: float | None = None) -> list[Scenario]:
    """Scenarios by comma-separated names, in the table's order (all when names is empty)."""
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in BY_NAME]
    if unknown:
        raise UnknownScenario(
            f"unknown scenario {', '.join(unknown)}: choose from {', '.join(BY_NAME)}"
        )
    chosen = [s for s in SCENARIOS if not wanted or s.name in wanted]
    if duration_s is None and quick:
        duration_s = QUICK_DURATION_S
    return [s.shortened(duration_s) for s in chosen] if duration_s else chosen
