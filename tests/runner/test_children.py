"""A Child owns its whole process group: stopping it leaves nothing behind, dying is named."""

from __future__ import annotations

import socket
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import psutil
import pytest
import redis

from core.settings import Settings
from runner.bench import explain
from runner.children import Child, ChildDied, StackError, port_free, wait_healthy
from runner.stack import Stack, StackOptions

# A parent that starts a grandchild ignoring SIGTERM, then sleeps.
GRANDCHILD = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
    " print('grandchild', flush=True); time.sleep(60)"
)
STUBBORN = f"""
import subprocess, sys, time
subprocess.Popen([sys.executable, "-c", {GRANDCHILD!r}])
time.sleep(60)
"""


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_stop_terminates_then_kills_the_whole_group(tmp_path: Path) -> None:
    log = tmp_path / "stubborn.log"
    with Child("stubborn", [sys.executable, "-c", STUBBORN], {}, log, grace_s=0.5) as child:
        wait_healthy("stubborn", lambda: "grandchild" in log.read_text(), 10, [child])
        tree = [child.pid, *(p.pid for p in psutil.Process(child.pid).children(recursive=True))]
        assert len(tree) == 2
    deadline = time.monotonic() + 5
    while not all(gone(pid) for pid in tree) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(gone(pid) for pid in tree)
    child.stop()  # twice is fine


def test_a_dead_child_fails_the_health_gate_at_once_with_its_log(tmp_path: Path) -> None:
    argv = [sys.executable, "-c", "print('boom: bad config'); raise SystemExit(3)"]
    with Child("broken", argv, {}, tmp_path / "broken.log") as child:
        started = time.monotonic()
        with pytest.raises(ChildDied, match=r"broken exited \(3\)") as info:
            wait_healthy("broken", lambda: False, 30, [child])
        assert time.monotonic() - started < 5
        assert info.value.tail == ["boom: bad config"]


def test_the_health_gate_has_a_deadline() -> None:
    with pytest.raises(StackError, match="not healthy within 0s"):
        wait_healthy("never", lambda: False, 0.1)


def test_a_missing_binary_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="cannot start nothing"):
        Child("nothing", ["/no/such/binary"], {}, tmp_path / "x.log").start()


def test_port_free_sees_a_listener() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert not port_free("127.0.0.1", port)
    assert port_free("127.0.0.1", port)


def test_an_error_a_dead_child_caused_is_reported_as_its_death(tmp_path: Path) -> None:
    stack = Stack(Settings(), StackOptions(log_dir=tmp_path), ExitStack())
    lost = redis.ConnectionError("Connection closed by server.")
    assert str(explain(lost, None)) == "ConnectionError: Connection closed by server."
    with Child("redis", [sys.executable, "-c", "pass"], {}, tmp_path / "redis.log") as child:
        stack.children["redis"] = child
        error = explain(lost, stack)  # waits the moment it takes to see the exit
    assert isinstance(error, ChildDied) and str(error).startswith("redis exited (0)")
