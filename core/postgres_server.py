"""A private PostgreSQL on a free loopback port in var/: the default when DATABASE_URL is unset."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil
import psycopg

from core.processes import stop
from core.redis_server import free_port
from core.settings import PROJECT_ROOT

USER = "bench"  # the server's superuser, trusted on loopback only
DATABASE = "postgres"
# initdb and postgres refuse to run as root: as root, the server runs as one of these.
UNPRIVILEGED = ("postgres", "nobody")


class PostgresNotFound(RuntimeError):
    pass


def find_postgres_bin() -> Path:
    """The folder of initdb and postgres: on PATH, else the newest /usr/lib/postgresql/*/bin."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[-3])
    )
    if found:
        return Path(found[-1]).parent
    raise PostgresNotFound(
        "no PostgreSQL server found: install it (apt-get install postgresql) or set DATABASE_URL"
        " to a running server"
    )


def run_as() -> str | None:
    """The account the server runs under: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in UNPRIVILEGED:
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise PostgresNotFound("running as root, and no unprivileged account to run PostgreSQL as")


@dataclass(frozen=True)
class PostgresServer:
    """One server's binaries, data folder and port; each method is one step of its life."""

    bin_dir: Path
    data_dir: Path
    port: int
    host: str = "127.0.0.1"
    user: str | None = None

    @property
    def url(self) -> str:
        return f"postgresql://{USER}@{self.host}:{self.port}/{DATABASE}"

    def as_user(self) -> list[str]:
        """What runs a command as `user` (setpriv execs it: signals reach the server itself)."""
        if self.user is None:
            return []
        return ["setpriv", f"--reuid={self.user}", f"--regid={self.user}", "--init-groups"]

    def init_command(self) -> list[str]:
        return [
            *self.as_user(),
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            USER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",  # a fresh, throwaway folder: nothing to lose before the first start
        ]

    def command(self) -> list[str]:
        """The server in the foreground, reachable only on `host`:`port` (no Unix socket)."""
        return [
            *self.as_user(),
            str(self.bin_dir / "postgres"),
            "-D",
            str(self.data_dir),
            "-p",
            str(self.port),
            "-c",
            f"listen_addresses={self.host}",
            "-c",
            "unix_socket_directories=",
            # Every target's and worker's pool together (each up to 40 connections).
            "-c",
            "max_connections=400",
        ]

    def init(self) -> None:
        """Create the data folder, owned by the account the server runs as."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.user is not None:
            shutil.chown(self.data_dir, self.user, self.user)
        done = subprocess.run(self.init_command(), capture_output=True, text=True, check=False)
        if done.returncode != 0:
            last = (done.stderr or done.stdout).strip().splitlines()[-1:]
            raise RuntimeError(f"initdb failed: {' '.join(last)}")


def answers(url: str, timeout_s: int = 1) -> bool:
    try:
        psycopg.connect(url, connect_timeout=timeout_s).close()
    except psycopg.Error:
        return False
    return True


def wait_for_server(url: str, deadline_s: float, process: subprocess.Popen[bytes]) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if process.poll() is not None:
            raise RuntimeError(f"postgres exited with code {process.returncode} on start")
        if answers(url):
            return
        time.sleep(0.05)
    raise RuntimeError(f"postgres did not accept connections at {url} within {deadline_s}s")


def new_server(host: str = "127.0.0.1", port: int | None = None) -> PostgresServer:
    """A server to be, with a fresh data folder in var/ (removed by `remove`)."""
    var = PROJECT_ROOT / "var"
    var.mkdir(exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix="postgres-", dir=var))
    chosen = port or free_port(host)
    return PostgresServer(find_postgres_bin(), data_dir, chosen, host, run_as())


def remove(server: PostgresServer) -> None:
    shutil.rmtree(server.data_dir, ignore_errors=True)


def signal_server(pid: int, sig: signal.Signals) -> None:
    """Signal the server and every process it started, the server first (so it starts no new
    one meanwhile). Each backend calls setsid(): the server's process group is the server alone.
    """
    try:
        server = psutil.Process(pid)
        processes = [server, *server.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.send_signal(sig)


def pause(pid: int, paused: bool) -> None:
    """SIGSTOP (or SIGCONT) the server and its backends: connections stay open, unanswered."""
    signal_server(pid, signal.SIGSTOP if paused else signal.SIGCONT)


def fast_shutdown(pid: int, timeout_s: float = 10.0) -> None:
    """PostgreSQL's fast shutdown (SIGINT): sessions cut, data flushed; SIGTERM's smart one
    would wait for every pooled connection to close."""
    pause(pid, False)  # a stopped server hears nothing
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGINT)
    with contextlib.suppress(psutil.NoSuchProcess, psutil.TimeoutExpired):
        psutil.Process(pid).wait(timeout_s)


@contextmanager
def embedded_postgres(host: str = "127.0.0.1") -> Iterator[str]:
    """Start a private PostgreSQL, yield its URL, and stop it (and remove its folder) on exit."""
    server = new_server(host)
    try:
        server.init()
        process = subprocess.Popen(
            server.command(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            wait_for_server(server.url, 30.0, process)
            yield server.url
        finally:
            fast_shutdown(process.pid)
            stop(process)
    finally:
        remove(server)
