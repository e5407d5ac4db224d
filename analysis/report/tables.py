"""The report's tables: a column per variant and the figures' cells, built from summary.json."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from analysis.metrics.stats import PERCENTILES, supported
from analysis.metrics.summary_json import comparison_pair
from analysis.metrics.work import COMPLETION
from core.contracts import BASE_VARIANT

Result = dict[str, Any]
# What the overview marks as bad: a client waiting this long, this share of errors.
SLOW_P99_MS = 1000.0
ERROR_RATE_BAD = 0.01


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[str]]
    bad: frozenset[tuple[int, int]] = frozenset()  # (row, column) of cells to mark


Getter = Callable[[Result], Any]


def scenario_table(
    by_variant: dict[str, Result],
    floor: dict[str, Any] | None = None,
    comparisons: list[dict[str, Any]] | None = None,
) -> Table:
    """A column per variant, then sync ÷ each other variant where a ratio means something."""
    results = list(by_variant.values())
    base = by_variant.get(BASE_VARIANT)
    others = [v for v in by_variant if v != BASE_VARIANT] if base else []
    found = {
        (c["metric"], comparison_pair(c)[1]): c
        for c in comparisons or []
        if comparison_pair(c)[0] == BASE_VARIANT
    }

    def row(
        label: str,
        text: Callable[[Result], str],
        value: Getter | None = None,
        metric: str | None = None,
    ) -> list[str]:
        cells = [text(r) for r in results]
        for other in others:
            cells.append(_ratio(base, by_variant[other], value, found.get((metric or "", other))))
        return [label, *cells]

    def plain(get: Getter, fmt: Callable[[Any], str]) -> Callable[[Result], str]:
        return lambda r: fmt(get(r))

    def lat(block: str, key: str) -> Callable[[Result], str]:
        return lambda r: latency(r, block, key)

    lat_keys = [("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p99.9", "p999"), ("max", "max")]
    floor = floor or {}
    rows = [
        row("requests", plain(_path("requests"), count)),
        row(
            "throughput (OK/s)",
            plain(_path("throughput_rps"), lambda v: num(v, 1)),
            _path("throughput_rps"),
            "throughput_rps",
        ),
        row("error rate", plain(_path("error_rate"), pct)),
        row("errors by kind", plain(_path("errors_by_kind"), kinds)),
        *[
            row(f"latency {n}", lat("latency_ms", k), _path("latency_ms", k), f"{k}_ms")
            for n, k in lat_keys
        ],
        row("harness floor p50 / p99 (GET /noop)", lambda r: _floor(floor.get(r["variant"]))),
        row(
            "p99 from intended start",
            lat("latency_corrected_ms", "p99"),
            _path("latency_corrected_ms", "p99"),
            "p99_corrected_ms",
        ),
        row("late starts", plain(_path("late_starts"), count)),
        row("p99 inside fault windows", lambda r: _fault_p99(r), _path("fault_window", "p99_ms")),
        row("errors inside fault windows", plain(_path("fault_window", "error_rate"), pct)),
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
    if any(r["work"] for r in results):
        rows += [row(n, plain(_path("work", k), count)) for n, k in work]
        rows += [
            row(
                f"email accepted {p}",
                _completion(p),
                _path("work", "completion_ms", p),
                f"completion_{p}_ms",
            )
            for p in COMPLETION
        ]
    rows += [
        row("queue peak depth", plain(_path("queue", "peak_depth"), count)),
        row("queue drained after load (s)", plain(_path("queue", "drain_s"), lambda v: num(v, 1))),
        row("peak CPU, target (%)", plain(_process("peak_cpu_percent"), lambda v: num(v, 0))),
        row("peak CPU, busiest worker (%)", plain(_busiest_worker, lambda v: num(v, 0))),
        row(
            "peak CPU, load generator (%)",
            plain(
                lambda r: _get(r, "processes", "locust", "peak_cpu_percent"), lambda v: num(v, 0)
            ),
        ),
        row("peak RSS, target (MB)", plain(_process("peak_rss_mb"), lambda v: num(v, 0))),
    ]
    header = ["metric", *by_variant, *[f"{BASE_VARIANT} ÷ {o}" for o in others]]
    return Table(header, rows)


def _ratio(
    base: Result | None, other: Result, value: Getter | None, comparison: dict[str, Any] | None
) -> str:
    if base is None or value is None:
        return ""
    if comparison is not None:
        ratio = comparison.get("ratio")
    else:
        a, b = value(base), value(other)
        ratio = None if a is None or b is None or not b else a / b
    if ratio is None:
        return ""
    text = f"{ratio:,.2f}"
    if comparison and comparison.get("ci_low") is not None:
        text += f" (95% CI {comparison['ci_low']:,.2f}-{comparison['ci_high']:,.2f})"
    if comparison and comparison.get("bounded_by_harness"):
        text += ", bounded by the harness"
    return text


def _completion(key: str) -> Callable[[Result], str]:
    return lambda r: latency(r, "completion_ms", key) if r["work"] else "-"


def _floor(f: dict[str, Any] | None) -> str:
    if not f:
        return "-"
    return f"{ms(f['p50_ms'])} / {honest(f['p99_ms'], 0.99, f['requests'])}"


def _fault_p99(r: Result) -> str:
    window = r.get("fault_window") or {}
    return honest(window.get("p99_ms"), 0.99, window.get("requests"))


def _process(metric: str) -> Getter:
    return lambda r: _get(r, "processes", f"target-{r.get('variant')}", metric)


def _busiest_worker(r: Result) -> float | None:
    workers = [
        p.get("peak_cpu_percent") or 0
        for n, p in (r.get("processes") or {}).items()
        if n.startswith("worker")
    ]
    return max(workers, default=None)


def latency(r: Result, block: str, key: str) -> str:
    """A percentile as what it is: "13 ms (max of 42)" when too few values stand behind it."""
    if block == "completion_ms":
        value, q, n = _get(r, "work", block, key), COMPLETION[key], _get(r, "work", "delivered")
    else:
        value, q = r[block][key], PERCENTILES[key]
        n = _get(r, "n", "latency_ms") or r.get("latency_requests")
    return honest(value, q, n)


def honest(value: float | None, q: float, n: int | None) -> str:
    if value is None or n is None or q >= 1.0 or supported(q, n):
        return ms(value)
    return f"{ms(value)} (max of {n:,})"


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
