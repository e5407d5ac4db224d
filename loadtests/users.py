"""Locust glue shared by every locustfile: the options, one Run per process and test, BenchUser.

Pacing (see loadtests.pacing) is open-model by default, and an open model must not run out of
users: -u is only the starting count. When a user claims a slot and no other user holds a later
one (all are in their requests), more users are spawned at once, up to --max-users
(default: the peak rate x the client timeout, the most a run can need, capped; see pacing). A
slow target then shows its own latency, not the generator's limit; late starts that remain mean
the generator's CPU (or the cap), and the stats file says how many users it took.

Distributed mode (--processes N, or --master/--worker): on test start the master stamps the
number of connected workers and a common t0 into parsed_options, which Locust ships to each
worker with its spawn message; worker k then takes global slots k, k+N, ... at the total rate.
With a separate --master, start it with --expect-workers N so that all N are connected first.
Workers send their rows and stats to the master over Locust's messages (loadtests.distributed).
"""

from __future__ import annotations

import logging
import os
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import gevent
from gevent.event import Event
from gevent.pool import Group
from geventhttpclient import HTTPClient
from locust import User, events
from locust.env import Environment
from locust.exception import CatchResponseError, StopTest
from locust.runners import STATE_RUNNING, MasterRunner, Runner, WorkerRunner

from core.contracts import REQUEST_ID_HEADER, WORK_ID_HEADER
from core.processes import raise_open_files
from loadtests import distributed
from loadtests.options import Options, add_arguments, ready_file
from loadtests.pacing import (
    OPEN_FILES_WANTED,
    Pacer,
    Schedule,
    grow_by,
    max_users,
    users_cap,
)
from loadtests.plans import RequestIds
from loadtests.recorder import (
    RawRecorder,
    Recorder,
    create_raw_file,
    error_text,
    merge_stats,
    reset_stats,
    stats_path,
)

logger = logging.getLogger("loadtests")

# Small batches keep each flush short (a long one would delay the responses being timed).
FLUSH_INTERVAL_S = 0.25
# A user with no slot left (the stages are over) checks back this often.
IDLE_SLEEP_S = 0.5
GO_POLL_S = 0.01  # how often a Locust told to wait looks for its go file
# A master t0 further off than this from a worker's clock is not trusted (another machine).
T0_SKEW_S = 5.0


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Run:
    """One process's share of one test."""

    def __init__(
        self, options: Options, pacer: Pacer, recorder: Recorder | None, stopping: Event
    ) -> None:
        self.options = options
        self.stopping = stopping
        self.pacer = pacer
        self.recorder = recorder
        self.ids = RequestIds(options.seed, options.scenario, options.variant, options.repeat)
        self.followups = Group()
        self.extra: dict[str, int] = {}
        self.waiting = 0  # users holding a claimed slot whose time has not come
        self.max_users = 0  # 0: never grow (closed model)
        self.peak_users = 0
        self.t_stop: float | None = None
        self._cpu0, self._wall0 = _cpu_s(), time.time()
        self._flusher = gevent.spawn(self._flush_loop) if recorder is not None else None

    def count(self, key: str) -> None:
        self.extra[key] = self.extra.get(key, 0) + 1

    def grow_if_full(self, runner: Runner | None, user_class: str) -> None:
        """Called as a user claims a slot: when no other user holds a later one (all are in
        requests), nobody would be free for the next slot, so spawn more users now."""
        if runner is None or runner.state != STATE_RUNNING or self.pacer.stopping:
            return
        count = runner.user_count
        self.peak_users = max(self.peak_users, count)
        # Until every user has claimed its first slot, a lone claimer is only the first.
        if self.waiting or self.pacer.taken <= count or count >= self.max_users:
            return
        more = grow_by(count, self.max_users)
        runner.spawn_users({user_class: more})
        self.peak_users = count + more
        self.count("users_added")

    def _flush_loop(self) -> None:
        assert self.recorder is not None
        while True:
            gevent.sleep(FLUSH_INTERVAL_S)
            self.recorder.flush()

    def finish(self) -> dict[str, Any]:
        t_stop = self.t_stop or time.time()
        self.followups.kill(block=True, timeout=2)
        if self._flusher is not None:
            self._flusher.kill(block=True)
        if self.recorder is not None:
            self.recorder.close()
        wall_s = max(time.time() - self._wall0, 1e-9)
        cpu_s = _cpu_s() - self._cpu0
        return {
            "worker_index": self.pacer.worker_index,
            "worker_count": self.pacer.worker_count,
            "pid": os.getpid(),
            "t0": self.pacer.t0,
            "t_stop": t_stop,
            **vars(self.pacer.stats(t_stop)),
            "rows": self.recorder.written if self.recorder is not None else 0,
            "peak_users": self.peak_users,
            "max_users": self.max_users,
            "cpu_s": round(cpu_s, 3),
            "wall_s": round(wall_s, 3),
            "cpu_percent": round(100 * cpu_s / wall_s, 1),
            "extra": dict(self.extra),
        }


_run: Run | None = None


def current_run() -> Run:
    if _run is None:
        raise RuntimeError("no delegate-bench test is running in this process")
    return _run


