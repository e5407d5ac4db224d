"""`python -m runner bench` end to end against the real stack (faults: test_faults.py)."""

from __future__ import annotations

import csv
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from analysis.traces import read_spans, roots, traces_of_work
from core.contracts import FLOOR_SCENARIO, RAW_FILES, TRACES_DIR, raw_columns
from core.settings import Settings
from runner.bench import REPORT_TIMEOUT_S, TRACED_MAX_PER_S, TRACED_SHARE, traced
from runner.table import COLUMNS
from tests.runner.conftest import private_env
from tests.runner.helpers import CWD, runner_argv


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@dataclass(frozen=True)
class Bench:
    results: Path
    done: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def tiny_bench(tmp_path_factory: pytest.TempPathFactory) -> Bench:
    """One tiny bench, report included, that the tests below read."""
    folder = tmp_path_factory.mktemp("bench")
    results = folder / "results"
    argv = runner_argv(
        "bench",
        "--results-dir",
        str(results),
        "--quick",
        "--scenarios",
        "steady",
        "--duration-s",
        "2",
        "--label",
        "e2e",
    )
    # Every work traced (a bench's own default is a sampled share): each can be looked for.
    env = {**private_env(folder), "TRACE_SAMPLE_RATIO": "1"}
    done = subprocess.run(
        argv,
        env=env,
        cwd=CWD,
        capture_output=True,
        text=True,
        timeout=REPORT_TIMEOUT_S + 90,
    )
    return Bench(results, done)


def test_a_tiny_scenario_for_both_variants_writes_the_results_folder(tiny_bench: Bench) -> None:
    results, done = tiny_bench.results, tiny_bench.done
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
    for name in RAW_FILES:
        with open(run / "raw" / f"{name}.csv") as f:
            assert tuple(next(csv.reader(f))) == raw_columns(name)
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


def test_a_quick_runs_variants_run_at_once_each_with_its_own_work(tiny_bench: Bench) -> None:
    """Side by side, the runs share the provider, the job records and the store: each keeps
    the emails and tries of its own requests, and none is counted twice."""
    assert tiny_bench.done.returncode == 0, tiny_bench.done.stderr
    run = (tiny_bench.results / "latest").resolve()
    meta = json.loads((run / "meta.json").read_text())
    assert meta["side_by_side"] is True
    sync, delegated = meta["runs"]
    assert sync["t0"] < delegated["load_end"] and delegated["t0"] < sync["load_end"]
    works: dict[str, set[str]] = {v: set() for v in ("sync", "delegated")}
    for r in read_csv(run / "raw" / "requests.csv"):
        if r["work_id"]:  # a login's link followed names no work
            works[r["variant"]].add(r["work_id"])
    assert not works["sync"] & works["delegated"]
    for name in ("deliveries", "jobs"):
        rows = read_csv(run / "raw" / f"{name}.csv")
        assert rows and all(r["work_id"] in works[r["variant"]] for r in rows)
    sent = [d["message_id"] for d in read_csv(run / "raw" / "deliveries.csv")]
    assert len(sent) == len(set(sent))
    assert {d["variant"] for d in read_csv(run / "raw" / "deliveries.csv")} == set(works)
    assert "their latencies measure each other" in (run / "report.md").read_text()


def table_rows(text: str) -> list[dict[str, str]]:
    """The closing table's rows as printed, each cell by its header (rich's box drawing)."""
    lines = [line for line in text.splitlines() if line.startswith(("┃", "│"))]
    cells = [
        [c.strip() for c in line.strip("┃│").split("┃" if "┃" in line else "│")] for line in lines
    ]
    header, rows = cells[0], cells[1:]
    return [dict(zip(header, row, strict=True)) for row in rows]


