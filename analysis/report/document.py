"""The content of a report (overview, verdicts, tables, charts), built from summary.json alone."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from analysis.metrics.compute import primary_endpoint, variant_order
from analysis.report.chartset import Chart
from analysis.report.reliability import HEADER as RELIABILITY_HEADER
from analysis.report.reliability import notes as reliability_notes
from analysis.report.reliability import table_rows as reliability_table_rows
from analysis.report.tables import (
    ERROR_RATE_BAD,
    SLOW_P99_MS,
    Result,
    Table,
    count,
    enumeration_table,
    honest,
    latency,
    ms,
    num,
    other_endpoints_table,
    pct,
    scenario_table,
)
from core.contracts import BASE_VARIANT


@dataclass(frozen=True)
class Section:
    scenario: str
    endpoint: str
    verdict: list[str]  # a line per variant, then what the reliability notes add
    table: Table
    others: Table | None
    charts: list[Chart] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        return f"scenario-{self.scenario}"


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
    overview: Table | None = None
    floor: str = ""
    tickets: list[str] = field(default_factory=list)  # the ticket job's lesson, in words
    ticket_charts: list[Chart] = field(default_factory=list)


def build_document(summary: dict[str, Any], charts: list[Chart]) -> Document:
    results: list[Result] = summary["results"]
    reliability = summary.get("reliability") or []
    said = reliability_notes(reliability)
    floor = summary.get("floor") or {}
    comparisons = summary.get("comparisons") or []
    sections, primaries = [], []
    for scenario in summary["scenarios"]:
        mine = [r for r in results if r["scenario"] == scenario]
        requests = Counter[str]()
        for r in mine:
            requests[r["endpoint"]] += r["requests"]
        endpoint = primary_endpoint(requests)
        by_variant = {r["variant"]: r for r in mine if r["endpoint"] == endpoint}
        by_variant = {v: by_variant[v] for v in sorted(by_variant, key=variant_order)}
        primaries.append(by_variant)
        others = [r for r in mine if r["endpoint"] != endpoint]
        ratios = [c for c in comparisons if (c["scenario"], c["endpoint"]) == (scenario, endpoint)]
        sections.append(
            Section(
                scenario=scenario,
                endpoint=endpoint,
                verdict=[*scenario_verdict(by_variant), *said.get(scenario, [])],
                table=scenario_table(by_variant, floor, ratios),
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
        charts=[c for c in charts if c.scenario is None and not is_ticket_chart(c)],
        reliability=(
            Table(RELIABILITY_HEADER, reliability_table_rows(reliability)) if reliability else None
        ),
        reliability_notes=[f"{k}: {' '.join(v)}" for k, v in said.items()],
        overview=overview_table(primaries, floor) if primaries else None,
        floor=floor_sentence(floor),
        tickets=ticket_sentences(summary),
        ticket_charts=[c for c in charts if is_ticket_chart(c)],
    )


def is_ticket_chart(chart: Chart) -> bool:
    return chart.file.rsplit("/", 1)[-1].startswith("tickets-")


def ticket_sentences(summary: dict[str, Any]) -> list[str]:
    """Each scenario x variant with orders, its lesson; and the design rows a variant skipped."""
    said = [f"{t['scenario']}: {t['verdict']}" for t in summary.get("tickets") or []]
    skips = [s for s in summary.get("skipped") or [] if s.get("variant")]
    if said and skips:
        names = ", ".join(sorted({f"{s['scenario']} x {s['variant']}" for s in skips}))
        said.append(f"Not run: {names} ({skips[0].get('reason')}).")
    return said


def run_warnings(summary: dict[str, Any]) -> list[str]:
    warnings = []
    if not summary.get("complete", False):
        reason = summary.get("incomplete_reason") or "no reason recorded"
        warnings.append(f"This run is incomplete ({reason}): read its numbers with care.")
    if summary.get("run", {}).get("side_by_side"):
        warnings.append(
            "A quick run: each login scenario's variants had their loads at the same time, on"
            " one machine, so their latencies measure each other too. It checks what happens to"
            " the work (lost, duplicated, errors); for latencies, run `make bench`, one variant"
            " at a time."
        )
    flags = summary.get("flags") or []
    for flag in flags.items() if isinstance(flags, dict) else flags:
        warnings.append(flag_sentence(flag))
    for skip in summary.get("skipped") or []:
        if skip.get("variant"):
            continue  # a job design's row a variant ignores: said with the tickets
        warnings.append(f"Scenario {skip.get('scenario')} was skipped: {skip.get('reason')}.")
    return warnings


def flag_sentence(flag: Any) -> str:
    """A runner flag ({scenario, variant, repeat, flag, detail}) as a sentence."""
    if not isinstance(flag, dict):
        return f"The runner flagged: {flag}."
    where = ", ".join(str(flag[k]) for k in ("scenario", "variant") if flag.get(k))
    if flag.get("repeat"):
        where += f" (repeat {flag['repeat']})"
    kind = str(flag.get("flag") or "flag").replace("_", " ").replace("-", " ")
    detail = str(flag.get("detail") or "").rstrip(".")
    return f"{where or 'The run'}: {kind}{': ' + detail if detail else ''}."


def floor_sentence(floor: dict[str, Any]) -> str:
    if not floor:
        return "This run measured no harness floor (GET /noop before the scenarios)."
    parts = []
    for variant in sorted(floor, key=variant_order):
        f = floor[variant]
        rate = f" at {num(f['rate'], 0)}/s" if f.get("rate") is not None else ""
        parts.append(
            f"{variant} p50 {ms(f['p50_ms'])}, p99 {honest(f['p99_ms'], 0.99, f['requests'])}{rate}"
        )
    return (
        "The harness's own floor (GET /noop on each target before the scenarios): "
        + "; ".join(parts)
        + ". A latency within 2x of its floor p50 says more about the harness than the target."
    )


def overview_table(primaries: list[dict[str, Result]], floor: dict[str, Any]) -> Table:
    """Every scenario x variant at a glance: client p99, errors, work lost, email p99."""
    header = ["scenario", "variant", "client p99", "floor p50", "errors", "work lost", "email p99"]
    rows: list[list[str]] = []
    bad: set[tuple[int, int]] = set()
    for by_variant in primaries:
        for i, (variant, r) in enumerate(by_variant.items()):
            work = r.get("work") or {}
            p99, rate = r["latency_ms"]["p99"], r["error_rate"] or 0.0
            lost = work.get("lost")
            row = len(rows)
            bad |= {(row, 2)} if p99 is not None and p99 >= SLOW_P99_MS else set()
            bad |= {(row, 4)} if rate >= ERROR_RATE_BAD else set()
            bad |= {(row, 5)} if lost else set()
            rows.append(
                [
                    r["scenario"] if i == 0 else "",
                    variant,
                    latency(r, "latency_ms", "p99"),
                    ms((floor.get(variant) or {}).get("p50_ms")),
                    pct(rate) if rate else "0",
                    count(lost),
                    latency(r, "completion_ms", "p99") if work else "-",
                ]
            )
    return Table(header, rows, frozenset(bad))


def scenario_verdict(by_variant: dict[str, Result]) -> list[str]:
    """One line per variant: its p99 (against the base's), errors, its work and the email's p99."""
    base = by_variant.get(BASE_VARIANT)
    lines = []
    for variant, r in by_variant.items():
        parts = [f"p99 {latency(r, 'latency_ms', 'p99')}"]
        if base is not None and r is not base:
            parts[0] += f", {_speed(base, r)}"
        rate = r["error_rate"] or 0.0
        parts.append(f"errors {pct(rate)}" if rate else "no errors")
        work = _work(r)
        if work:
            parts.append(work)
        if r["work"] and r["work"]["completion_ms"]["p99"] is not None:
            parts.append(f"email accepted p99 {latency(r, 'completion_ms', 'p99')}")
        lines.append(f"{variant}: {'; '.join(parts)}.")
    return lines


def _speed(base: Result, other: Result) -> str:
    """How `other`'s p99 compares with the base variant's, in a few words."""
    a, b = base["latency_ms"]["p99"], other["latency_ms"]["p99"]
    if a is None or b is None or min(a, b) <= 0:
        return f"not comparable with {base['variant']}"
    if max(a, b) <= 1.1 * min(a, b):
        return f"about as fast as {base['variant']}"
    ratio = max(a, b) / min(a, b)
    times = f"{ratio:,.0f}" if ratio >= 10 else f"{ratio:.1f}"
    return f"{times}x {'faster' if b < a else 'slower'} than {base['variant']}"


def _work(r: Result) -> str:
    work = r["work"]
    if not work:
        return ""
    parts = [f"delivered {work['delivered']:,} of {work['expected']:,} promised"]
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
    return ", ".join(parts)


def enumeration_sentence(verdicts: dict[str, dict[str, Any]]) -> str:
    if not verdicts:
        return "Account enumeration was not measured (no logins with both kinds of address)."
    parts = []
    for variant, v in verdicts.items():
        where = f"worst scenario {v['worst_scenario']}, AUC {num(v['worst_auc'], 2)}"
        parts.append(f"{variant}: {v['verdict']} ({where})")
    sentence = "Can login timing reveal registered addresses? " + "; ".join(parts) + "."
    # Only the base variant does the work inside the request; every other should not leak.
    for variant, v in verdicts.items():
        if variant != BASE_VARIANT and v["verdict"] != "indistinguishable":
            sentence += f" The {variant} variant should be indistinguishable and is NOT."
    return sentence