def _on_parser(parser: Any, **_kw: Any) -> None:
    add_arguments(parser)


def _on_init(environment: Environment, **_kw: Any) -> None:
    # The runner starts Locust while it prepares the stack, so that the imports overlap the
    # restarts; the load waits for its go (a worker process waits for its master instead).
    # The runner gives its go once every Locust it started is ready, so that no load meets
    # another's start-up.
    go_file = Options.from_namespace(environment.parsed_options).go_file
    if go_file and not isinstance(environment.runner, WorkerRunner):
        Path(ready_file(go_file)).touch()
        while not os.path.exists(go_file):
            gevent.sleep(GO_POLL_S)
    # gevent's timers count from the loop's cached "now", taken when the loop was made, before
    # the imports. On a busy machine those take seconds, and Locust's -t timer, set after this,
    # would fire that much early: a "3 s" run got 0.15 s of load. Bring "now" up to date.
    gevent.get_hub().loop.update_now()


def _on_test_start(environment: Environment, **_kw: Any) -> None:
    global _run
    options = Options.from_namespace(environment.parsed_options)
    runner = environment.runner
    if not isinstance(runner, WorkerRunner) and options.raw_out:
        create_raw_file(options.raw_out)
        reset_stats(stats_path(options.raw_out))
    if isinstance(runner, MasterRunner):
        if environment.parsed_options is not None:
            environment.parsed_options.bench_worker_count = max(runner.worker_count, 1)
            environment.parsed_options.bench_t0 = time.time()
        if options.raw_out:
            writer = RawRecorder(options.raw_out, options.scenario, options.variant, options.repeat)
            path = stats_path(options.raw_out)
            distributed.start_collecting(runner, writer, path, stats_meta(options))
        return
    index, count, t0 = 0, 1, time.time()
    if isinstance(runner, WorkerRunner):
        index = max(runner.worker_index, 0)
        count = int(getattr(environment.parsed_options, "bench_worker_count", 1))
        master_t0 = getattr(environment.parsed_options, "bench_t0", None)
        if master_t0 is not None and abs(t0 - float(master_t0)) < T0_SKEW_S:
            t0 = float(master_t0)
        if index >= count:
            logger.warning("worker index %d >= worker count %d: slots will overlap", index, count)
    if options.closed_model:
        schedule = None
    else:
        schedule = (
            Schedule(options.stages) if options.stages else Schedule.fixed(options.arrival_rate)
        )
    stopping = Event()
    pacer = Pacer(
        schedule,
        t0=t0,
        late_threshold_s=options.late_threshold_ms / 1000,
        clock=time.time,
        sleep=stopping.wait,  # a sleep that the test's stop cuts short
        worker_index=index,
        worker_count=count,
    )
    recorder: Recorder | None = None
    if isinstance(runner, WorkerRunner):
        recorder = distributed.RowSender(runner) if options.raw_out else None
    elif options.raw_out:
        recorder = RawRecorder(options.raw_out, options.scenario, options.variant, options.repeat)
    _run = Run(options, pacer, recorder, stopping)
    if schedule is not None:
        timeout_s = max(
            (
                getattr(u, "network_timeout", BenchUser.network_timeout)
                for u in environment.user_classes
            ),
            default=BenchUser.network_timeout,
        )
        cap = users_cap(raise_open_files(OPEN_FILES_WANTED))
        _run.max_users = max_users(options, timeout_s, count, cap)


def _on_test_stopping(**_kw: Any) -> None:
    if _run is not None and _run.t_stop is None:
        _run.t_stop = time.time()
        _run.pacer.stopping = True
        # Wake users waiting for a future slot, or Locust's --stop-timeout would wait for them.
        _run.stopping.set()


def stats_meta(options: Options) -> dict[str, Any]:
    """What the stats file says about the test as a whole."""
    return {
        "scenario": options.scenario,
        "variant": options.variant,
        "repeat": options.repeat,
        "seed": options.seed,
        "model": "closed" if options.closed_model else "open",
        "arrival_rate": options.arrival_rate,
        "stages": [list(s) for s in options.stages],
        "late_threshold_ms": options.late_threshold_ms,
        "raw_out": options.raw_out,
    }


def _on_test_stop(environment: Environment, **_kw: Any) -> None:
    global _run
    run, _run = _run, None
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        distributed.finish_collecting(environment)  # waits for every worker's last rows
        return
    worker = run.finish() if run is not None else None
    if worker is not None:
        logger.info(
            "pacing: %(slots_planned)d slots planned, %(slots_started)d started, "
            "%(late_starts)d late, %(dropped)d dropped; generator CPU %(cpu_percent)s%%",
            worker,
        )
    if isinstance(runner, WorkerRunner):
        distributed.send_done(runner, worker)  # after the last rows, which run.finish() sent
    elif run is not None and worker is not None and run.options.raw_out:
        merge_stats(stats_path(run.options.raw_out), stats_meta(run.options), worker)


def _listen(hook: Any, listener: Callable[..., None]) -> None:
    hook.add_listener(listener)  # EventHook is untyped; its decorator form would erase our types


