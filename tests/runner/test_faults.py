"""Any child dying mid-run, or Ctrl-C: everything stops, nothing is left, the run is kept."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import psutil
import pytest

from runner.children import port_free
from tests.runner.helpers import CWD, gone, quick_bench_argv, wait_for

# What to kill, and how the runner's one-line message names it. "worker" is worker-1: a worker
# dying outside a worker-crash scenario is a fault of the harness, not a measurement.
VICTIMS = {
    "redis": "redis was killed by signal 9",
    "provider": "provider was killed by signal 9",
    "target-sync": "target-sync was killed by signal 9",
    "target-delegated": "target-delegated was killed by signal 9",
    "worker-1": "worker-1 was killed by signal 9",
    "locust": "locust was killed by signal 9",
    "SIGINT": "interrupted by SIGINT",
}


def run_folder(results: Path) -> Path | None:
    """The bench's results folder (`latest` moves only once a run has measured something)."""
    return next((p.parent for p in results.glob("*/meta.json")), None)


def read_meta(results: Path) -> dict[str, Any]:
    folder = run_folder(results)
    try:
        meta: dict[str, Any] = json.loads((folder / "meta.json").read_text()) if folder else {}
    except (OSError, ValueError):
        return {}
    return meta


def listening_ports(tree: list[psutil.Process]) -> set[int]:
    ports = set()
    for proc in tree:
        try:
            connections = proc.net_connections(kind="inet")
        except psutil.Error:
            continue
        ports |= {c.laddr.port for c in connections if c.status == psutil.CONN_LISTEN}
    return ports


@pytest.mark.parametrize("victim", list(VICTIMS))
def test_a_fault_mid_run_stops_everything_and_keeps_an_incomplete_run(
    victim: str, tmp_path: Path, runner_env: dict[str, str]
) -> None:
    results = tmp_path / "results"
    argv = quick_bench_argv(
        results,
        "--no-report",
        "--scenarios",
        "steady",
        "--duration-s",
        "30",
    )
    proc = subprocess.Popen(
        argv, env=runner_env, cwd=CWD, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        # The load has started: each Locust writes its raw file when its test starts.
        def started() -> bool:
            return len(list(results.glob("*/raw/locust/*.requests.csv"))) == 2

        wait_for(lambda: started() or proc.poll() is not None, 60, "the load")
        assert proc.poll() is None, proc.communicate()
        tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        ports = listening_ports(tree)
        pids = {**read_meta(results)["stack"]["pids"]}
        pids["locust"] = next(p.pid for p in tree if "locust" in " ".join(p.cmdline()))
        assert len(ports) >= 4  # redis, provider, both targets
        if victim == "SIGINT":
            proc.send_signal(signal.SIGINT)
        else:
            os.kill(pids[victim], signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == (130 if victim == "SIGINT" else 1), err
    assert "Traceback" not in err
    (line,) = [x for x in err.splitlines() if x.startswith("error:")]
    assert line.startswith(f"error: {VICTIMS[victim]}") and "partial results kept" in line
    meta = read_meta(results)
    assert meta["complete"] is False and VICTIMS[victim] in meta["incomplete_reason"]
    assert meta["finished_at"] is not None
    # The load's rows so far are kept; `latest` stays where it was, as nothing was measured.
    folder = run_folder(results)
    assert folder is not None and not (results / "latest").exists()
    assert len(list(folder.glob("raw/locust/*.requests.csv"))) == 2
    assert all(gone(p.pid) for p in tree[1:])
    assert all(port_free("127.0.0.1", port) for port in ports)
