"""A real headless Locust run (a subprocess) against a real uvicorn server on loopback."""

from __future__ import annotations

import asyncio
import csv
import itertools
import json
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI, Request, Response

from core.contracts import raw_columns
from loadtests.pacing import GROW_MIN, STOP_GRACE_S

REPO = Path(__file__).resolve().parents[2]
LOCUST = Path(sys.executable).with_name("locust")
RATE = 50.0
SLOW_S = 0.1
# Asked for; a busy machine may start Locust late and give less. The tests hold to the load
# window each run measured of itself (t0 to t_stop in its stats file).
RUN_S = 5
DAWDLE_S = 0.05  # tests/loadtests/late_sender.py waits this long between its slot and its send


def tiny_app() -> FastAPI:
    app = FastAPI()
    calls = itertools.count(1)

    def reply(request: Request, response: Response, status: int) -> dict[str, str]:
        # A changed id proves the generator records the id the server answers with.
        response.headers["X-Request-ID"] = "srv-" + request.headers.get("x-request-id", "none")
        response.status_code = status
        return {}

    @app.get("/noop")
    def noop(request: Request, response: Response) -> dict[str, str]:
        return reply(request, response, 503 if next(calls) % 10 == 0 else 200)

    @app.get("/slow")
    async def slow(request: Request, response: Response) -> dict[str, str]:
        await asyncio.sleep(SLOW_S)
        return reply(request, response, 200)

    @app.post("/login")
    def login(request: Request, response: Response) -> dict[str, str]:
        return reply(request, response, 202)

    return app