_listen(events.init_command_line_parser, _on_parser)
_listen(events.init, _on_init)
_listen(events.test_start, _on_test_start)
_listen(events.test_stopping, _on_test_stopping)
_listen(events.test_stop, _on_test_stop)


class Answer(NamedTuple):
    status: int  # 0: no response
    request_id: str  # as the server echoed it
    # The row's work id: the one the answer named (X-Work-ID), else work_id(request_id).
    work_id: str


class BenchUser(User):
    """A user that takes arrival slots and writes one raw row per request.

    It speaks HTTP through geventhttpclient's HTTPClient itself rather than FastHttpUser's
    session: the session's cookie jar, URL parsing and header merging ran inside the timed
    window on every request (about 0.3 ms of the ~1 ms a loopback /noop takes). Locust's stats
    are fed the same request event, after the clock has stopped.
    """

    abstract = True
    # Seconds; a subclass may set them (e.g. per instance, before this __init__ runs).
    network_timeout: float = 60.0
    connection_timeout: float = 60.0
    concurrency = 10  # connections a user may open at once (login follow-ups share them)

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        if not self.host:
            raise StopTest("no target: give --host")
        self.http = HTTPClient.from_url(
            self.host,
            network_timeout=self.network_timeout,
            connection_timeout=self.connection_timeout,
            concurrency=self.concurrency,
        )
        # When each of this user's greenlets (login follow-ups share the pool) had built its
        # request and asked for a connection. Connecting stays in the latency: a new
        # connection waits for the target to accept it.
        self.sent_at: dict[gevent.Greenlet, float] = {}
        pool = self.http._connection_pool  # geventhttpclient offers no hook; pinned in the lock
        get_socket = pool.get_socket

        def timed_get_socket() -> Any:
            self.sent_at[gevent.getcurrent()] = time.time()
            return get_socket()

        pool.get_socket = timed_get_socket  # type: ignore[method-assign]

    def on_stop(self) -> None:
        self.http.close()

    def wait_time(self) -> float:
        run = _run
        return run.options.think_time_s if run is not None and run.options.closed_model else 0.0

    def next_slot(self) -> tuple[int, float, float] | None:
        """(global slot, intended start, actual start), after waiting for the slot's time;
        None when there is no slot to fire (schedule over, or the test is stopping)."""
        got = self.take_slot()
        if got is None:
            return None
        slot, intended = got
        start = self.wait_for(intended)
        return None if start is None else (slot, intended, start)

    def take_slot(self) -> tuple[int, float] | None:
        """Claim the next slot, in slot order; wait_for(intended) then waits for its time."""
        run = current_run()
        got = run.pacer.take()
        if got is None:
            run.stopping.wait(IDLE_SLEEP_S)
            return None
        run.grow_if_full(self.environment.runner, type(self).__name__)
        run.waiting += 1
        return got

    def wait_for(self, intended: float) -> float | None:
        """Wait for a claimed slot's time: the actual start, or None if the test is stopping."""
        run = current_run()
        try:
            return run.pacer.wait(intended)
        finally:
            run.waiting -= 1

    def call(
        self,
        endpoint: str,
        method: str,
        path: str,
        request_id: str,
        intended: float,
        start: float,
        *,
        name: str | None = None,
        data: str | None = None,
        headers: dict[str, str] | None = None,
        work_id: Callable[[str], str] | None = None,
        registered: str = "",
    ) -> Answer:
        """Send, record the row, then count it in Locust's stats."""
        status, error, rid, end, length = 0, "stopped", request_id, 0.0, 0
        promised = ""
        failure: BaseException | None = None
        sent = (
            {REQUEST_ID_HEADER: request_id, **headers}
            if headers
            else {REQUEST_ID_HEADER: request_id}
        )
        try:
            response = self.http.request(method, path, body=data, headers=sent)
            try:
                length = len(response.read())
            finally:
                response.release()
            end = time.time()
            status = response.status_code
            rid = str(response.get(REQUEST_ID_HEADER) or request_id)
            promised = str(response.get(WORK_ID_HEADER) or "")
            error = error_text(status)
        except Exception as e:  # no answer: refused, reset or timed out (status 0)
            end, failure = time.time(), e
            error = error_text(0, e)
        finally:  # a user killed mid-request by the stop leaves an "stopped" row
            start = self.sent_at.pop(gevent.getcurrent(), start)
            if _run is not None:
                _run.pacer.sent(intended, start)
            work = promised or (work_id(rid) if work_id is not None else "")
            recorder = _run.recorder if _run is not None else None
            if recorder is not None:
                recorder.rows.append(
                    (
                        endpoint,
                        intended,
                        start,
                        end or time.time(),
                        status,
                        error,
                        rid,
                        work,
                        registered,
                    )
                )
        self.environment.events.request.fire(
            request_type=method,
            name=name or path,
            response_time=(end - start) * 1000,
            response_length=length,
            response=None,
            context={},
            exception=failure or (CatchResponseError(error) if error else None),
            start_time=start,
            url=path,
        )
        return Answer(status, rid, work)
