"""Queue depth from Redis and each process tree's CPU and memory, sampled while a run goes."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import psutil
import redis

from runner.children import Child

if TYPE_CHECKING:
    from runner.queues import Queue

SAMPLE_INTERVAL_S = 0.5


def queue_depth(client: redis.Redis, queue_name: str, now_ms: int) -> dict[str, int]:
    """Ready jobs are due (score <= now), deferred ones wait for a retry or a delay."""
    ready: int = client.zcount(queue_name, "-inf", now_ms)  # type: ignore[assignment]
    deferred: int = client.zcount(queue_name, f"({now_ms}", "+inf")  # type: ignore[assignment]
    in_progress = sum(1 for _ in client.scan_iter(match="arq:in-progress:*", count=1000))
    return {"ready": ready, "deferred": deferred, "in_progress": in_progress}


class TreeMeter:
    """CPU% (of one core) and RSS of a process and all its descendants, between two calls."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._known: dict[int, psutil.Process] = {}

    def sample(self) -> tuple[float, float]:
        try:
            root = psutil.Process(self.pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0.0, 0.0
        cpu = rss = 0.0
        alive: dict[int, psutil.Process] = {}
        for proc in tree:
            # Keep the same Process object, so cpu_percent measures since the last sample.
            known = self._known.get(proc.pid, proc)
            try:
                cpu += known.cpu_percent(None)
                rss += known.memory_info().rss
            except psutil.Error:
                continue
            alive[proc.pid] = known
        self._known = alive
        return cpu, rss / 2**20


class Sampler:
    def __init__(self, redis_url: str | None) -> None:
        self.client = redis.Redis.from_url(redis_url, socket_timeout=2) if redis_url else None
        self.meters: dict[str, TreeMeter] = {}
        self.queue_rows: list[dict[str, Any]] = []
        self.process_rows: list[dict[str, Any]] = []
        self.next_at = 0.0
        self.locust_cpu_max = 0.0

    def due(self) -> bool:
        return time.monotonic() >= self.next_at

    def sample(
        self, run: Mapping[str, Any], children: Mapping[str, Child], queue: Queue | None
    ) -> None:
        """The run's queue (if it has one) and every child's process tree, once."""
        self.next_at = time.monotonic() + SAMPLE_INTERVAL_S
        now = time.time()
        if self.client is not None and queue is not None:
            try:
                depth = queue.depth(self.client, int(now * 1000))
            except redis.RedisError:
                depth = None
            if depth is not None:
                self.queue_rows.append({**run, "t": now, **depth})
        for name, child in children.items():
            if child.process is None:
                continue
            meter = self.meters.get(name)
            if meter is None or meter.pid != child.pid:
                meter = self.meters[name] = TreeMeter(child.pid)
                meter.sample()  # the first cpu_percent call only starts the clock
                continue
            cpu, rss_mb = meter.sample()
            self.process_rows.append(
                {
                    **run,
                    "t": now,
                    "process": name,
                    "cpu_percent": round(cpu, 1),
                    "rss_mb": round(rss_mb, 1),
                }
            )
            if name == "locust":
                self.locust_cpu_max = max(self.locust_cpu_max, cpu)

    def take(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        queue, processes = self.queue_rows, self.process_rows
        self.queue_rows, self.process_rows = [], []
        self.locust_cpu_max = 0.0
        return queue, processes

    def idle(self, queue: Queue | None) -> bool:
        """No job is queued, deferred or running (True when there is no queue to watch)."""
        if self.client is None or queue is None:
            return True
        try:
            depth = queue.depth(self.client, int(time.time() * 1000))
        except redis.RedisError:
            return False  # Redis is down (a scenario restarts it): not drained
        return not any(depth.values())

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
