"""`python -m runner bench`: each scenario against both variants, one at a time, into results/."""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import redis
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from core.db import Store
from core.settings import PROJECT_ROOT, Settings
from jobs.tasks import JOB_EVENTS_KEY
from runner import commands
from runner.meta import SCHEMA_VERSION, cpu, git_sha, masked_settings, packages, write_meta
from runner.pending import pending_jobs
from runner.processes import Child, ChildDied, StackError, UsageError, first_dead
from runner.results import RawFiles, delivery_rows, new_run_dir, point_latest, summarize
from runner.sampling import Sampler
from core.scenarios import (
    DRAIN_S,
    QUICK_DRAIN_S,
    RedisFault,
    Scenario,
    UnknownScenario,
    choose,
)
from runner.signals import Interrupted, ignoring_signals, raising_on_signals
from runner.stack import Stack, StackOptions, start_stack
from runner.summary import render_table

PROGRESS_COLUMNS = (
    SpinnerColumn(),
    TextColumn("{task.description}"),
    BarColumn(),
    TextColumn("{task.completed}/{task.total}"),
    TimeElapsedColumn(),
)
LOOP_S = 0.05
LOCUST_START_S = 30.0  # importing Locust and gevent takes a second or two on a busy machine
WARMUP_S = 5.0
QUICK_WARMUP_S = 1.0  # quick runs carry only a few seconds of load
QUICK_MAX_SEATS = 8  # quick webhook runs: fewer ticket subprocesses on a small machine
# More late starts than this share (and a handful): the generator fell behind its rate.
LATE_SHARE_FLAG = 0.02
LATE_COUNT_FLAG = 5
# In-flight requests get this long to finish when the load stops; Locust also waits this long
# for users that claimed a future slot, so a long one costs every run its full length.
STOP_TIMEOUT_S = 10.0
QUICK_STOP_TIMEOUT_S = 1.0
REPORT_TIMEOUT_S = 300.0
DEATH_GRACE_S = 1.0


def run_order(names: list[str], repeat: int) -> Iterator[tuple[str, str, int]]:
    """Every scenario x variant, the variants' order flipped on each repetition."""
    for r in range(repeat):
        variants = commands.VARIANTS if r % 2 == 0 else commands.VARIANTS[::-1]
        for name in names:
            for variant in variants:
                yield name, variant, r


