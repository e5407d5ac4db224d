"""The table at the end of a bench: the analysis's summary.json rows, variants side by side.

It renders, never recounts: the terminal and report.md show the same numbers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.table import Table

from core.contracts import FLOOR_SCENARIO, VARIANT_NAMES, WORK_ENDPOINTS

SCHEMA_VERSION = 1  # of summary.json
Result = Mapping[str, Any]  # one row of summary.json's results


def _work(key: str) -> Callable[[Result], Any]:
    return lambda r: (r.get("work") or {}).get(key)


# (header, the figure in a result row, digits shown)
COLUMNS: tuple[tuple[str, Callable[[Result], Any], int], ...] = (
    ("reqs", lambda r: r["requests"], 0),
    ("p50 ms", lambda r: r["latency_ms"]["p50"], 0),
    ("p99 ms", lambda r: r["latency_ms"]["p99"], 0),
    ("ok/s", lambda r: r["throughput_rps"], 1),
    ("err %", lambda r: None if r["error_rate"] is None else 100 * r["error_rate"], 1),
    ("owed", _work("expected"), 0),
    ("sent", _work("delivered"), 0),
    ("pending", _work("pending"), 0),
    ("lost", _work("lost"), 0),
    ("dup", _work("duplicates"), 0),
    ("dead", _work("dead_lettered"), 0),
    ("done p99 ms", lambda r: (_work("completion_ms")(r) or {}).get("p99"), 0),
)


def floors(summary: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The floor (GET /noop) of each variant, by name; empty for runs made before it existed."""
    found = summary.get("floor")
    rows = list(found.values()) if isinstance(found, Mapping) else found
    if not isinstance(rows, list):
        return {}
    return {str(r["variant"]): r for r in rows if isinstance(r, Mapping) and "variant" in r}


def floor_ms(floor: Mapping[str, Any] | None, key: str) -> float | None:
    if floor is None:
        return None
    value = floor.get(f"{key}_ms", (floor.get("latency_ms") or {}).get(key))
    return None if value is None else float(value)


class SummaryError(Exception):
    pass


def read_summary(path: Path) -> dict[str, Any]:
    try:
        summary = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SummaryError(f"cannot read {path} ({exc})") from None
    if not isinstance(summary, dict) or summary.get("schema_version") != SCHEMA_VERSION:
        raise SummaryError(f"{path} is not a schema_version {SCHEMA_VERSION} summary")
    return summary


def fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def shown(results: Sequence[Result]) -> list[Result]:
    """Per scenario x variant, the endpoints that promise work (all of them if none does)."""
    out: list[Result] = []
    results = [r for r in results if r["scenario"] != FLOOR_SCENARIO]  # beside, not a row
    scenarios = dict.fromkeys(r["scenario"] for r in results)
    for scenario in scenarios:
        rows = [r for r in results if r["scenario"] == scenario]
        promising = [r for r in rows if r["endpoint"] in WORK_ENDPOINTS]
        out += sorted(promising or rows, key=_variant_order)
    return out


def _variant_order(r: Result) -> tuple[int, str]:
    name = r["variant"]
    return (VARIANT_NAMES.index(name) if name in VARIANT_NAMES else len(VARIANT_NAMES), name)


def render_table(summary: Mapping[str, Any]) -> Table:
    table = Table(
        title="client: latency, errors | work: emails owed, sent, still queued, lost",
        title_justify="left",
    )
    for name in ("scenario", "variant", "endpoint"):
        table.add_column(name)
    for name, _, _ in COLUMNS:
        table.add_column(name, justify="right")
    floor = floors(summary)
    if floor:  # the generator + loopback's own latency, beside what each variant measured
        table.add_column("floor p50", justify="right")
        table.add_column("floor p99", justify="right")
    flagged = {(f["scenario"], f["variant"]) for f in summary.get("flags") or []}
    rows = shown(summary["results"])
    for i, row in enumerate(rows):
        first = i == 0 or rows[i - 1]["scenario"] != row["scenario"]
        last = i == len(rows) - 1 or rows[i + 1]["scenario"] != row["scenario"]
        mark = " !" if (row["scenario"], row["variant"]) in flagged else ""
        table.add_row(
            row["scenario"] if first else "",
            row["variant"] + mark,
            row["endpoint"],
            *(fmt(pick(row), digits) for _, pick, digits in COLUMNS),
            *(
                [fmt(floor_ms(floor.get(row["variant"]), k), 1) for k in ("p50", "p99")]
                if floor
                else []
            ),
            end_section=last and i < len(rows) - 1,
        )
    if flagged:
        table.caption = "! flagged run: see meta.json flags"
    return table
