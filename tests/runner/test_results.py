"""The results folder: never reused, `latest` follows, raw CSVs in the contract's columns."""

from __future__ import annotations

import csv
import socket
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from runner.results import RawFiles, new_run_dir, point_latest
from tests.runner.helpers import CWD, runner_argv


def test_a_run_folder_is_never_reused_and_latest_follows(tmp_path: Path) -> None:
    now = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    first = new_run_dir(tmp_path, "quick", now)
    second = new_run_dir(tmp_path, "quick", now)
    assert first.name == "20250102T030405Z-quick" and second.name == first.name + ".1"
    point_latest(tmp_path, first)
    point_latest(tmp_path, second)
    assert (tmp_path / "latest").resolve() == second.resolve()


def test_a_bench_that_fails_to_start_leaves_latest_on_the_last_run(
    tmp_path: Path, runner_env: dict[str, str]
) -> None:
    results = tmp_path / "results"
    good = new_run_dir(results, "good")
    point_latest(results, good)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        argv = runner_argv(
            "bench", "--results-dir", str(results), "--no-report", "--sync-port", port
        )
        done = subprocess.run(
            argv, env=runner_env, cwd=CWD, capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 2, done.stderr
    assert f"port {port} on 127.0.0.1 is in use" in done.stderr
    assert len(list(results.glob("*-bench"))) == 1  # the failed run is kept, marked incomplete
    assert (results / "latest").resolve() == good.resolve()


def test_raw_files_have_the_contract_columns(tmp_path: Path) -> None:
    raw = RawFiles(tmp_path)
    row = {
        "scenario": "s",
        "variant": "v",
        "repeat": 0,
        "work_id": "w",
        "function": "f",
        "tries": 5,
        "reason": "r",
        "at": 1.5,
    }
    raw.append("dead_letters", [row])
    with open(tmp_path / "raw" / "dead_letters.csv") as f:
        rows = list(csv.DictReader(f))
    assert rows == [
        {
            "scenario": "s",
            "variant": "v",
            "repeat": "0",
            "work_id": "w",
            "function": "f",
            "tries": "5",
            "reason": "r",
            "at": "1.500000",
        }
    ]
    header = (tmp_path / "raw" / "requests.csv").read_text().strip()
    assert header == (
        "scenario,variant,repeat,endpoint,intended_start,start,end,status,error,"
        "request_id,work_id,registered,worker"
    )
