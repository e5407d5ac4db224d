"""The whole system under test, started child by child into an ExitStack (for serve and bench)."""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import redis

from core.contracts import DEFAULT_VARIANTS, VARIANT_NAMES
from core.postgres_server import PostgresServer
from core.redis_server import RedisNotFound, find_redis_server, free_port, redis_command
from core.settings import Settings
from queues import queue_of
from queues.base import Queue
from runner import commands
from runner.children import (
    Child,
    ChildDied,
    StackError,
    UsageError,
    first_dead,
    port_free,
    wait_healthy,
)
from runner.stack_db import DatabaseParts

HEALTH_DEADLINE_S = 30.0
PORT_FREE_DEADLINE_S = 30.0  # a target in graceful shutdown closes its socket first
Gate = Callable[[], float]  # waits until a started child is healthy; the seconds it took
SEED_DEADLINE_S = 120.0
SERVE_FIRST_PORT = 8001


@dataclass(frozen=True)
class StackOptions:
    host: str = "127.0.0.1"
    provider_port: int = 8025  # 0: any free port
    workers: int = 1  # per queue variant
    variants: tuple[str, ...] = DEFAULT_VARIANTS  # whose targets (and workers) start
    ports: Mapping[str, int] = field(default_factory=dict)  # per variant; missing or 0: any
    urls: Mapping[str, str] = field(default_factory=dict)  # targets running elsewhere: not started
    provider_url: str | None = None  # a provider already running elsewhere: not started here
    log_dir: Path = Path("var/logs")
    health_deadline_s: float = HEALTH_DEADLINE_S
    python: str = sys.executable
    env: Mapping[str, object] = field(default_factory=dict)  # settings overrides for every child
    # The env the targets and workers start with (a bench: its first run's, restarting nothing).
    work_env: Mapping[str, str] = field(default_factory=dict)

    def port(self, variant: str) -> int:
        """The port asked for a variant's target (0: any free one)."""
        return self.ports.get(variant, 0)

    def url(self, variant: str) -> str | None:
        """A variant's target already running elsewhere, if one was given."""
        return self.urls.get(variant)


def serve_port(variant: str) -> int:
    """`make serve`'s port of a variant's target: 8001 on, in the variants table's order."""
    return SERVE_FIRST_PORT + VARIANT_NAMES.index(variant)


def http_ok(url: str) -> bool:
    return httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200


def redis_ok(url: str) -> bool:
    with redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0) as client:
        return bool(client.ping())


