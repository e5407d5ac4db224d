"""The run's queue depth and each process tree's CPU and memory, sampled while a run goes."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from typing import Any

import psutil

from queues.base import Queue, QueueUnavailable
from runner.children import Child

SAMPLE_INTERVAL_S = 0.5


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
    def __init__(self) -> None:
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
        if queue is not None:
            with contextlib.suppress(QueueUnavailable):  # a scenario stopped its server
                self.queue_rows.append({**run, "t": now, **queue.depth()})
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
