"""The results folder's raw files, and the join of requests to deliveries for the summary."""

from __future__ import annotations

import csv
import math
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.logs import mask

RUN_KEY = ("scenario", "variant", "repeat")
COLUMNS: dict[str, tuple[str, ...]] = {
    "requests": (
        *RUN_KEY, "endpoint", "intended_start", "start", "end", "status", "error",
        "request_id", "work_id", "registered",
    ),
    "deliveries": (
        *RUN_KEY, "message_id", "kind", "work_id", "request_id", "idempotency_key", "to",
        "attempts", "first_at", "last_at",
    ),
    "jobs": (
        *RUN_KEY, "job_id", "function", "try", "enqueued_at", "started_at", "ended_at",
        "outcome", "work_id", "pid",
    ),
    "dead_letters": (*RUN_KEY, "work_id", "function", "tries", "reason", "at"),
    "pending": (*RUN_KEY, "job_id", "function", "work_id"),
    "queue_samples": (*RUN_KEY, "t", "ready", "deferred", "in_progress"),
    "process_samples": (*RUN_KEY, "t", "process", "cpu_percent", "rss_mb"),
}  # fmt: skip
PROMISING_ENDPOINTS = ("login", "webhook")  # a 2xx there promises one email


def new_run_dir(results_dir: Path, label: str, now: datetime | None = None) -> Path:
    """results/<UTC timestamp>-<label>/, never one that exists already."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    base = f"{stamp}-{label}" if label else stamp
    results_dir.mkdir(parents=True, exist_ok=True)
    for n in range(1000):
        path = results_dir / (base if n == 0 else f"{base}.{n}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"no free folder name for {base} in {results_dir}")


def point_latest(results_dir: Path, run_dir: Path) -> None:
    link = results_dir / "latest"
    tmp = results_dir / f".latest.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(run_dir.name)
    tmp.replace(link)  # atomic: `latest` is never missing while it moves


class RawFiles:
    """Append-only CSVs under raw/, each with its header written once."""

    def __init__(self, run_dir: Path) -> None:
        self.raw = run_dir / "raw"
        self.raw.mkdir(parents=True, exist_ok=True)
        for name, columns in COLUMNS.items():
            path = self.path(name)
            if not path.exists():
                path.write_text(",".join(columns) + "\n")

    def path(self, name: str) -> Path:
        return self.raw / f"{name}.csv"

    def append(self, name: str, rows: Iterable[Mapping[str, Any]]) -> int:
        columns = COLUMNS[name]
        count = 0
        with open(self.path(name), "a", newline="") as f:
            writer = csv.DictWriter(f, columns, extrasaction="ignore", lineterminator="\n")
            for row in rows:
                writer.writerow({c: _cell(row.get(c)) for c in columns})
                count += 1
        return count

    def append_requests_file(self, source: Path) -> int:
        """Locust's raw CSV has the contract's columns already: copy its rows."""
        if not source.exists():
            return 0
        with open(source, newline="") as f:
            reader = csv.DictReader(f)
            return self.append("requests", reader)


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6f}"
    return value


def delivery_rows(messages: Sequence[Mapping[str, Any]], run: Mapping[str, Any]) -> list[Json]:
    return [
        {
            **run,
            "message_id": m.get("id"),
            "kind": m.get("kind"),
            "work_id": m.get("work_id"),
            "request_id": m.get("request_id"),
            "idempotency_key": m.get("idempotency_key"),
            "to": mask(str(m.get("to", ""))),
            "attempts": m.get("attempts"),
            "first_at": m.get("first_at"),
            "last_at": m.get("last_at"),
        }
        for m in messages
    ]


Json = dict[str, Any]


# The join: what the client was promised against what the provider received.


@dataclass(frozen=True)
class RunSummary:
    scenario: str
    variant: str
    requests: int
    errors: int
    throughput_rps: float
    p50_ms: float
    p99_ms: float
    expected: int
    delivered: int
    pending: int
    lost: int
    duplicates: int
    dead_lettered: int
    completion_p99_ms: float


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def promised(row: Mapping[str, Any]) -> bool:
    """A 2xx login of a registered address, or a 2xx payment webhook: one email is owed."""
    if row.get("endpoint") not in PROMISING_ENDPOINTS or not row.get("work_id"):
        return False
    if not 200 <= int(float(row.get("status") or 0)) < 300:
        return False
    return row.get("endpoint") != "login" or str(row.get("registered")).lower() == "true"


def summarize(
    scenario: str,
    variant: str,
    requests: Sequence[Mapping[str, Any]],
    deliveries: Sequence[Mapping[str, Any]],
    dead_letters: Sequence[Mapping[str, Any]],
    load_s: float,
    pending: Sequence[Mapping[str, Any]] = (),
) -> RunSummary:
    """Join one run's requests to its deliveries, dead letters and pending jobs by work id.

    Work neither delivered nor dead-lettered is pending while a job for it is still queued or
    running when the run stops waiting, and lost otherwise.
    """
    main = [r for r in requests if r.get("endpoint") in PROMISING_ENDPOINTS] or list(requests)
    errors = sum(1 for r in main if not 200 <= int(float(r.get("status") or 0)) < 300)
    latencies = [1000 * (float(r["end"]) - float(r["start"])) for r in main]
    asked_at: dict[str, float] = {}
    for r in requests:
        if promised(r):
            work = str(r["work_id"])
            asked_at[work] = min(asked_at.get(work, math.inf), float(r["start"]))
    sent = Counter(str(d.get("work_id")) for d in deliveries)
    first_sent: dict[str, float] = {}
    for d in deliveries:
        work = str(d.get("work_id"))
        first_sent[work] = min(first_sent.get(work, math.inf), float(d.get("first_at") or math.inf))
    dead = {str(d.get("work_id")) for d in dead_letters}
    delivered = [w for w in asked_at if sent[w] > 0]
    dead_lettered = [w for w in asked_at if sent[w] == 0 and w in dead]
    queued = {str(p.get("work_id")) for p in pending if p.get("work_id")}
    waiting = [w for w in asked_at if sent[w] == 0 and w not in dead and w in queued]
    completion = [
        1000 * (first_sent[w] - asked_at[w]) for w in delivered if math.isfinite(first_sent[w])
    ]
    return RunSummary(
        scenario=scenario,
        variant=variant,
        requests=len(main),
        errors=errors,
        throughput_rps=(len(main) - errors) / load_s if load_s > 0 else math.nan,
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
        expected=len(asked_at),
        delivered=len(delivered),
        pending=len(waiting),
        lost=len(asked_at) - len(delivered) - len(dead_lettered) - len(waiting),
        duplicates=sum(max(0, sent[w] - 1) for w in asked_at),
        dead_lettered=len(dead_lettered),
        completion_p99_ms=percentile(completion, 99),
    )
