"""Locust's master-worker channel carries what a worker measured: no shared file system.

Workers send their raw rows in batches (ROWS) and, when their test stops, their last rows and
their stats (DONE); messages from one worker arrive in order, so DONE comes after its last rows.
The master writes the one raw file and the one stats file. A headless master ends its test
before it tells the workers to quit, so on its own test stop it asks each worker to finish
(FINISH) and waits for every DONE. Clock probes (PING, PONG) at the start and the end of the
test measure each worker's clock against the master's as NTP does: t0 sent, the worker's time,
t1 received; offset = worker - (t0 + t1) / 2, good to within half the round trip.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
from locust import events
from locust.env import Environment
from locust.rpc import Message
from locust.runners import MasterRunner, WorkerRunner

from loadtests.recorder import RawRecorder, Row, merge_stats

logger = logging.getLogger("loadtests")

ROWS, DONE, FINISH, PING, PONG = (
    "bench_rows",
    "bench_done",
    "bench_finish",
    "bench_ping",
    "bench_pong",
)
PROBES = 3  # per phase; the one with the shortest round trip is kept
PROBE_WAIT_S = 5.0
DONE_MARGIN_S = 30.0  # past the stop timeout, for the last rows of a busy worker
POLL_S = 0.05


class RowSender:
    """A worker's recorder: each flush ships its rows to the master as one message."""

    def __init__(self, runner: WorkerRunner) -> None:
        self.runner = runner
        self.rows: list[Row] = []
        self.written = 0

    def flush(self) -> int:
        rows, self.rows = self.rows, []
        if rows:
            self.runner.send_message(ROWS, {"rows": rows})
            self.written += len(rows)
        return len(rows)

    def close(self) -> None:
        self.flush()


def send_done(runner: WorkerRunner, stats: dict[str, Any] | None) -> None:
    """After the last rows: this worker's stats (None when it never started a test)."""
    runner.send_message(DONE, {"stats": stats, "host": socket.gethostname()})


@dataclass
class Probe:
    offset_s: float
    rtt_s: float


@dataclass
class Collector:
    """The master's side of one test: rows into the raw file, stats and clocks per worker."""

    runner: MasterRunner
    recorder: RawRecorder
    stats_file: Path
    stats_meta: dict[str, Any]
    expected: set[str] = field(default_factory=set)  # client ids of the workers in the test
    done: dict[str, dict[str, Any]] = field(default_factory=dict)
    clocks: dict[str, dict[str, Probe]] = field(default_factory=dict)  # client id -> phase

    def worker(self, client_id: str) -> str:
        return str(self.runner.get_worker_index(client_id))  # type: ignore[no-untyped-call]

    def rows(self, client_id: str, rows: list[list[Any]]) -> None:
        self.recorder.write(rows, self.worker(client_id))

    def probe(self, phase: str) -> None:
        for _ in range(PROBES):
            for client_id in self.expected:
                data = {"phase": phase, "t0": time.time()}
                self.runner.send_message(PING, data, client_id=client_id)

    def pong(self, client_id: str, data: dict[str, Any]) -> None:
        t1 = time.time()
        t0, phase = float(data["t0"]), str(data["phase"])
        sample = Probe(float(data["at"]) - (t0 + t1) / 2, t1 - t0)
        best = self.clocks.setdefault(client_id, {}).get(phase)
        if best is None or sample.rtt_s < best.rtt_s:
            self.clocks[client_id][phase] = sample

    def finish(self, stop_timeout_s: float) -> None:
        """Ask every worker for its last rows; wait for them and the end probes, then write."""
        self.probe("end")
        for client_id in self.expected:
            self.runner.send_message(FINISH, None, client_id=client_id)
        deadline = time.monotonic() + stop_timeout_s + DONE_MARGIN_S
        while self.expected - set(self.done) and time.monotonic() < deadline:
            gevent.sleep(POLL_S)
        deadline = time.monotonic() + PROBE_WAIT_S
        while not self._probed("end") and time.monotonic() < deadline:
            gevent.sleep(POLL_S)
        for client_id in sorted(self.expected - set(self.done)):
            logger.error("worker %s sent no final rows: its rows may be missing", client_id)
        for client_id, done in self.done.items():
            stats = done.get("stats")
            if stats is None:
                continue
            clock = {
                phase: {"offset_s": round(p.offset_s, 6), "rtt_s": round(p.rtt_s, 6)}
                for phase, p in self.clocks.get(client_id, {}).items()
            }
            worker = {**stats, "client_id": client_id, "host": done.get("host"), "clock": clock}
            merge_stats(self.stats_file, self.stats_meta, worker)

    def _probed(self, phase: str) -> bool:
        return all(phase in self.clocks.get(c, {}) for c in self.done)


_collector: Collector | None = None


def start_collecting(
    runner: MasterRunner, recorder: RawRecorder, stats_file: Path, stats_meta: dict[str, Any]
) -> None:
    global _collector
    clients = runner.clients.ready + runner.clients.spawning + runner.clients.running
    _collector = Collector(runner, recorder, stats_file, stats_meta, {c.id for c in clients})
    _collector.probe("start")


def finish_collecting(environment: Environment) -> None:
    global _collector
    if _collector is not None:  # the handlers feed it until every worker is done
        _collector.finish(float(environment.stop_timeout or 0.0))
        _collector.recorder.close()
    _collector = None


# Message handlers: Locust calls them as listener(environment=..., msg=...).


def _on_rows(msg: Message, **_kw: Any) -> None:
    if _collector is not None:
        _collector.rows(msg.node_id, msg.data["rows"])


def _on_done(msg: Message, **_kw: Any) -> None:
    if _collector is not None:
        _collector.done.setdefault(msg.node_id, msg.data)


def _on_pong(msg: Message, **_kw: Any) -> None:
    if _collector is not None:
        _collector.pong(msg.node_id, msg.data)


def _on_ping(environment: Environment, msg: Message, **_kw: Any) -> None:
    runner = environment.runner
    assert isinstance(runner, WorkerRunner)
    runner.send_message(PONG, {**msg.data, "at": time.time()})


def _on_finish(environment: Environment, **_kw: Any) -> None:
    # Stopping fires test_stop here, which sends the last rows and DONE (or DONE alone when
    # this worker never started); a worker already stopped has sent them.
    runner = environment.runner
    assert runner is not None
    runner.stop()


def _on_init(environment: Environment, **_kw: Any) -> None:
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        runner.register_message(ROWS, _on_rows)
        runner.register_message(DONE, _on_done)
        runner.register_message(PONG, _on_pong)
    elif isinstance(runner, WorkerRunner):
        runner.register_message(PING, _on_ping)
        runner.register_message(FINISH, _on_finish, concurrent=True)


def _listen(hook: Any, listener: Callable[..., None]) -> None:
    hook.add_listener(listener)  # EventHook is untyped


_listen(events.init, _on_init)
