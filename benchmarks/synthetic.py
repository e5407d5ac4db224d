"""Factory of fake results folders: seeded, in the exact contract format, for tests and benchmarks.

Ids come from the builders in core.contracts, as the load tests, targets and jobs make them.
The numbers follow the shape the design predicts (sync waits for the provider, delegated
answers at once and finishes the work later), not any measurement.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from core.contracts import (
    CLOCK_OFFSETS,
    DEFAULT_VARIANTS,
    FLOOR_SCENARIO,
    PROVIDER_CLOCK,
    SEND_MAGIC_LINK,
    SEND_TICKETS,
    locust_worker_clock,
    login_job_id,
    login_work_id,
    magic_link_key,
    order_work_id,
    send_tickets_job_id,
    tickets_key,
)
from core.scenarios import SCENARIO_NAMES

Floats = npt.NDArray[np.float64]
WEBHOOK_SCENARIOS = ("webhook-burst", "hung-ticket", "webhook-redelivery")
OUTAGES = ("outage", "long-outage")
REDIS_RESTARTS = {"redis-restart": True, "redis-restart-no-aof": False}  # -> append-only file
CLIENT_TIMEOUT_S = 10.0


def _ids(
    build: Callable[[Any], str], values: npt.NDArray[Any], where: npt.NDArray[np.bool_]
) -> npt.NDArray[np.object_]:
    """build(value) on the rows where `where` holds, "" on the others."""
    pairs = zip(values.tolist(), where.tolist(), strict=True)
    return np.array([build(v) if w else "" for v, w in pairs], dtype=object)


def timeline(scenario: str, duration_s: float) -> list[dict[str, Any]]:
    window = {"at_s": round(duration_s * 0.4, 3), "duration_s": round(duration_s * 0.2, 3)}
    if scenario in OUTAGES:
        return [
            {
                **window,
                "faults": {"errors": [{"status": 503, "probability": 1.0}]},
                "label": "provider 503",
                "target": "provider",
            }
        ]
    if scenario == "worker-crash":
        return [{**window, "faults": {}, "label": "worker killed", "target": "worker"}]
    if scenario in REDIS_RESTARTS:
        return [{**window, "action": "kill-restart", "label": "Redis restarted", "target": "redis"}]
    return []


def base_faults(scenario: str) -> dict[str, Any]:
    healthy: dict[str, Any] = {"latency": {"kind": "lognormal", "median_ms": 150, "sigma": 0.5}}
    if scenario == "lost-response":
        return {**healthy, "lost_response_probability": 0.2}
    return healthy


def run_events(scenario: str, variant: str, t0: float, duration_s: float) -> list[dict[str, Any]]:
    """What the runner records doing to the stack: worker kills, Redis restarts."""
    events: list[dict[str, Any]] = []

    def add(kind: str, at_s: float, **fields: Any) -> None:
        events.append({"kind": kind, "at": t0 + at_s, "at_s": at_s, **fields})

    if scenario == "worker-crash" and variant == "delegated":
        for i, share in enumerate((0.25, 0.5, 0.75)):
            add("worker_kill", duration_s * share, process=f"worker-{i + 1}", pid=1000 + i)
    if scenario in REDIS_RESTARTS:
        at = duration_s * 0.4
        add("redis_kill", at, process="redis", pid=900)
        appendonly = REDIS_RESTARTS[scenario]
        add("redis_restart", at + 1.0, process="redis", pid=901, appendonly=appendonly)
        add("worker_died", at + 1.0, process="worker-1", pid=1000, returncode=1)
    return events


def write_synthetic_run(
    path: Path,
    *,
    requests_per_run: int = 2000,
    duration_s: float = 30.0,
    scenarios: tuple[str, ...] = SCENARIO_NAMES,
    variants: tuple[str, ...] = DEFAULT_VARIANTS,
    repeats: int = 1,
    seed: int = 7,
    slower_s: dict[str, float] | None = None,
    floor_rate: float = 20.0,
    clock_offsets: dict[str, float] | None = None,
) -> Path:
    """`slower_s` adds seconds to every answer of a variant (a degraded build); `floor_rate`
    is the GET /noop rate of the floor measured before the scenarios (0: none);
    `clock_offsets` ({host: seconds}, e.g. PROVIDER_CLOCK) puts that host's times off the
    runner's clock by so much, and records the offsets as the runner measures them."""
    offsets = clock_offsets or {}
    rng = np.random.default_rng(seed)
    raw = path / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    t = 1_700_000_000.0
    runs, parts = [], []
    for repeat in range(repeats):
        for scenario in scenarios:
            order = variants if repeat % 2 == 0 else variants[::-1]
            for variant in order:
                frames = _one_run(rng, scenario, variant, repeat, t, requests_per_run, duration_s)
                frames[0]["end"] += (slower_s or {}).get(variant, 0.0)
                for column in ("first_at", "last_at"):
                    frames[1][column] += offsets.get(PROVIDER_CLOCK, 0.0)
                for column in ("intended_start", "start", "end"):
                    frames[0][column] += offsets.get(locust_worker_clock("0"), 0.0)
                load_end = t + duration_s
                drained_at = load_end + (0.5 if variant == "sync" else float(rng.uniform(1, 20)))
                runs.append(
                    {
                        "scenario": scenario,
                        "variant": variant,
                        "repeat": repeat,
                        "t0": t,
                        "load_end": load_end,
                        "drained_at": drained_at,
                        "drained": True,
                        "events": run_events(scenario, variant, t, duration_s),
                        CLOCK_OFFSETS: {h: {"offset_s": o} for h, o in offsets.items()},
                    }
                )
                parts.append(frames)
                t = drained_at + 5.0
    floor = [_floor(rng, v, floor_rate, t) for v in variants] if floor_rate else []
    parts[0] = (pd.concat([*floor, parts[0][0]], ignore_index=True), *parts[0][1:])
    names = ("requests", "deliveries", "jobs", "dead_letters", "queue_samples")
    for i, name in enumerate((*names, "process_samples", "pending")):
        pd.concat([p[i] for p in parts], ignore_index=True).to_csv(
            raw / f"{name}.csv", index=False, float_format="%.6f"
        )
    meta = {
        "schema_version": 1,
        "label": "synthetic",
        "started_at": runs[0]["t0"],
        "finished_at": t,
        "complete": True,
        "incomplete_reason": None,
        "git_sha": "0" * 40,
        "packages": {"numpy": np.__version__, "pandas": pd.__version__},
        "cpu": {"count": 2, "model": "synthetic"},
        "settings": {"poll_delay_s": 0.5, "max_tries": 5},
        "seed": seed,
        "scenarios": [
            {
                "name": s,
                "duration_s": duration_s,
                "load": {
                    "kind": "constant-arrival-rate",
                    "options": {"redelivery_share": 0.3, "second_event_share": 0.3}
                    if s == "webhook-redelivery"
                    else {},
                },
                "faults": base_faults(s),
                "timeline": timeline(s, duration_s),
            }
            for s in scenarios
        ],
        "runs": runs,
        "floor": [{"variant": v, "rate": floor_rate, "repeat": 0} for v in variants if floor_rate],
        "flags": [],
    }
    (path / "meta.json").write_text(json.dumps(meta, indent=2))
    return path


