"""Hosts on one machine: Linux network namespaces on a bridge, each with its own 10.200.0.x.

The bridge lives in a namespace of its own, so nothing is added to the machine's own network:
traffic flows only between the namespaces made here, and deleting them removes every link.
Needs root (CAP_NET_ADMIN) and iproute2's `ip` (and `tc` for a delay).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from runner.children import Child

SUBNET = "10.200.0"


class NetnsUnavailable(Exception):
    """Namespaces cannot be made here (not root, no iproute2): the message says why."""


def ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    if done.returncode != 0:
        raise NetnsUnavailable(f"ip {' '.join(args)}: {done.stderr.strip()}")


def unavailable() -> str:
    """Why namespaces cannot be made here ("" when they can)."""
    if shutil.which("ip") is None:
        return "iproute2's ip is not installed"
    if os.geteuid() != 0:
        return "network namespaces need root"
    return ""


@dataclass(frozen=True)
class Host:
    name: str
    netns: str
    address: str

    def command(self, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.netns, *argv]


@dataclass
class Network:
    """`with Network("dbt") as net:` ... `net.add("data")`; leaving kills and deletes it all."""

    prefix: str
    delay_ms: float = 0.0
    hosts: list[Host] = field(default_factory=list)
    _exits: ExitStack = field(default_factory=ExitStack)

    @property
    def switch(self) -> str:
        return f"{self.prefix}-sw"

    def __enter__(self) -> Network:
        why = unavailable()
        if why:
            raise NetnsUnavailable(why)
        self._exits.callback(self._delete, self.switch)
        ip("netns", "add", self.switch)
        ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        ip("-n", self.switch, "link", "set", "br0", "up")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._exits.close()  # processes first (last in), then namespaces

    def add(self, name: str) -> Host:
        n = len(self.hosts) + 1
        host = Host(name, f"{self.prefix}-{name}", f"{SUBNET}.{n}")
        self._exits.callback(self._delete, host.netns)
        ip("netns", "add", host.netns)
        port, nic = f"{self.prefix[:8]}p{n}", "eth0"
        ip(
            "link",
            "add",
            port,
            "netns",
            self.switch,
            "type",
            "veth",
            "peer",
            nic,
            "netns",
            host.netns,
        )
        ip("-n", self.switch, "link", "set", port, "master", "br0", "up")
        ip("-n", host.netns, "addr", "add", f"{host.address}/24", "dev", nic)
        ip("-n", host.netns, "link", "set", nic, "up")
        ip("-n", host.netns, "link", "set", "lo", "up")
        if self.delay_ms > 0:
            delay = ["qdisc", "add", "dev", nic, "root", "netem", "delay", f"{self.delay_ms}ms"]
            subprocess.run(["tc", "-n", host.netns, *delay], capture_output=True, timeout=10)
        self.hosts.append(host)
        return host

    def start(
        self,
        host: Host,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        log_dir: Path,
        cwd: Path | None = None,
    ) -> Child:
        """A process in the host's namespace, stopped (its whole group) when the network ends."""
        log = log_dir / f"{name}.log"
        child = Child(f"{host.name}-{name}", host.command(argv), env, log, cwd=cwd)
        self._exits.callback(child.stop)
        child.start()
        return child

    @staticmethod
    def _delete(netns: str) -> None:
        # Our processes were stopped before this; anything they left behind goes now.
        pids = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True)
        for pid in pids.stdout.split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        subprocess.run(["ip", "netns", "del", netns], capture_output=True, timeout=10)
