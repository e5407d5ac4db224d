"""The regression gate: parse thresholds.txt and check a summary against it.

Grammar (also at the top of thresholds.txt):

    threshold  := expression OPERATOR number [except]  one per line, `#` starts a comment
    expression := path | path "/" path               a value, or a ratio of two values
    except     := "except" name ("," name)*          what a `*` must not match (`*` globs)
    path       := variant "." scenario "." endpoint "." metric
    OPERATOR   := "<" | "<=" | ">" | ">=" | "==" | "!="

`*` in the variant, scenario or endpoint position matches every value in the run. In a ratio,
a `*` on the right takes the value the left side matched in that position. `except` names
variants, scenarios or endpoints the wildcards leave out.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from analysis.metrics.stats import PERCENTILES, min_support, supported
from analysis.metrics.tickets import TICKET_COLUMNS
from analysis.metrics.work import COMPLETION
from analysis.names import WORK_COUNTS
from core.contracts import ENDPOINTS, VARIANT_NAMES
from core.scenarios import SCENARIO_NAMES

Result = dict[str, Any]
Getter = Callable[[Result, dict[str, Any]], float | None]


class GateError(Exception):
    """A thresholds file or run the gate cannot use; the message is one line for the user."""


def _at(*keys: str) -> Getter:
    def get(result: Result, summary: dict[str, Any]) -> float | None:
        value: Any = result
        for key in keys:
            if not isinstance(value, dict):
                return None
            value = value.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            where = f"{result['variant']}.{result['scenario']}.{result['endpoint']}"
            raise GateError(f"the summary's {'.'.join(keys)} of {where} is {value!r}, not a number")
        return float(value)

    return get


def _enumeration(field: str) -> Getter:
    def get(result: Result, summary: dict[str, Any]) -> float | None:
        if result["endpoint"] != "login":
            return None
        enumeration = summary.get("enumeration")
        rows = enumeration.get("by_scenario") if isinstance(enumeration, dict) else None
        for row in rows if isinstance(rows, list) else []:
            if not isinstance(row, dict):
                raise GateError("the summary's enumeration.by_scenario holds a non-object")
            if (
                row.get("scenario") == result["scenario"]
                and row.get("variant") == result["variant"]
            ):
                value = row.get(field)
                if value is None:
                    return None
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise GateError(f"the summary's enumeration {field} is {value!r}, not a number")
                return float(value)
        return None

    return get


METRICS: dict[str, Getter] = {
    "requests": _at("requests"),
    "throughput_rps": _at("throughput_rps"),
    "offered_rps": _at("offered_rps"),
    "error_rate": _at("error_rate"),
    "late_starts": _at("late_starts"),
    "late_start_rate": _at("late_start_rate"),
    **{f"{p}_ms": _at("latency_ms", p) for p in PERCENTILES},
    **{f"{p}_corrected_ms": _at("latency_corrected_ms", p) for p in PERCENTILES},
    **{f"work.{k}": _at("work", k) for k in WORK_COUNTS},
    **{f"completion_{p}_ms": _at("work", "completion_ms", p) for p in COMPLETION},
    "fault.p50_ms": _at("fault_window", "p50_ms"),
    "fault.p99_ms": _at("fault_window", "p99_ms"),
    "fault.error_rate": _at("fault_window", "error_rate"),
    "queue.peak_depth": _at("queue", "peak_depth"),
    "queue.mean_depth": _at("queue", "mean_depth"),
    "queue.drain_s": _at("queue", "drain_s"),
    **{f"tickets.{k}": _at("tickets", k) for k in TICKET_COLUMNS},
    # A capacity run's knees (analysis/capacity_report.py); null when only a bound was found.
    "capacity.client_rps": _at("capacity", "client_rps"),
    "capacity.work_rps": _at("capacity", "work_rps"),
    "enumeration_auc": _enumeration("auc"),
    "enumeration_gap": _enumeration("gap"),
}


def _count(*keys: str) -> Callable[[Result], int | None]:
    def get(result: Result) -> int | None:
        value = _at(*keys)(result, {})
        return None if value is None else int(value)

    return get


def _latency_n(result: Result) -> int | None:
    # `n` is newer than `latency_requests`, which holds the same count.
    return _count("n", "latency_ms")(result) or _count("latency_requests")(result)


# Percentile metrics: the quantile, and how many values the figure rests on.
SUPPORT: dict[str, tuple[float, Callable[[Result], int | None]]] = {
    **{f"{p}_ms": (q, _latency_n) for p, q in PERCENTILES.items()},
    **{f"{p}_corrected_ms": (q, _latency_n) for p, q in PERCENTILES.items()},
    **{f"completion_{p}_ms": (q, _count("work", "delivered")) for p, q in COMPLETION.items()},
    "fault.p50_ms": (0.5, _count("fault_window", "requests")),
    "fault.p99_ms": (0.99, _count("fault_window", "requests")),
}


def unsupported(metric: str, result: Result) -> str | None:
    """Why a percentile of this result is no percentile (too few values), else None."""
    if metric not in SUPPORT:
        return None
    q, count = SUPPORT[metric]
    n = count(result)
    if n is None or supported(q, n):
        return None
    return f"{metric} rests on {n} values, so it is their maximum (needs {min_support(q):,})"


OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
_PATH = r"[A-Za-z0-9_*.\-]+"
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_NAMES = r"[A-Za-z0-9_*\-]+(?:\s*,\s*[A-Za-z0-9_*\-]+)*"
_LINE = re.compile(
    rf"^(?P<left>{_PATH})\s*(?:/\s*(?P<right>{_PATH})\s*)?(?P<op><=|>=|==|!=|<|>)\s*"
    rf"(?P<limit>{_NUMBER})(?:\s+except\s+(?P<excepted>{_NAMES}))?$"
)


@dataclass(frozen=True)
class MetricPath:
    variant: str
    scenario: str
    endpoint: str
    metric: str

    def __str__(self) -> str:
        return f"{self.variant}.{self.scenario}.{self.endpoint}.{self.metric}"

    @property
    def wild(self) -> bool:
        return "*" in (self.variant, self.scenario, self.endpoint)

    def matches(self, result: Result) -> bool:
        return all(
            mine in ("*", result[key])
            for mine, key in (
                (self.variant, "variant"),
                (self.scenario, "scenario"),
                (self.endpoint, "endpoint"),
            )
        )

    def bound_to(self, result: Result) -> MetricPath:
        """This path with each `*` replaced by the value `result` has in that position."""
        return MetricPath(
            result["variant"] if self.variant == "*" else self.variant,
            result["scenario"] if self.scenario == "*" else self.scenario,
            result["endpoint"] if self.endpoint == "*" else self.endpoint,
            self.metric,
        )


@dataclass(frozen=True)
class Threshold:
    line: int
    text: str
    left: MetricPath
    right: MetricPath | None
    op: str
    limit: float
    excepted: frozenset[str] = frozenset()
    limit_text: str = ""  # the limit as the line writes it

    def row(self, result: Result) -> str:
        """This threshold as written, its `*`s bound to `result`: one row of the gate's table."""
        right = f" / {self.right.bound_to(result)}" if self.right is not None else ""
        limit = self.limit_text or f"{self.limit:g}"
        return f"{self.left.bound_to(result)}{right} {self.op} {limit}"

    def leaves_out(self, result: Result) -> bool:
        names = (result["variant"], result["scenario"], result["endpoint"])
        return any(fnmatchcase(name, pattern) for pattern in self.excepted for name in names)


