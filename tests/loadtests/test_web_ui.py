"""Locust's web UI, started from our locustfiles as the README says, binds loopback only."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from core.redis_server import free_port
from core.settings import PROJECT_ROOT
from tests.runner.helpers import wait_for

LOCUST = Path(sys.executable).with_name("locust")


def listening(pid: int, port: int) -> set[str]:
    try:
        connections = psutil.Process(pid).net_connections(kind="inet")
    except psutil.Error:
        return set()
    return {
        c.laddr.ip for c in connections if c.status == psutil.CONN_LISTEN and c.laddr.port == port
    }


@pytest.mark.parametrize("locustfile", ["login.py", "webhook.py", "noop.py"])
def test_the_web_ui_binds_loopback_by_default(locustfile: str) -> None:
    port = free_port()
    argv = [str(LOCUST), "-f", f"loadtests/{locustfile}", "--host", "http://127.0.0.1:9"]
    proc = subprocess.Popen(
        [*argv, "--web-port", str(port)],
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: bool(listening(proc.pid, port)) or proc.poll() is not None, 60, "the UI")
        assert proc.poll() is None, proc.communicate()[1]
        assert listening(proc.pid, port) == {"127.0.0.1"}
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def test_the_locustfiles_options_have_a_help_of_their_own() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "loadtests.options", "--help"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    for flag in ("--arrival-rate", "--stages", "--closed-model", "--raw-out", "--variant"):
        assert flag in done.stdout
    assert "BENCH_ARRIVAL_RATE" in done.stdout and "saq" in done.stdout