class Bench:
    def __init__(
        self,
        settings: Settings,
        stack: Stack,
        exits: ExitStack,
        run_dir: Path,
        meta: dict[str, Any],
        args: argparse.Namespace,
        console: Console,
    ) -> None:
        self.settings = settings
        self.stack = stack
        self.exits = exits
        self.run_dir = run_dir
        self.meta = meta
        self.args = args
        self.console = console
        self.raw = RawFiles(run_dir)
        self.sampler = Sampler(stack.redis_url, settings.queue_name)
        self.store = Store(settings.database_path)
        self.http = httpx.Client(timeout=10)
        self.workers_dirty = False
        self.summaries: list[Any] = []

    # One run.

    def run(
        self, scenario: Scenario, variant: str, repeat: int, progress: Progress, task: Any
    ) -> None:
        key = f"{scenario.name}-{variant}-{repeat}"
        tag = {"scenario": scenario.name, "variant": variant, "repeat": repeat}
        record: dict[str, Any] = {**tag, "t0": None, "load_end": None, "drained_at": None,
                                  "drained": False, "events": []}  # fmt: skip
        self.meta["runs"].append(record)
        status = f"{scenario.name} x {variant} (repeat {repeat})"

        progress.update(task, description=f"{status}: preparing")
        self.prepare(scenario)
        locust_dir = self.run_dir / "raw" / "locust"
        locust_dir.mkdir(parents=True, exist_ok=True)
        raw_out = locust_dir / f"{key}.requests.csv"
        spec = commands.LocustRun(
            locustfile=PROJECT_ROOT / "loadtests" / f"{scenario.locustfile}.py",
            host=self.stack.target_urls[variant],
            duration_s=scenario.duration_s,
            users=scenario.users,
            csv_prefix=locust_dir / key,
            raw_out=raw_out,
            scenario=scenario.name,
            variant=variant,
            repeat=repeat,
            seed=self.args.seed,
            provider_url=self.stack.provider_url,
            arrival_rate=scenario.rate or None,
            stages=scenario.stages,
            processes=self.args.locust_processes,
            stop_timeout_s=QUICK_STOP_TIMEOUT_S if self.args.quick else STOP_TIMEOUT_S,
            options={
                "seed_users": self.settings.seed_users,
                "seed_orders": self.settings.seed_orders,
                "webhook_secret": self.settings.webhook_secret,
                **scenario.options,
            },
        )
        argv = commands.locust_command(sys.executable, spec)
        log = self.run_dir / "logs" / f"locust-{key}.log"
        locust = Child("locust", argv, self.stack.env, log)
        self.exits.callback(locust.stop)
        launched = time.monotonic()
        locust.start()
        children = {**self.stack.children, "locust": locust}

        # Load starts when Locust's test_start creates the raw file: the timeline starts then.
        progress.update(task, description=f"{status}: starting Locust")
        deadline = time.monotonic() + LOCUST_START_S
        while not raw_out.exists():
            self.check(locust)
            if time.monotonic() > deadline:
                raise StackError(f"Locust did not start within {LOCUST_START_S:.0f}s; see {log}")
            time.sleep(LOOP_S)
        t0 = time.time()
        record["t0"] = t0
        record["locust_start_s"] = round(time.monotonic() - launched, 2)  # its own overhead
        if scenario.timeline:
            self.control("POST", "/control/timeline", {"events": list(scenario.timeline)})
        kills = sorted(f.at_s for f in scenario.worker_faults) if variant == "delegated" else []
        # Redis is killed in both variants' runs: the sync target does not use it, which shows.
        outages = RedisOutages(scenario.redis_faults)

        while locust.alive():
            elapsed = time.time() - t0
            left = max(0.0, scenario.duration_s - elapsed)
            progress.update(task, description=f"{status}: load, {left:4.1f}s left")
            while kills and elapsed >= kills[0]:
                kills.pop(0)
                self.kill_worker(children, record, t0)
            self.redis_tick(outages, elapsed, children, record, t0)
            self.stack.check_alive()
            if self.sampler.due():
                self.sampler.sample(tag, children)
            if elapsed > scenario.duration_s + spec.stop_timeout_s + 30:
                raise StackError(
                    f"Locust ran {elapsed:.0f}s past its {scenario.duration_s}s; see {log}"
                )
            time.sleep(LOOP_S)
        load_end = time.time()
        if locust.returncode != 0:
            raise ChildDied(locust)
        stats = self.read_stats(raw_out)
        record["t0"], record["load_end"] = self.load_window(stats, t0, load_end)
        record["locust_stop_s"] = round(load_end - record["load_end"], 2)

        if outages.down is not None:  # the load ended while Redis was down: it comes back first
            time.sleep(max(0.0, outages.down.at_s + outages.down.down_s - (time.time() - t0)))
            self.redis_tick(outages, time.time() - t0, children, record, t0)
        drain_s = QUICK_DRAIN_S if self.args.quick else DRAIN_S
        drain_end = time.monotonic() + drain_s
        drained = False
        while True:
            if self.stack.workers_expendable:
                self.replace_dead_workers(children, record, t0)
            self.stack.check_alive()
            if self.sampler.due():
                self.sampler.sample(tag, self.stack.children)
            if self.sampler.idle():
                drained = True
                break
            if time.monotonic() > drain_end:
                break
            left = drain_end - time.monotonic()
            progress.update(task, description=f"{status}: draining the queue, ≤{left:4.1f}s")
            time.sleep(0.1)
        record["drained"], record["drained_at"] = drained, time.time() if drained else None
        if self.stack.workers_expendable:
            self.replace_dead_workers(children, record, t0)
            self.stack.workers_expendable = False  # from here on a dying worker is a fault again
        if not drained:
            self.workers_dirty = True  # leftovers must not leak into the next run
            self.flag(tag, "not_drained", f"jobs still queued {drain_s:.0f}s after the load")

        progress.update(task, description=f"{status}: collecting")
        self.collect(tag, raw_out, stats, record)

    def prepare(self, scenario: Scenario) -> None:
        """The same starting line for every run: provider, queue and data reset.

        Workers and the sync target take the scenario's env; whichever is stale is restarted
        before the scenario's first run, side by side, so their start-ups overlap.
        """
        self.stack.check_alive()  # a child that died between runs is a fault, not a restart
        env = dict(scenario.work_env)
        gates = []
        if self.stack.workers and (self.workers_dirty or self.stack.worker_env != env):
            gates.append(self.stack.relaunch_workers(env))
            self.workers_dirty = False
        if "target-sync" in self.stack.children and self.stack.target_env.get("sync", {}) != env:
            gates.append(self.stack.relaunch_target("sync", env))
        for gate in gates:
            gate()
        appendonly = scenario.redis_appendonly
        self.stack.set_redis_appendonly(
            self.settings.redis_appendonly if appendonly is None else appendonly
        )
        self.control("POST", "/control/reset", {"seed": self.args.seed})
        self.control("PUT", "/control/faults", scenario.faults)
        with redis.Redis.from_url(self.stack.redis_url) as client:
            client.flushdb()
        self.store.seed(
            self.args.seed, self.settings.seed_users, self.settings.seed_orders,
            self.settings.max_seats,
        )  # fmt: skip

    def control(self, method: str, path: str, body: Any) -> Any:
        try:
            response = self.http.request(method, f"{self.stack.provider_url}{path}", json=body)
        except httpx.HTTPError as exc:
            self.stack.check_alive()
            raise StackError(f"provider {method} {path} failed: {exc}") from None
        if response.status_code >= 400:
            raise StackError(f"provider refused {method} {path}: {response.text[:200]}")
        return response.json()

    def check(self, locust: Child) -> None:
        self.stack.check_alive()
        if not locust.alive() and locust.returncode != 0:
            raise ChildDied(locust)

    def kill_worker(self, children: dict[str, Child], record: dict[str, Any], t0: float) -> None:
        victims = self.stack.workers
        if not victims:
            return
        victim = victims[0]
        pid = victim.pid
        replacement = self.stack.replace_worker(victim)
        children.pop(victim.name, None)
        children[replacement.name] = replacement
        record["events"].append(
            _event("worker_kill", t0, process=victim.name, pid=pid,
                   replacement=replacement.name, replacement_pid=replacement.pid)
        )  # fmt: skip
        self.console.log(f"worker-crash: SIGKILLed {victim.name}, started {replacement.name}")

    def redis_tick(
        self,
        outages: RedisOutages,
        elapsed: float,
        children: dict[str, Child],
        record: dict[str, Any],
        t0: float,
    ) -> None:
        """Kill Redis or bring it back when the scenario says; replace workers it took down."""
        action = outages.due(elapsed)
        if action == "kill":
            self.stack.workers_expendable = True  # they die of the lost connection: expected
            victim = self.stack.kill_redis()
            children.pop("redis", None)
            record["events"].append(_event("redis_kill", t0, process="redis", pid=victim.pid))
            self.console.log("redis-restart: SIGKILLed Redis")
        elif action == "restart":
            started = time.time()
            redis_child = self.stack.launch_redis()
            children["redis"] = redis_child
            record["events"].append(
                _event("redis_restart", t0, process="redis", pid=redis_child.pid,
                       appendonly=self.stack.redis_appendonly,
                       start_s=round(time.time() - started, 3))
            )  # fmt: skip
            self.console.log(
                f"redis-restart: Redis back (append-only file {self.stack.redis_appendonly})"
            )
        if outages.down is None and self.stack.workers_expendable:
            self.replace_dead_workers(children, record, t0)

    def replace_dead_workers(
        self, children: dict[str, Child], record: dict[str, Any], t0: float
    ) -> None:
        """arq workers exit when their Redis connection drops: start one for each that did."""
        for worker in [w for w in self.stack.workers if not w.alive()]:
            replacement = self.stack.replace_worker(worker)
            children.pop(worker.name, None)
            children[replacement.name] = replacement
            record["events"].append(
                _event("worker_died", t0, process=worker.name, pid=worker.pid,
                       returncode=worker.returncode, replacement=replacement.name,
                       replacement_pid=replacement.pid)
            )  # fmt: skip
            self.console.log(
                f"redis-restart: {worker.name} exited ({worker.returncode}), started"
                f" {replacement.name}"
            )

    def read_stats(self, raw_out: Path) -> dict[str, Any]:
        path = Path(f"{raw_out}.stats.json")
        try:
            stats: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
        return stats

    def load_window(self, stats: dict[str, Any], t0: float, end: float) -> tuple[float, float]:
        workers = list((stats.get("workers") or {}).values())
        starts = [float(w["t0"]) for w in workers if w.get("t0")]
        stops = [float(w["t_stop"]) for w in workers if w.get("t_stop")]
        return (min(starts) if starts else t0), (max(stops) if stops else end)

    def collect(
        self, tag: dict[str, Any], raw_out: Path, stats: dict[str, Any], record: dict[str, Any]
    ) -> None:
        requests = _read_rows(raw_out)
        self.raw.append("requests", requests)
        raw_out.unlink(missing_ok=True)
        # Before the provider's capture: a job that ends in between is then delivered, never
        # counted lost for having left the queue after the snapshot.
        with redis.Redis.from_url(self.stack.redis_url) as client:
            pending = [{**tag, **p} for p in pending_jobs(client, self.settings.queue_name)]
        self.raw.append("pending", pending)
        messages = self.control("GET", "/control/messages", None)["messages"]
        deliveries = delivery_rows(messages, tag)
        self.raw.append("deliveries", deliveries)
        with redis.Redis.from_url(self.stack.redis_url) as client:
            events = [json.loads(e) for e in client.lrange(JOB_EVENTS_KEY, 0, -1)]
        self.raw.append("jobs", ({**tag, **e} for e in events))
        dead = [{**tag, **d} for d in self.store.dead_letters()]
        self.raw.append("dead_letters", dead)
        locust_cpu = self.sampler.locust_cpu_max
        queue_rows, process_rows = self.sampler.take()
        self.raw.append("queue_samples", queue_rows)
        self.raw.append("process_samples", process_rows)

        totals = stats.get("totals") or {}
        started = int(totals.get("slots_started", 0))
        late = int(totals.get("late_starts", 0))
        cpu_max = max(float(totals.get("max_cpu_percent", 0.0)), locust_cpu)
        if totals.get("generator_saturated") or cpu_max > 90:
            self.flag(tag, "generator_saturated", f"Locust CPU peaked at {cpu_max:.0f}%")
        behind = late > max(LATE_COUNT_FLAG, LATE_SHARE_FLAG * started)
        if behind or int(totals.get("dropped", 0)) > 0:
            self.flag(
                tag, "generator_behind",
                f"{late} of {started} starts late, {totals.get('dropped', 0)} dropped",
            )  # fmt: skip
        if not stats:
            self.flag(tag, "no_generator_stats", "Locust wrote no stats file")
        load_s = float(record["load_end"]) - float(record["t0"])
        summary = summarize(
            tag["scenario"], tag["variant"], requests, deliveries, dead, load_s, pending
        )
        self.summaries.append(summary)
        self.console.log(
            f"{tag['scenario']} x {tag['variant']}: {summary.requests} requests,"
            f" p99 {summary.p99_ms:.0f} ms, {summary.errors} errors;"
            f" work {summary.delivered}/{summary.expected} delivered,"
            f" {summary.pending} pending (still queued), {summary.lost} lost"
        )

    def flag(self, tag: dict[str, Any], kind: str, detail: str) -> None:
        self.meta["flags"].append({**tag, "flag": kind, "detail": detail})
        self.console.log(f"[yellow]flag[/] {tag['scenario']} x {tag['variant']}: {kind}: {detail}")

    def close(self) -> None:
        self.http.close()
        self.sampler.close()


