"""The run's queue depth and each process tree's CPU and memory, sampled while a run goes."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping, Sequence
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


Tag = Mapping[str, Any]  # a run's scenario, variant and repeat


class Sampler:
    """Samples the runs going on side by side; each run takes its own rows when it ends."""

    def __init__(self) -> None:
        self.meters: dict[int, TreeMeter] = {}  # by pid: runs side by side share processes
        self.queue_rows: list[dict[str, Any]] = []
        self.process_rows: list[dict[str, Any]] = []
        self.next_at = 0.0
        self.locust_cpu_max: dict[tuple[Any, ...], float] = {}

    def due(self) -> bool:
        return time.monotonic() >= self.next_at

    def sample(self, runs: Sequence[tuple[Tag, Mapping[str, Child], Queue | None]]) -> None:
        """Each run's queue (if it has one) and each of its children's process trees, once:
        a process two runs share is measured once and written in both."""
        self.next_at = time.monotonic() + SAMPLE_INTERVAL_S
        now = time.time()
        measured: dict[int, tuple[float, float] | None] = {}
        for tag, children, queue in runs:
            if queue is not None:
                with contextlib.suppress(QueueUnavailable):  # a scenario stopped its server
                    self.queue_rows.append({**tag, "t": now, **queue.depth()})
            for name, child in children.items():
                if child.process is None:
                    continue
                if child.pid not in measured:
                    measured[child.pid] = self.measure(child.pid)
                reading = measured[child.pid]
                if reading is None:
                    continue
                cpu, rss_mb = reading
                self.process_rows.append(
                    {
                        **tag,
                        "t": now,
                        "process": name,
                        "cpu_percent": round(cpu, 1),
                        "rss_mb": round(rss_mb, 1),
                    }
                )
                if name == "locust":
                    key = tuple(tag.values())
                    self.locust_cpu_max[key] = max(self.locust_cpu_max.get(key, 0.0), cpu)

    def measure(self, pid: int) -> tuple[float, float] | None:
        """CPU% and RSS since the last sample; None the first time (cpu_percent's first call
        only starts its clock)."""
        meter = self.meters.get(pid)
        if meter is None:
            meter = self.meters[pid] = TreeMeter(pid)
            meter.sample()
            return None
        return meter.sample()

    def take(self, tag: Tag) -> tuple[list[dict[str, Any]], list[dict[str, Any]], float]:
        """A run's queue and process rows, and its load generator's highest CPU%."""

        def mine(row: Mapping[str, Any]) -> bool:
            return all(row[k] == v for k, v in tag.items())

        queue = [r for r in self.queue_rows if mine(r)]
        processes = [r for r in self.process_rows if mine(r)]
        self.queue_rows = [r for r in self.queue_rows if not mine(r)]
        self.process_rows = [r for r in self.process_rows if not mine(r)]
        return queue, processes, self.locust_cpu_max.pop(tuple(tag.values()), 0.0)
