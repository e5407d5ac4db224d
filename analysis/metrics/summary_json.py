"""summary.json: the metrics of a run as plain JSON (schema_version 1)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.metrics.compute import Metrics, compute_metrics, scenario_order
from analysis.metrics.load import Run, RunError, load_run
from analysis.metrics.reliability import reliability_rows
from analysis.metrics.stats import PERCENTILES, clean, supported
from analysis.metrics.tickets import (
    SPREAD,
    TICKET_COLUMNS,
    design_of,
    spread_sentence,
    ticket_verdict,
)
from analysis.metrics.timing import BOUNDED
from analysis.metrics.work import COMPLETION, COMPLETION_BOUNDED
from analysis.names import COMPARED, WORK_COUNTS, AnalysisSettings, settings_for
from core.contracts import FAN_OUT

SCHEMA_VERSION = 1


def build_summary(run: Run, metrics: Metrics, settings: AnalysisSettings) -> dict[str, Any]:
    meta = run.meta
    return {
        "schema_version": SCHEMA_VERSION,
        "run": {
            "label": meta.get("label"),
            "started_at": meta.get("started_at"),
            "finished_at": meta.get("finished_at"),
            "git_sha": meta.get("git_sha"),
            "seed": meta.get("seed"),
            "cpu": meta.get("cpu"),
            "side_by_side": bool(meta.get("side_by_side", False)),
        },
        "complete": bool(meta.get("complete", False)),
        "incomplete_reason": meta.get("incomplete_reason"),
        "flags": meta.get("flags") or [],
        "analysis": asdict(settings),
        "scenarios": sorted(metrics.results["scenario"].unique().tolist(), key=scenario_order),
        "fault_windows": _records(run.windows),
        "skipped": meta.get("skipped") or [],
        "reliability": reliability_rows(run, metrics.ledger),
        "results": [_result(row, metrics) for row in _rows(metrics.results)],
        "comparisons": [_comparison(row) for row in _records(metrics.comparisons)],
        "floor": {
            str(f["variant"]): {**f, "supported": _support(PERCENTILES, f["requests"])}
            for f in _records(metrics.floor)
        },
        "enumeration": {
            "by_scenario": _records(metrics.enumeration),
            "verdicts": enumeration_verdicts(metrics.enumeration),
        },
        "tickets": ticket_verdicts(metrics.tickets, design_of(meta), metrics.tickets_by_repeat),
    }


def _result(row: dict[str, Any], metrics: Metrics) -> dict[str, Any]:
    scenario, variant, endpoint = row["scenario"], row["variant"], row["endpoint"]
    out: dict[str, Any] = {
        "scenario": scenario,
        "variant": variant,
        "endpoint": endpoint,
        "repeats": int(row["repeats"]),
        "requests": int(row["requests"]),
        "throughput_rps": clean(row["throughput_rps"]),
        "offered_rps": clean(row["offered_rps"]),
        "error_rate": clean(row["error_rate"]),
        "errors_by_kind": row["errors_by_kind"],
        "latency_ms": {k: clean(row[f"{k}_ms"]) for k in PERCENTILES},
        "latency_corrected_ms": {k: clean(row[f"{k}_corrected_ms"]) for k in PERCENTILES},
        "latency_requests": _int(row["latency_requests"]),
        # How many values each figure rests on, whether each percentile is more than the
        # maximum (p99 needs 100 values, p99.9 1,000), and ~95% intervals of each percentile
        # ([low, high], null where the sample does not reach).
        "n": {"latency_ms": _int(row["latency_requests"]), "completion_ms": None},
        "supported": {
            "latency_ms": _support(PERCENTILES, _int(row["latency_requests"])),
            "completion_ms": None,
        },
        "interval_ms": {
            "latency_ms": _intervals(row, BOUNDED, "{}_{}_ms"),
            "latency_corrected_ms": _intervals(row, BOUNDED, "{}_corrected_{}_ms"),
        },
        "late_starts": _int(row["late_starts"]),
        "late_start_rate": clean(row["late_start_rate"]),
        "fault_window": None,
        "work": None,
    }
    if _int(row.get("fault_requests")):
        out["fault_window"] = {
            "requests": _int(row["fault_requests"]),
            "error_rate": clean(row["fault_error_rate"]),
            "p50_ms": clean(row["fault_p50_ms"]),
            "p99_ms": clean(row["fault_p99_ms"]),
        }
    if not _missing(row.get("expected")):
        work: dict[str, Any] = {k: _int(row[k]) for k in WORK_COUNTS}
        work["completion_ms"] = {k: clean(row[f"completion_{k}_ms"]) for k in COMPLETION}
        out["work"] = work
        out["n"]["completion_ms"] = work["delivered"]
        out["supported"]["completion_ms"] = _support(COMPLETION, work["delivered"])
        out["interval_ms"]["completion_ms"] = _intervals(
            row, COMPLETION_BOUNDED, "completion_{}_{}_ms"
        )
    out["tickets"] = None
    if endpoint == "webhook":
        mine = metrics.tickets[
            (metrics.tickets["scenario"] == scenario) & (metrics.tickets["variant"] == variant)
        ]
        out["tickets"] = (
            {k: _json_value(v) for k, v in _rows(mine[list(TICKET_COLUMNS)])[0].items()}
            if len(mine)
            else None
        )
    queue = metrics.queue[
        (metrics.queue["scenario"] == scenario) & (metrics.queue["variant"] == variant)
    ]
    out["queue"] = None
    if len(queue):
        q = queue.iloc[0]
        out["queue"] = {
            "peak_depth": clean(q["peak_depth"]),
            "mean_depth": clean(q["mean_depth"]),
            "peak_in_progress": clean(q["peak_in_progress"]),
            "drain_s": clean(q["drain_s"]),
            "drained": bool(q["drained"]) if not _missing(q["drained"]) else None,
        }
    processes = metrics.processes[
        (metrics.processes["scenario"] == scenario) & (metrics.processes["variant"] == variant)
    ]
    out["processes"] = {
        str(p["process"]): {
            "peak_cpu_percent": clean(p["peak_cpu_percent"]),
            "peak_rss_mb": clean(p["peak_rss_mb"]),
        }
        for p in _rows(processes)
    }
    reps = metrics.per_repeat[
        (metrics.per_repeat["scenario"] == scenario)
        & (metrics.per_repeat["variant"] == variant)
        & (metrics.per_repeat["endpoint"] == endpoint)
    ]
    out["per_repeat"] = [
        {"repeat": int(r["repeat"]), **{k: clean(r[k]) for k in COMPARED}}
        for r in _rows(reps.sort_values("repeat"))
    ]
    return out


def ticket_verdicts(
    tickets: pd.DataFrame, designs: dict[str, str], by_repeat: pd.DataFrame | None = None
) -> list[dict[str, Any]]:
    """Each scenario x variant with orders, its job design and the lesson in words; with
    repeats, each repeat's figures and their spread."""
    rows = sorted(_rows(tickets), key=lambda r: (scenario_order(r["scenario"]), r["variant"]))
    repeats = _records(by_repeat) if by_repeat is not None else []
    out = []
    for row in rows:
        design = designs.get(row["scenario"], FAN_OUT)
        mine = [
            r for r in repeats if (r["scenario"], r["variant"]) == (row["scenario"], row["variant"])
        ]
        spread = spread_sentence(mine)
        verdict = ticket_verdict(row, design) + (f"; {spread}" if spread else "")
        out.append(
            {
                "scenario": row["scenario"],
                "variant": row["variant"],
                "design": design,
                "verdict": verdict,
                "per_repeat": [
                    {k: r.get(k) for k in ("repeat", "orders_sold", *SPREAD)} for r in mine
                ],
            }
        )
    return out


