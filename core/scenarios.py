"""Every scenario as data: load, provider faults over time, worker faults, and the work's env."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from core.contracts import FAN_OUT, JOB_DESIGNS, MONOLITHIC, MONOLITHIC_NO_TIMEOUT

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
# Accepted, then the connection closes before the answer: the client must retry, and the
# Idempotency-Key keeps the retry from being a second email.
LOST_RESPONSES: Json = {**HEALTHY, "lost_response_probability": 0.2}
# The same with a provider that ignores Idempotency-Key, as SendGrid's v3 mail send does.
LOST_RESPONSES_NO_IDEMPOTENCY: Json = {**LOST_RESPONSES, "idempotency": False}
# Every send refused, fast: nothing but the retry schedule decides when a job gives up.
REFUSING: Json = {
    "latency": {"kind": "fixed", "ms": 20},
    "errors": [{"status": 503, "probability": 1}],
}

TARGET_RESTART_LABELS = {
    "term": "target restarted (SIGTERM, graceful)",
    "kill": "target crashed (SIGKILL), replaced",
}
# The servers the harness owns and can fail: its Redis, and its PostgreSQL when one runs.
SERVER_NAMES = {"redis": "Redis", "postgres": "PostgreSQL"}
SERVER_FAULT_LABELS = {"kill": "{} SIGKILLed, restarted", "pause": "{} paused (SIGSTOP), resumed"}

# A deploy's grace period: how long a SIGTERMed target may finish before it is SIGKILLed, as an
# orchestrator gives it (Docker's default is 10 s, Kubernetes' 30 s; shorter here, to fit a run).
DEPLOY_GRACE_S = 5.0
QUICK_DURATION_S = 4.0
QUICK_DRAIN_S = 20.0
QUICK_ALL, QUICK_DEFAULT, QUICK_NONE = "all", "default", "none"
QUICK_QUEUES = "queues"  # the default two and every variant whose work runs in queue workers
DRAIN_S = 60.0


@dataclass(frozen=True)
class WorkerFault:
    at_s: float
    action: str = "kill"  # SIGKILL one worker, then start a replacement at once


@dataclass(frozen=True)
class TargetFault:
    """Restart the run's target at at_s: "term" as a deploy does (SIGTERM, uvicorn's graceful
    shutdown), "kill" as a crash (SIGKILL); the replacement starts once the port is free.

    grace_s: how long a SIGTERMed target may take to finish before it is SIGKILLed, as an
    orchestrator's grace period does (Docker's 10 s, Kubernetes' 30 s); None waits for it.
    """

    at_s: float
    how: str = "term"
    grace_s: float | None = None


@dataclass(frozen=True)
class ServerFault:
    """From at_s for down_s, one of the harness's own servers is gone or stalled, by `how`:

    "kill": SIGKILLed (connections refused), then started again on its port and folder;
    "pause": SIGSTOPped (connections stay open and nothing answers), then SIGCONTed.
    """

    at_s: float
    down_s: float
    how: str = "kill"
    server: str = "redis"  # a key of SERVER_NAMES

    @property
    def label(self) -> str:
        return SERVER_FAULT_LABELS[self.how].format(SERVER_NAMES[self.server])


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
    server_faults: tuple[ServerFault, ...] = ()
    target_faults: tuple[TargetFault, ...] = ()
    # The embedded Redis's append-only file for this scenario; None: REDIS_APPENDONLY decides.
    redis_appendonly: bool | None = None
    work_env: Mapping[str, str] = field(default_factory=dict)  # for workers and target-sync
    quick_env: Mapping[str, str] = field(default_factory=dict)  # added to work_env when shortened
    options: Mapping[str, object] = field(default_factory=dict)  # extra loadtests flags
    users: int = 200  # Locust users: above rate x worst latency, or starts run late
    quick_duration_s: float = QUICK_DURATION_S  # some faults need a little more room
    # What a quick run (`make bench-quick`, CI) runs of the scenario when not given names:
    # QUICK_ALL variants, the DEFAULT two, QUICK_QUEUES, the default two and the variants a
    # tuple names, or none: each variant is in the quick run, not in every scenario of it.
    quick: str | tuple[str, ...] = QUICK_NONE
    # Runs only when named (`make bench-tickets`), so `make bench` keeps its time budget.
    named_only: bool = False
    about: str = ""

    @property
    def job_design(self) -> str:
        """How the workers split an order's tickets into jobs (JOB_DESIGN in work_env)."""
        return self.work_env.get("JOB_DESIGN", FAN_OUT)

    @property
    def peak_rate(self) -> float:
        return max((r for _, r in self.stages), default=self.rate)

    @property
    def faulted_servers(self) -> frozenset[str]:
        """The servers the scenario stops or pauses: it needs the harness's own."""
        return frozenset(f.server for f in self.server_faults)

    def shortened(self, duration_s: float | None = None) -> Scenario:
        """The same shape squeezed into duration_s: stages, fault windows and kills scaled."""
        duration_s = duration_s or self.quick_duration_s
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
            server_faults=tuple(
                replace(f, at_s=f.at_s * k, down_s=f.down_s * k) for f in self.server_faults
            ),
            target_faults=tuple(
                replace(f, at_s=f.at_s * k, grace_s=None if f.grace_s is None else f.grace_s * k)
                for f in self.target_faults
            ),
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
        events += [
            {
                "at_s": f.at_s,
                "duration_s": f.down_s,
                "action": f"{f.how}-restart",
                "target": f.server,
                "label": f.label,
            }
            for f in self.server_faults
        ]
        events += [
            {
                "at_s": f.at_s,
                "duration_s": 0.0,
                "action": f"{f.how}-restart",
                "target": "target",
                "label": TARGET_RESTART_LABELS[f.how],
                **({} if f.grace_s is None else {"grace_s": f.grace_s}),
            }
            for f in self.target_faults
        ]
        return {
            "name": self.name,
            "locustfile": f"loadtests/{self.locustfile}.py",
            "duration_s": self.duration_s,
            "load": {**load, "users": self.users, "options": dict(self.options)},
            "faults": self.faults,
            "timeline": sorted(events, key=lambda e: float(e["at_s"])),
            "work_env": dict(self.work_env),
            "job_design": self.job_design,
            "redis_appendonly": self.redis_appendonly,
            "about": self.about,
        }


