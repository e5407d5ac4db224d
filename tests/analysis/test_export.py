"""`make export`: github-action-benchmark's and Bencher's formats, valid, with summary.json's
values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from analysis.cli import main

# Bencher's published JSON Schema of the Bencher Metric Format (bencher.dev/bmf.json), with the
# measure slug's documented limit of 64 characters.
BMF_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema",
    "type": "object",
    "minProperties": 1,
    "patternProperties": {
        ".+": {
            "type": "object",
            "propertyNames": {"maxLength": 64},
            "patternProperties": {
                ".+": {
                    "type": "object",
                    "properties": {
                        "value": {"type": "number"},
                        "lower_value": {"type": "number"},
                        "upper_value": {"type": "number"},
                    },
                    "required": ["value"],
                }
            },
        }
    },
}
# github-action-benchmark's BenchmarkResult (src/extract.ts): what its custom tools read.
GAB_SCHEMA: dict[str, Any] = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "value": {"type": "number"},
            "unit": {"type": "string"},
            "range": {"type": "string"},
            "extra": {"type": "string"},
        },
        "required": ["name", "value", "unit"],
        "additionalProperties": False,
    },
}
# Where summary.json keeps each exported figure, and where its ~95% interval is (if anywhere):
# written out here, not taken from the exporter, so a wrong path there fails.
IN_SUMMARY = {
    "p50_ms": (("latency_ms", "p50"), ("latency_ms", "p50")),
    "p99_ms": (("latency_ms", "p99"), ("latency_ms", "p99")),
    "error_rate": (("error_rate",), None),
    "work.lost": (("work", "lost"), None),
    "completion_p99_ms": (("work", "completion_ms", "p99"), ("completion_ms", "p99")),
    "throughput_rps": (("throughput_rps",), None),
    "work.delivered": (("work", "delivered"), None),
}
SMALLER = ("p50_ms", "p99_ms", "error_rate", "work.lost", "completion_p99_ms")
BIGGER = ("throughput_rps", "work.delivered")


def walk(value: Any, keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def supported(result: dict[str, Any], metric: str) -> bool:
    """summary.json's own word on whether a percentile is more than the maximum."""
    if metric in ("p50_ms", "p99_ms"):
        return bool(result["supported"]["latency_ms"][metric.removesuffix("_ms")])
    if metric == "completion_p99_ms":
        return bool((result["supported"]["completion_ms"] or {}).get("p99"))
    return True


def expected(summary: dict[str, Any], metrics: tuple[str, ...]) -> dict[str, Any]:
    """name -> (value, interval or None) for every figure the run supports."""
    out = {}
    for r in summary["results"]:
        if r["endpoint"] not in ("login", "webhook"):
            continue
        for metric in metrics:
            where, interval_at = IN_SUMMARY[metric]
            value = walk(r, where)
            if value is None or not supported(r, metric):
                continue
            interval = walk(r["interval_ms"], interval_at) if interval_at else None
            known = interval if interval and None not in interval else None
            out[f"{r['variant']}.{r['scenario']}.{r['endpoint']}.{metric}"] = (value, known)
    return out


def run_export(run: Path, fmt: str, out: Path) -> Any:
    assert main(["export", str(run), "--format", fmt, "--output", str(out)]) == 0
    return json.loads(out.read_text())


@pytest.mark.parametrize(
    ("fmt", "metrics"), [("github-smaller", SMALLER), ("github-bigger", BIGGER)]
)
def test_github_action_benchmark_export_is_valid_and_holds_the_summarys_values(
    report_dir: Path, tmp_path: Path, fmt: str, metrics: tuple[str, ...]
) -> None:
    exported = run_export(report_dir, fmt, tmp_path / "gab.json")
    jsonschema.validate(exported, GAB_SCHEMA)
    summary = json.loads((report_dir / "summary.json").read_text())
    want = expected(summary, metrics)
    got = {e["name"]: e for e in exported}
    assert len(got) == len(exported), "names must be unique: the action keys its history by them"
    assert set(got) == set(want)
    for name, (value, interval) in want.items():
        assert got[name]["value"] == value, name
        assert ("range" in got[name]) == (interval is not None), name
        if interval:
            assert f"{interval[0]:g} to {interval[1]:g}" in got[name]["range"]
    # Both variants, every fixture scenario, and the work figures are all there.
    assert {n.split(".")[0] for n in got} == {"sync", "delegated"}
    assert {n.split(".")[1] for n in got} == set(summary["scenarios"])


def test_bencher_export_is_valid_and_holds_the_summarys_values_and_intervals(
    report_dir: Path, tmp_path: Path
) -> None:
    exported = run_export(report_dir, "bencher", tmp_path / "bmf.json")
    jsonschema.validate(exported, BMF_SCHEMA)
    summary = json.loads((report_dir / "summary.json").read_text())
    want = expected(summary, SMALLER + BIGGER)
    got = {
        f"{bench}.{slug}": metric
        for bench, measures in exported.items()
        for slug, metric in measures.items()
    }
    slug = {m: m.replace("_", "-").replace(".", "-") for m in IN_SUMMARY}
    assert len(got) == len(want)
    with_interval = 0
    for name, (value, interval) in want.items():
        variant, scenario, endpoint, metric = name.split(".", 3)
        entry = got[f"{variant}.{scenario}.{endpoint}.{slug[metric]}"]
        assert entry["value"] == value, name
        if interval:
            with_interval += 1
            assert (entry["lower_value"], entry["upper_value"]) == tuple(interval), name
            assert entry["lower_value"] <= value <= entry["upper_value"], name
        else:
            assert "lower_value" not in entry and "upper_value" not in entry, name
    assert with_interval >= 10  # the percentiles carry their intervals


def test_export_refuses_bad_input_in_one_line(
    report_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", str(report_dir), "--format", "csv"]) == 2
    assert main(["export", str(report_dir)]) == 2
    assert main(["export", str(tmp_path / "nope"), "--format", "bencher"]) == 2
    out = tmp_path / "no" / "such" / "dir" / "x.json"
    assert main(["export", str(report_dir), "--format", "bencher", "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.count("analysis: error:") == 4
