"""A report built from a small seeded results folder has every file, table and chart."""

from __future__ import annotations

import json
import re
from pathlib import Path

from analysis.cli import main
from analysis.names import AnalysisSettings
from analysis.report.build import build_report

# The fixture's scenarios (tests/analysis/conftest.py), one of each chart family.
FIXTURE_SCENARIOS = ("steady", "outage", "spike", "webhook-burst")
PER_SCENARIO = ("latency-over-time", "latency-spectrum", "throughput-errors", "completion", "queue")


def test_every_chart_is_written(report_dir: Path) -> None:
    charts = {p.name for p in (report_dir / "charts").glob("*.png")}
    expected = {f"{kind}-{s}.png" for kind in PER_SCENARIO for s in FIXTURE_SCENARIOS}
    expected |= {"latency-vs-load-spike.png", "summary.png", "enumeration.png"}
    assert charts == expected
    assert all((report_dir / "charts" / c).stat().st_size > 10_000 for c in charts)


def test_summary_follows_the_schema(report_dir: Path) -> None:
    summary = json.loads((report_dir / "summary.json").read_text())
    assert summary["schema_version"] == 1 and summary["complete"] is True
    assert summary["scenarios"] == list(FIXTURE_SCENARIOS)
    row = next(
        r
        for r in summary["results"]
        if r["scenario"] == "outage" and r["variant"] == "delegated" and r["endpoint"] == "login"
    )
    assert set(row["latency_ms"]) == {"p50", "p90", "p95", "p99", "p999", "max"}
    assert set(row["work"]) >= {
        "expected",
        "delivered",
        "pending",
        "lost",
        "duplicates",
        "duplicate_attempts",
        "dead_lettered",
        "completion_ms",
    }
    assert row["repeats"] == 2 and len(row["per_repeat"]) == 2
    spike = next(
        r
        for r in summary["results"]
        if r["scenario"] == "spike" and r["variant"] == "delegated" and r["endpoint"] == "login"
    )
    assert spike["work"]["pending"] > 0 and spike["work"]["lost"] == 0
    assert row["queue"]["peak_depth"] > 0
    assert summary["enumeration"]["verdicts"]["delegated"]["verdict"] == "indistinguishable"
    assert summary["enumeration"]["verdicts"]["sync"]["verdict"] == "distinguishable"
    ratio = next(
        c
        for c in summary["comparisons"]
        if c["scenario"] == "outage" and c["endpoint"] == "login" and c["metric"] == "p99_ms"
    )
    assert ratio["ratio"] > 10 and ratio["ci_low"] is not None


def test_markdown_has_a_verdict_a_table_per_scenario_and_every_chart(report_dir: Path) -> None:
    text = (report_dir / "report.md").read_text()
    assert text.index("## Verdict") < text.index("## steady")
    for scenario in FIXTURE_SCENARIOS:
        assert f"- **{scenario}**" in text
        assert f"## {scenario} (" in text
    assert text.count("| metric | sync | delegated | sync ÷ delegated |") == len(FIXTURE_SCENARIOS)
    assert text.index("| work still queued (pending) |") < text.index("| work LOST |")
    assert "still queued when the run stopped waiting" in text  # the spike's verdict
    # A line per variant under each scenario, not one paragraph for all of them.
    verdict = text[text.index("## Verdict") : text.index("- **enumeration**")]
    for variant in ("sync", "delegated"):
        assert verdict.count(f"\n  - {variant}: p99 ") == len(FIXTURE_SCENARIOS)
    linked = set(re.findall(r"\]\((charts/[^)]+\.png)\)", text))
    assert linked == {f"charts/{p.name}" for p in (report_dir / "charts").glob("*.png")}
    assert len(text.encode()) < 1024 * 1024  # GitHub's job summary limit


def test_html_is_self_contained(report_dir: Path) -> None:
    html = (report_dir / "report.html").read_text()
    assert html.count("<img") == len(list((report_dir / "charts").glob("*.png")))
    assert html.count('src="data:image/png;base64,') == html.count("<img")
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    # Per scenario its own and other endpoints, then reliability and the overview at the top.
    assert html.count("<table>") == len(FIXTURE_SCENARIOS) * 2 + 3
    assert "git_sha" in html


def test_cli_report_and_check_on_the_fixture(report_dir: Path, tmp_path: Path) -> None:
    thresholds = tmp_path / "t.txt"
    thresholds.write_text(
        "delegated.*.*.work.lost == 0\n"
        "sync.outage.login.p99_ms / delegated.outage.login.p99_ms > 10\n"
        "delegated.hung-ticket.webhook.p99_ms < 100\n"  # absent from the fixture: skipped
    )
    assert (
        main(
            [
                "check",
                str(report_dir),
                "--thresholds",
                str(thresholds),
                "--baseline",
                str(report_dir),
            ]
        )
        == 0
    )
    assert main(["report", str(report_dir / "nope")]) == 2


def test_report_rebuilds_from_raw_data(run_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    (copy / "raw").mkdir(parents=True)
    (copy / "meta.json").write_text((run_dir / "meta.json").read_text())
    for f in (run_dir / "raw").iterdir():
        (copy / "raw" / f.name).write_bytes(f.read_bytes())
    (copy / "raw" / "queue_samples.csv").unlink()  # optional files may be missing
    (copy / "raw" / "pending.csv").unlink()  # and older runs have no pending list
    summary = build_report(copy, AnalysisSettings(warmup_s=2.0), processes=2)
    assert summary["results"] and (copy / "report.html").exists()
    assert not list((copy / "charts").glob("queue-*.png"))
