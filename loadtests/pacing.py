"""Open-model pacing: numbered arrival slots with intended start times, shared by a process's users.

Slot s of the whole test (all workers together) has an intended start `t0 + schedule.offset(s)`.
Worker k of n takes the global slots k, k+n, k+2n, ... so n workers together keep the total rate.
A user takes the next free slot, sleeps until its time and fires. When every user is busy the
slot's start is late: that is what coordinated omission hides and what we count. Slots whose time
passed before the test stopped, but that no user took, are dropped.

Users (-u) must exceed rate x worst latency, or slots start late; late starts show when they do.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from dataclasses import dataclass

from loadtests.options import Stages

# Rates x durations are floats: 0.1 x 30 must give 3 slots, not 4.
_EPS = 1e-9


def _slots_in(duration_s: float, rate: float) -> int:
    return max(0, math.ceil(duration_s * rate - _EPS))


class Schedule:
    """Intended offsets of the global slots: stages of (duration_s, rate); a fixed rate is one
    endless stage. Within a stage, slot m starts m/rate after the stage begins."""

    def __init__(self, stages: Stages) -> None:
        if not stages:
            raise ValueError("a schedule needs at least one stage")
        self.stages = stages
        self._starts: list[float] = []  # stage start offsets
        self._first: list[int] = []  # first global slot of each stage
        begin, first = 0.0, 0
        for duration_s, rate in stages:
            self._starts.append(begin)
            self._first.append(first)
            begin += duration_s
            first += _slots_in(duration_s, rate) if math.isfinite(duration_s) else 0
        self.duration_s = begin
        self.total = first if math.isfinite(begin) else None

    @classmethod
    def fixed(cls, rate: float) -> Schedule:
        if rate <= 0:
            raise ValueError("the arrival rate must be above 0 (or use --closed-model)")
        return cls(((math.inf, rate),))

    def offset(self, slot: int) -> float | None:
        """Seconds after t0 at which the slot should start; None past the last stage."""
        if self.total is not None and slot >= self.total:
            return None
        j = bisect.bisect_right(self._first, slot) - 1
        # Skip empty (rate 0) stages that share a first slot with the next one.
        while j + 1 < len(self._first) and self._first[j + 1] == self._first[j] and (
            _slots_in(*self.stages[j]) == 0
        ):
            j += 1
        return self._starts[j] + (slot - self._first[j]) / self.stages[j][1]

    def slots_before(self, offset_s: float) -> int:
        """How many global slots are due strictly before offset_s."""
        count = 0
        for (duration_s, rate), start in zip(self.stages, self._starts, strict=True):
            if offset_s <= start:
                break
            due = _slots_in(offset_s - start, rate)
            count += due if not math.isfinite(duration_s) else min(due, _slots_in(duration_s, rate))
        return count


def local_share(global_count: int, worker_index: int, worker_count: int) -> int:
    """How many of the first global_count slots belong to this worker."""
    if global_count <= worker_index:
        return 0
    return (global_count - worker_index + worker_count - 1) // worker_count


@dataclass
class PacingStats:
    slots_planned: int
    slots_started: int
    late_starts: int
    dropped: int
    max_late_ms: float


class Pacer:
    """One per process. `schedule=None` is the closed model: a slot is just a request number and
    its intended start is its actual start."""

    def __init__(
        self,
        schedule: Schedule | None,
        t0: float,
        late_threshold_s: float,
        clock: Callable[[], float],
        sleep: Callable[[float], object],
        worker_index: int = 0,
        worker_count: int = 1,
    ) -> None:
        self.schedule = schedule
        self.t0 = t0
        self.late_threshold_s = late_threshold_s
        self.clock = clock
        self.sleep = sleep
        self.worker_index = worker_index
        self.worker_count = worker_count
        self.taken = 0
        self.started = 0
        self.late = 0
        self.max_late_s = 0.0

    def acquire(self) -> tuple[int, float, float] | None:
        """Take the next slot, wait for its time: (global slot, intended, actual start).
        None when the schedule has no slots left."""
        slot = self.worker_index + self.taken * self.worker_count
        if self.schedule is None:
            self.taken += 1
            self.started += 1
            now = self.clock()
            return slot, now, now
        offset = self.schedule.offset(slot)
        if offset is None:
            return None
        self.taken += 1
        intended = self.t0 + offset
        wait = intended - self.clock()
        if wait > 0:
            self.sleep(wait)
        start = self.clock()
        self.started += 1
        late = start - intended
        if late > self.late_threshold_s:
            self.late += 1
            self.max_late_s = max(self.max_late_s, late)
        return slot, intended, start

    def stats(self, t_stop: float) -> PacingStats:
        if self.schedule is None:
            planned = self.started
        else:
            due = self.schedule.slots_before(t_stop - self.t0)
            planned = local_share(due, self.worker_index, self.worker_count)
        return PacingStats(
            slots_planned=planned,
            slots_started=self.started,
            late_starts=self.late,
            dropped=max(0, planned - self.started),
            max_late_ms=round(self.max_late_s * 1000, 3),
        )