def _floor(rng: np.random.Generator, variant: str, rate: float, t0: float) -> pd.DataFrame:
    """Five seconds of GET /noop: about 2 ms, most of it the harness's own overhead."""
    n = int(rate * 5)
    intended = t0 + np.arange(n) / rate
    start = intended + rng.exponential(0.0002, n)
    return pd.DataFrame(
        {
            "scenario": FLOOR_SCENARIO,
            "variant": variant,
            "repeat": 0,
            "endpoint": "noop",
            "intended_start": intended,
            "start": start,
            "end": start + rng.lognormal(np.log(0.002), 0.3, n),
            "status": 200,
            "error": "",
            "request_id": [f"{i:032x}" for i in range(n)],
            "work_id": "",
            "registered": "",
        }
    )


def _intended(rng: np.random.Generator, scenario: str, n: int, duration_s: float) -> Floats:
    if scenario != "spike":
        return np.sort(rng.uniform(0.0, duration_s, n))
    # Four equal steps at 1x, 2x, 4x, 1x the base rate.
    weights = np.array([1.0, 2.0, 4.0, 1.0])
    step = rng.choice(4, size=n, p=weights / weights.sum())
    return np.sort((step + rng.uniform(0.0, 1.0, n)) * duration_s / 4)


def _one_run(
    rng: np.random.Generator,
    scenario: str,
    variant: str,
    repeat: int,
    t0: float,
    n: int,
    duration_s: float,
) -> tuple[pd.DataFrame, ...]:
    rel = _intended(rng, scenario, n, duration_s)
    webhooks = scenario in WEBHOOK_SCENARIOS
    if webhooks:
        endpoint = np.where(rng.random(n) < 0.9, "webhook", "noop")
    else:
        endpoint = rng.choice(["login", "verify", "noop"], size=n, p=[0.85, 0.1, 0.05])
    registered = np.where(endpoint == "login", np.where(rng.random(n) < 0.7, "true", "false"), "")
    sync = variant == "sync"
    window = [(e["at_s"], e["at_s"] + e["duration_s"]) for e in timeline(scenario, duration_s)]
    in_window = np.zeros(n, dtype=bool)
    for a, b in window:
        in_window |= (rel >= a) & (rel < b)
    median_s = {"slow-provider": 0.8}.get(scenario, 0.15)
    provider = rng.lognormal(np.log(median_s), 0.8 if scenario == "slow-provider" else 0.4, n)
    seats = rng.integers(1, 61, n)
    base = rng.lognormal(np.log(0.003), 0.4, n)
    lag = rng.exponential(0.0005, n)
    if scenario == "spike" and sync:
        load = np.interp(rel, [0, duration_s / 2, 0.75 * duration_s, duration_s], [0, 0, 1, 0])
        lag += load * rng.uniform(0.0, 0.5, n)
        base += load * rng.uniform(0.0, 2.0, n)
    slow = np.zeros(n)
    does_work = (endpoint == "login") & (registered == "true")
    if sync:
        slow = np.where(does_work, provider, 0.0)
        slow = np.where(endpoint == "webhook", seats * 0.02 + provider, slow)
    status = np.where(endpoint == "login", 202, 200)
    error = np.full(n, "", dtype=object)
    latency = base + slow
    if sync and scenario in OUTAGES:
        fails = in_window & does_work
        timeout = fails & (rng.random(n) < 0.4)
        status = np.where(fails, 503, status)
        latency = np.where(fails, 1.2 + rng.uniform(0, 0.3, n), latency)
        status = np.where(timeout, 0, status)
        error[timeout] = "timeout"
        latency = np.where(timeout, CLIENT_TIMEOUT_S, latency)
    if sync and scenario == "rate-limited":
        limited = does_work & (rng.random(n) < 0.2)
        status = np.where(limited, 503, status)
    if sync and scenario == "hung-ticket":
        hung = (endpoint == "webhook") & (rng.random(n) < 0.02)
        status = np.where(hung, 0, status)
        error[hung] = "timeout"
        latency = np.where(hung, CLIENT_TIMEOUT_S, latency)
    broken = rng.random(n) < 0.001
    status = np.where(broken, 0, status)
    error[broken] = "connection"
    start = t0 + rel + lag
    end = start + latency
    request_id = pd.Series(rng.integers(0, 2**62, n)).map("{:032x}".format).to_numpy()
    order = rng.integers(1, 5001, n)
    login, webhook = endpoint == "login", endpoint == "webhook"
    work_id = np.where(
        login, _ids(login_work_id, request_id, login), _ids(order_work_id, order, webhook)
    )
    requests = pd.DataFrame(
        {
            "scenario": scenario,
            "variant": variant,
            "repeat": repeat,
            "endpoint": endpoint,
            "intended_start": t0 + rel,
            "start": start,
            "end": end,
            "status": status,
            "error": error,
            "request_id": request_id,
            "work_id": work_id,
            "registered": registered,
        }
    )
    promised = (status >= 200) & (status < 300) & (does_work | (endpoint == "webhook"))
    first = ~pd.Series(np.where(promised, work_id, request_id)).duplicated().to_numpy()
    todo = promised & first
    # The sync variant sometimes sends an email for a request whose client gave up.
    todo |= sync & (error == "timeout") & does_work & (rng.random(n) < 0.5)
    if sync:
        first_at = end - 0.001
    else:
        first_at = end + rng.uniform(0.0, 0.5, n) + provider
        if scenario in OUTAGES:
            first_at = np.where(in_window, window[0][1] * 1.0 + t0 + rng.uniform(0, 5, n), first_at)
        if scenario in WEBHOOK_SCENARIOS:
            first_at += seats * 0.05
    dead_share = 0.5 if scenario == "long-outage" else 0.02
    dead = todo & (not sync) & in_window & (rng.random(n) < dead_share)
    lost_share = {"worker-crash": 0.002, "redis-restart-no-aof": 0.0 if sync else 0.05}
    lost = todo & (rng.random(n) < lost_share.get(scenario, 0.0))
    # A spike outruns the worker: the last requests' jobs are still queued when the run ends.
    queued = todo & (not sync) & (scenario == "spike") & (rel > 0.98 * duration_s)
    sent = todo & ~dead & ~lost & ~queued
    attempts = np.where(in_window & (not sync), rng.integers(1, 4, n), 1)
    if scenario == "lost-response":
        attempts = np.where(rng.random(n) < 0.2, 2, attempts)
    deliveries = pd.DataFrame(
        {
            "scenario": scenario,
            "variant": variant,
            "repeat": repeat,
            "message_id": request_id,
            "kind": np.where(endpoint == "login", "magic_link", "tickets"),
            "work_id": work_id,
            "request_id": request_id,
            "idempotency_key": np.where(
                login, _ids(magic_link_key, request_id, login), _ids(tickets_key, order, ~login)
            ),
            "to": "u***@example.com",
            "attempts": attempts,
            "first_at": first_at,
            "last_at": first_at + attempts - 1,
        }
    )[sent]
    doubled = deliveries[rng.random(len(deliveries)) < (0.003 if scenario == "worker-crash" else 0)]
    deliveries = pd.concat([deliveries, doubled], ignore_index=True)
    # A login's email is one send_magic_link job; an order's is its send_tickets job.
    function = np.where(login, SEND_MAGIC_LINK, SEND_TICKETS)
    job_id = np.where(
        login, _ids(login_job_id, request_id, login), _ids(send_tickets_job_id, order, webhook)
    )
    dead_letters = pd.DataFrame(
        {
            "scenario": scenario,
            "variant": variant,
            "repeat": repeat,
            "work_id": work_id,
            "function": function,
            "tries": 5,
            "reason": "gave up after 5 tries: provider answered 503",
            "at": first_at,
        }
    )[dead]
    # A try that dies with its worker leaves no row: the job's first row is its second try.
    crashed = (scenario == "worker-crash") & (rel > 0.25 * duration_s) & (rel < 0.27 * duration_s)
    jobs = pd.DataFrame(
        {
            "scenario": scenario,
            "variant": variant,
            "repeat": repeat,
            "job_id": job_id,
            "function": function,
            "try": np.where(crashed, 2, 1),
            "enqueued_at": end,
            "started_at": np.where(crashed, end + 12.0, end + 0.2),
            "ended_at": np.where(crashed, first_at + 12.0, first_at),
            "outcome": "ok",
            "work_id": work_id,
            "pid": np.where(crashed, 2000, 1000),
            "tickets_run": np.where(webhook, seats, 0),
        }
    )[sent & (not sync)]
    pending = pd.DataFrame(
        {
            "scenario": scenario,
            "variant": variant,
            "repeat": repeat,
            "job_id": job_id,
            "function": function,
            "work_id": work_id,
        }
    )[queued]
    ts = np.arange(0.0, duration_s + 10.0, 0.5)
    backlog = np.zeros(len(ts)) if sync else rng.poisson(3, len(ts)).astype(float)
    if not sync:
        for a, b in window:
            backlog += np.clip(ts - a, 0, None) * 20 * (ts < b) + (ts >= b) * np.clip(
                (b - a) * 20 - (ts - b) * 40, 0, None
            )
    queue = pd.DataFrame(
        {
            "scenario": scenario,
            "variant": variant,
            "repeat": repeat,
            "t": t0 + ts,
            "ready": np.round(backlog * 0.3),
            "deferred": np.round(backlog * 0.7),
            "in_progress": 0 if sync else np.minimum(10, rng.poisson(4, len(ts))),
        }
    )
    processes = ["target", "provider", "locust", "redis", *([] if sync else ["worker"])]
    seconds = np.arange(0.0, duration_s, 1.0)
    samples = pd.DataFrame(
        [
            {
                "scenario": scenario,
                "variant": variant,
                "repeat": repeat,
                "t": t0 + s,
                "process": p,
                "cpu_percent": float(rng.uniform(5, 90)),
                "rss_mb": float(rng.uniform(50, 200)),
            }
            for p in processes
            for s in seconds
        ]
    )
    return requests, deliveries, jobs, dead_letters, queue, samples, pending
