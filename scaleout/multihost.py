"""`python -m scaleout.multihost`: the README's scale-out recipe, on five namespace hosts.

data (Redis, PostgreSQL, the provider), targets (sync and delegated), workers (two arq
workers), runner (the bench as Locust's master) and load (two Locust workers), each a network
namespace with its own address, 1 ms apart. Every command is the one the README gives a host.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from core.redis_server import find_redis_server, redis_command
from core.settings import PROJECT_ROOT
from runner import commands
from scaleout.netns import Host, NetnsUnavailable, Network

PG_PORT, REDIS_PORT, PROVIDER_PORT, SYNC_PORT, DELEGATED_PORT = 5432, 6379, 8025, 8001, 8002
MASTER_PORT = 5557
READY_S = 60.0
PYTHON = sys.executable


@dataclass(frozen=True)
class Recipe:
    data: Host
    targets: Host
    workers: Host
    runner: Host
    load: Host

    @property
    def env(self) -> dict[str, str]:
        """What targets, queue workers and the runner are told: where the shared parts live."""
        a = self.data.address
        return {
            "REDIS_URL": f"redis://{a}:{REDIS_PORT}/0",
            "DATABASE_URL": f"postgresql://postgres@{a}:{PG_PORT}/postgres",
            "PROVIDER_URL": commands.url(a, PROVIDER_PORT),
        }

    def bench_command(self, scenarios: str, results_dir: Path) -> list[str]:
        t = self.targets.address
        return [
            PYTHON,
            "-m",
            "runner",
            "bench",
            "--quick",
            "--no-floor",
            "--scenarios",
            scenarios,
            "--variants",
            "sync,delegated",
            "--sync-url",
            commands.url(t, SYNC_PORT),
            "--delegated-url",
            commands.url(t, DELEGATED_PORT),
            "--provider-url",
            commands.url(self.data.address, PROVIDER_PORT),
            "--expect-workers",
            "2",
            "--expect-workers-wait-s",
            "60",
            "--master-bind-host",
            self.runner.address,
            "--master-bind-port",
            str(MASTER_PORT),
            "--results-dir",
            str(results_dir),
            "--label",
            "multihost",
        ]

    def locust_worker_command(self) -> list[str]:
        """A Locust worker serves one run; the loop brings it back for the runner's next."""
        worker = [PYTHON, "-m", "locust", "-f", "loadtests/login.py", "--worker"]
        worker += ["--master-host", self.runner.address, "--master-port", str(MASTER_PORT)]
        return ["sh", "-c", f"while :; do {' '.join(worker)}; sleep 0.2; done"]


def pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise NetnsUnavailable("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin")
    return found[-1]


def as_postgres(argv: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root.
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def wait_port(net: Network, host: Host, address: str, port: int, what: str) -> None:
    """Connect from inside `host`'s namespace: the machine's own network cannot reach it."""
    probe = f"import socket; socket.create_connection(({address!r}, {port}), 1).close()"
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        done = subprocess.run(host.command([PYTHON, "-c", probe]), capture_output=True)
        if done.returncode == 0:
            return
        time.sleep(0.3)
    raise NetnsUnavailable(f"{what} at {address}:{port} did not come up in {READY_S:.0f}s")


def start_data(net: Network, r: Recipe, tmp: Path, logs: Path) -> None:
    a = r.data.address
    redis_dir = tmp / "redis"
    redis_dir.mkdir()
    argv = redis_command(find_redis_server(), REDIS_PORT, redis_dir)
    argv[argv.index("--bind") + 1] = a
    argv += ["--protected-mode", "no"]  # no password: reachable only inside these namespaces
    net.start(r.data, "redis", argv, os.environ, logs)
    pgdata = tmp / "pgdata"
    pgdata.mkdir()
    if os.geteuid() == 0:
        shutil.chown(pgdata, "postgres")
    initdb = [pg_bin("initdb"), "-D", str(pgdata), "--auth=trust", "-U", "postgres"]
    subprocess.run(as_postgres(initdb), check=True, capture_output=True, timeout=120)
    with open(pgdata / "pg_hba.conf", "a") as hba:
        hba.write("host all all 10.200.0.0/24 trust\n")
    # Targets and workers each keep a pool as big as their threads or jobs at once.
    postgres = [pg_bin("postgres"), "-D", str(pgdata), "-h", a, "-p", str(PG_PORT)]
    postgres += ["-k", str(pgdata), "-c", "max_connections=400", "-c", "fsync=off"]
    net.start(r.data, "postgres", as_postgres(postgres), os.environ, logs)
    provider = commands.provider_command(PYTHON, a, PROVIDER_PORT)
    net.start(r.data, "provider", provider, {**os.environ, **r.env}, logs)
    wait_port(net, r.data, a, REDIS_PORT, "redis")
    wait_port(net, r.data, a, PG_PORT, "postgresql")
    wait_port(net, r.data, a, PROVIDER_PORT, "provider")


def start_services(net: Network, r: Recipe, tmp: Path, logs: Path) -> None:
    env = {**os.environ, **r.env, "TICKETS_DIR": str(tmp / "tickets")}
    t = r.targets.address
    for name, port in (("sync", SYNC_PORT), ("delegated", DELEGATED_PORT)):
        net.start(r.targets, name, commands.target_command(PYTHON, name, t, port), env, logs)
    for n in (1, 2):
        net.start(r.workers, f"worker-{n}", commands.worker_command(PYTHON, "delegated"), env, logs)
        locust = r.locust_worker_command()
        net.start(r.load, f"locust-{n}", locust, os.environ, logs, cwd=PROJECT_ROOT)
    wait_port(net, r.runner, t, SYNC_PORT, "target-sync")
    wait_port(net, r.runner, t, DELEGATED_PORT, "target-delegated")


def run(scenarios: str, results_dir: Path, logs: Path, delay_ms: float = 1.0) -> Path:
    """Build the hosts, run the bench from the runner host, tear it all down; the run folder."""
    with tempfile.TemporaryDirectory(prefix="multihost-") as tmp_text:
        tmp = Path(tmp_text)
        os.chmod(tmp, 0o755)  # the postgres user reaches its data folder through it
        with Network(f"mh{os.getpid() % 10000}", delay_ms) as net:
            names = ("data", "targets", "workers", "runner", "load")
            recipe = Recipe(*(net.add(n) for n in names))
            start_data(net, recipe, tmp, logs)
            start_services(net, recipe, tmp, logs)
            results_dir.mkdir(parents=True, exist_ok=True)
            bench = recipe.bench_command(scenarios, results_dir)
            with open(logs / "bench.log", "w") as log:
                done = subprocess.run(
                    recipe.runner.command(bench),
                    env={**os.environ, **recipe.env},
                    cwd=PROJECT_ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    timeout=600,
                )
            if done.returncode != 0:
                raise RuntimeError(f"the bench failed ({done.returncode}); see {logs}/bench.log")
    return (results_dir / "latest").resolve()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scaleout.multihost", description=__doc__)
    parser.add_argument("--scenarios", default="steady,outage")
    parser.add_argument("--results-dir", type=Path, default=PROJECT_ROOT / "results")
    parser.add_argument("--delay-ms", type=float, default=1.0, help="tc netem delay per host")
    args = parser.parse_args(argv)
    logs = Path(tempfile.mkdtemp(prefix="multihost-logs-"))
    try:
        path = run(args.scenarios, args.results_dir, logs, args.delay_ms)
    except (NetnsUnavailable, RuntimeError, subprocess.SubprocessError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, NetnsUnavailable) else 1
    print(f"results: {path} (process logs: {logs})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