# Short job timeouts: arq re-runs a dead worker's job only after timeout + 10 s. The provider's
# read timeout stays below the job's, and a healthy provider (p99.99 under 1 s) never comes
# near either.
CRASH_ENV = {"EMAIL_JOB_TIMEOUT_S": "5", "TICKET_JOB_TIMEOUT_S": "5"}
# One shortened work env for the scenarios a quick run holds, so that its targets and workers
# start once, not again at each change of env: a retry schedule longer than a shortened outage
# (its work is held, not dead-lettered) that still ends soon after it.
QUICK_ENV = {"RETRY_BASE_S": "0.5", "RETRY_CAP_S": "3"}
# Its worker crash (run last, then) has shorter job timeouts still: Celery's acks-late hands a
# dead worker's task out after the longest job or retry wait + 10 s, 13 s here.
QUICK_CRASH_ENV = {
    **QUICK_ENV,
    "EMAIL_JOB_TIMEOUT_S": "2",
    "TICKET_JOB_TIMEOUT_S": "2",
    "ORDER_JOB_TIMEOUT_S": "2",
    "PROVIDER_READ_TIMEOUT_S": "1.5",
}
# Two jobs at a time (~12 emails/s against 20/s offered): a backlog is queued when Redis dies,
# so what a restart keeps or loses shows.
BACKLOG_ENV = {**CRASH_ENV, "WORKER_MAX_JOBS": "2"}
QUICK_BACKLOG_ENV = {**QUICK_CRASH_ENV, "WORKER_MAX_JOBS": "2"}


