"""`python -m runner bench` end to end against the real stack, and when a child dies mid-run."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil

from runner.processes import port_free
from runner.results import COLUMNS
from tests.runner.helpers import CWD, gone, runner_argv, wait_for


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


def test_unknown_scenario_is_one_line_and_exit_2(
    tmp_path: Path, runner_env: dict[str, str]
) -> None:
    done = subprocess.run(bench_argv(tmp_path, "--scenarios", "steady,nope"), env=runner_env,
                          cwd=CWD, capture_output=True, text=True, timeout=30)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: unknown scenario nope: choose from steady, slow-provider, outage, rate-limited,"
        " spike, webhook-burst, hung-ticket, worker-crash"
    )
    assert not list(tmp_path.iterdir())  # nothing started, nothing written


def test_a_child_dying_mid_run_stops_everything_and_keeps_an_incomplete_run(
    tmp_path: Path, runner_env: dict[str, str]
) -> None:
    results = tmp_path / "results"
    argv = bench_argv(results, "--quick", "--scenarios", "steady", "--duration-s", "20")
    proc = subprocess.Popen(argv, env=runner_env, cwd=CWD, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    meta_path = results / "latest" / "meta.json"

    def loaded() -> dict[str, Any]:
        try:
            meta: dict[str, Any] = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            return {}
        return meta

    try:
        wait_for(lambda: "stack" in loaded() or proc.poll() is not None, 60, "the stack")
        wait_for(lambda: bool(list((results / "latest" / "raw" / "locust").glob("*.csv")))
                 or proc.poll() is not None, 60, "the load")  # fmt: skip
        stack = loaded()["stack"]
        pids: dict[str, int] = stack["pids"]
        locust = [
            p.pid for p in psutil.Process(proc.pid).children() if "locust" in " ".join(p.cmdline())
        ]
        os.kill(pids["provider"], signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 1, err
    assert "error: provider was killed by signal 9" in err and "Traceback" not in err
    meta = loaded()
    assert meta["complete"] is False and "provider was killed" in meta["incomplete_reason"]
    assert all(gone(pid) for pid in [*pids.values(), *locust])
    for variant in ("sync", "delegated"):
        port = urlsplit(stack["urls"][variant]).port
        assert port is not None and port_free("127.0.0.1", port)
