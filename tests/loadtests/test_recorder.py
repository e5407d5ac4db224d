from __future__ import annotations

import csv
import json
from pathlib import Path

import gevent

from core.contracts import raw_columns
from loadtests.recorder import (
    RawRecorder,
    create_raw_file,
    error_text,
    merge_stats,
    reset_stats,
    stats_path,
)


def test_rows_from_several_processes_share_one_csv(tmp_path: Path) -> None:
    path = tmp_path / "raw" / "requests.csv"
    create_raw_file(path)
    a = RawRecorder(path, "steady", "sync", 1)
    b = RawRecorder(path, "steady", "sync", 1)
    a.add(
        (
            "login",
            1700000000.1234561,
            1700000000.1,
            1700000000.25,
            202,
            "",
            "r1",
            "login:r1",
            "true",
        )
    )
    b.add(
        ("login", 1700000000.2, 1700000000.2, 1700000010.2, 0, "timeout", "r2", "login:r2", "false")
    )
    a.flush()
    b.close()
    a.add(("noop", 1.0, 2.0, 3.0, 503, "http 503, retry", "r3", "", ""))
    a.close()
    with path.open() as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == raw_columns("requests")
    assert [r["request_id"] for r in rows] == ["r1", "r2", "r3"]
    assert rows[0]["intended_start"] == "1700000000.123456"  # microseconds
    assert (rows[1]["status"], rows[1]["error"], rows[1]["registered"]) == ("0", "timeout", "false")
    assert rows[2]["error"] == "http 503, retry"
    assert (rows[2]["scenario"], rows[2]["variant"], rows[2]["repeat"]) == ("steady", "sync", "1")
    assert a.written == 2


def test_stats_file_merges_processes(tmp_path: Path) -> None:
    path = stats_path(tmp_path / "requests.csv")
    assert path.name == "requests.csv.stats.json"
    reset_stats(path)
    meta = {"scenario": "spike", "variant": "sync", "repeat": 0}
    for index, cpu in ((0, 40.0), (1, 95.0)):
        worker = {
            "worker_index": index,
            "slots_planned": 100,
            "slots_started": 98,
            "late_starts": 5,
            "dropped": 2,
            "rows": 98,
            "max_late_ms": 12.0 * (index + 1),
            "cpu_percent": cpu,
        }
        merge_stats(path, meta, worker)
    doc = json.loads(path.read_text())
    assert doc["schema_version"] == 1 and doc["scenario"] == "spike"
    assert sorted(doc["workers"]) == ["0", "1"]
    totals = doc["totals"]
    assert (totals["slots_planned"], totals["dropped"], totals["late_starts"]) == (200, 4, 10)
    assert (totals["max_late_ms"], totals["max_cpu_percent"]) == (24.0, 95.0)
    assert totals["generator_saturated"] is True


class RetriesExceeded(Exception):
    """Shaped like geventhttpclient's: the real cause in `original`."""

    def __init__(self, original: BaseException) -> None:
        super().__init__("retries exceeded")
        self.original = original


def test_error_column() -> None:
    assert error_text(202) == ""
    assert error_text(503) == "http 503"
    assert error_text(0, RetriesExceeded(TimeoutError("timed out"))) == "timeout"
    assert error_text(0, gevent.Timeout(1)) == "timeout"
    assert error_text(0, ConnectionRefusedError(111, "refused")) == "connection"
