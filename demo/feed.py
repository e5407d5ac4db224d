"""The page's numbers, once a second, from the measurements the benchmark itself uses.

Client latency comes from Locust's raw rows (tailed as they are flushed), the queues' depth as
the runner samples it, retries and dead letters from the jobs' own event records, and the
work is counted by the analysis (demo/work.py) from those rows and the provider's capture.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import redis

from analysis.metrics.timing import is_success
from core.contracts import JOB_EVENTS_KEY
from demo.faults import fault_name
from demo.traces import SlowTrace, SlowTraces
from demo.work import WorkBook, read_requests
from queues.base import Depth, PendingJob, Queue, QueueUnavailable

WINDOW_S = 90.0  # what the charts show
RECENT_S = 5.0  # each point summarises the requests that ended in the last few seconds
MESSAGES_SLACK_S = 5.0  # re-read recent messages: a retried send updates its last_at


class Tail:
    """The complete lines appended to a CSV since the last read, as CSV text with its header."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.header = ""
        self.partial = b""

    def read(self) -> str:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return ""
        self.offset += len(data)
        complete, newline, self.partial = (self.partial + data).rpartition(b"\n")
        lines = (complete + newline).decode().splitlines(keepends=True)
        if not self.header and lines:
            self.header = lines.pop(0)
        return self.header + "".join(lines) if lines else ""


@dataclass
class Latency:
    """One variant's recent requests: what its clients saw."""

    ended: deque[tuple[float, float, bool]] = field(default_factory=deque)  # end, ms, ok
    requests: int = 0
    errors: int = 0

    def add(self, rows: pd.DataFrame) -> None:
        ok = is_success(rows).to_numpy()
        ms = ((rows["end"] - rows["start"]) * 1000).to_numpy()
        self.ended.extend(
            zip(rows["end"].to_numpy().tolist(), ms.tolist(), ok.tolist(), strict=True)
        )
        self.requests += len(rows)
        self.errors += int((~ok).sum())

    def point(self, now: float) -> dict[str, Any]:
        while self.ended and self.ended[0][0] < now - WINDOW_S:
            self.ended.popleft()
        recent = [(ms, ok) for end, ms, ok in self.ended if end >= now - RECENT_S]
        ms = np.array([m for m, _ in recent])
        return {
            "p50_ms": _pct(ms, 50),
            "p99_ms": _pct(ms, 99),
            "answers_per_s": len(recent) / RECENT_S,
            "errors_per_s": sum(1 for _, ok in recent if not ok) / RECENT_S,
            "requests": self.requests,
            "errors": self.errors,
        }


def _pct(values: np.ndarray[Any, Any], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if len(values) else None


class Feed:
    def __init__(
        self,
        redis_url: str,
        queues: list[Queue],
        provider_url: str,
        variants: tuple[str, ...],
        traces: SlowTraces | None = None,
    ) -> None:
        self.redis = redis.Redis.from_url(redis_url, socket_timeout=1, socket_connect_timeout=1)
        self.queues = queues  # the variants' queues that can be watched from outside
        self.provider = httpx.Client(base_url=provider_url, timeout=2.0)
        self.latency = {name: Latency() for name in variants}
        self.work = WorkBook(variants)
        self.counted = self.work.count([])
        self.tails: list[tuple[str, Tail]] = []
        self.messages_read_at = 0.0
        self.job_events_seen = 0
        self.job_outcomes: Counter[str] = Counter()
        self.history: deque[dict[str, Any]] = deque()
        self.bands: list[dict[str, Any]] = []  # {"fault", "start", "end"}: a fault's time span
        self.lock = threading.Lock()
        self.traces = traces  # the stack's span files, when it is traced
        self.slow: SlowTrace | None = None

    @property
    def variants(self) -> list[str]:
        return list(self.latency)

    def watch(self, variant: str, raw_file: Path) -> None:
        self.tails.append((variant, Tail(raw_file)))

    def slowest(self) -> SlowTrace | None:
        """The latest delivery slower than SLOW_S, from its trace."""
        with self.lock:
            return self.slow

    def snapshot(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        with self.lock:
            return list(self.history), [dict(b) for b in self.bands]

    def tick(self) -> dict[str, Any]:
        now = time.time()
        for variant, tail in self.tails:
            rows = read_requests(tail.read())
            self.latency[variant].add(rows)
            self.work.add_requests(rows)
        # In this order, as the runner collects: requests, the queue, then the emails.
        queue, pending = self._queue(now)
        self._add_messages(now)
        if pending is not None:  # Redis unreachable: keep the last count rather than guess
            self.counted = self.work.count(pending)
        fault = self._fault()
        slow = self.traces.read() if self.traces is not None else None
        point = {
            "t": now,
            "variants": {
                name: {**log.point(now), **self.counted[name]} for name, log in self.latency.items()
            },
            "queue": queue,
            "retries": self.job_outcomes["retry"],
            "fault": fault,
        }
        with self.lock:
            self.slow = slow
            self.history.append(point)
            while self.history[0]["t"] < now - WINDOW_S:
                self.history.popleft()
            self._track_band(fault, now)
        return point

    def _add_messages(self, now: float) -> None:
        since = self.messages_read_at - MESSAGES_SLACK_S
        try:
            found = self.provider.get("/control/messages", params={"since": since}).json()
        except (httpx.HTTPError, ValueError):
            return
        self.messages_read_at = now
        self.work.add_messages(found["messages"])

    def _queue(self, now: float) -> tuple[Depth | None, list[PendingJob] | None]:
        """The queues' depth, summed, and their pending jobs; the job events since the last
        call."""
        depth: Depth = {"ready": 0, "deferred": 0, "in_progress": 0}
        pending: list[PendingJob] = []
        try:
            for queue in self.queues:
                for key, n in queue.depth().items():
                    depth[key] += n  # type: ignore[literal-required]
                pending += queue.pending()
            length = int(self.redis.llen(JOB_EVENTS_KEY))  # type: ignore[arg-type]
            if length < self.job_events_seen:  # Redis restarted without its file: start over
                self.job_events_seen = 0
            raw = self.redis.lrange(JOB_EVENTS_KEY, self.job_events_seen, length - 1)
        except (QueueUnavailable, redis.RedisError):
            return None, None
        self.job_events_seen = length
        events = [json.loads(e) for e in raw]  # type: ignore[union-attr]
        self.job_outcomes.update(e["outcome"] for e in events)
        self.work.add_job_events(events)
        return depth, pending

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