@pytest.fixture(scope="module")
def target_url() -> Iterator[str]:
    # uvicorn leaves signals alone outside the main thread.
    server = uvicorn.Server(
        uvicorn.Config(tiny_app(), host="127.0.0.1", port=0, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "test server did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_headless_noop_run_writes_exact_rows(target_url: str, tmp_path: Path) -> None:
    raw = tmp_path / "raw" / "requests.csv"
    command = [str(LOCUST), "-f", "loadtests/noop.py", "--headless", "-u", "20", "-r", "20"]
    command += ["-t", f"{RUN_S}s", "--host", target_url, "--arrival-rate", str(RATE)]
    command += ["--raw-out", str(raw), "--scenario", "e2e", "--json-file", str(tmp_path / "locust")]
    command += ["--only-summary"]
    env = {**os.environ, "BENCH_VARIANT": "fake", "BENCH_REPEAT": "2"}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 1), done.stderr  # 1: Locust saw failures (the 503s)

    with raw.open() as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == raw_columns("requests")
        rows = list(reader)
    stats = json.loads(Path(f"{raw}.stats.json").read_text())
    totals, worker = stats["totals"], stats["workers"]["0"]
    # Everything below is held against the load window the run measured of itself (t0 to
    # t_stop), never against the RUN_S asked for.
    window_s = worker["t_stop"] - worker["t0"]
    due = RATE * window_s
    assert len(rows) >= 12, f"too short a run to judge: {len(rows)} rows in {window_s:.2f} s"

    assert len(rows) == totals["rows"] == totals["slots_started"]
    assert totals["peak_users"] >= 20  # -u 20, grown only if all were in requests at once
    # Every slot due before the stop either started or was counted as dropped; nothing starts
    # while Locust begins to stop, so up to STOP_GRACE_S of slots go unstarted.
    assert due - RATE * STOP_GRACE_S - 2 <= len(rows) + totals["dropped"] and len(rows) <= due + 1
    # Late starts are counted from unrounded times; the CSV keeps microseconds.
    threshold_s = stats["late_threshold_ms"] / 1000
    lateness = [float(r["start"]) - float(r["intended_start"]) for r in rows]
    surely_late = sum(x > threshold_s + 2e-6 for x in lateness)
    assert surely_late <= totals["late_starts"] <= sum(x > threshold_s - 2e-6 for x in lateness)
    assert {(r["scenario"], r["variant"], r["repeat"], r["endpoint"]) for r in rows} == {
        ("e2e", "fake", "2", "noop")
    }
    for r in rows:
        assert float(r["intended_start"]) <= float(r["start"]) <= float(r["end"])
    starts = sorted(float(r["intended_start"]) for r in rows)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert all(g == pytest.approx(1 / RATE, abs=1e-5) for g in gaps)

    # A request still in flight when Locust stops its users is killed: recorded, not counted.
    stopped = [r for r in rows if r["error"] == "stopped"]
    assert all(float(r["start"]) <= worker["t_stop"] <= float(r["end"]) for r in stopped)
    answered = [r for r in rows if r["error"] != "stopped"]
    ids = [r["request_id"] for r in answered]
    assert len(set(ids)) == len(ids) and all(i.startswith("srv-") for i in ids)

    failed = [r for r in answered if r["status"] != "200"]
    assert failed and {(r["status"], r["error"]) for r in failed} == {("503", "http 503")}
    # Locust's own count, from --json-file (its --csv files are written once a second and
    # miss the last moments of a run).
    locust_stats = json.loads((tmp_path / "locust.json").read_text())
    noop = next(s for s in locust_stats if s["name"] == "/noop")
    assert (noop["num_requests"], noop["num_failures"]) == (len(answered), len(failed))


def test_an_open_model_grows_users_rather_than_start_late(target_url: str, tmp_path: Path) -> None:
    # One user, and a target that takes 100 ms at 50/s: about 5 requests are in flight at once.
    raw = tmp_path / "requests.csv"
    command = [str(LOCUST), "-f", "loadtests/noop.py", "--headless", "-u", "1", "-r", "1"]
    command += ["-t", f"{RUN_S}s", "--host", target_url, "--arrival-rate", str(RATE)]
    command += ["--get-path", "/slow", "--raw-out", str(raw), "--only-summary"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr

    with raw.open() as f:
        rows = [r for r in csv.DictReader(f) if r["error"] != "stopped"]
    stats = json.loads(Path(f"{raw}.stats.json").read_text())
    totals, worker = stats["totals"], stats["workers"]["0"]
    assert rows, f"no answered request in the run: {done.stderr[-2000:]}"
    # The most requests the run had in flight at once, from its own rows.
    edges = sorted(
        [(float(r["start"]), 1) for r in rows] + [(float(r["end"]), -1) for r in rows],
        key=lambda e: (e[0], e[1]),
    )
    in_flight = max(itertools.accumulate(change for _, change in edges))
    assert in_flight > 1  # one user could not have carried this load
    # Grown as needed, in small batches, not run up to the ceiling.
    assert in_flight <= totals["peak_users"] <= 2 * in_flight + GROW_MIN
    assert worker["max_users"] == math.ceil(RATE * 60)  # rate x the client's 60 s timeout


def test_the_clock_starts_at_the_send_and_time_before_it_is_a_late_start(
    target_url: str, tmp_path: Path
) -> None:
    raw = tmp_path / "requests.csv"
    command = [str(LOCUST), "-f", "tests/loadtests/late_sender.py", "--headless", "-u", "20"]
    command += ["-r", "20", "-t", f"{RUN_S}s", "--host", target_url, "--arrival-rate", str(RATE)]
    command += ["--raw-out", str(raw), "--only-summary"]
    env = {**os.environ, "DAWDLE_S": str(DAWDLE_S)}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 1), done.stderr  # 1: Locust saw failures (the 503s)

    with raw.open() as f:
        rows = [r for r in csv.DictReader(f) if r["error"] != "stopped"]
    assert rows, f"no answered request in the run: {done.stderr[-2000:]}"
    # The user's dawdling before the send is not the target's latency: it is lateness.
    assert all(float(r["start"]) - float(r["intended_start"]) >= DAWDLE_S for r in rows)
    stats = json.loads(Path(f"{raw}.stats.json").read_text())
    assert stats["late_threshold_ms"] < DAWDLE_S * 1000
    # Each counted late, by the start its row has.
    assert stats["totals"]["late_starts"] >= len(rows)


def test_a_locust_told_to_wait_sends_nothing_before_its_go_file(
    target_url: str, tmp_path: Path
) -> None:
    # The runner starts Locust while it prepares the stack: no request may reach the target
    # before the go, and the full run follows it.
    raw, go = tmp_path / "requests.csv", tmp_path / "go"
    command = [str(LOCUST), "-f", "loadtests/noop.py", "--headless", "-u", "5", "-r", "5"]
    command += ["-t", "2s", "--host", target_url, "--arrival-rate", "10", "--only-summary"]
    command += ["--raw-out", str(raw), "--go-file", str(go)]
    locust = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        held_s = 3.0  # longer than the run itself: a Locust that did not wait would be done
        time.sleep(held_s)
        assert locust.poll() is None, "Locust ended without its go"
        assert not raw.exists(), "the load started before its go"
        go.touch()
        gone_at = time.time()
        _, stderr = locust.communicate(timeout=120)
    finally:
        locust.kill()
    assert locust.returncode in (0, 1), stderr
    with raw.open() as f:
        starts = [float(row["start"]) for row in csv.DictReader(f)]
    assert starts and min(starts) >= gone_at - 0.5
