"""A run's spans (OTLP JSON lines, a file per process) read back as flat records and trees."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.tracing import SPANS_SUFFIX, WORK_ID

# OTLP's SpanKind numbers, as its JSON encoding writes them.
INTERNAL, SERVER, CLIENT, PRODUCER, CONSUMER = 1, 2, 3, 4, 5


@dataclass(frozen=True)
class SpanRecord:
    trace_id: str
    span_id: str
    parent_id: str  # "" for a trace's root
    name: str
    kind: int
    start_ns: int
    end_ns: int
    service: str
    attributes: dict[str, Any] = field(default_factory=dict)
    events: tuple[str, ...] = ()
    links: tuple[str, ...] = ()  # the span ids it links to

    @property
    def work_id(self) -> str:
        return str(self.attributes.get(WORK_ID, ""))

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9


def _value(value: dict[str, Any]) -> Any:
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in value:
            return value[key]
    if "intValue" in value:
        return int(value["intValue"])  # a string in OTLP JSON
    return None


def _attributes(items: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {a["key"]: _value(a.get("value", {})) for a in items}


def parse_line(line: str) -> Iterator[SpanRecord]:
    for resource_spans in json.loads(line).get("resourceSpans", []):
        resource = _attributes(resource_spans.get("resource", {}).get("attributes", []))
        service = str(resource.get("service.name", ""))
        for scope in resource_spans.get("scopeSpans", []):
            for s in scope.get("spans", []):
                yield SpanRecord(
                    trace_id=s["traceId"],
                    span_id=s["spanId"],
                    parent_id=s.get("parentSpanId", ""),
                    name=s["name"],
                    kind=int(s.get("kind", INTERNAL)),
                    start_ns=int(s["startTimeUnixNano"]),
                    end_ns=int(s["endTimeUnixNano"]),
                    service=service,
                    attributes=_attributes(s.get("attributes", [])),
                    events=tuple(e["name"] for e in s.get("events", [])),
                    links=tuple(link["spanId"] for link in s.get("links", [])),
                )


def read_spans(folder: Path) -> list[SpanRecord]:
    """Every span of every process's file in `folder`, oldest first; a torn last line (a
    process killed mid-write) is skipped."""
    spans: list[SpanRecord] = []
    for path in sorted(folder.glob(f"*{SPANS_SUFFIX}")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                spans.extend(parse_line(line))
            except (ValueError, KeyError):
                continue
    return sorted(spans, key=lambda s: s.start_ns)


def traces_of_work(spans: Iterable[SpanRecord], work_id: str) -> dict[str, list[SpanRecord]]:
    """The traces that a work's spans belong to, each with all of its spans."""
    spans = list(spans)
    ids = {s.trace_id for s in spans if s.work_id == work_id}
    return {t: [s for s in spans if s.trace_id == t] for t in sorted(ids)}


def roots(spans: Iterable[SpanRecord]) -> list[SpanRecord]:
    """The spans whose parent is not among them: one, for a connected trace."""
    spans = list(spans)
    ids = {s.span_id for s in spans}
    return [s for s in spans if s.parent_id not in ids]


def ancestors(span: SpanRecord, spans: Iterable[SpanRecord]) -> list[SpanRecord]:
    """Its parent, the parent's parent, ... up to the root."""
    by_id = {s.span_id: s for s in spans}
    found: list[SpanRecord] = []
    while span.parent_id in by_id:
        span = by_id[span.parent_id]
        found.append(span)
    return found
