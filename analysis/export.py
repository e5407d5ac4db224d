"""A run's key figures in the formats of github-action-benchmark and Bencher."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from analysis.gate.baseline import RULES
from analysis.gate.thresholds import METRICS, MetricPath, unsupported
from core.contracts import WORK_ENDPOINTS


@dataclass(frozen=True)
class Figure:
    metric: str  # a metric of the gate's paths (analysis.gate.thresholds.METRICS)
    title: str
    unit: str
    higher_is_better: bool = False


# The figures the issue names (client p50/p99, errors, work lost, request -> email p99), and
# two that grow when things go well, for github-action-benchmark's customBiggerIsBetter.
FIGURES = (
    Figure("p50_ms", "client p50", "ms"),
    Figure("p99_ms", "client p99", "ms"),
    Figure("error_rate", "errors", "share of requests"),
    Figure("work.lost", "work lost", "emails"),
    Figure("completion_p99_ms", "request to email p99", "ms"),
    Figure("throughput_rps", "throughput", "requests/s", higher_is_better=True),
    Figure("work.delivered", "work delivered", "emails", higher_is_better=True),
)
# Where summary.json keeps each figure's ~95% interval: the baseline gate's one list of them.
INTERVALS = {rule.metric: rule.interval for rule in RULES if rule.interval}


@dataclass(frozen=True)
class Entry:
    path: MetricPath
    figure: Figure
    value: float
    low: float | None
    high: float | None


def entries(summary: dict[str, Any]) -> list[Entry]:
    """Each variant x scenario x figure the run supports, on the endpoints that promise work:
    a figure the run lacks, or a percentile resting on too few values, is left out."""
    out = []
    for result in summary["results"]:
        if result["endpoint"] not in WORK_ENDPOINTS:
            continue
        for figure in FIGURES:
            value = METRICS[figure.metric](result, summary)
            if value is None or not math.isfinite(value) or unsupported(figure.metric, result):
                continue
            low, high = interval(result, INTERVALS.get(figure.metric, ()))
            path = MetricPath(
                result["variant"], result["scenario"], result["endpoint"], figure.metric
            )
            out.append(Entry(path, figure, value, low, high))
    return out


def interval(result: dict[str, Any], where: tuple[str, ...]) -> tuple[float | None, float | None]:
    """The ~95% interval summary.json keeps at `where` under interval_ms; (None, None) without
    one, as in older summaries or where the sample does not reach."""
    value: Any = result.get("interval_ms") if where else None
    for key in where:
        value = value.get(key) if isinstance(value, dict) else None
    if not isinstance(value, list) or len(value) != 2:
        return None, None
    low, high = (
        float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None for v in value
    )
    return (low, high) if low is not None and high is not None else (None, None)


def benchmark(entry: Entry) -> str:
    return f"{entry.path.variant}.{entry.path.scenario}.{entry.path.endpoint}"


def github_action_benchmark(found: list[Entry], *, bigger: bool) -> list[dict[str, Any]]:
    """customBiggerIsBetter / customSmallerIsBetter: [{name, unit, value, range?, extra}]."""
    out = []
    for e in found:
        if e.figure.higher_is_better != bigger:
            continue
        item: dict[str, Any] = {"name": str(e.path), "unit": e.figure.unit, "value": e.value}
        if e.low is not None and e.high is not None:
            item["range"] = f"~95% interval {e.low:g} to {e.high:g}"
        item["extra"] = e.figure.title
        out.append(item)
    return out


def bencher(found: list[Entry]) -> dict[str, dict[str, dict[str, float]]]:
    """Bencher Metric Format: {benchmark: {measure: {value, lower_value?, upper_value?}}}."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for e in found:
        metric = {"value": e.value}
        if e.low is not None and e.high is not None:
            metric |= {"lower_value": e.low, "upper_value": e.high}
        out.setdefault(benchmark(e), {})[measure(e.figure)] = metric
    return out


def measure(figure: Figure) -> str:
    """A Bencher measure slug (kebab case, at most 64 characters): p99_ms -> p99-ms."""
    return figure.metric.replace("_", "-").replace(".", "-")


FORMATS: dict[str, Callable[[list[Entry]], Any]] = {
    "github-smaller": lambda found: github_action_benchmark(found, bigger=False),
    "github-bigger": lambda found: github_action_benchmark(found, bigger=True),
    "bencher": bencher,
}


def export(summary: dict[str, Any], fmt: str) -> Any:
    return FORMATS[fmt](entries(summary))