@dataclass(frozen=True)
class Check:
    name: str
    threshold: str
    value: float | None
    status: str  # "pass", "fail" or "skip"
    detail: str = ""


@dataclass(frozen=True)
class Names:
    variants: frozenset[str]
    scenarios: frozenset[str]
    endpoints: frozenset[str]

    @classmethod
    def known(cls, summary: dict[str, Any] | None = None) -> Names:
        results = (summary or {}).get("results", [])
        return cls(
            frozenset(VARIANT_NAMES) | {r["variant"] for r in results},
            frozenset(SCENARIO_NAMES) | {r["scenario"] for r in results},
            frozenset(ENDPOINTS) | {r["endpoint"] for r in results},
        )


def parse_thresholds(text: str, names: Names, source: str = "thresholds") -> list[Threshold]:
    out = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"{source}:{number}"
        match = _LINE.match(line)
        if not match:
            raise GateError(
                f"{where}: cannot read {line!r}; expected e.g. "
                "`delegated.outage.login.p99_ms < 100` or `a.b.c.p99_ms / d.b.c.p99_ms > 10`"
            )
        left = _parse_path(match["left"], names, where)
        right = _parse_path(match["right"], names, where) if match["right"] else None
        excepted = _parse_excepted(match["excepted"] or "", left, names, where)
        out.append(
            Threshold(
                number,
                line,
                left,
                right,
                match["op"],
                float(match["limit"]),
                excepted,
                match["limit"],
            )
        )
    return out


