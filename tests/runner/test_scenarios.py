"""The fault scenarios as data: shortened timelines, Redis restarts, what meta.json records."""

from __future__ import annotations

import pytest

from core.scenarios import (
    BY_NAME,
    QUICK_ALL,
    QUICK_NONE,
    QUICK_QUEUES,
    SCENARIOS,
    ServerFault,
    choose,
)
from runner.faults import ServerOutages

FAULTS = (
    "worker-crash",
    "lost-response",
    "redis-restart",
    "redis-restart-no-aof",
    "webhook-redelivery",
    "long-outage",
)


def test_quick_runs_the_marked_scenarios_and_any_named_one_shortened() -> None:
    assert set(FAULTS) <= set(BY_NAME)
    quick = [s.name for s in choose("", quick=True)]
    assert quick == [s.name for s in SCENARIOS if s.quick != QUICK_NONE]
    # Every variant meets a good day, an outage, a worker crash, a deploy during an outage and
    # a Redis outage; the default two, duplicates, the webhook, a Redis backlog and a stall.
    must = {"steady", "outage", "deploy-during-outage"}
    assert must <= {s.name for s in SCENARIOS if s.quick == QUICK_ALL}
    assert BY_NAME["worker-crash"].quick == QUICK_QUEUES
    assert BY_NAME["redis-outage"].quick == ("procrastinate",)  # and the default two
    assert {"lost-response", "webhook-burst", "redis-stall"} <= set(quick)
    named = choose(",".join(FAULTS), quick=True)  # named, any runs
    assert [s.name for s in named] == list(FAULTS)
    assert all(s.duration_s <= 8 for s in named)  # a few seconds of load each


def test_worker_crash_kills_three_times_at_quarters() -> None:
    full = BY_NAME["worker-crash"]
    assert [f.at_s / full.duration_s for f in full.worker_faults] == [0.25, 0.5, 0.75]
    timeline = choose("worker-crash", quick=True)[0].describe()["timeline"]
    assert [e["target"] for e in timeline] == ["worker"] * 3


def test_redis_restarts_scale_and_say_whether_redis_persists() -> None:
    aof, bare = choose("redis-restart,redis-restart-no-aof", quick=False, duration_s=3)
    (fault,) = aof.server_faults
    full_s = BY_NAME["redis-restart"].duration_s
    full = BY_NAME["redis-restart"].server_faults[0]
    assert fault.at_s == pytest.approx(full.at_s * 3 / full_s)
    assert fault.down_s == pytest.approx(full.down_s * 3 / full_s)
    assert aof.faulted_servers == bare.faulted_servers == {"redis"}
    assert (aof.redis_appendonly, bare.redis_appendonly) == (True, False)
    described = aof.describe()
    assert described["redis_appendonly"] is True
    (event,) = described["timeline"]
    assert event["target"] == "redis" and event["duration_s"] == pytest.approx(fault.down_s)
    # A backlog is queued when Redis dies, so what it keeps or loses shows.
    assert aof.work_env["WORKER_MAX_JOBS"] == bare.work_env["WORKER_MAX_JOBS"] == "2"


def test_lost_responses_and_out_of_order_webhooks() -> None:
    assert BY_NAME["lost-response"].faults["lost_response_probability"] == 0.2
    webhooks = BY_NAME["webhook-redelivery"]
    assert webhooks.locustfile == "webhook"
    assert webhooks.options["redelivery_share"] == 0.3
    assert float(str(webhooks.options["second_event_share"])) > 0


def test_long_outage_outlasts_the_whole_retry_schedule() -> None:
    def schedule_max_s(base_s: float, cap_s: float, tries: int = 5) -> float:
        return sum(min(cap_s, base_s * 2.0 ** (k - 1)) for k in range(1, tries))

    full = BY_NAME["long-outage"]
    (window,) = full.timeline
    tries = int(full.work_env["MAX_TRIES"])
    assert window["duration_s"] > schedule_max_s(1, 30, tries)  # RETRY_BASE_S=1, RETRY_CAP_S=30
    quick = choose("long-outage", quick=True)[0]
    (short,) = quick.timeline
    env = quick.work_env
    assert short["duration_s"] > schedule_max_s(
        float(env["RETRY_BASE_S"]), float(env["RETRY_CAP_S"]), tries
    )
    assert "RETRY_BASE_S" in quick.about


def test_redis_outages_go_down_then_come_back_in_order() -> None:
    stall, crash = ServerFault(5, 2, "pause", "postgres"), ServerFault(1, 1)
    outages = ServerOutages((stall, crash))
    seen = [(t, outages.due(t)) for t in (0.5, 1.0, 1.5, 2.0, 4.0, 5.0, 6.0, 7.0, 9.0)]
    assert [(t, a) for t, a in seen if a] == [
        (1.0, ("down", crash)),
        (2.0, ("back", crash)),
        (5.0, ("down", stall)),
        (7.0, ("back", stall)),
    ]
    assert outages.down is None
