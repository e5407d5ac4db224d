"""The content of a report (verdicts, tables, charts), built from summary.json alone."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from analysis.metrics.compute import primary_endpoint
from analysis.metrics.work import COMPLETION
from analysis.report.chartset import Chart
from analysis.report.reliability import HEADER as RELIABILITY_HEADER
from analysis.report.reliability import notes as reliability_notes
from analysis.report.reliability import table_rows as reliability_table_rows

Result = dict[str, Any]


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Section:
    scenario: str
    endpoint: str
    verdict: str
    table: Table
    others: Table | None
    charts: list[Chart] = field(default_factory=list)


@dataclass(frozen=True)
class Document:
    title: str
    warnings: list[str]
    enumeration_verdict: str
    sections: list[Section]
    enumeration: Table
    charts: list[Chart]  # across scenarios
    reliability: Table | None = None
    reliability_notes: list[str] = field(default_factory=list)


def build_document(summary: dict[str, Any], charts: list[Chart]) -> Document:
    results: list[Result] = summary["results"]
    reliability = summary.get("reliability") or []
    said = reliability_notes(reliability)
    sections = []
    for scenario in summary["scenarios"]:
        mine = [r for r in results if r["scenario"] == scenario]
        requests = Counter[str]()
        for r in mine:
            requests[r["endpoint"]] += r["requests"]
        endpoint = primary_endpoint(requests)
        pair = {r["variant"]: r for r in mine if r["endpoint"] == endpoint}
        others = [r for r in mine if r["endpoint"] != endpoint]
        sections.append(
            Section(
                scenario=scenario,
                endpoint=endpoint,
                verdict=" ".join([scenario_verdict(pair), *said.get(scenario, [])]),
                table=scenario_table(pair),
                others=other_endpoints_table(others) if others else None,
                charts=[c for c in charts if c.scenario == scenario],
            )
        )
    label = summary.get("run", {}).get("label") or "run"
    return Document(
        title=f"delegate-bench: {label}",
        warnings=run_warnings(summary),
        enumeration_verdict=enumeration_sentence(summary["enumeration"]["verdicts"]),
        sections=sections,
        enumeration=enumeration_table(summary["enumeration"]["by_scenario"]),
        charts=[c for c in charts if c.scenario is None],
        reliability=(
            Table(RELIABILITY_HEADER, reliability_table_rows(reliability)) if reliability else None
        ),
        reliability_notes=[f"{k}: {' '.join(v)}" for k, v in said.items()],
    )


def run_warnings(summary: dict[str, Any]) -> list[str]:
    warnings = []
    if not summary.get("complete", False):
        reason = summary.get("incomplete_reason") or "no reason recorded"
        warnings.append(f"This run is incomplete ({reason}): read its numbers with care.")
    flags = summary.get("flags") or []
    for flag in flags.items() if isinstance(flags, dict) else flags:
        warnings.append(f"Flag from the runner: {flag}")
    for skip in summary.get("skipped") or []:
        warnings.append(f"Scenario {skip.get('scenario')} was skipped: {skip.get('reason')}.")
    return warnings


def scenario_verdict(pair: dict[str, Result]) -> str:
    sync, delegated = pair.get("sync"), pair.get("delegated")
    if sync is None or delegated is None:
        only = sync or delegated
        assert only is not None
        return f"Only {only['variant']} ran: p99 {ms(only['latency_ms']['p99'])}."
    sentences = [_speed(sync, delegated), _errors(sync, delegated)]
    sentences += [s for s in (_work(sync), _work(delegated)) if s]
    completion = [
        f"{r['variant']} {ms(r['work']['completion_ms']['p99'])}"
        for r in (sync, delegated)
        if r["work"] and r["work"]["completion_ms"]["p99"] is not None
    ]
    if completion:
        sentences.append(
            "Email accepted by the provider, p99 after the request: " + ", ".join(completion) + "."
        )
    return " ".join(sentences)


def _speed(sync: Result, delegated: Result) -> str:
    a, b = sync["latency_ms"]["p99"], delegated["latency_ms"]["p99"]
    if a is None or b is None:
        return "Latency was not measured for both variants."
    if max(a, b) <= 1.1 * min(a, b):
        return f"Both answered about as fast (p99 {ms(a)} sync, {ms(b)} delegated)."
    fast, slow = (delegated, sync) if b < a else (sync, delegated)
    f, s = min(a, b), max(a, b)
    times = f"{s / f:,.0f}" if s / f >= 10 else f"{s / f:.1f}"
    return (
        f"{fast['variant']} answered faster: p99 {ms(f)} against {ms(s)} for "
        f"{slow['variant']} ({times}x)."
    )


def _errors(sync: Result, delegated: Result) -> str:
    a, b = sync["error_rate"] or 0.0, delegated["error_rate"] or 0.0
    if a == 0 and b == 0:
        return "No errors."
    return f"Errors: sync {pct(a)}, delegated {pct(b)}."


def _work(r: Result) -> str:
    work = r["work"]
    if not work:
        return ""
    parts = [f"{r['variant']} delivered {work['delivered']:,} of {work['expected']:,} promised"]
    if work.get("pending"):
        parts.append(f"{work['pending']:,} still queued when the run stopped waiting")
    if work["lost"]:
        parts.append(f"LOST {work['lost']:,}")
    if work["dead_lettered"]:
        parts.append(f"dead-lettered {work['dead_lettered']:,}")
    if work["duplicates"]:
        parts.append(f"sent {work['duplicates']:,} duplicates")
    if not work["lost"]:
        parts.append("lost none")
    return ", ".join(parts) + "."


def enumeration_sentence(verdicts: dict[str, dict[str, Any]]) -> str:
    if not verdicts:
        return "Account enumeration was not measured (no logins with both kinds of address)."
    parts = []
    for variant, v in verdicts.items():
        where = f"worst scenario {v['worst_scenario']}, AUC {num(v['worst_auc'], 2)}"
        parts.append(f"{variant}: {v['verdict']} ({where})")
    sentence = "Can login timing reveal registered addresses? " + "; ".join(parts) + "."
    delegated = verdicts.get("delegated")
    if delegated and delegated["verdict"] != "indistinguishable":
        sentence += " The delegated variant should be indistinguishable and is NOT."
    return sentence


def _row(
    label: str,
    sync: Result | None,
    delegated: Result | None,
    get: Callable[[Result], Any],
    fmt: Callable[[Any], str],
    ratio: bool = True,
) -> list[str]:
    a = get(sync) if sync else None
    b = get(delegated) if delegated else None
    r = "" if not ratio or a is None or b is None or not b else f"{a / b:,.2f}"
    return [label, fmt(a), fmt(b), r]


def scenario_table(pair: dict[str, Result]) -> Table:
    s, d = pair.get("sync"), pair.get("delegated")
    lat = [("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p99.9", "p999"), ("max", "max")]
    rows = [
        _row("requests", s, d, lambda r: r["requests"], count, ratio=False),
        _row("throughput (OK/s)", s, d, lambda r: r["throughput_rps"], lambda v: num(v, 1)),
        _row("error rate", s, d, lambda r: r["error_rate"], pct, ratio=False),
        _row("errors by kind", s, d, lambda r: r["errors_by_kind"], kinds, ratio=False),
        *[_row(f"latency {n}", s, d, _path("latency_ms", k), ms) for n, k in lat],
        _row("p99 from intended start", s, d, lambda r: r["latency_corrected_ms"]["p99"], ms),
        _row("late starts", s, d, lambda r: r["late_starts"], count, ratio=False),
        _row("p99 inside fault windows", s, d, lambda r: _get(r, "fault_window", "p99_ms"), ms),
        _row(
            "errors inside fault windows",
            s,
            d,
            lambda r: _get(r, "fault_window", "error_rate"),
            pct,
            ratio=False,
        ),
    ]
    work = [
        ("work promised", "expected"),
        ("work delivered", "delivered"),
        ("work still queued (pending)", "pending"),
        ("work LOST", "lost"),
        ("work dead-lettered", "dead_lettered"),
        ("duplicate emails", "duplicates"),
        ("duplicate send attempts", "duplicate_attempts"),
        ("sent though not promised", "unpromised"),
    ]
    if (s and s["work"]) or (d and d["work"]):
        rows += [_row(n, s, d, _path("work", k), count, ratio=False) for n, k in work]
        rows += [
            _row(f"email accepted {p}", s, d, _path("work", "completion_ms", p), ms)
            for p in COMPLETION
        ]
    rows += [
        _row("queue peak depth", s, d, lambda r: _get(r, "queue", "peak_depth"), count, False),
        _row(
            "queue drained after load (s)",
            s,
            d,
            lambda r: _get(r, "queue", "drain_s"),
            lambda v: num(v, 1),
            ratio=False,
        ),
        _row(
            "peak CPU, target (%)",
            s,
            d,
            lambda r: _get(r, "processes", f"target-{r.get('variant')}", "peak_cpu_percent"),
            lambda v: num(v, 0),
            ratio=False,
        ),
        _row(
            "peak CPU, busiest worker (%)",
            s,
            d,
            lambda r: max(
                (
                    p.get("peak_cpu_percent") or 0
                    for n, p in (r.get("processes") or {}).items()
                    if n.startswith("worker")
                ),
                default=None,
            ),
            lambda v: num(v, 0),
            ratio=False,
        ),
        _row(
            "peak CPU, load generator (%)",
            s,
            d,
            lambda r: _get(r, "processes", "locust", "peak_cpu_percent"),
            lambda v: num(v, 0),
            ratio=False,
        ),
        _row(
            "peak RSS, target (MB)",
            s,
            d,
            lambda r: _get(r, "processes", f"target-{r.get('variant')}", "peak_rss_mb"),
            lambda v: num(v, 0),
            ratio=False,
        ),
    ]
    return Table(["metric", "sync", "delegated", "sync ÷ delegated"], rows)


def other_endpoints_table(results: list[Result]) -> Table:
    rows = [
        [
            r["endpoint"],
            r["variant"],
            count(r["requests"]),
            ms(r["latency_ms"]["p50"]),
            ms(r["latency_ms"]["p99"]),
            pct(r["error_rate"]),
        ]
        for r in sorted(results, key=lambda r: (r["endpoint"], r["variant"] != "sync"))
    ]
    return Table(["endpoint", "variant", "requests", "p50", "p99", "error rate"], rows)


def enumeration_table(rows: list[dict[str, Any]]) -> Table:
    return Table(
        ["scenario", "variant", "AUC", "registered p50", "unknown p50", "verdict"],
        [
            [
                r["scenario"],
                r["variant"],
                num(r["auc"], 2),
                ms(r["registered_p50_ms"]),
                ms(r["unknown_p50_ms"]),
                r["verdict"],
            ]
            for r in rows
        ],
    )


def _path(*keys: str) -> Callable[[Result], Any]:
    return lambda r: _get(r, *keys)


def _get(r: Result, *path: str) -> Any:
    value: Any = r
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def ms(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 10_000:
        return f"{value / 1000:,.1f} s"
    return f"{value:,.0f} ms" if value >= 10 else f"{value:.1f} ms"


def pct(value: float | None) -> str:
    if value is None:
        return "-"
    return "0%" if value == 0 else f"{value * 100:.2g}%" if value < 0.1 else f"{value:.0%}"


def count(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def kinds(value: dict[str, int] | None) -> str:
    if not value:
        return "-"
    return ", ".join(f"{k} {v:,}" for k, v in sorted(value.items(), key=lambda kv: -kv[1]))
