"""Pure functions that build each child's command line and environment (no spawning here)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from core.contracts import variant
from core.settings import Settings
from queues import queue_class

PROVIDER_APP = "provider.app:create_app"


def url(host: str, port: int) -> str:
    return f"http://{host}:{port}"


def uvicorn_command(
    python: str, app: str, host: str, port: int, log_level: str = "info", trusted_proxies: str = ""
) -> list[str]:
    return [
        python,
        "-m",
        "uvicorn",
        app,
        "--factory",
        "--host",
        host,
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        log_level.lower(),
        *proxy_flags(trusted_proxies),
    ]


def proxy_flags(trusted_proxies: str) -> list[str]:
    """uvicorn trusts X-Forwarded-* from loopback unless told otherwise: say whom, or no one."""
    if not trusted_proxies.strip():
        return ["--no-proxy-headers"]
    return ["--proxy-headers", "--forwarded-allow-ips", trusted_proxies.strip()]


def provider_command(python: str, host: str, port: int, log_level: str = "info") -> list[str]:
    return uvicorn_command(python, PROVIDER_APP, host, port, log_level)


def target_command(
    python: str,
    name: str,
    host: str,
    port: int,
    log_level: str = "info",
    trusted_proxies: str = "",
) -> list[str]:
    app = variant(name).app
    return uvicorn_command(python, app, host, port, log_level, trusted_proxies)


def worker_command(python: str, name: str) -> list[str]:
    queue = queue_class(name)
    if queue is None or queue.worker is None:
        raise ValueError(f"variant {name!r} has no queue worker")
    return [python, "-m", *queue.worker]


def seed_command(python: str) -> list[str]:
    return [python, "-m", "core.db", "seed"]


def child_env(base: Mapping[str, str], overrides: Mapping[str, object | None]) -> dict[str, str]:
    """`base` with settings overrides by field name (upper-cased); None removes a variable."""
    env = dict(base)
    for name, value in overrides.items():
        key = name.upper()
        if value is None:
            env.pop(key, None)
        else:
            env[key] = str(value)
    env["PYTHONUNBUFFERED"] = "1"  # logs reach the file as they happen, and survive a SIGKILL
    return env


def stack_env(
    base: Mapping[str, str], settings: Settings, redis_url: str, provider_url: str
) -> dict[str, str]:
    """What every child of one stack shares: where Redis, the provider and the data live."""
    return child_env(
        base,
        {
            "redis_url": redis_url,
            "provider_url": provider_url,
            "database_path": settings.database_path,
            "database_url": settings.database_url or None,
            "tickets_dir": settings.tickets_dir,
        },
    )


@dataclass(frozen=True)
class LocustRun:
    """One headless Locust run against one target."""

    locustfile: Path
    host: str
    duration_s: float
    users: int
    csv_prefix: Path
    raw_out: Path
    scenario: str
    variant: str
    repeat: int
    seed: int
    provider_url: str
    arrival_rate: float | None = None
    stages: tuple[tuple[float, float], ...] = ()
    processes: int = 1
    # Above 0: the master only, waiting for this many workers started elsewhere.
    expect_workers: int = 0
    expect_workers_wait_s: float = 60.0
    master_bind_host: str = "127.0.0.1"
    master_bind_port: int = 5557  # Locust's own default
    stop_timeout_s: float = 10.0
    go_file: Path | None = None  # the load waits for this file (the stack is being prepared)
    options: Mapping[str, object] = field(default_factory=dict)  # --flag value, for loadtests


def stages_text(stages: tuple[tuple[float, float], ...]) -> str:
    return ",".join(f"{_num(d)}:{_num(r)}" for d, r in stages)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def locust_command(python: str, run: LocustRun) -> list[str]:
    duration_s = max(1, math.ceil(run.duration_s))
    argv = [
        python,
        "-m",
        "locust",
        "-f",
        str(run.locustfile),
        "--headless",
        "-u",
        str(run.users),
        "-r",
        str(run.users),
        "-t",
        f"{duration_s}s",
        "--host",
        run.host,
        "--csv",
        str(run.csv_prefix),
        "--only-summary",
        # Failures are data here, not a failed run; the runner reads the raw rows.
        "--exit-code-on-error",
        "0",
        "--stop-timeout",
        _num(run.stop_timeout_s),
        "--raw-out",
        str(run.raw_out),
        "--scenario",
        run.scenario,
        "--variant",
        run.variant,
        "--repeat",
        str(run.repeat),
        "--seed",
        str(run.seed),
        "--provider-url",
        run.provider_url,
    ]
    if run.go_file is not None:
        argv += ["--go-file", str(run.go_file)]
    if run.stages:
        argv += ["--stages", stages_text(run.stages)]
    elif run.arrival_rate is not None:
        argv += ["--arrival-rate", _num(run.arrival_rate)]
    if run.expect_workers > 0:
        argv += ["--master", "--expect-workers", str(run.expect_workers)]
        argv += ["--expect-workers-max-wait", _num(run.expect_workers_wait_s)]
        argv += ["--master-bind-host", run.master_bind_host]
        argv += ["--master-bind-port", str(run.master_bind_port)]
    elif run.processes > 1:
        argv += ["--processes", str(run.processes)]
    for flag, value in run.options.items():
        argv += [f"--{flag.removeprefix('--').replace('_', '-')}", str(value)]
    return argv
