from __future__ import annotations

import math

import pytest

from loadtests.options import Options, parse_stages
from loadtests.pacing import (
    FILES_RESERVE,
    GROW_MAX,
    GROW_MIN,
    OPEN_FILES_WANTED,
    STOP_GRACE_S,
    USERS_CAP,
    Pacer,
    Schedule,
    grow_by,
    local_share,
    max_users,
    users_cap,
)


class FakeClock:
    """Time that moves only when someone sleeps (or the test says so)."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def pacer(schedule: Schedule | None, clock: FakeClock, index: int = 0, count: int = 1) -> Pacer:
    return Pacer(schedule, clock(), 0.010, clock, clock.sleep, index, count)


def test_fixed_rate_slots_are_evenly_spaced() -> None:
    schedule = Schedule.fixed(20)
    assert [schedule.offset(s) for s in range(4)] == [0.0, 0.05, 0.1, 0.15]
    assert schedule.total is None
    assert schedule.slots_before(1.0) == 20
    assert schedule.slots_before(1.0001) == 21
    assert schedule.slots_before(0.0) == 0


def test_stages_step_the_rate_and_end() -> None:
    schedule = Schedule(parse_stages("10:20,10:40"))
    assert schedule.total == 600
    assert schedule.offset(199) == pytest.approx(9.95)
    assert schedule.offset(200) == pytest.approx(10.0)
    assert schedule.offset(201) == pytest.approx(10.025)
    assert schedule.offset(599) == pytest.approx(19.975)
    assert schedule.offset(600) is None
    assert schedule.slots_before(10.0) == 200
    assert schedule.slots_before(10.01) == 201
    assert schedule.slots_before(1e6) == 600


def test_a_rate_zero_stage_is_a_pause_and_fractions_round_up() -> None:
    paused = Schedule(parse_stages("5:0,5:10"))
    assert paused.offset(0) == pytest.approx(5.0)
    assert paused.slots_before(5.0) == 0
    slow = Schedule(parse_stages("10:0.15,30:0.1"))
    assert slow.total == 2 + 3  # 0.1 x 30 is 3 slots, not 4
    assert slow.offset(1) == pytest.approx(10 / 1.5)
    assert slow.offset(2) == pytest.approx(10.0)


def test_workers_interleave_to_the_total_rate() -> None:
    schedule = Schedule(parse_stages("2:30,1:60"))
    taken: list[tuple[int, float]] = []
    for index in range(3):
        clock = FakeClock(0.0)
        p = pacer(schedule, clock, index, 3)
        while (got := p.take()) is not None:
            taken.append(got)
    assert sorted(s for s, _ in taken) == list(range(120))
    assert all(t == schedule.offset(s) for s, t in taken)
    assert sum(local_share(100, i, 3) for i in range(3)) == 100
    assert [local_share(2, i, 3) for i in range(3)] == [1, 1, 0]


def test_on_time_starts_sleep_until_the_slot() -> None:
    clock = FakeClock()
    p = pacer(Schedule.fixed(10), clock)
    starts = [p.acquire() for _ in range(3)]
    assert starts == [(0, 1000.0, 1000.0), (1, 1000.1, 1000.1), (2, 1000.2, 1000.2)]
    stats = p.stats(clock() + 0.05)
    assert (stats.slots_planned, stats.slots_started, stats.late_starts, stats.dropped) == (
        3,
        3,
        0,
        0,
    )


def test_a_busy_user_makes_starts_late_and_missed_slots_dropped() -> None:
    clock = FakeClock()
    p = pacer(Schedule.fixed(10), clock)
    p.acquire()  # slot 0 at t0
    clock.now += 0.35  # the only user was busy for 350 ms
    late = [p.acquire() or (0, 0.0, 0.0) for _ in range(3)]  # slots 1-3 were due by now
    assert [(s, round(start - intended, 3)) for s, intended, start in late] == [
        (1, 0.25),
        (2, 0.15),
        (3, 0.05),
    ]
    on_time = p.acquire()  # caught up
    assert on_time is not None and on_time[0] == 4 and on_time[1] == on_time[2]
    clock.now += 0.105  # 5 ms late: under the 10 ms threshold
    p.acquire()
    stats = p.stats(1000.0 + 1.0 + STOP_GRACE_S)  # slots 0..9 were due well before the stop
    assert stats.late_starts == 3
    assert stats.max_late_ms == pytest.approx(250.0)
    assert (stats.slots_planned, stats.slots_started, stats.dropped) == (11, 6, 4)
    # Slot 10, due inside the grace window before the stop, is planned but not dropped.


def test_no_slots_once_stopping_or_past_the_schedule() -> None:
    clock = FakeClock()
    p = pacer(Schedule(parse_stages("1:2")), clock)
    assert p.acquire() is not None
    assert p.acquire() is not None
    assert p.take() is None
    q = pacer(Schedule.fixed(5), clock)
    got = q.take()
    q.stopping = True  # while the user slept until its slot
    assert got is not None and q.wait(got[1]) is None
    assert q.take() is None
    assert q.stats(clock()).slots_started == 0


def test_closed_model_starts_at_once() -> None:
    clock = FakeClock()
    p = pacer(None, clock, index=1, count=2)
    assert p.acquire() == (1, 1000.0, 1000.0)
    clock.now += 3
    assert p.acquire() == (3, 1003.0, 1003.0)
    stats = p.stats(2000.0)
    assert (stats.slots_planned, stats.slots_started, stats.late_starts, stats.dropped) == (
        2,
        2,
        0,
        0,
    )


def test_a_fixed_rate_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Schedule.fixed(0)
    assert math.isinf(Schedule.fixed(1).duration_s)


def test_users_may_grow_to_rate_times_timeout_capped_by_open_files_and_shared() -> None:
    many = OPEN_FILES_WANTED
    assert max_users(Options(arrival_rate=20), 10.0, 1, users_cap(many)) == 200
    spike = Options(stages=parse_stages("10:20,10:400"))
    assert max_users(spike, 60.0, 1, users_cap(many)) == USERS_CAP
    # Locust's usual limit of 10,000 files: two sockets a user, some files kept back.
    assert max_users(spike, 60.0, 1, users_cap(10_000)) == (10_000 - FILES_RESERVE) // 2
    # The cap is per process: three workers may hold three times as many.
    assert max_users(spike, 10.0, 3, users_cap(many)) == 1334
    assert max_users(Options(arrival_rate=20), 10.0, 3, users_cap(many)) == 67
    assert max_users(Options(max_users=50), 60.0, 2, users_cap(many)) == 25
    assert [grow_by(n, 1000) for n in (1, 100, 2000)] == [GROW_MIN, 25, 0]
    assert grow_by(995, 1000) == 5 and grow_by(10_000, 100_000) == GROW_MAX
