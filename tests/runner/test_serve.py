"""`python -m runner serve` end to end: up, usable through both targets, and fully reaped."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from core.contracts import WORK_ID_HEADER
from runner.children import port_free
from tests.runner.helpers import CWD, gone, runner_argv, wait_for

FREE_PORTS = ["--provider-port", "0", "--sync-port", "0", "--delegated-port", "0"]


def test_serve_starts_everything_and_sigint_stops_it(
    tmp_path: Path, runner_env: dict[str, str]
) -> None:
    urls_file = tmp_path / "serve.json"
    argv = runner_argv(
        "serve", *FREE_PORTS, "--urls-file", str(urls_file), "--log-dir", str(tmp_path / "logs")
    )
    proc = subprocess.Popen(
        argv, env=runner_env, cwd=CWD, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for(lambda: urls_file.exists() or proc.poll() is not None, 60, "serve.json")
        assert proc.poll() is None, proc.communicate()
        urls = json.loads(urls_file.read_text())
        for variant in ("sync", "delegated"):
            email = {"email": f"user{1 if variant == 'sync' else 2}@example.com"}
            r = httpx.post(f"{urls[f'{variant}_url']}/login", json=email, timeout=10)
            assert r.status_code == 202, r.text
            work = r.headers[WORK_ID_HEADER]  # the work id the answer promised

            def sent(work: str = work) -> bool:
                found = httpx.get(
                    f"{urls['provider_url']}/control/messages", params={"work_id": work}
                ).json()["messages"]
                return len(found) == 1

            wait_for(sent, 15, f"the {variant} email")  # the worker is really up
        pids = urls["pids"]
        assert {"redis", "provider", "target-sync", "target-delegated", "worker-1"} <= set(pids)
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "SIGINT: stopping" in err and "Traceback" not in err
    assert all(gone(pid) for pid in pids.values())
    for name in ("provider_url", "sync_url", "delegated_url"):
        port = urlsplit(urls[name]).port
        assert port is not None and port_free("127.0.0.1", port)
    assert not urls_file.exists()


def test_a_port_in_use_is_one_line_and_exit_2(tmp_path: Path, runner_env: dict[str, str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        argv = runner_argv(
            "serve",
            "--provider-port",
            "0",
            "--sync-port",
            port,
            "--delegated-port",
            "0",
            "--urls-file",
            str(tmp_path / "s.json"),
            "--log-dir",
            str(tmp_path / "logs"),
        )
        done = subprocess.run(
            argv, env=runner_env, cwd=CWD, capture_output=True, text=True, timeout=30
        )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert f"port {port} on 127.0.0.1 is in use" in done.stderr and "--sync-port" in done.stderr
