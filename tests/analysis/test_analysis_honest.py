"""Honest figures: thin percentiles named for what they are, a gate that does not cry wolf."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from analysis.cli import main
from analysis.gate.baseline import compare
from analysis.gate.thresholds import Names, evaluate, parse_thresholds
from analysis.metrics.series import per_second
from analysis.metrics.stats import fisher_exact, min_support
from analysis.metrics.summary_json import current_summary
from analysis.names import AnalysisSettings
from analysis.report.charts import per_second_p99_label
from analysis.report.tables import latency
from benchmarks.synthetic import write_synthetic_run

QUICK_SCENARIOS = ("steady", "outage", "slow-provider", "webhook-burst")


def quick_run(path: Path, seed: int = 7, slower_s: dict[str, float] | None = None) -> Path:
    """A quick run's size: ~80 requests per scenario x variant over 6 s."""
    return write_synthetic_run(
        path,
        requests_per_run=80,
        duration_s=6.0,
        scenarios=QUICK_SCENARIOS,
        seed=seed,
        slower_s=slower_s,
    )


def thin(variant: str, p99: float, n: int, errors: int, requests: int) -> dict[str, Any]:
    """A result as a quick run gives it: `n` latencies after warm-up, p99 their maximum."""
    return {
        "variant": variant,
        "scenario": "slow-provider",
        "endpoint": "login",
        "requests": requests,
        "error_rate": errors / requests,
        "throughput_rps": (requests - errors) / 4.0,
        "latency_ms": {"p50": 3.0, "p99": p99},
        "latency_requests": n,
        "n": {"latency_ms": n},
        "work": None,
        "per_repeat": [],
    }


def summary(*results: dict[str, Any]) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "complete": True,
        "scenarios": ["slow-provider"],
        "results": list(results),
        "enumeration": {"by_scenario": []},
    }


def test_support_needs_a_hundred_values_for_p99_and_a_thousand_for_p999() -> None:
    assert (min_support(0.99), min_support(0.999), min_support(1.0)) == (100, 1000, 1)
    row = thin("delegated", 13.6, 40, 0, 70)
    assert latency(row, "latency_ms", "p99") == "14 ms (max of 40)"
    assert latency({**row, "n": {"latency_ms": 400}}, "latency_ms", "p99") == "14 ms"


def test_the_real_false_alarms_are_within_noise_or_skipped() -> None:
    # Two identical quick runs: 2 against 5 errors of ~70, and a p99 that was a max of 40.
    before = summary(thin("sync", 900.0, 40, 2, 70), thin("delegated", 13.6, 40, 0, 70))
    after = summary(thin("sync", 950.0, 40, 5, 70), thin("delegated", 5.1, 40, 0, 70))
    assert fisher_exact(5, 70, 2, 70) > 0.4
    checks = compare(after, before, min_effect=0.1, max_change=0.2)
    assert not [c for c in checks if c.status == "fail"]
    rate = next(c for c in checks if c.name == "sync.slow-provider.login.error_rate vs baseline")
    assert rate.detail.startswith("within noise: 2 of 70 -> 5 of 70, Fisher p")
    p99 = next(c for c in checks if c.name == "delegated.slow-provider.login.p99_ms vs baseline")
    assert p99.status == "skip" and "rests on 40 values" in p99.detail
    # A real jump in errors is still a regression.
    worse = summary(thin("sync", 900.0, 40, 30, 70), thin("delegated", 13.6, 40, 0, 70))
    failed = [
        c.name for c in compare(worse, before, min_effect=0.1, max_change=0.2) if c.status == "fail"
    ]
    assert "sync.slow-provider.login.error_rate vs baseline" in failed


def test_a_threshold_on_a_thin_percentile_is_skipped_with_its_reason(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "summary.json").write_text(json.dumps(summary(thin("delegated", 13.6, 40, 0, 70))))
    text = "delegated.slow-provider.login.p99_ms < 250\ndelegated.slow-provider.login.p50_ms < 9\n"
    checks = evaluate(
        parse_thresholds(text, Names.known()), summary(thin("delegated", 13.6, 40, 0, 70))
    )
    assert [c.status for c in checks] == ["skip", "pass"]
    assert "p99_ms rests on 40 values, so it is their maximum (needs 100)" in checks[0].detail
    (tmp_path / "t.txt").write_text(text)
    junit = tmp_path / "junit.xml"
    argv = ["check", str(run), "--thresholds", str(tmp_path / "t.txt"), "--junit", str(junit)]
    assert main(argv) == 0
    skipped = ET.parse(junit).getroot().findall("./testcase/skipped")
    assert len(skipped) == 1 and "rests on 40 values" in str(skipped[0].get("message"))


