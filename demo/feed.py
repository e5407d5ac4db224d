"""The page's numbers, once a second, from the measurements the benchmark itself uses.

Client latency comes from Locust's raw rows (tailed as they are flushed), the queue from Redis
as the runner samples it, retries and dead letters from the jobs' own event records, and the
work from the provider's capture joined to the requests by work id.
"""

from __future__ import annotations

import csv
import json
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import redis

from core.contracts import JOB_EVENTS_KEY, WORK_ENDPOINTS, raw_columns
from demo.faults import fault_name
from runner.sampling import queue_depth

WINDOW_S = 90.0  # what the charts show
RECENT_S = 5.0  # each point summarises the requests that ended in the last few seconds
MESSAGES_SLACK_S = 5.0  # re-read recent messages: a retried send updates its last_at


class Tail:
    """The complete lines appended to a CSV since the last read, as dicts by header."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.header: list[str] | None = None
        self.partial = b""

    def read(self) -> list[dict[str, str]]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return []
        self.offset += len(data)
        data, self.partial = (self.partial + data).rpartition(b"\n")[::2]
        lines = data.decode().splitlines()
        if self.header is None and lines:
            self.header = lines.pop(0).split(",")
        return [dict(zip(self.header or [], row, strict=False)) for row in csv.reader(lines)]


@dataclass
class VariantLog:
    """One variant's recent requests and its promised and delivered work."""

    ended: deque[tuple[float, float, bool]] = field(default_factory=deque)  # end, ms, ok
    requests: int = 0
    errors: int = 0
    promised: dict[str, float] = field(default_factory=dict)  # work id -> request start
    delivered: int = 0
    email_delays: deque[tuple[float, float]] = field(default_factory=deque)  # arrival, ms

    def point(self, now: float) -> dict[str, Any]:
        while self.ended and self.ended[0][0] < now - WINDOW_S:
            self.ended.popleft()
        while self.email_delays and self.email_delays[0][0] < now - WINDOW_S:
            self.email_delays.popleft()
        recent = [(ms, ok) for end, ms, ok in self.ended if end >= now - RECENT_S]
        ms = np.array([m for m, _ in recent])
        delays = np.array([d for _, d in self.email_delays])
        return {
            "p50_ms": _pct(ms, 50),
            "p99_ms": _pct(ms, 99),
            "answers_per_s": len(recent) / RECENT_S,
            "errors_per_s": sum(1 for _, ok in recent if not ok) / RECENT_S,
            "requests": self.requests,
            "errors": self.errors,
            "promised": len(self.promised),
            "delivered": self.delivered,
            "email_p50_ms": _pct(delays, 50),
            "email_p99_ms": _pct(delays, 99),
        }


def _pct(values: np.ndarray[Any, Any], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if len(values) else None


class Feed:
    def __init__(
        self, redis_url: str, queue_name: str, provider_url: str, variants: tuple[str, ...]
    ) -> None:
        self.redis = redis.Redis.from_url(redis_url, socket_timeout=1, socket_connect_timeout=1)
        self.queue_name = queue_name
        self.provider = httpx.Client(base_url=provider_url, timeout=2.0)
        self.logs = {name: VariantLog() for name in variants}
        self.tails: list[tuple[str, Tail]] = []
        self.arrived: dict[str, float] = {}  # work id -> first email's time at the provider
        self.unmatched: set[str] = set()  # promised work with no email yet
        self.messages_read_at = 0.0
        self.job_events_seen = 0
        self.job_outcomes: Counter[str] = Counter()
        self.history: deque[dict[str, Any]] = deque()
        self.bands: list[dict[str, Any]] = []  # {"fault", "start", "end"}: a fault's time span
        self.lock = threading.Lock()
        self.columns = raw_columns("requests")

    def watch(self, variant: str, raw_file: Path) -> None:
        self.tails.append((variant, Tail(raw_file)))

    def snapshot(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        with self.lock:
            return list(self.history), [dict(b) for b in self.bands]

    def tick(self) -> dict[str, Any]:
        now = time.time()
        for variant, tail in self.tails:
            self._add_requests(self.logs[variant], tail.read())
        self._add_messages(now)
        queue = self._queue(now)
        fault = self._fault()
        point = {
            "t": now,
            "variants": {name: log.point(now) for name, log in self.logs.items()},
            "queue": queue,
            "retries": self.job_outcomes["retry"],
            "dead_letters": self.job_outcomes["dead_letter"],
            "fault": fault,
        }
        with self.lock:
            self.history.append(point)
            while self.history[0]["t"] < now - WINDOW_S:
                self.history.popleft()
            self._track_band(fault, now)
        return point

    def _add_requests(self, log: VariantLog, rows: list[dict[str, str]]) -> None:
        for row in rows:
            end, start = float(row["end"]), float(row["start"])
            ok = row["error"] == ""
            log.ended.append((end, (end - start) * 1000, ok))
            log.requests += 1
            log.errors += not ok
            # The contract of `expected` work: a 2xx on a work endpoint for a registered address.
            if ok and row["endpoint"] in WORK_ENDPOINTS and row["registered"] == "true":
                log.promised[row["work_id"]] = start
                self.unmatched.add(row["work_id"])

    def _add_messages(self, now: float) -> None:
        since = self.messages_read_at - MESSAGES_SLACK_S
        try:
            found = self.provider.get("/control/messages", params={"since": since}).json()
        except (httpx.HTTPError, ValueError):
            return
        self.messages_read_at = now
        for message in found["messages"]:
            work_id = message.get("work_id")
            if work_id and work_id not in self.arrived:
                self.arrived[work_id] = float(message["first_at"])
        for work_id in [w for w in self.unmatched if w in self.arrived]:
            self.unmatched.discard(work_id)
            for log in self.logs.values():
                if work_id in log.promised:
                    log.delivered += 1
                    delay_ms = (self.arrived[work_id] - log.promised[work_id]) * 1000
                    log.email_delays.append((self.arrived[work_id], delay_ms))

    def _queue(self, now: float) -> dict[str, int] | None:
        try:
            depth = queue_depth(self.redis, self.queue_name, int(now * 1000))
            length = int(self.redis.llen(JOB_EVENTS_KEY))  # type: ignore[arg-type]
            if length < self.job_events_seen:  # Redis restarted without its file: start over
                self.job_events_seen = 0
            events = self.redis.lrange(JOB_EVENTS_KEY, self.job_events_seen, length - 1)
        except redis.RedisError:
            return None
        self.job_events_seen = length
        self.job_outcomes.update(json.loads(e)["outcome"] for e in events)  # type: ignore[union-attr]
        return depth

    def _fault(self) -> str:
        try:
            state = self.provider.get("/control/faults").json()
        except (httpx.HTTPError, ValueError):
            return "unreachable"
        return fault_name(state["base"])

    def _track_band(self, fault: str, now: float) -> None:
        open_band = self.bands[-1] if self.bands and self.bands[-1]["end"] is None else None
        if open_band is not None and open_band["fault"] != fault:
            open_band["end"] = now
            open_band = None
        if open_band is None and fault != "healthy":
            self.bands.append({"fault": fault, "start": now, "end": None})
        self.bands = [b for b in self.bands if b["end"] is None or b["end"] > now - WINDOW_S]

    def close(self) -> None:
        self.provider.close()
        self.redis.close()
