"""The gate: threshold syntax, evaluation, baseline comparison and exit codes."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from analysis.cli import main
from analysis.gate.baseline import RULES, classify
from analysis.gate.thresholds import GateError, Names, evaluate, parse_thresholds
from analysis.names import COMPARED

NAMES = Names.known()
ROOT = Path(__file__).resolve().parents[2]


def result(
    variant: str, scenario: str, endpoint: str, p99: float, lost: int | None
) -> dict[str, Any]:
    work = None if lost is None else {"lost": lost, "completion_ms": {"p99": 900.0}}
    return {
        "variant": variant,
        "scenario": scenario,
        "endpoint": endpoint,
        "latency_ms": {"p99": p99},
        "work": work,
        "per_repeat": [],
    }


SUMMARY: dict[str, Any] = {
    "schema_version": 1,
    "complete": True,
    "scenarios": ["outage"],
    "results": [
        result("sync", "outage", "login", 5000.0, 0),
        result("delegated", "outage", "login", 20.0, 0),
        result("delegated", "outage", "noop", 2.0, None),
    ],
    "enumeration": {"by_scenario": []},
}


@pytest.mark.parametrize(
    "line",
    [
        "delegated.outage.login.p99_ms < 100",
        "delegated.*.*.work.lost == 0   # no lost work",
        "delegated.spike.login.work.pending <= 10",
        "sync.outage.login.p99_ms / delegated.outage.login.p99_ms > 10",
        "sync.*.login.p99_corrected_ms/delegated.*.login.p99_corrected_ms>=1.5e1",
        "delegated.steady.webhook.completion_p99_ms <= 30000",
        "saq.*.*.work.lost == 0 except redis-restart-no-aof, *-monolithic*",
        "  ",
    ],
)
def test_good_lines_parse(line: str) -> None:
    assert len(parse_thresholds(line, NAMES)) == (0 if not line.strip() else 1)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("delegated.outage.login.p98_ms < 100", "unknown metric 'p98_ms'"),
        ("delegated.outgae.login.p99_ms < 100", "unknown scenario 'outgae'"),
        ("async.outage.login.p99_ms < 100", "unknown variant 'async'"),
        ("delegated.outage.signup.p99_ms < 100", "unknown endpoint 'signup'"),
        ("delegated.outage.p99_ms < 100", "not variant.scenario.endpoint.metric"),
        ("delegated.outage.login.p99_ms < fast", "cannot read"),
        ("delegated.outage.login.p99_ms = 100", "cannot read"),
        ("delegated.outage.login.p99_ms < 100 ms", "cannot read"),
        ("delegated.*.login.p99_ms < 100 except", "cannot read"),
        ("delegated.*.login.p99_ms < 100 except outgae", "'outgae' matches no variant"),
        ("delegated.*.login.p99_ms < 100 except *-nothing", "'[*]-nothing' matches no"),
        ("delegated.outage.login.p99_ms < 100 except spike", "`except` needs a `[*]`"),
    ],
)
def test_bad_lines_name_the_line_and_the_problem(line: str, message: str) -> None:
    with pytest.raises(GateError, match=message) as info:
        parse_thresholds(f"# header\n{line}\n", NAMES, "t.txt")
    assert str(info.value).startswith("t.txt:2:")


def test_evaluate_pass_fail_ratio_and_wildcards() -> None:
    text = """
    delegated.outage.login.p99_ms < 10
    sync.outage.login.p99_ms / delegated.outage.login.p99_ms > 100
    delegated.*.*.work.lost == 0
    """
    checks = evaluate(parse_thresholds(text, NAMES), SUMMARY)
    assert [(c.name, c.status) for c in checks] == [
        ("delegated.outage.login.p99_ms < 10", "fail"),
        ("sync.outage.login.p99_ms / delegated.outage.login.p99_ms > 100", "pass"),
        ("delegated.outage.login.work.lost == 0", "pass"),  # noop has no work: not a check
    ]
    assert checks[1].value == pytest.approx(250.0)


def test_except_leaves_names_out_of_the_wildcards() -> None:
    summary = {
        **SUMMARY,
        "scenarios": ["outage", "redis-restart-no-aof", "big-orders-monolithic"],
        "results": [
            result("delegated", "outage", "login", 20.0, 0),
            result("delegated", "redis-restart-no-aof", "login", 20.0, 54),
            result("delegated", "big-orders-monolithic", "webhook", 20.0, 3),
        ],
    }
    every = "delegated.*.*.work.lost == 0"
    checks = evaluate(parse_thresholds(every, NAMES), summary)
    assert [c.status for c in checks] == ["pass", "fail", "fail"]
    text = f"{every} except redis-restart-no-aof, *-monolithic*"
    checks = evaluate(parse_thresholds(text, NAMES), summary)
    assert [(c.name, c.status) for c in checks] == [
        ("delegated.outage.login.work.lost == 0", "pass")
    ]
    # Leaving everything out is a skip that says so, never a silent pass.
    text = f"{every} except outage, redis-restart-no-aof, big-orders-monolithic"
    checks = evaluate(parse_thresholds(text, NAMES), summary)
    assert [c.status for c in checks] == ["skip"]


def test_every_row_reads_as_its_line_skipped_or_not() -> None:
    # From 40 values a p99 is their maximum: both ratio rows are skipped, and once they both
    # printed as `sync.outage.login.p99_ms`, with neither operator nor right side.
    thin = {**result("sync", "outage", "login", 5000.0, 0), "latency_requests": 40}
    summary = {**SUMMARY, "results": [thin, *SUMMARY["results"][1:]]}
    text = """
    sync.outage.login.p99_ms / delegated.outage.login.p99_ms > 10
    sync.outage.login.p99_ms / delegated.outage.login.p99_ms >= 3.0
    sync.outage.login.p99_ms < 1e4
    """
    checks = evaluate(parse_thresholds(text, NAMES), summary)
    assert [(c.name, c.status) for c in checks] == [
        ("sync.outage.login.p99_ms / delegated.outage.login.p99_ms > 10", "skip"),
        ("sync.outage.login.p99_ms / delegated.outage.login.p99_ms >= 3.0", "skip"),
        ("sync.outage.login.p99_ms < 1e4", "skip"),
    ]


def test_thresholds_on_scenarios_absent_from_a_quick_run_are_skipped() -> None:
    checks = evaluate(parse_thresholds("delegated.steady.login.p99_ms < 10", NAMES), SUMMARY)
    assert [(c.status, c.detail) for c in checks] == [("skip", "scenario steady not in this run")]


def test_baseline_classification() -> None:
    p99 = next(r for r in RULES if r.metric == "p99_ms")
    none = np.array([], dtype=np.float64)
    kwargs: dict[str, Any] = {"min_effect": 0.1, "max_change": 0.2, "samples": 500, "seed": 0}
    assert classify(p99, 150.0, 100.0, none, none, **kwargs)[0] == "regression"
    assert classify(p99, 60.0, 100.0, none, none, **kwargs)[0] == "improvement"
    assert classify(p99, 110.0, 100.0, none, none, **kwargs)[0] == "within noise"
    noisy_now, noisy_then = np.array([80.0, 150, 120]), np.array([90.0, 140, 70])
    assert classify(p99, 117.0, 100.0, noisy_now, noisy_then, **kwargs)[0] == "within noise"
    steady_now, steady_then = np.array([150.0, 151, 149]), np.array([100.0, 101, 99])
    assert classify(p99, 150.0, 100.0, steady_now, steady_then, **kwargs)[0] == "regression"


def test_a_latency_change_within_twice_the_harness_floor_is_noise() -> None:
    # A fresh clone's A/A pair: delegated steady p50 2.7 -> 4.9 ms, intervals apart, on a
    # machine busy installing a package; the floor's p50 was 1.69 ms.
    p50 = next(r for r in RULES if r.metric == "p50_ms")
    none = np.array([], dtype=np.float64)
    kwargs: dict[str, Any] = {"min_effect": 0.1, "max_change": 0.2, "samples": 500, "seed": 0}
    intervals: dict[str, Any] = {"then_interval": (2.58, 2.88), "now_interval": (3.36, 6.23)}
    verdict, detail = classify(p50, 4.88, 2.74, none, none, **kwargs, **intervals, noise_ms=3.38)
    assert verdict == "within noise" and "floor" in detail
    assert classify(p50, 4.88, 2.74, none, none, **kwargs, **intervals)[0] == "regression"
    degraded: dict[str, Any] = {"then_interval": (2.58, 2.88), "now_interval": (170.0, 258.0)}
    assert classify(p50, 211.0, 2.74, none, none, **kwargs, **degraded, noise_ms=3.38)[0] == (
        "regression"
    )


def _summary_dir(tmp_path: Path, summary: dict[str, Any]) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    (run / "summary.json").write_text(json.dumps(summary))
    return run


def test_exit_codes_of_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _summary_dir(tmp_path, SUMMARY)
    passing, failing, typo = (tmp_path / n for n in ("pass.txt", "fail.txt", "typo.txt"))
    passing.write_text("delegated.outage.login.p99_ms < 100\n")
    failing.write_text("delegated.outage.login.p99_ms < 10\n")
    typo.write_text("delegated.outage.login.p99 < 10\n")
    junit = tmp_path / "junit.xml"
    assert main(["check", str(run), "--thresholds", str(passing), "--junit", str(junit)]) == 0
    assert ET.parse(junit).getroot().get("failures") == "0"
    assert main(["check", str(run), "--thresholds", str(failing), "--junit", str(junit)]) == 1
    assert ET.parse(junit).getroot().get("failures") == "1"
    assert main(["check", str(run), "--thresholds", str(typo)]) == 2
    assert main(["check", str(tmp_path / "missing"), "--thresholds", str(passing)]) == 2
    assert main(["check", str(run), "--thresholds", str(tmp_path / "nope.txt")]) == 2
    assert main(["check", str(run), "--bogus-flag"]) == 2
    nothing = tmp_path / "nothing.txt"
    nothing.write_text("delegated.steady.login.p99_ms < 10\n")
    assert main(["check", str(run), "--thresholds", str(nothing)]) == 2
    err = capsys.readouterr().err
    assert "unknown metric 'p99'" in err and "Traceback" not in err


def test_incomplete_run_fails_the_gate(tmp_path: Path) -> None:
    run = _summary_dir(tmp_path, {**SUMMARY, "complete": False, "incomplete_reason": "Ctrl-C"})
    thresholds = tmp_path / "t.txt"
    thresholds.write_text("delegated.outage.login.p99_ms < 100\n")
    assert main(["check", str(run), "--thresholds", str(thresholds)]) == 1


def test_checked_in_thresholds_parse() -> None:
    assert parse_thresholds((ROOT / "thresholds.txt").read_text(), NAMES)


def test_baseline_rules_cover_the_metrics_kept_per_repeat() -> None:
    # The baseline's bootstrap resamples summary.json's per_repeat values: one list of metrics.
    assert [r.metric for r in RULES] == list(COMPARED)