def test_identical_quick_runs_are_noise_and_a_degraded_variant_a_regression(
    tmp_path: Path,
) -> None:
    settings = AnalysisSettings(warmup_s=1.0)
    first, second, degraded = (
        current_summary(quick_run(tmp_path / name, seed, slower), settings)
        for name, seed, slower in (("a", 1, None), ("b", 2, None), ("c", 3, {"delegated": 0.2}))
    )
    same = compare(second, first, min_effect=0.1, max_change=0.2)
    assert Counter(c.status for c in same)["fail"] == 0
    assert any(c.status == "skip" for c in same)  # thin p99s: skipped, and said so
    worse = compare(degraded, first, min_effect=0.1, max_change=0.2)
    failed = {c.name for c in worse if c.status == "fail"}
    assert "delegated.steady.login.p50_ms vs baseline" in failed
    assert all(name.startswith("delegated.") for name in failed)
    detail = next(c.detail for c in worse if c.name == "delegated.steady.login.p50_ms vs baseline")
    assert "%)" in detail and "intervals" in detail and "apart" in detail  # the effect size


def test_an_error_is_counted_in_the_second_its_request_started() -> None:
    # A request meant to start at 3.2 s hangs until 13.2 s and fails: its error is at second 3.
    frame = pd.DataFrame(
        {
            "scenario": ["outage"] * 2,
            "variant": ["sync"] * 2,
            "endpoint": ["login"] * 2,
            "repeat": [0, 0],
            "t0": [0.0, 0.0],
            "t_rel": [3.2, 4.1],
            "intended_start": [3.2, 4.1],
            "start": [3.2, 4.1],
            "end": [13.2, 4.2],
            "status": np.array([0, 202], dtype=np.int32),
            "error": pd.Series(["timeout", ""], dtype="category"),
        }
    )
    seconds = per_second(frame).set_index("second")
    errors, ok = seconds["errors"].to_dict(), seconds["ok"].to_dict()
    assert errors[3.0] == 1 and errors[13.0] == 0 and ok[4.0] == 1


def test_the_per_second_p99_line_is_called_a_max_when_a_second_holds_too_few_values() -> None:
    rate = 20  # a quick run's logins: 20 latencies a second
    frame = pd.DataFrame(
        {
            "scenario": ["steady"] * 2 * rate,
            "variant": ["sync"] * 2 * rate,
            "endpoint": ["login"] * 2 * rate,
            "repeat": [0] * 2 * rate,
            "t0": [0.0] * 2 * rate,
            "t_rel": [i / rate for i in range(2 * rate)],
            "intended_start": [i / rate for i in range(2 * rate)],
            "start": [i / rate for i in range(2 * rate)],
            "end": [i / rate + 0.01 * (i % rate) for i in range(2 * rate)],
            "status": np.full(2 * rate, 202, dtype=np.int32),
            "error": pd.Series([""] * 2 * rate, dtype="category"),
        }
    )
    seconds = per_second(frame)
    assert seconds["n"].tolist() == [rate, rate, 0]  # the last answers end in second 2
    assert seconds["p99_ms"].tolist()[:2] == pytest.approx([190.0, 190.0])  # each one's maximum
    assert per_second_p99_label(seconds["n"]) == f"max of each second (n ≤ {rate})"
    assert per_second_p99_label(pd.Series([150, 20])) == "p99 (max where n < 100)"
    assert per_second_p99_label(pd.Series([150, 100])) == "p99"


def test_thresholds_name_any_variant() -> None:
    text = (Path(__file__).resolve().parents[2] / "thresholds.txt").read_text()
    thresholds = parse_thresholds(text, Names.known())
    assert {"delegated", "saq", "sync"} <= {t.left.variant for t in thresholds}
    # background promises nothing across a restart: never gated to lose nothing, only to show
    # the loss a deploy during an outage causes.
    background = [t for t in thresholds if t.left.variant == "background"]
    assert background and all((t.left.metric, t.op) == ("work.lost", ">") for t in background)


def test_summary_says_what_each_percentile_rests_on(tmp_path: Path) -> None:
    run = write_synthetic_run(
        tmp_path / "run", requests_per_run=300, duration_s=6.0, scenarios=QUICK_SCENARIOS
    )
    results = current_summary(run, AnalysisSettings(warmup_s=0.0))["results"]
    counts = set()
    for result in results:
        count = result["n"]["latency_ms"]
        counts.add(count >= 100)
        assert count == result["latency_requests"]
        assert result["supported"]["latency_ms"]["p99"] is (count >= 100)
        assert result["supported"]["latency_ms"]["max"] is True
        low, high = result["interval_ms"]["latency_ms"]["p50"]
        assert low is None or low <= result["latency_ms"]["p50"] <= high
    assert counts == {True, False}  # logins are many, verify and noop few
