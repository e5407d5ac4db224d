"""`python -m runner bench` end to end against the real stack (faults: test_faults.py)."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

from runner.results import COLUMNS
from tests.runner.helpers import CWD, runner_argv


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def bench_argv(results: Path, *extra: str) -> list[str]:
    return runner_argv("bench", "--results-dir", str(results), "--no-report", *extra)


def test_a_tiny_scenario_for_both_variants_writes_the_results_folder(
    tmp_path: Path, runner_env: dict[str, str]
) -> None:
    results = tmp_path / "results"
    argv = bench_argv(results, "--quick", "--scenarios", "steady", "--duration-s", "2",
                      "--label", "e2e")  # fmt: skip
    done = subprocess.run(argv, env=runner_env, cwd=CWD, capture_output=True, text=True,
                          timeout=90)  # fmt: skip
    assert done.returncode == 0, done.stderr
    run = (results / "latest").resolve()
    assert run.name.endswith("-e2e")
    meta = json.loads((run / "meta.json").read_text())
    assert meta["schema_version"] == 1 and meta["complete"] is True
    assert meta["incomplete_reason"] is None
    assert meta["settings"]["webhook_secret"] == "***"
    assert meta["scenarios"][0]["name"] == "steady" and meta["seed"] == 1
    runs = meta["runs"]
    assert [(r["variant"], r["drained"]) for r in runs] == [("sync", True), ("delegated", True)]
    for r in runs:
        assert r["t0"] < r["load_end"] <= r["drained_at"]
    for name, columns in COLUMNS.items():
        with open(run / "raw" / f"{name}.csv") as f:
            assert tuple(next(csv.reader(f))) == columns
    requests = read_csv(run / "raw" / "requests.csv")
    assert {r["variant"] for r in requests} == {"sync", "delegated"}
    deliveries = read_csv(run / "raw" / "deliveries.csv")
    assert deliveries and all("***@" in d["to"] for d in deliveries)
    promised = {
        r["work_id"]
        for r in requests
        if r["endpoint"] == "login" and r["status"] == "202" and r["registered"] == "true"
    }
    assert promised <= {d["work_id"] for d in deliveries}  # nothing lost on a good day
    jobs = read_csv(run / "raw" / "jobs.csv")
    assert jobs and {j["variant"] for j in jobs} == {"delegated"}
    assert read_csv(run / "raw" / "queue_samples.csv")
    processes = {p["process"] for p in read_csv(run / "raw" / "process_samples.csv")}
    assert {"locust", "target-sync", "target-delegated", "provider"} <= processes
    assert list((run / "raw" / "locust").glob("steady-sync-0_stats.csv"))
    assert "steady" in done.stderr and "delegated" in done.stderr
