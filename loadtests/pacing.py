"""Open-model pacing: numbered arrival slots with intended start times, shared by a process's users.

Slot s of the whole test (all workers together) has an intended start `t0 + schedule.offset(s)`.
Worker k of n takes the global slots k, k+n, k+2n, ... so n workers together keep the total rate.
A user takes the next free slot, sleeps until its time and fires. When every user is busy the
slot's start is late: that is what coordinated omission hides and what we count. Slots whose time
passed before the test stopped, but that no user took, are dropped.

Users must exceed rate x worst latency, or slots start late: loadtests.users adds users when all
are busy, up to max_users() below; late starts that remain show.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from dataclasses import dataclass

from loadtests.options import Options, Stages

# Rates x durations are floats: 0.1 x 30 must give 3 slots, not 4.
_EPS = 1e-9
# Locust blocks its event loop for some ms when it begins to stop (it inspects the call stack),
# so slots due just before the stop are not counted as dropped.
STOP_GRACE_S = 0.1


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
        # The last stage starting at or before the slot: never an empty (rate 0) one.
        j = bisect.bisect_right(self._first, slot) - 1
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
        self.stopping = False

    def take(self) -> tuple[int, float] | None:
        """Claim the next slot without waiting: (global slot, intended start); None when the
        schedule has no slots left or the test is stopping. Claims come in slot order, so a
        plan that depends on order is made here, not after the wait."""
        if self.stopping:
            return None
        slot = self.worker_index + self.taken * self.worker_count
        if self.schedule is None:
            self.taken += 1
            return slot, self.clock()
        offset = self.schedule.offset(slot)
        if offset is None:
            return None
        self.taken += 1
        return slot, self.t0 + offset

    def wait(self, intended: float) -> float | None:
        """Sleep until the intended start; return the actual start (sent() counts it late or
        not). None if the test began to stop meanwhile: the slot is not started."""
        if self.schedule is not None and (wait := intended - self.clock()) > 0:
            self.sleep(wait)
        if self.stopping:
            return None
        self.started += 1
        # Closed model: the request starts when the user is ready, by definition on time.
        return intended if self.schedule is None else self.clock()

    def sent(self, intended: float, start: float) -> None:
        """Count a request late or not by when it was sent, the start its row records."""
        late = start - intended
        if late > self.late_threshold_s:
            self.late += 1
            self.max_late_s = max(self.max_late_s, late)

    def acquire(self) -> tuple[int, float, float] | None:
        """take(), wait(), then sent() at once: (global slot, intended, actual start)."""
        got = self.take()
        if got is None:
            return None
        slot, intended = got
        start = self.wait(intended)
        if start is None:
            return None
        self.sent(intended, start)
        return slot, intended, start

    def stats(self, t_stop: float) -> PacingStats:
        planned = dropped = 0
        if self.schedule is not None:
            k, n = self.worker_index, self.worker_count
            planned = local_share(self.schedule.slots_before(t_stop - self.t0), k, n)
            due = local_share(self.schedule.slots_before(t_stop - STOP_GRACE_S - self.t0), k, n)
            dropped = max(0, due - self.started)
        return PacingStats(
            slots_planned=max(planned, self.started),
            slots_started=self.started,
            late_starts=self.late,
            dropped=dropped,
            max_late_ms=round(self.max_late_s * 1000, 3),
        )


# Each user in a request holds a socket, two while a login's follow-up runs beside it; a process
# keeps some files for everything else. Beyond ~10,000 users, memory and spawning are the limit.
USERS_CAP = 10_000
SOCKETS_PER_USER = 2
FILES_RESERVE = 200
OPEN_FILES_WANTED = USERS_CAP * SOCKETS_PER_USER + FILES_RESERVE
# Users added at once: spawning blocks the event loop for ~50 us each, so keep batches small.
GROW_MIN, GROW_MAX = 10, 200


def users_cap(open_files: int) -> int:
    """The most users a process with this open-file limit can hold."""
    return max(1, min(USERS_CAP, (open_files - FILES_RESERVE) // SOCKETS_PER_USER))


def max_users(options: Options, timeout_s: float, worker_count: int, cap: int) -> int:
    """This process's user ceiling: enough for every slot of a client timeout to be in flight,
    as far as its open files allow (cap)."""
    if options.max_users:
        wanted = options.max_users
    else:
        peak = max((rate for _, rate in options.stages), default=options.arrival_rate)
        wanted = math.ceil(peak * timeout_s)
    return max(1, min(math.ceil(wanted / worker_count), cap))


def grow_by(count: int, ceiling: int) -> int:
    """How many users to add to count when all are busy."""
    return max(0, min(max(count // 4, GROW_MIN), GROW_MAX, ceiling - count))
