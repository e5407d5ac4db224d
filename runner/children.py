"""One child process owned by a context manager: its own session, a log file, and a sure end."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

import psutil

# uvicorn and arq shut down within a second or two of SIGTERM; past this they are killed.
TERMINATE_GRACE_S = 5.0
POLL_S = 0.05
GROUP_GONE_S = 5.0  # SIGKILLed processes go at once, unless stuck in an uninterruptible wait


class StackError(Exception):
    """Something the user can fix or must know about; the message is one line."""

    exit_code = 1


class UsageError(StackError):
    """A port taken, a binary missing, a bad option: nothing was started."""

    exit_code = 2


class ChildDied(StackError):
    def __init__(self, child: Child) -> None:
        self.child = child
        code = child.returncode
        how = (
            f"was killed by signal {-code}" if code is not None and code < 0 else f"exited ({code})"
        )
        self.tail = child.last_lines(8)
        super().__init__(f"{child.name} {how} (log: {child.log_path})")


class Child:
    """`with Child(name, argv, env, log_path) as child:` starts it; leaving the block ends it.

    The child leads its own session, so the terminal's Ctrl-C reaches only the runner, which then
    stops every child in order; and signalling the process group reaches whatever the child
    started (Locust's worker processes, ticket subprocesses).
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        log_path: Path,
        cwd: Path | None = None,
        grace_s: float = TERMINATE_GRACE_S,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.log_path = log_path
        self.cwd = cwd
        self.grace_s = grace_s
        self.process: subprocess.Popen[bytes] | None = None
        self.terminated = False  # SIGTERM sent: a second one makes some servers skip their exit

    def __enter__(self) -> Child:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        self.terminated = False
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            try:
                self.process = subprocess.Popen(
                    self.argv,
                    env=self.env,
                    cwd=self.cwd,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as exc:
                raise UsageError(f"cannot start {self.name} ({self.argv[0]}): {exc}") from None

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} was never started"
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal_group(self, sig: signal.Signals) -> None:
        if self.process is None:
            return
        # The group outlives its leader when the leader dies first: signal it all the same.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)

    def terminate(self) -> None:
        """SIGTERM the group, once: stop() then waits for it (several stop side by side)."""
        if not self.terminated:
            self.terminated = True
            self.signal_group(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL the whole group now and reap the leader (a crash, as the scenario wants it)."""
        self.signal_group(signal.SIGKILL)
        if self.process is not None:
            self.process.wait()
            self.wait_group_gone()

    def stop(self) -> None:
        """Terminate, wait, kill, reap: always safe to call, twice or on a dead child."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            self.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=self.grace_s)
        # Whatever is left in the group (the leader, or grandchildren that ignored SIGTERM).
        self.signal_group(signal.SIGKILL)
        process.wait()
        self.wait_group_gone()

    def wait_group_gone(self) -> None:
        """Return once no process of the group runs: a ticket program or request thread's child
        still exiting would otherwise write a past run's work into the next one's fresh data."""
        assert self.process is not None
        deadline = time.monotonic() + GROUP_GONE_S
        while group_alive(self.process.pid) and time.monotonic() < deadline:
            self.signal_group(signal.SIGKILL)  # one forked after the first signal, too
            time.sleep(POLL_S / 5)

    def last_lines(self, n: int = 10) -> list[str]:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - 8192))
                text = log.read().decode("utf-8", "replace")
        except OSError:
            return []
        return [line.strip() for line in text.splitlines() if line.strip()][-n:]


def group_alive(pgid: int) -> bool:
    """Whether a process of the group runs; zombies waiting for a reaper do not count."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    for proc in psutil.process_iter(["status"]):
        with contextlib.suppress(OSError):  # gone since the listing
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                return True
    return False


def port_free(host: str, port: int) -> bool:
    """True when nothing listens on host:port (a bind would succeed)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def wait_healthy(
    name: str,
    check: Callable[[], bool],
    deadline_s: float,
    children: Iterable[Child] = (),
) -> float:
    """Poll `check` until it passes; fail fast when a child dies. Returns the seconds it took."""
    watched = list(children)
    started = time.monotonic()
    while True:
        for child in watched:
            if not child.alive():
                raise ChildDied(child)
        try:
            if check():
                return time.monotonic() - started
        except Exception:  # a check that errors is a check that has not passed yet
            pass
        if time.monotonic() - started > deadline_s:
            logs = ", ".join(str(c.log_path) for c in watched)
            hint = f"; see {logs}" if logs else ""
            raise StackError(f"{name} was not healthy within {deadline_s:.0f}s{hint}")
        time.sleep(POLL_S)


def first_dead(children: Iterable[Child]) -> Child | None:
    return next((c for c in children if not c.alive()), None)
