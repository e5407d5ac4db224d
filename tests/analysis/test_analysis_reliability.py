"""The reliability table from a synthetic run: faults in words, the work's fate, fuzz results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from analysis.cli import main
from analysis.metrics.load import load_run
from analysis.metrics.reliability import faults_in_words, read_fuzz, reliability_rows
from analysis.metrics.work import work_ledger
from benchmarks.synthetic import write_synthetic_run

FAULTS = (
    "steady",
    "worker-crash",
    "lost-response",
    "redis-restart",
    "redis-restart-no-aof",
    "long-outage",
)
FUZZ_TABLE = """\
delegated POST /login                               400 cases    0 5xx    0 known   0 new problems
sync POST /webhooks/payment                         160 cases    2 5xx    2 known   0 new problems
total: 560 cases, 2 5xx (2 of them known bugs), 40 s
"""


@pytest.fixture(scope="module")
def faults_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("results") / "20250101T000000Z-faults"
    return write_synthetic_run(path, requests_per_run=400, duration_s=20.0, scenarios=FAULTS)


def rows_of(path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    run = load_run(path)
    ledger = work_ledger(run.requests, run.deliveries, run.dead_letters, run.pending)
    return {(r["scenario"], r["variant"]): r for r in reliability_rows(run, ledger)}


def test_each_scenario_and_variant_has_its_faults_and_work(faults_dir: Path) -> None:
    rows = rows_of(faults_dir)
    assert len(rows) == 2 * len(FAULTS)
    assert rows[("steady", "sync")]["faults"] == "none"
    crash = rows[("worker-crash", "delegated")]
    assert "3 worker SIGKILLs" in str(crash["faults"])
    assert isinstance(crash["crash"], dict) and crash["crash"]["affected"] > 0
    assert crash["crash"]["job_done_max_ms"] > 10_000  # the re-run waits for the timeout
    lost = rows[("lost-response", "delegated")]
    assert isinstance(lost["work"], dict)
    assert lost["work"]["duplicate_attempts"] > 0 and lost["work"]["duplicates"] == 0
    assert "20% of responses lost" in str(lost["faults"])
    assert rows[("redis-restart", "delegated")]["redis_appendonly"] is True
    bare = rows[("redis-restart-no-aof", "delegated")]
    assert bare["redis_appendonly"] is False and "WITHOUT" in str(bare["faults"])
    outage = rows[("long-outage", "delegated")]
    assert isinstance(outage["work"], dict) and outage["work"]["dead_lettered"] > 0
    assert outage["dead_letter_reasons"] == {
        "gave up after 5 tries: provider answered 503": outage["work"]["dead_lettered"]
    }
    assert rows[("long-outage", "sync")]["server_errors"] > 0


def test_a_target_restart_is_a_fault_in_words() -> None:
    events = [
        {"kind": "target_term", "at_s": 5.02, "port_free_s": 0.3, "healthy_s": 0.5},
        {"kind": "target_kill", "at_s": 14.0, "port_free_s": 0.01, "healthy_s": 0.9},
    ]
    assert faults_in_words({}, events) == (
        "target SIGTERMed (a deploy) at 5.02 s, replaced 0.8 s later;"
        " target SIGKILLed (a crash) at 14 s, replaced 0.91 s later"
    )


def test_the_command_prints_a_markdown_table_and_says_what_was_lost(
    faults_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["reliability", str(faults_dir)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("| scenario | variant | load held | faults injected |")
    assert sum(line.startswith("| redis-restart") for line in lines) == 4
    assert "without persistence (no append-only file) the Redis restart lost the queued work" in out
    assert "fuzzed route" not in out


def test_fuzz_results_from_the_table_or_json(
    faults_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = tmp_path / "fuzz.txt"
    table.write_text(FUZZ_TABLE)
    rows = read_fuzz(table)
    assert [(r["cases"], r["server_errors"]) for r in rows] == [(400, 0), (160, 2)]
    as_json = tmp_path / "fuzz.json"
    as_json.write_text(json.dumps({"routes": [{"route": "x", "cases": 3, "server_errors": 1}]}))
    assert read_fuzz(as_json)[0]["known"] == 0
    assert main(["reliability", str(faults_dir), "--fuzz", str(table)]) == 0
    out = capsys.readouterr().out
    assert "| sync POST /webhooks/payment | 160 | 2 | 2 |" in out and "| total | 560 | 2 |" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["reliability", "{tmp}/nowhere"],
        ["reliability", "{run}", "--fuzz", "{tmp}/nowhere.json"],
        ["reliability", "{run}", "--fuzz", "{tmp}/empty.txt"],
        ["reliability", "{run}", "--bogus"],
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str], faults_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty.txt").write_text("nothing here\n")
    args = [a.replace("{tmp}", str(tmp_path)).replace("{run}", str(faults_dir)) for a in argv]
    assert main(args) == 2
    captured = capsys.readouterr()
    assert len(captured.err.strip().splitlines()) == 1 and "Traceback" not in captured.err
    assert captured.out == ""
