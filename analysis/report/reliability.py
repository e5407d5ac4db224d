"""The reliability table in words and markdown: one row per scenario x variant, then notes."""

from __future__ import annotations

from analysis.metrics.reliability import COUNTS, Row
from core.contracts import BASE_VARIANT, VARIANT_NAMES, variant
from queues import has_workers


def _queued(name: str) -> bool:
    """A variant whose work waits in a queue outside the web process."""
    return name in VARIANT_NAMES and has_workers(name)


def notes(rows: list[Row]) -> dict[str, list[str]]:
    """Plain sentences per scenario: crash delays, dead-letter reasons, what Redis kept."""
    out: dict[str, list[str]] = {}
    for r in rows:
        said = out.setdefault(r["scenario"], [])
        work, who = r["work"] or {}, r["variant"]
        crash = r["crash"]
        if crash and crash["affected"]:
            said.append(
                f"{who}: {crash['affected']} jobs lost a try to a crash; their email was accepted"
                f" at most {_s(crash['added_max_ms'])} later than the median"
                f" ({_s(crash['completion_p50_ms'])}), and their job re-ran and ended at most"
                f" {_s(crash['job_done_max_ms'])} after the request."
            )
        elif crash and _queued(who):
            said.append(f"{who}: no job lost a try to the crash.")
        if r["dead_letter_reasons"]:
            reasons = "; ".join(f"{n} x {k}" for k, n in r["dead_letter_reasons"].items())
            said.append(f"{who}: dead letters: {reasons}.")
        if r["redis_appendonly"] is False and _queued(who):
            lost = work.get("lost", 0)
            said.append(
                f"{who}: without persistence (no append-only file) the Redis restart lost the"
                f" queued work: {lost} of {work.get('expected', 0)} promised emails were never"
                " sent."
            )
        elif r["redis_appendonly"] and _queued(who):
            said.append(
                f"{who}: with the append-only file the queue survived the Redis restart: lost"
                f" {work.get('lost', 0)} of {work.get('expected', 0)}."
            )
        elif who in VARIANT_NAMES and who != BASE_VARIANT and not _queued(who) and work.get("lost"):
            # Reported, not gated: losing pending work with its process is what it promises.
            said.append(
                f"{who}: {work['lost']} of {work.get('expected', 0)} promised emails were never"
                f" sent ({variant(who).promises})."
            )
    return {k: v for k, v in out.items() if v}


def _s(ms: float | None) -> str:
    return "-" if ms is None else f"{ms / 1000:.1f} s"


HEADER = [
    "scenario",
    "variant",
    "load held",
    "faults injected",
    "expected",
    "delivered",
    "pending",
    "lost",
    "dead-lettered",
    "duplicate emails",
    "duplicate send attempts",
    "5xx to clients",
]


def table_rows(rows: list[Row]) -> list[list[str]]:
    out = []
    for r in rows:
        work = r["work"]
        cells = [f"{work[k]:,}" if work else "-" for k in COUNTS]
        rate = "-" if r["rate_rps"] is None else f"{r['rate_rps']:g}/s"
        load = f"{r['requests']:,} requests, {rate}"
        out.append(
            [r["scenario"], r["variant"], load, r["faults"], *cells, f"{r['server_errors']:,}"]
        )
    return out


def render_markdown(rows: list[Row], fuzz: list[Row] | None) -> str:
    lines = [_md(HEADER), _md(["---"] * 2 + ["---:"] + ["---"] + ["---:"] * 8)]
    lines += [_md(cells) for cells in table_rows(rows)]
    for scenario, said in notes(rows).items():
        lines += ["", f"**{scenario}**: " + " ".join(said)]
    if fuzz is not None:
        lines += ["", _md(["fuzzed route", "inputs tried", "5xx seen", "of them known"])]
        lines.append(_md(["---", "---:", "---:", "---:"]))
        lines += [
            _md([f["route"], f"{f['cases']:,}", f"{f['server_errors']:,}", f"{f['known']:,}"])
            for f in fuzz
        ]
        cases = sum(f["cases"] for f in fuzz)
        errors = sum(f["server_errors"] for f in fuzz)
        lines.append(_md(["total", f"{cases:,}", f"{errors:,}", ""]))
    return "\n".join(lines) + "\n"


def _md(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"