@dataclass
class Stack(DatabaseParts):
    """Every child of the stack, the URLs they answer on, and the env they were started with."""

    settings: Settings
    options: StackOptions
    exits: ExitStack
    env: dict[str, str] = field(default_factory=dict)
    redis_url: str = ""
    provider_url: str = ""
    target_urls: dict[str, str] = field(default_factory=dict)
    children: dict[str, Child] = field(default_factory=dict)
    worker_env: dict[str, dict[str, str]] = field(default_factory=dict)  # per variant
    worker_variant: dict[str, str] = field(default_factory=dict)  # worker name -> variant
    target_env: dict[str, dict[str, str]] = field(default_factory=dict)
    # While a scenario restarts Redis, workers may die of the lost connection: the runner
    # replaces them, and their deaths are not a fault of the harness.
    workers_expendable: bool = False
    redis_launch: tuple[str, int, Path] | None = None  # binary, port, folder: None when external
    redis_appendonly: bool = False
    postgres: PostgresServer | None = None  # the embedded PostgreSQL; None: DATABASE_URL's, or none
    _worker_serial: int = 0
    _queues: dict[str, Queue | None] = field(default_factory=dict)

    @property
    def workers(self) -> list[Child]:
        return [c for name, c in self.children.items() if name.startswith("worker")]

    def queue(self, variant: str) -> Queue | None:
        """The variant's queue as the runner watches it; None when its work runs in the request
        or in the target's own process, where no one outside can see it."""
        if variant not in self._queues:
            settings = self.settings.model_copy(update={"redis_url": self.redis_url})
            found = queue_of(variant, settings)
            self._queues[variant] = found if found is not None and found.worker else None
            if found is not None:
                self.exits.callback(found.close)
        return self._queues[variant]

    def workers_of(self, name: str) -> list[Child]:
        return [w for w in self.workers if self.worker_variant.get(w.name) == name]

    def child(self, name: str, argv: list[str], env: Mapping[str, str]) -> Child:
        """Start a child owned by the ExitStack; a restart replaces the entry under its name."""
        started = Child(name, argv, env, self.options.log_dir / f"{name}.log")
        # Its stop is registered first: a Ctrl-C landing just after the fork leaves no orphan.
        self.exits.callback(started.stop)
        started.start()
        self.children[name] = started
        return started

    def check_alive(self) -> None:
        watched = [
            c
            for name, c in self.children.items()
            if not (self.workers_expendable and name.startswith("worker"))
        ]
        dead = first_dead(watched)
        if dead is not None:
            raise ChildDied(dead)

    def pids(self) -> dict[str, int]:
        return {name: c.pid for name, c in self.children.items()}

    # Starting each part.

    def start_redis(self) -> None:
        if self.settings.redis_url:
            self.redis_url = self.settings.redis_url
            wait_healthy(
                f"Redis at {self.redis_url} (REDIS_URL)", lambda: redis_ok(self.redis_url), 5
            )
            return
        try:
            binary = find_redis_server()
        except RedisNotFound as exc:
            raise UsageError(str(exc)) from None
        directory = Path(
            self.exits.enter_context(tempfile.TemporaryDirectory(prefix="bench-redis-"))
        )
        port = free_port(self.options.host)
        self.redis_launch = (binary, port, directory)
        self.redis_appendonly = self.settings.redis_appendonly
        self.redis_url = f"redis://{self.options.host}:{port}/0"
        self.launch_redis()

    def launch_redis(self) -> Child:
        """Start the embedded Redis (again) on its port and folder; wait until it answers."""
        assert self.redis_launch is not None, "Redis is not the harness's own"
        binary, port, directory = self.redis_launch
        argv = redis_command(binary, port, directory, self.redis_appendonly)
        argv[argv.index("--bind") + 1] = self.options.host
        child = self.child("redis", argv, os.environ)
        wait_healthy(
            "redis", lambda: redis_ok(self.redis_url), self.options.health_deadline_s, [child]
        )
        return child

    def kill_redis(self) -> Child:
        """SIGKILL the embedded Redis (a crash); it leaves the children the runner watches."""
        victim = self.children.pop("redis")
        victim.kill()
        return victim

    # A scenario's server faults, whichever server: the embedded Redis, or the PostgreSQL.

    def owns(self, server: str) -> bool:
        """Whether the harness started that server itself, so a scenario may fail it."""
        return (self.redis_launch if server == "redis" else self.postgres) is not None

    def kill_server(self, server: str) -> Child:
        return self.kill_redis() if server == "redis" else self.kill_postgres()

    def launch_server(self, server: str) -> Child:
        return self.launch_redis() if server == "redis" else self.launch_postgres()

    def pause_server(self, server: str, paused: bool) -> None:
        """SIGSTOP (or SIGCONT) it: its connections stay open and nothing answers."""
        if server == "redis":
            self.children["redis"].signal_group(signal.SIGSTOP if paused else signal.SIGCONT)
        else:
            self.pause_postgres(paused)

    def set_redis_appendonly(self, on: bool) -> None:
        """Turn the append-only file on or off in the running Redis, as a restart will have it.

        Turning it on rewrites the whole file first; until that ends a crash would lose it all.
        """
        if self.redis_launch is None or on == self.redis_appendonly:
            return
        with redis.Redis.from_url(self.redis_url, socket_timeout=5) as client:
            client.config_set("appendonly", "yes" if on else "no")
            deadline = time.monotonic() + self.options.health_deadline_s
            while on:
                info = client.info("persistence")
                busy = info.get("aof_rewrite_in_progress") or info.get("aof_rewrite_scheduled")
                if info.get("aof_enabled") and not busy:
                    break
                if time.monotonic() > deadline:
                    raise StackError("Redis did not finish writing its append-only file")
                time.sleep(0.05)
        self.redis_appendonly = on

    def launch_provider(self) -> Gate:
        if self.options.provider_url is not None:
            return self.use_provider(self.options.provider_url.rstrip("/"))
        port = claim_port(self.options.host, self.options.provider_port, "--provider-port")
        self.provider_url = commands.url(self.options.host, port)
        base = commands.child_env(os.environ, self.options.env)
        self.env = commands.stack_env(base, self.settings, self.redis_url, self.provider_url)
        argv = commands.provider_command(
            self.options.python, self.options.host, port, self.settings.log_level
        )
        child = self.child("provider", argv, self.env)
        url = self.provider_url
        return partial(
            wait_healthy, "provider", partial(http_ok, url), self.options.health_deadline_s, [child]
        )

    def seed(self) -> None:
        with Child(
            "seed",
            commands.seed_command(self.options.python),
            self.env,
            self.options.log_dir / "seed.log",
        ) as seed:
            assert seed.process is not None
            try:
                code = seed.process.wait(timeout=SEED_DEADLINE_S)
            except Exception:
                raise StackError(f"seeding the database took over {SEED_DEADLINE_S:.0f}s") from None
            if code != 0:
                raise StackError(f"seeding the database failed: {' | '.join(seed.last_lines(3))}")

    def launch_target(
        self, variant: str, extra_env: Mapping[str, str] | None = None, port: int | None = None
    ) -> Gate:
        """Start a target (on `port`, else the one asked for); the gate waits for /healthz."""
        wanted = self.options.port(variant) if port is None else port
        port = claim_port(self.options.host, wanted, f"--{variant}-port")
        env = {**self.env, **(extra_env or {})}
        argv = commands.target_command(
            self.options.python,
            variant,
            self.options.host,
            port,
            self.settings.log_level,
            self.settings.trusted_proxies,
        )
        name = f"target-{variant}"
        child = self.child(name, argv, env)
        self.target_env[variant] = dict(extra_env or {})
        target = commands.url(self.options.host, port)
        self.target_urls[variant] = target
        deadline_s = self.options.health_deadline_s
        return partial(wait_healthy, name, partial(http_ok, target), deadline_s, [child])

    def stop_target(self, variant: str) -> int:
        """Stop a target and all it started; the port to start it again on."""
        self.children.pop(f"target-{variant}").stop()
        return self.target_port(variant)

    def launch_workers(self, name: str, n: int, extra_env: Mapping[str, str] | None = None) -> Gate:
        """Start n workers of a queue variant; the gate waits until one serves the queue."""
        queue = self.queue(name)
        assert queue is not None, f"{name} has no queue workers"
        queue.forget_workers()
        self.worker_env[name] = dict(extra_env or {})
        started = [self.launch_worker(name) for _ in range(n)]
        ready = queue.worker_alive
        return partial(
            wait_healthy, f"{name} worker", ready, self.options.health_deadline_s, started
        )

    def launch_worker(self, name: str) -> Child:
        self._worker_serial += 1
        child_name = f"worker-{self._worker_serial}"
        self.worker_variant[child_name] = name
        env = {**self.env, **self.worker_env.get(name, {})}
        return self.child(child_name, commands.worker_command(self.options.python, name), env)

    def stop_workers(self, name: str) -> int:
        """Stop a queue variant's workers and all they started; how many there were."""
        workers = self.workers_of(name)
        for worker in workers:
            worker.stop()
            self.children = {k: v for k, v in self.children.items() if v is not worker}
        return len(workers)

    def replace_worker(self, victim: Child) -> Child:
        """SIGKILL a worker (a crash, or one already dead) and start another, not health-gated."""
        self.children = {k: v for k, v in self.children.items() if v is not victim}
        victim.kill()
        return self.launch_worker(self.worker_variant[victim.name])

    def target_port(self, name: str) -> int:
        port = urlsplit(self.target_urls[name]).port
        assert port is not None
        return port

    def restart_target(self, name: str, how: str) -> tuple[Child, Gate]:
        """A deploy ("term": SIGTERM, graceful) or a crash ("kill": SIGKILL) of a target, and
        its replacement on the same port as soon as the port is free.

        The old process may still finish its in-flight work after a SIGTERM: it is returned,
        no longer watched, for the caller to reap.
        """
        old = self.children.pop(f"target-{name}")
        port = self.target_port(name)
        if how == "kill":
            old.kill()
        else:
            old.signal_group(signal.SIGTERM)
        deadline = time.monotonic() + PORT_FREE_DEADLINE_S
        while not port_free(self.options.host, port):
            if time.monotonic() > deadline:
                raise StackError(f"target-{name} kept port {port} {PORT_FREE_DEADLINE_S:.0f}s")
            time.sleep(0.01)
        return old, self.launch_target(name, self.target_env.get(name), port=port)

    def use_provider(self, url: str) -> Gate:
        """A provider on another host: only checked, and named to every child."""
        self.provider_url = url
        base = commands.child_env(os.environ, self.options.env)
        self.env = commands.stack_env(base, self.settings, self.redis_url, url)
        return partial(wait_healthy, f"provider at {url}", partial(http_ok, url), 5)


