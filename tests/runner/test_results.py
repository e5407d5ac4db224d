"""Joining what clients were promised with what the provider received."""

from __future__ import annotations

import csv
import math
from datetime import UTC, datetime
from pathlib import Path

from runner.results import RawFiles, new_run_dir, percentile, point_latest, summarize


def request(
    work: str, status: int = 202, registered: str = "true", start: float = 10.0
) -> dict[str, str]:
    endpoint = "webhook" if work.startswith("order:") else "login"
    return {
        "endpoint": endpoint, "status": str(status), "start": str(start),
        "end": str(start + 0.1), "work_id": work, "registered": registered,
    }  # fmt: skip


def test_the_join_counts_promised_delivered_lost_duplicate_and_dead_work() -> None:
    requests = [
        request("login:a"),
        request("login:b"),
        request("login:c"),
        request("login:d"),
        request("login:e", registered="false"),  # unknown address: nothing owed
        request("login:f", status=503),  # an error promises nothing
        request("order:1"),
        request("order:1", start=11.0),  # a redelivery of the same order: still one email
    ]
    deliveries = [
        {"work_id": "login:a", "first_at": 10.5},
        {"work_id": "login:b", "first_at": 12.0},
        {"work_id": "login:b", "first_at": 13.0},  # a second email for one piece of work
        {"work_id": "order:1", "first_at": 10.2},
        {"work_id": "login:f", "first_at": 11.0},  # sent although the client saw an error
    ]
    dead = [{"work_id": "login:c"}]
    s = summarize("steady", "delegated", requests, deliveries, dead, load_s=2.0)
    assert (s.requests, s.errors) == (8, 1)
    assert s.expected == 5  # a, b, c, d, order:1
    assert s.delivered == 3 and s.dead_lettered == 1 and s.lost == 1 and s.duplicates == 1
    assert s.throughput_rps == 3.5
    assert s.completion_p99_ms == percentile([500.0, 2000.0, 200.0], 99) == 2000.0


def test_no_requests_gives_empty_percentiles() -> None:
    s = summarize("steady", "sync", [], [], [], load_s=1.0)
    assert s.expected == s.requests == 0 and math.isnan(s.p99_ms)


def test_a_run_folder_is_never_reused_and_latest_follows(tmp_path: Path) -> None:
    now = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    first = new_run_dir(tmp_path, "quick", now)
    second = new_run_dir(tmp_path, "quick", now)
    assert first.name == "20250102T030405Z-quick" and second.name == first.name + ".1"
    point_latest(tmp_path, first)
    point_latest(tmp_path, second)
    assert (tmp_path / "latest").resolve() == second.resolve()


def test_raw_files_have_the_contract_columns(tmp_path: Path) -> None:
    raw = RawFiles(tmp_path)
    row = {"scenario": "s", "variant": "v", "repeat": 0, "work_id": "w", "function": "f",
           "tries": 5, "reason": "r", "at": 1.5}  # fmt: skip
    raw.append("dead_letters", [row])
    with open(tmp_path / "raw" / "dead_letters.csv") as f:
        rows = list(csv.DictReader(f))
    assert rows == [{"scenario": "s", "variant": "v", "repeat": "0", "work_id": "w",
                     "function": "f", "tries": "5", "reason": "r", "at": "1.500000"}]  # fmt: skip
    header = (tmp_path / "raw" / "requests.csv").read_text().strip()
    assert header == (
        "scenario,variant,repeat,endpoint,intended_start,start,end,status,error,"
        "request_id,work_id,registered"
    )
