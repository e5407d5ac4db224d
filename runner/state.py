"""What one scenario x variant run carries through its phases: the run, and its load."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.scenarios import Scenario
from queues.base import Queue
from runner import clocks
from runner.children import Child


@dataclass
class Retired:
    """A replaced target, maybe still finishing its work: SIGKILLed at `kill_at` (monotonic
    seconds) if it has not exited by then, as an orchestrator ends a grace period."""

    child: Child
    kill_at: float | None = None


@dataclass
class RunState:
    """One scenario x variant x repeat, from its preparation to its accounting."""

    scenario: Scenario
    variant: str
    repeat: int
    record: dict[str, Any]  # its entry in meta.json's runs
    show: Callable[[str], None]  # the progress line
    queue: Queue | None  # the variant's queue, when its work waits in one outside the target
    stop_timeout_s: float
    children: dict[str, Child] = field(default_factory=dict)  # what the sampler measures
    retired: list[Retired] = field(default_factory=list)  # targets replaced, maybe finishing
    # Unix seconds of the last target restart's signal: later requests met the replacement.
    replaced_at: float | None = None
    names: str = ""  # the variants run side by side with it, for the progress line

    @property
    def tag(self) -> dict[str, Any]:
        return {"scenario": self.scenario.name, "variant": self.variant, "repeat": self.repeat}

    @property
    def key(self) -> str:
        return f"{self.scenario.name}-{self.variant}-{self.repeat}"

    def status(self, doing: str) -> None:
        names = self.names or self.variant
        self.show(f"{self.scenario.name} x {names} (repeat {self.repeat}): {doing}")

    def swap(self, old: Child, new: Child | None) -> None:
        self.children.pop(old.name, None)
        if new is not None:
            self.children[new.name] = new


@dataclass(frozen=True)
class Launched:
    """A load generator started and waiting for its go file before its load."""

    child: Child
    log: Path
    raw_out: Path  # where its raw rows will go
    go_file: Path


@dataclass
class Load:
    """The load generator's run, from the moment its load started."""

    locust: Child
    log: Path
    raw_out: Path  # Locust's raw rows
    t0: float  # unix seconds: when the load started
    record: dict[str, Any]  # the run's entry in meta.json, where its events go
    clocks_start: dict[str, clocks.Probe]
    # Known once the load has ended.
    stats: dict[str, Any] = field(default_factory=dict)  # Locust's own totals
    clocks_end: dict[str, clocks.Probe] = field(default_factory=dict)
    cpu_max: float = 0.0  # as the sampler saw it

    def elapsed(self) -> float:
        return time.time() - self.t0

    def event(self, kind: str, at: float | None = None, **fields: Any) -> None:
        """One thing the runner did to the stack, in unix seconds and seconds from t0."""
        at = time.time() if at is None else at
        when = {"at": round(at, 6), "at_s": round(at - self.t0, 3)}
        self.record["events"].append({"kind": kind, **when, **fields})
