"""Every run starts clean: work a past run left running never lands in the next one."""

from __future__ import annotations

import csv
import json
import subprocess
from collections import defaultdict
from pathlib import Path

from tests.runner.helpers import CWD, quick_bench_argv

FREE_PORTS = ["--provider-port", "0", "--sync-port", "0", "--delegated-port", "0"]


def kinds(path: Path) -> dict[str, set[str]]:
    """The kinds of email each run's provider capture holds (one variant, one repeat here)."""
    by_run: dict[str, set[str]] = defaultdict(set)
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            by_run[row["scenario"]].add(row["kind"])
    return by_run


def test_a_sync_handler_its_client_gave_up_on_writes_nothing_into_the_next_run(
    tmp_path: Path, runner_env: dict[str, str]
) -> None:
    # Tickets of 1 s: webhook-burst's sync handlers, one seat after another, outlive the load
    # and their clients. Before the fix the next run (the same env: no restart) got their
    # tickets emails, after its own reset.
    results = tmp_path / "results"
    argv = quick_bench_argv(
        results,
        *FREE_PORTS,
        "--no-report",
        "--variants",
        "sync",
        "--scenarios",
        "webhook-burst,lost-response",
        "--duration-s",
        "3",
    )
    env = {**runner_env, "TICKET_WORK_S": "1"}
    done = subprocess.run(argv, env=env, cwd=CWD, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    run_dir = (results / "latest").resolve()
    sent = kinds(run_dir / "raw" / "deliveries.csv")
    assert "tickets" in sent["webhook-burst"]
    assert sent["lost-response"] == {"magic_link"}, "the first run's tickets in the second"
    meta = json.loads((run_dir / "meta.json").read_text())
    assert [r["restarted"] for r in meta["runs"]] == [[], ["target-sync"]]
