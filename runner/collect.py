"""The collect phase: a finished run's requests, pending jobs, emails, tries and samples to raw/."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import redis

from core.contracts import JOB_EVENTS_KEY, order_of_work
from core.db import Store
from runner.generator import read_rows
from runner.results import RawFiles, delivery_rows
from runner.stack import Stack
from runner.state import RunState

Control = Callable[[str, str, Any], Any]  # the provider's control API
# A run to collect: its state, Locust's raw rows, and its queue and process samples.
Part = tuple[RunState, Path, list[dict[str, Any]], list[dict[str, Any]]]


class Collector:
    def __init__(self, run_dir: Path, stack: Stack, store: Store, control: Control) -> None:
        self.raw = RawFiles(run_dir)
        self.stack = stack
        self.store = store
        self.control = control

    def collect(self, runs: Sequence[Part]) -> list[str]:
        """Append everything of each run; what was collected of each, in words.

        Runs side by side share the provider, the job records and the store: each takes the
        rows of the work its own requests named (a login's work id names its variant's run).
        """
        # Before the provider's capture: a job that ends in between is then delivered, never
        # counted lost for having left the queue after the snapshot.
        pending = [run.queue.pending() if run.queue is not None else [] for run, *_ in runs]
        messages = self.control("GET", "/control/messages", None)["messages"]
        with redis.Redis.from_url(self.stack.redis_url) as client:
            events = [json.loads(e) for e in client.lrange(JOB_EVENTS_KEY, 0, -1)]
        dead = self.store.dead_letters()
        said = []
        for (run, raw_out, queue_samples, process_samples), waiting in zip(
            runs, pending, strict=True
        ):
            tag = run.tag
            rows = read_rows(raw_out)
            works = {r["work_id"] for r in rows if r["work_id"]}

            def mine(row: Mapping[str, Any], works: set[str] = works) -> bool:
                return len(runs) == 1 or row.get("work_id") in works

            requests = self.raw.append("requests", rows)
            raw_out.unlink(missing_ok=True)
            self.raw.append("pending", ({**tag, **p} for p in waiting))
            sent = [m for m in messages if mine(m)]
            deliveries = self.raw.append("deliveries", delivery_rows(sent, tag))
            self.raw.append("jobs", ({**tag, **e} for e in events if mine(e)))
            self.raw.append("dead_letters", ({**tag, **d} for d in dead if mine(d)))
            self.raw.append("orders", self.order_rows(rows, tag))
            self.raw.append("queue_samples", queue_samples)
            self.raw.append("process_samples", process_samples)
            said.append(
                f"{requests} requests, {deliveries} emails, {len(waiting)} jobs still queued"
            )
        return said

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