def claim_port(host: str, port: int, option: str) -> int:
    """The port to bind: a free one for 0, else the one asked for if nothing listens there."""
    if port == 0:
        return free_port(host)
    if not port_free(host, port):
        raise UsageError(
            f"port {port} on {host} is in use (is `make serve` already running?);"
            f" stop it or choose another with {option}"
        )
    return port


def start_stack(exits: ExitStack, settings: Settings, options: StackOptions) -> Stack:
    """Redis, the seeded data, the provider, the chosen targets and their workers; each
    health-gated.

    Targets given by URL are only checked, not started; workers are started only with the
    target they serve.
    """
    for name in options.variants:
        if options.url(name) is None and options.port(name):
            # Fail before starting anything.
            claim_port(options.host, options.port(name), f"--{name}-port")
    if options.provider_port and options.provider_url is None:
        claim_port(options.host, options.provider_port, "--provider-port")
    stack = Stack(settings, options, exits)
    stack.start_redis()
    stack.start_database()
    # Each process takes a second or so to import: start them side by side, then gate each.
    provider_ready = stack.launch_provider()
    stack.seed()
    provider_ready()
    gates = []
    for name in options.variants:
        given = options.url(name)
        if given is None:
            gates.append(stack.launch_target(name, options.work_env))
            if stack.queue(name) is not None and options.workers > 0:
                gates.append(stack.launch_workers(name, options.workers, options.work_env))
        else:
            target = given.rstrip("/")
            wait_healthy(f"target-{name} at {target}", partial(http_ok, target), 5)
            stack.target_urls[name] = target
    for gate in gates:
        gate()
    return stack
