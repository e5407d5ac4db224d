"""Raw per-request rows (exact times, not Locust's rounded buckets) and the generator's stats file.

Rows are tuples appended to a list (about a microsecond per request); formatting and writing
happen in batches, each in a single write() on an O_APPEND descriptor, so batches never
interleave within a line. In distributed mode only the master writes: workers ship their rows
to it over Locust's own messages (loadtests.distributed), so no file system is shared.
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import gevent

from core.contracts import raw_columns

COLUMNS = raw_columns("requests")
STATS_SCHEMA_VERSION = 1
# At or above this CPU share of one core the generator, not the target, may set the pace.
SATURATED_CPU_PERCENT = 90.0

# endpoint, intended_start, start, end, status, error, request_id, work_id, registered
Row = tuple[str, float, float, float, int, str, str, str, str]


def error_text(status: int, exc: BaseException | None = None) -> str:
    """The error column: empty for a 2xx, `http <status>`, or `timeout`/`connection` (status 0)."""
    if 200 <= status < 300:
        return ""
    if status:
        return f"http {status}"
    # geventhttpclient wraps a timeout in RetriesExceeded(original=...), even with no retries.
    cause = getattr(exc, "original", None) or exc
    return "timeout" if isinstance(cause, gevent.Timeout | TimeoutError) else "connection"


def stats_path(raw_out: str | Path) -> Path:
    return Path(f"{raw_out}.stats.json")


def create_raw_file(path: str | Path) -> None:
    """Start a fresh CSV holding only the header (done once, by the master or the only process)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(",".join(COLUMNS) + "\n")


class Recorder(Protocol):
    """Where a process's rows go: BenchUser appends to `rows`, a loop calls `flush`."""

    rows: list[Row]
    written: int

    def flush(self) -> int: ...

    def close(self) -> None: ...


class RawRecorder:
    def __init__(
        self, path: str | Path, scenario: str, variant: str, repeat: int, worker: str = "0"
    ) -> None:
        self.path = Path(path)
        self.prefix = (scenario, variant, str(repeat))
        self.worker = worker
        self.rows: list[Row] = []
        self.written = 0
        self._fd: int | None = None

    def add(self, row: Row) -> None:
        self.rows.append(row)

    def flush(self) -> int:
        rows, self.rows = self.rows, []
        return self.write(rows, self.worker)

    def write(self, rows: Sequence[Sequence[Any]], worker: str) -> int:
        """Append rows (tuples, or lists as a message carried them) made by one worker."""
        if not rows:
            return 0
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        prefix = self.prefix
        writer.writerows(
            (
                *prefix,
                endpoint,
                f"{intended:.6f}",
                f"{start:.6f}",
                f"{end:.6f}",
                status,
                error,
                rid,
                work_id,
                registered,
                worker,
            )
            for endpoint, intended, start, end, status, error, rid, work_id, registered in rows
        )
        data = out.getvalue().encode()
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        self.written += len(rows)
        return len(rows)

    def close(self) -> None:
        self.flush()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def reset_stats(path: str | Path) -> None:
    Path(path).write_text(json.dumps({"schema_version": STATS_SCHEMA_VERSION, "workers": {}}))


def merge_stats(path: str | Path, meta: dict[str, Any], worker: dict[str, Any]) -> dict[str, Any]:
    """Add one process's numbers under a file lock and recompute the totals; returns the file."""
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        try:
            doc: dict[str, Any] = json.loads(f.read() or "{}")
        except json.JSONDecodeError:
            doc = {}
        workers: dict[str, Any] = doc.get("workers", {})
        workers[str(worker["worker_index"])] = worker
        doc = {"schema_version": STATS_SCHEMA_VERSION, **meta, "totals": _totals(workers)}
        doc["workers"] = workers
        f.seek(0)
        f.truncate()
        f.write(json.dumps(doc, indent=2, sort_keys=False) + "\n")
        f.flush()
    return doc


def _totals(workers: dict[str, Any]) -> dict[str, Any]:
    entries = list(workers.values())
    summed = ("slots_planned", "slots_started", "late_starts", "dropped", "rows")
    totals: dict[str, Any] = {k: sum(int(w.get(k, 0)) for w in entries) for k in summed}
    totals["max_late_ms"] = max((float(w.get("max_late_ms", 0.0)) for w in entries), default=0.0)
    cpu = max((float(w.get("cpu_percent", 0.0)) for w in entries), default=0.0)
    totals["max_cpu_percent"] = cpu
    totals["generator_saturated"] = cpu >= SATURATED_CPU_PERCENT
    totals["processes"] = len(entries)
    totals["peak_users"] = sum(int(w.get("peak_users", 0)) for w in entries)
    totals["max_users"] = sum(int(w.get("max_users", 0)) for w in entries)
    return totals
