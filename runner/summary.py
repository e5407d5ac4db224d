"""The table at the end of a bench: per scenario, sync and delegated on adjacent rows."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from typing import Any

from rich.table import Table

from runner.results import RunSummary

VARIANTS = ("sync", "delegated")


def _fmt(value: float, digits: int = 0) -> str:
    return "-" if math.isnan(value) else f"{value:,.{digits}f}"


def pooled(runs: Sequence[RunSummary], pick: Callable[[RunSummary], float], total: bool) -> float:
    """Counts add up over repetitions; rates and percentiles take the median repetition."""
    values = [v for v in (pick(r) for r in runs) if not math.isnan(v)]
    if not values:
        return math.nan
    return float(sum(values)) if total else float(statistics.median(values))


COLUMNS: tuple[tuple[str, Callable[[RunSummary], float], bool, int], ...] = (
    ("reqs", lambda r: r.requests, True, 0),
    ("p50 ms", lambda r: r.p50_ms, False, 0),
    ("p99 ms", lambda r: r.p99_ms, False, 0),
    ("ok/s", lambda r: r.throughput_rps, False, 1),
    ("errors", lambda r: r.errors, True, 0),
    ("owed", lambda r: r.expected, True, 0),
    ("sent", lambda r: r.delivered, True, 0),
    ("pending", lambda r: r.pending, True, 0),
    ("lost", lambda r: r.lost, True, 0),
    ("dup", lambda r: r.duplicates, True, 0),
    ("dead", lambda r: r.dead_lettered, True, 0),
    ("done p99 ms", lambda r: r.completion_p99_ms, False, 0),
)


def render_table(summaries: Sequence[RunSummary], flags: Sequence[dict[str, Any]]) -> Table:
    table = Table(
        title="client: latency, errors | work: emails owed, sent, still queued, lost",
        title_justify="left",
    )
    table.add_column("scenario")
    table.add_column("variant")
    for name, *_ in COLUMNS:
        table.add_column(name, justify="right")
    flagged = {(f["scenario"], f["variant"]) for f in flags}
    scenarios = list(dict.fromkeys(s.scenario for s in summaries))
    for i, scenario in enumerate(scenarios):
        for j, variant in enumerate(VARIANTS):
            runs = [s for s in summaries if s.scenario == scenario and s.variant == variant]
            if not runs:
                continue
            cells = [_fmt(pooled(runs, pick, total), digits) for _, pick, total, digits in COLUMNS]
            mark = " !" if (scenario, variant) in flagged else ""
            table.add_row(
                scenario if j == 0 else "",
                variant + mark,
                *cells,
                end_section=j == len(VARIANTS) - 1 and i < len(scenarios) - 1,
            )
    if flagged:
        table.caption = "! flagged run: see meta.json flags"
    return table
