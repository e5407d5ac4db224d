"""The collect phase: a finished run's requests, pending jobs, emails, tries and samples to raw/."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from core.contracts import JOB_EVENTS_KEY, order_of_work
from core.db import Store
from queues.base import PendingJob
from runner.generator import read_rows
from runner.results import RawFiles, delivery_rows
from runner.stack import Stack
from runner.state import RunState

Control = Callable[[str, str, Any], Any]  # the provider's control API


class Collector:
    def __init__(self, run_dir: Path, stack: Stack, store: Store, control: Control) -> None:
        self.raw = RawFiles(run_dir)
        self.stack = stack
        self.store = store
        self.control = control

    def collect(
        self,
        run: RunState,
        raw_out: Path,
        queue_samples: list[dict[str, Any]],
        process_samples: list[dict[str, Any]],
    ) -> str:
        """Append everything; what was collected, in words."""
        tag = run.tag
        rows = read_rows(raw_out)
        requests = self.raw.append("requests", rows)
        raw_out.unlink(missing_ok=True)
        # Before the provider's capture: a job that ends in between is then delivered, never
        # counted lost for having left the queue after the snapshot.
        pending: list[PendingJob] = run.queue.pending() if run.queue is not None else []
        self.raw.append("pending", ({**tag, **p} for p in pending))
        messages = self.control("GET", "/control/messages", None)["messages"]
        deliveries = self.raw.append("deliveries", delivery_rows(messages, tag))
        with redis.Redis.from_url(self.stack.redis_url) as client:
            events = [json.loads(e) for e in client.lrange(JOB_EVENTS_KEY, 0, -1)]
        self.raw.append("jobs", ({**tag, **e} for e in events))
        self.raw.append("dead_letters", ({**tag, **d} for d in self.store.dead_letters()))
        self.raw.append("orders", self.order_rows(rows, tag))
        self.raw.append("queue_samples", queue_samples)
        self.raw.append("process_samples", process_samples)
        return f"{requests} requests, {deliveries} emails, {len(pending)} jobs still queued"

    def order_rows(self, rows: list[dict[str, str]], tag: dict[str, Any]) -> list[dict[str, Any]]:
        """The orders the run's webhooks named, as the store holds them now: the analysis needs
        their seats, and when they were paid and their tickets emailed."""
        ids = {order_of_work(r["work_id"]) for r in rows if r["endpoint"] == "webhook"}
        orders = (self.store.order(i) for i in sorted(i for i in ids if i is not None))
        return [
            {
                **tag,
                "order_id": o.id,
                "seats": o.seats,
                "paid_at": o.paid_at,
                "tickets_sent_at": o.tickets_sent_at,
            }
            for o in orders
            if o is not None
        ]