def _support(qs: dict[str, float], n: int | None) -> dict[str, bool]:
    return {k: supported(q, n) for k, q in qs.items()}


def _intervals(row: dict[str, Any], qs: dict[str, float], name: str) -> dict[str, list[Any]]:
    sides = ("low", "high")
    return {k: [clean(row.get(name.format(k, side), math.nan)) for side in sides] for k in qs}


def _comparison(row: dict[str, Any]) -> dict[str, Any]:
    """A comparison row, its two values also under their variants' names: a reader of the
    sync / delegated rows of older summaries finds `sync` and `delegated` where they were."""
    named = {row["numerator"]: row["numerator_value"], row["denominator"]: row["denominator_value"]}
    return {**row, **named}


def comparison_pair(row: dict[str, Any]) -> tuple[str, str]:
    """(numerator, denominator) of a comparison row; older summaries held sync / delegated only."""
    return str(row.get("numerator", "sync")), str(row.get("denominator", "delegated"))


def enumeration_verdicts(table: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per variant, the worst scenario: one distinguishable scenario is enough for an attacker."""
    out: dict[str, dict[str, Any]] = {}
    for variant, rows in table.groupby("variant"):
        worst = rows.sort_values("gap", ascending=False).iloc[0]
        out[str(variant)] = {
            "verdict": str(worst["verdict"]),
            "worst_scenario": str(worst["scenario"]),
            "worst_auc": clean(float(worst["auc"])),
        }
    return out


def current_summary(run_dir: Path, settings: AnalysisSettings | None = None) -> dict[str, Any]:
    """summary.json if the run has one, else computed from raw data (nothing written)."""
    if (run_dir / "summary.json").exists():
        return read_summary(run_dir / "summary.json")
    run = load_run(run_dir)
    settings = settings or settings_for(run.meta)
    return build_summary(run, compute_metrics(run, settings), settings)


def write_summary(summary: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n")


def read_summary(path: Path) -> dict[str, Any]:
    try:
        summary = json.loads(path.read_text())
    except FileNotFoundError:
        raise RunError(f"{path} is missing: run `python -m analysis report` first") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunError(f"{path} is not valid JSON ({exc})") from None
    if (
        not isinstance(summary, dict)
        or summary.get("schema_version") != SCHEMA_VERSION
        or not isinstance(summary.get("results"), list)
    ):
        raise RunError(f"{path} is not a schema_version {SCHEMA_VERSION} summary")
    for i, result in enumerate(summary["results"]):
        keys = ("scenario", "variant", "endpoint")
        if not isinstance(result, dict) or not all(isinstance(result.get(k), str) for k in keys):
            raise RunError(f"{path}: results[{i}] lacks a scenario, variant and endpoint")
    return summary


def _rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: _json_value(v) for k, v in row.items()} for row in _rows(frame)]


def _json_value(value: Any) -> Any:
    if isinstance(value, float):
        return clean(value)
    if _missing(value):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    return isinstance(value, float) and math.isnan(value)


def _int(value: Any) -> int | None:
    return None if _missing(value) else int(value)