class RedisOutages:
    """A scenario's Redis faults in order: what is due now (kill, restart, or nothing)."""

    def __init__(self, faults: tuple[RedisFault, ...]) -> None:
        self.todo = sorted(faults, key=lambda f: f.at_s)
        self.down: RedisFault | None = None

    def due(self, elapsed: float) -> str | None:
        if self.down is not None and elapsed >= self.down.at_s + self.down.down_s:
            self.down = None
            return "restart"
        if self.down is None and self.todo and elapsed >= self.todo[0].at_s:
            self.down = self.todo.pop(0)
            return "kill"
        return None


def _event(kind: str, t0: float, **fields: Any) -> dict[str, Any]:
    """One thing the runner did to the stack, in unix seconds and seconds from the load's start."""
    now = time.time()
    return {"kind": kind, "at": round(now, 6), "at_s": round(now - t0, 3), **fields}


def _read_rows(path: Path) -> list[dict[str, str]]:
    import csv

    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def bench(settings: Settings, args: argparse.Namespace) -> int:
    try:
        scenarios = choose(args.scenarios, args.quick, args.duration_s)
    except UnknownScenario as exc:
        raise UsageError(str(exc)) from None
    skipped = []
    if settings.redis_url:
        # The runner cannot restart a Redis it does not own.
        skipped = [
            {"scenario": s.name, "reason": "REDIS_URL points at a Redis the runner cannot restart"}
            for s in scenarios
            if s.restarts_redis
        ]
        scenarios = [s for s in scenarios if not s.restarts_redis]
        if not scenarios:
            raise UsageError(
                "the chosen scenarios all restart Redis, which the runner cannot do with"
                " REDIS_URL set; unset it so the runner starts its own Redis"
            )
    # Piped output (CI logs) gets a wide table, not rich's default of 80 columns.
    console = Console(stderr=True, width=None if sys.stderr.isatty() else 140)
    exits = ExitStack()
    external = args.sync_url is not None or args.delegated_url is not None
    if not external:
        # A private data set, so a bench never fights `make serve` over var/bench.db.
        data = Path(exits.enter_context(tempfile.TemporaryDirectory(prefix="bench-data-")))
        settings = settings.model_copy(
            update={"database_path": data / "bench.db", "tickets_dir": data / "tickets"}
        )
    if args.quick:
        settings = settings.model_copy(
            update={"max_seats": min(settings.max_seats, QUICK_MAX_SEATS)}
        )
    label = args.label or ("quick" if args.quick else "bench")
    try:
        run_dir = new_run_dir(args.results_dir, label)
    except OSError as exc:
        raise UsageError(
            f"cannot create a results folder in {args.results_dir} ({exc.strerror or exc});"
            " choose another with --results-dir"
        ) from None
    started = datetime.now(UTC)
    meta: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "label": label,
        "started_at": started.isoformat(),
        "finished_at": None,
        "complete": False,
        "incomplete_reason": "running",
        "git_sha": git_sha(),
        "packages": packages(),
        "cpu": cpu(),
        # The analysis trims this much of each run's start from latency figures.
        "settings": {
            **masked_settings(settings),
            "warmup_s": QUICK_WARMUP_S if args.quick else WARMUP_S,
        },
        "seed": args.seed,
        "repeat": args.repeat,
        "quick": args.quick,
        "variants": list(commands.VARIANTS),
        "workers": args.workers,
        "locust_processes": args.locust_processes,
        "external_targets": {"sync": args.sync_url, "delegated": args.delegated_url},
        "scenarios": [s.describe() for s in scenarios],
        "skipped": skipped,
        "runs": [],
        "flags": [],
    }
    write_meta(run_dir, meta)
    point_latest(args.results_dir, run_dir)
    console.print(f"results: {run_dir}")
    for skip in skipped:
        console.print(f"note: skipped {skip['scenario']}: {skip['reason']}", markup=False)
    options = StackOptions(
        host=args.host,
        provider_port=args.provider_port,
        sync_port=args.sync_port,
        delegated_port=args.delegated_port,
        workers=args.workers,
        sync_url=args.sync_url,
        delegated_url=args.delegated_url,
        log_dir=args.log_dir or run_dir / "logs",
        env={
            "database_path": settings.database_path,
            "tickets_dir": settings.tickets_dir,
            "max_seats": settings.max_seats,
        },
    )
    wall = time.monotonic()
    code, reason = 0, None
    runner: Bench | None = None
    try:
        with raising_on_signals():
            with console.status("starting the stack"):
                stack = start_stack(exits, settings, options)
            meta["stack"] = {"pids": stack.pids(), "urls": dict(stack.target_urls),
                             "provider_url": stack.provider_url}  # fmt: skip
            write_meta(run_dir, meta)
            runner = Bench(settings, stack, exits, run_dir, meta, args, console)
            order = list(run_order([s.name for s in scenarios], args.repeat))
            by_name = {s.name: s for s in scenarios}
            with Progress(*PROGRESS_COLUMNS, console=console, transient=True) as progress:
                task = progress.add_task("", total=len(order))
                for name, variant, repeat in order:
                    runner.run(by_name[name], variant, repeat, progress, task)
                    write_meta(run_dir, meta)
                    progress.advance(task)
    except Interrupted as exc:
        code, reason = exc.exit_code, f"interrupted by {exc}"
    except (StackError, redis.RedisError, httpx.HTTPError, OSError) as exc:
        error = explain(exc, runner.stack if runner is not None else None)
        code, reason = error.exit_code, str(error)
        if isinstance(error, ChildDied) and (error.child.returncode or 0) > 0:
            for line in error.tail:  # it failed on its own: its last words say why
                console.print(f"  {line}", markup=False, highlight=False)
    finally:
        with ignoring_signals():
            if runner is not None:
                runner.close()
            exits.close()
            meta["finished_at"] = datetime.now(UTC).isoformat()
            meta["complete"] = code == 0
            meta["incomplete_reason"] = reason
            meta["wall_s"] = round(time.monotonic() - wall, 1)
            write_meta(run_dir, meta)
    if reason is not None:
        console.print(
            f"error: {reason}; partial results kept in {run_dir} (incomplete)",
            markup=False, highlight=False, soft_wrap=True,
        )  # fmt: skip
        return code
    assert runner is not None
    console.print(render_table(runner.summaries, meta["flags"]))
    console.print(f"finished in {meta['wall_s']}s: {run_dir}")
    if not args.no_report:
        report(run_dir, console)
    return 0