def _parse_excepted(text: str, path: MetricPath, names: Names, where: str) -> frozenset[str]:
    excepted = frozenset(n.strip() for n in text.split(",") if n.strip())
    if excepted and not path.wild:
        raise GateError(f"{where}: `except` needs a `*` in the path to leave something out of")
    known = names.variants | names.scenarios | names.endpoints
    unknown = sorted(p for p in excepted if not any(fnmatchcase(n, p) for n in known))
    if unknown:
        raise GateError(
            f"{where}: `except` {', '.join(map(repr, unknown))} matches no variant, scenario"
            " or endpoint"
        )
    return excepted


def _parse_path(text: str, names: Names, where: str) -> MetricPath:
    parts = text.split(".", 3)
    if len(parts) != 4 or not all(parts):
        raise GateError(f"{where}: {text!r} is not variant.scenario.endpoint.metric")
    path = MetricPath(*parts)
    for value, known, what in (
        (path.variant, names.variants, "variant"),
        (path.scenario, names.scenarios, "scenario"),
        (path.endpoint, names.endpoints, "endpoint"),
    ):
        if value != "*" and value not in known:
            raise GateError(
                f"{where}: unknown {what} {value!r} (known: {', '.join(sorted(known))})"
            )
    if path.metric not in METRICS:
        raise GateError(f"{where}: unknown metric {path.metric!r} (known: {', '.join(METRICS)})")
    return path


def evaluate(thresholds: list[Threshold], summary: dict[str, Any]) -> list[Check]:
    checks: list[Check] = []
    for threshold in thresholds:
        checks += _evaluate_one(threshold, summary)
    return checks


def _evaluate_one(threshold: Threshold, summary: dict[str, Any]) -> list[Check]:
    results: list[Result] = summary["results"]
    left = threshold.left
    matched = [r for r in results if left.matches(r) and not threshold.leaves_out(r)]
    if not matched:
        return [Check(threshold.text, threshold.text, None, "skip", _absent(left, summary))]
    checks = []
    for result in matched:
        # Every row, skipped or not, reads as its line: two rows never look alike.
        name = threshold.row(result)
        value = METRICS[left.metric](result, summary)
        if value is None:
            # A wildcard sweeping over endpoints that have no such metric (no work on /noop).
            if not left.wild:
                checks.append(Check(name, threshold.text, None, "skip", "not measured"))
            continue
        thin = unsupported(left.metric, result)
        if thin:
            checks.append(Check(name, threshold.text, value, "skip", thin))
            continue
        if threshold.right is not None:
            right = threshold.right.bound_to(result)
            other = next((r for r in results if right.matches(r)), None)
            denominator = METRICS[right.metric](other, summary) if other else None
            if other is None or denominator is None:
                checks.append(Check(name, threshold.text, None, "skip", f"{right} not measured"))
                continue
            thin = unsupported(right.metric, other)
            if thin:
                checks.append(Check(name, threshold.text, None, "skip", f"{right}: {thin}"))
                continue
            value = _divide(value, denominator)
            if math.isnan(value):
                checks.append(Check(name, threshold.text, None, "skip", "0 / 0"))
                continue
        ok = OPERATORS[threshold.op](value, threshold.limit)
        checks.append(Check(name, threshold.text, value, "pass" if ok else "fail"))
    if not checks:
        checks.append(Check(threshold.text, threshold.text, None, "skip", "not measured"))
    return checks


def _absent(path: MetricPath, summary: dict[str, Any]) -> str:
    scenarios = summary.get("scenarios")
    if path.scenario != "*" and path.scenario not in (
        scenarios if isinstance(scenarios, list) else []
    ):
        return f"scenario {path.scenario} not in this run"
    return "nothing in this run matches"


def _divide(numerator: float, denominator: float) -> float:
    if denominator == 0:
        return math.nan if numerator == 0 else math.inf
    return numerator / denominator


def run_checks(summary: dict[str, Any]) -> list[Check]:
    """Checks that hold for any gate: the run finished."""
    complete = bool(summary.get("complete", False))
    reason = summary.get("incomplete_reason") or ""
    return [
        Check(
            "run is complete",
            "run.complete",
            float(complete),
            "pass" if complete else "fail",
            "" if complete else str(reason),
        )
    ]