def test_the_closing_table_shows_the_reports_numbers(tiny_bench: Bench) -> None:
    assert tiny_bench.done.returncode == 0, tiny_bench.done.stderr
    run = (tiny_bench.results / "latest").resolve()
    assert (run / "report.md").exists()
    summary = json.loads((run / "summary.json").read_text())
    rows = table_rows(tiny_bench.done.stderr)
    shown = {(r["variant"].removesuffix(" !"), r["endpoint"]): r for r in rows}  # ! flagged
    assert set(shown) == {("sync", "login"), ("delegated", "login")}
    for result in summary["results"]:
        row = shown.get((result["variant"], result["endpoint"]))
        if row is None:
            continue
        for header, pick, digits in COLUMNS:
            value = pick(result)
            if value is None:
                assert row[header] == "-", header
            else:
                printed = float(row[header].replace(",", ""))
                assert printed == pytest.approx(value, abs=0.51 * 10**-digits), header
        assert result["work"]["expected"] > 0 and row["owed"] != "-"


def test_the_floor_is_measured_first_on_each_target(tiny_bench: Bench) -> None:
    assert tiny_bench.done.returncode == 0, tiny_bench.done.stderr
    run = (tiny_bench.results / "latest").resolve()
    meta = json.loads((run / "meta.json").read_text())
    floors = {f["variant"]: f for f in meta["floor"]}
    assert set(floors) == {"sync", "delegated"}
    for floor in floors.values():
        # steady's 20/s, its rows the floor's repeat 0, before any scenario ran.
        assert (floor["rate"], floor["repeat"], floor["scenarios"]) == (20, 0, ["steady"])
        assert floor["load_end"] < min(r["t0"] for r in meta["runs"])
    rows = [r for r in read_csv(run / "raw" / "requests.csv") if r["scenario"] == FLOOR_SCENARIO]
    assert {(r["variant"], r["endpoint"], r["repeat"]) for r in rows} == {
        ("sync", "noop", "0"),
        ("delegated", "noop", "0"),
    }
    for r in rows:
        floor = floors[r["variant"]]
        assert floor["t0"] <= float(r["intended_start"]) < floor["load_end"]
        assert r["status"] == "200"


def test_a_bench_traces_its_runs_by_default_into_the_results_folder(tiny_bench: Bench) -> None:
    assert tiny_bench.done.returncode == 0, tiny_bench.done.stderr
    run = (tiny_bench.results / "latest").resolve()
    meta = json.loads((run / "meta.json").read_text())
    assert meta["settings"]["tracing"] is True  # on by default; the share as the env set it
    assert meta["settings"]["trace_sample_ratio"] == 1.0 != TRACED_SHARE
    assert meta["settings"]["trace_max_per_s"] == 0  # a share the env chose is not capped
    files = {p.name.rsplit("-", 1)[0] for p in (run / TRACES_DIR).glob("*.jsonl")}
    assert {"target-sync", "target-delegated", "worker-arq"} <= files  # a file per process
    spans = read_spans(run / TRACES_DIR)
    requests = read_csv(run / "raw" / "requests.csv")
    delivered = {d["work_id"] for d in read_csv(run / "raw" / "deliveries.csv")}
    for variant in ("sync", "delegated"):
        works = {r["work_id"] for r in requests if r["variant"] == variant} & delivered
        assert works
        for work_id in works:  # the raw files and the spans join on the work id
            (found,) = traces_of_work(spans, work_id).values()
            assert len(roots(found)) == 1
        assert (run / "charts" / f"phases-{variant}.png").is_file()  # where the time went


def test_a_bench_traces_a_capped_share_unless_the_environment_chose() -> None:
    default = traced(Settings())
    assert default.tracing and default.trace_sample_ratio == TRACED_SHARE
    assert default.trace_max_per_s == TRACED_MAX_PER_S
    every = traced(Settings(trace_sample_ratio=1.0))
    assert (every.trace_sample_ratio, every.trace_max_per_s) == (1.0, 0.0)
    capped = traced(Settings(trace_max_per_s=2.0))
    assert (capped.trace_sample_ratio, capped.trace_max_per_s) == (TRACED_SHARE, 2.0)
    assert not traced(Settings(tracing=False)).tracing