def explain(exc: BaseException, stack: Stack | None) -> StackError:
    """The error to report: a child that died is the cause of the Redis or HTTP error it caused."""
    if isinstance(exc, ChildDied):
        return exc
    if stack is not None:
        # A killed server's socket may close a moment before its exit is visible to poll().
        deadline = time.monotonic() + DEATH_GRACE_S
        while True:
            dead = first_dead(stack.children.values())
            if dead is not None:
                return ChildDied(dead)
            if time.monotonic() > deadline:
                break
            time.sleep(LOOP_S)
    if isinstance(exc, StackError):
        return exc
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return StackError(f"{type(exc).__name__}: {first}")


def report(run_dir: Path, console: Console) -> None:
    if importlib.util.find_spec("analysis.cli") is None:
        console.print("analysis has no `report` command yet: raw results only")
        return
    try:
        done = subprocess.run(
            [sys.executable, "-m", "analysis", "report", str(run_dir)],
            timeout=REPORT_TIMEOUT_S, capture_output=True, text=True,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        console.print(f"`python -m analysis report` took over {REPORT_TIMEOUT_S:.0f}s: skipped")
        return
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        console.print(f"`python -m analysis report` failed ({last}); raw results are complete")
        return
    console.print(f"report: {run_dir / 'report.md'}")