def _window(at_s: float, duration_s: float, faults: Json, label: str) -> Json:
    return {"at_s": at_s, "duration_s": duration_s, "faults": faults, "label": label}


# Issue 10, the ticket job's lesson: the same ticket scenario under each job design.
DESIGN_ABOUT = {
    FAN_OUT: "fan-out: a job per seat, then one email job (the post's fix)",
    MONOLITHIC: "monolithic: one job per order, a 10 s job timeout; a retry remakes each seat",
    MONOLITHIC_NO_TIMEOUT: "monolithic-no-timeout: one job per order, no timeout, the ticket"
    " program run blocking (a hung one stalls the worker)",
}
# A ticket takes a lognormal time, median 1.5 s, p99 ~3.8 s (the post's "up to four seconds").
BIG_TICKETS_ENV = {"TICKET_MEDIAN_S": "1.5", "TICKET_SIGMA": "0.4"}


def by_design(scenario: Scenario) -> tuple[Scenario, ...]:
    """The scenario under each job design: fan-out keeps its name, the others add theirs."""
    return tuple(
        replace(
            scenario,
            name=scenario.name if design == FAN_OUT else f"{scenario.name}-{design}",
            work_env={**scenario.work_env, "JOB_DESIGN": design},
            named_only=scenario.named_only or design != FAN_OUT,
            about=f"{scenario.about}; {DESIGN_ABOUT[design]}",
        )
        for design in JOB_DESIGNS
    )


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "steady",
        "login",
        20,
        rate=20,
        quick=QUICK_ALL,
        quick_env=QUICK_ENV,
        about="logins below saturation, healthy provider",
    ),
    Scenario(
        "slow-provider",
        "login",
        20,
        rate=20,
        faults=SLOW,
        users=400,
        about="provider median ~800 ms with a long tail",
    ),
    Scenario(
        "outage",
        "login",
        40,
        rate=20,
        users=400,
        timeline=(_window(10, 15, DOWN, "outage: 503s and hangs"),),
        quick_env=QUICK_ENV,
        quick=QUICK_ALL,
        about="healthy, then 503s and hangs for a window, then healthy",
    ),
    Scenario(
        "rate-limited",
        "login",
        20,
        rate=20,
        faults=RATE_LIMITED,
        about="token bucket of 8/s: 429 with Retry-After",
    ),
    Scenario(
        "spike",
        "login",
        40,
        stages=((10, 20), (10, 100), (10, 200), (10, 400)),
        users=2000,
        about="arrival rate stepped up past saturation",
    ),
    Scenario(
        "webhook-burst",
        "webhook",
        20,
        rate=3,
        options={"redelivery_share": 0.1},
        quick=QUICK_DEFAULT,
        quick_env=QUICK_ENV,
        about="signed payment webhooks, orders of 1-60 seats, 10% redeliveries",
    ),
    *by_design(
        Scenario(
            "hung-ticket",
            "webhook",
            20,
            rate=3,
            work_env={"TICKET_HANG_PROBABILITY": "0.03"},
            quick_duration_s=6,
            about="webhooks; a ticket subprocess hangs now and then",
        )
    ),
    # 0.5 orders/s of ~30 seats at ~1.6 s each: ~25 tickets at a time, well within one
    # worker's 40 slots for the fan-out; a monolithic order takes ~50 s on its own.
    *by_design(
        Scenario(
            "big-orders",
            "webhook",
            30,
            rate=0.5,
            work_env=BIG_TICKETS_ENV,
            quick_duration_s=8,
            # A sync webhook makes up to 60 tickets of ~1.5 s in the request: minutes of a run
            # that say only "too slow"; the designs' comparison is make bench-tickets.
            named_only=True,
            about="webhooks for orders of 1-60 seats, each ticket ~1.5 s (up to ~4 s)",
        )
    ),
    Scenario(
        "worker-crash",
        "login",
        20,
        rate=20,
        quick_duration_s=6,
        worker_faults=(WorkerFault(5), WorkerFault(10), WorkerFault(15)),
        work_env=CRASH_ENV,
        quick_env=QUICK_CRASH_ENV,
        quick=QUICK_QUEUES,  # a worker crash means nothing to a variant without workers
        about="a worker SIGKILLed at 25%, 50% and 75% of the load, replaced each time",
    ),
    Scenario(
        "lost-response",
        "login",
        20,
        rate=20,
        faults=LOST_RESPONSES,
        quick=QUICK_DEFAULT,
        quick_env=QUICK_ENV,
        about="1 in 5 sends accepted, then the response lost: the client retries with the"
        " same Idempotency-Key (sync in the request, delegated by job retry)",
    ),
    Scenario(
        "lost-response-no-idempotency",
        "login",
        20,
        rate=20,
        faults=LOST_RESPONSES_NO_IDEMPOTENCY,
        about="lost-response with a provider that ignores Idempotency-Key (as SendGrid): a"
        " retry after a lost response is a second email unless the sender remembers it sent",
    ),
    Scenario(
        "redis-restart",
        "login",
        20,
        rate=20,
        quick_duration_s=6,
        server_faults=(ServerFault(8, 4),),
        redis_appendonly=True,
        work_env=BACKLOG_ENV,
        quick_env=QUICK_BACKLOG_ENV,
        # Quick runs meet a Redis crash in redis-outage; here, the backlog it keeps.
        quick=QUICK_NONE,
        about="Redis SIGKILLed mid-run and restarted on the same port and folder, with the"
        " append-only file: the queue survives; workers that died with the connection"
        " are restarted; workers run 2 jobs at a time, so a backlog is queued",
    ),
    Scenario(
        "redis-restart-no-aof",
        "login",
        20,
        rate=20,
        quick_duration_s=6,
        server_faults=(ServerFault(8, 4),),
        redis_appendonly=False,
        work_env=BACKLOG_ENV,
        quick_env=QUICK_BACKLOG_ENV,
        about="the same Redis crash without persistence: the queued work is lost",
    ),
    Scenario(
        "webhook-redelivery",
        "webhook",
        20,
        rate=3,
        options={"redelivery_share": 0.3, "second_event_share": 0.3},
        about="webhooks, 30% redeliveries; 30% of orders also paid by a second, different"
        " event (payment_intent.succeeded), half of them before the first",
    ),
    Scenario(
        "long-outage",
        "login",
        40,
        rate=20,
        users=400,
        timeline=(_window(5, 20, REFUSING, "outage: every send 503"),),
        work_env={"MAX_TRIES": "5"},
        # Quick: the schedule shrinks with the window (at most 0.1+0.2+0.4+0.4 = 1.1 s).
        quick_env={"RETRY_BASE_S": "0.1", "RETRY_CAP_S": "0.4"},
        about="a 20 s provider outage, longer than a job's whole retry schedule (MAX_TRIES=5,"
        " waits of at most 1+2+4+8 = 15 s): early work is dead-lettered, none lost;"
        " quick runs shrink the schedule (RETRY_BASE_S=0.1, RETRY_CAP_S=0.4)",
    ),
    Scenario(
        "deploy-during-outage",
        "login",
        30,
        rate=20,
        users=400,
        timeline=(_window(4, 16, DOWN, "outage: 503s and hangs"),),
        # A deploy's SIGTERM with a grace period, as an orchestrator gives it, then a crash.
        target_faults=(TargetFault(8, "term", DEPLOY_GRACE_S), TargetFault(14, "kill")),
        quick_duration_s=10,
        quick_env=QUICK_ENV,
        quick=QUICK_ALL,
        about="a provider outage; during it the target is deployed (SIGTERM, 5 s to finish,"
        " then SIGKILL, as an orchestrator does) and later crashes (SIGKILL), each replaced at"
        " once; then the provider recovers. Work a process holds for its next retry dies"
        " with it: the background variant's promises of the outage are lost",
    ),
    Scenario(
        "redis-outage",
        "login",
        25,
        rate=20,
        quick_duration_s=8,
        server_faults=(ServerFault(5, 15),),
        redis_appendonly=True,
        # Quick: a queue in Redis against one in the database, and the sync baseline.
        quick=("procrastinate",),
        quick_env=QUICK_ENV,
        about="Redis down for 15 s (connections refused), then back with its data (its"
        " append-only file): a queue in Redis refuses work meanwhile (503), the others do not",
    ),
    Scenario(
        "redis-stall",
        "login",
        20,
        rate=20,
        quick_duration_s=8,
        server_faults=(ServerFault(5, 10, "pause"),),
        quick=QUICK_DEFAULT,
        quick_env=QUICK_ENV,
        about="Redis paused (SIGSTOP) for 10 s, then resumed: connections stay open and nothing"
        " answers; a queued login answers 503 after QUEUE_TIMEOUT_S instead of waiting it out",
    ),
    Scenario(
        "db-outage",
        "login",
        25,
        rate=20,
        quick_duration_s=8,
        server_faults=(ServerFault(5, 15, server="postgres"),),
        quick_env=QUICK_ENV,
        about="the harness's PostgreSQL down for 15 s (connections refused), then back with its"
        " data; runs when a variant keeps its queue in the database, whose store every variant"
        " then shares: the database queue's weak spot, and every variant's store",
    ),
    Scenario(
        "db-stall",
        "login",
        20,
        rate=20,
        quick_duration_s=8,
        server_faults=(ServerFault(5, 10, "pause", server="postgres"),),
        quick_env=QUICK_ENV,
        about="the harness's PostgreSQL paused (SIGSTOP) for 10 s, then resumed: a hand-off to"
        " the database queue answers 503 after QUEUE_TIMEOUT_S instead of waiting it out",
    ),
    Scenario(
        "target-restart",
        "login",
        20,
        rate=20,
        # Quick: room for each replacement's start-up (~1 s; a few on a busy machine).
        quick_duration_s=9,
        target_faults=(TargetFault(5, "term"), TargetFault(14, "kill")),
        # Only when named: deploy-during-outage restarts every variant's target the same way,
        # in the case where it matters (work held for a retry), within make bench's budget.
        named_only=True,
        about="the target restarted under load as a deploy does (SIGTERM, graceful), then"
        " crashed (SIGKILL), each replaced on its port at once: answers in the gap are"
        " errors; work the background variant held in its process dies with it",
    ),
)

BY_NAME = {s.name: s for s in SCENARIOS}
SCENARIO_NAMES = tuple(BY_NAME)  # the report's order
# Names that stand for several scenarios: the ticket job's designs side by side (issue 10).
GROUPS = {"ticket-designs": tuple(s.name for s in SCENARIOS if "JOB_DESIGN" in s.work_env)}


class UnknownScenario(ValueError):
    pass


def choose(names: str, quick: bool, duration_s: float | None = None) -> list[Scenario]:
    """Scenarios by comma-separated names, in the table's order.

    Without names: every scenario not named_only; when quick, those marked for quick runs.
    """
    given = [n.strip() for n in names.split(",") if n.strip()]
    wanted = [m for n in given for m in GROUPS.get(n, (n,))]
    unknown = [n for n in wanted if n not in BY_NAME]
    if unknown:
        raise UnknownScenario(
            f"unknown scenario {', '.join(unknown)}: choose from {', '.join([*BY_NAME, *GROUPS])}"
        )
    chosen = [
        s
        for s in SCENARIOS
        if s.name in wanted or not (wanted or s.named_only or (quick and s.quick == QUICK_NONE))
    ]
    return [s.shortened(duration_s) for s in chosen] if duration_s or quick else chosen
