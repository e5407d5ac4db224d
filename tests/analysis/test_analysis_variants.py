"""Four variants and the harness's floor, through summary.json, the report and the gate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analysis.metrics.summary_json import comparison_pair
from analysis.names import AnalysisSettings
from analysis.report.build import build_report
from analysis.report.document import flag_sentence
from benchmarks.synthetic import write_synthetic_run
from core.contracts import FLOOR_SCENARIO, VARIANT_NAMES

SCENARIOS = ("steady", "outage", "redis-restart-no-aof")


@pytest.fixture(scope="module")
def four(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("results") / "20250101T000000Z-four"
    write_synthetic_run(
        path, requests_per_run=300, duration_s=10.0, scenarios=SCENARIOS, variants=VARIANT_NAMES
    )
    build_report(path, AnalysisSettings(warmup_s=1.0), processes=1)
    return path


def test_every_variant_is_compared_with_sync_and_the_floor_is_kept_apart(four: Path) -> None:
    summary = json.loads((four / "summary.json").read_text())
    assert FLOOR_SCENARIO not in summary["scenarios"]
    assert {r["scenario"] for r in summary["results"]} == set(SCENARIOS)
    assert set(summary["floor"]) == set(VARIANT_NAMES)
    floor = summary["floor"]["saq"]
    assert floor["rate"] == 20 and floor["requests"] == 100 and 1 < floor["p50_ms"] < 3
    pairs = {comparison_pair(c) for c in summary["comparisons"]}
    assert pairs == {("sync", v) for v in VARIANT_NAMES if v != "sync"}
    saq = next(
        c
        for c in summary["comparisons"]
        if (c["scenario"], c["endpoint"], c["metric"], c["denominator"])
        == ("outage", "login", "p99_ms", "saq")
    )
    assert saq["sync"] / saq["saq"] == pytest.approx(saq["ratio"])
    assert saq["bounded_by_harness"] is False  # saq's p99 is several times its floor
    noop = [
        c for c in summary["comparisons"] if c["endpoint"] == "noop" and c["metric"] == "p50_ms"
    ]
    assert any(c["bounded_by_harness"] for c in noop)  # a noop is all harness
    rows = {(r["scenario"], r["variant"]) for r in summary["reliability"]}
    assert rows == {(s, v) for s in SCENARIOS for v in VARIANT_NAMES}


def test_the_report_opens_with_every_scenario_and_variant_then_links(four: Path) -> None:
    text = (four / "report.md").read_text()
    assert text.index("## At a glance") < text.index("Scenarios: [steady](#scenario-steady)")
    assert text.index("Scenarios:") < text.index("## Verdict")
    glance = text[text.index("## At a glance") : text.index("Scenarios:")]
    assert all(f"| {v} |" in glance for v in VARIANT_NAMES)
    assert "⚠️" in glance  # sync's outage p99 and errors, the lost work without persistence
    assert "harness's own floor" in text
    header = f"| metric | {' | '.join(VARIANT_NAMES)} | sync ÷ delegated | sync ÷ background"
    assert text.count(header) == len(SCENARIOS)
    assert "| harness floor p50 / p99 (GET /noop) |" in text
    html = (four / "report.html").read_text()
    assert 'class="bad"' in html and 'href="#scenario-outage"' in html
    assert 'id="scenario-outage"' in html


def test_runner_flags_read_as_sentences() -> None:
    flag = {
        "scenario": "spike",
        "variant": "sync",
        "repeat": 0,
        "flag": "generator_behind",
        "detail": "94 of 450 starts were late",
    }
    assert flag_sentence(flag) == "spike, sync: generator behind: 94 of 450 starts were late."
