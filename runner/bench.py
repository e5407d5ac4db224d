"""`python -m runner bench`: each scenario against both variants, one at a time, into results/.

One run is five phases, each a method of `Bench` taking the run's `RunState`: start the load
generator, drive the load and the fault timeline, drain the queue, collect the raw rows, and
account for the generator's health.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import redis
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from core.contracts import DEFAULT_VARIANTS, JOB_EVENTS_KEY
from core.db import open_store
from core.scenarios import DRAIN_S, QUICK_DRAIN_S, RedisFault, Scenario, UnknownScenario, choose
from core.settings import PROJECT_ROOT, Settings
from runner import commands
from runner.children import Child, ChildDied, StackError, UsageError, first_dead
from runner.meta import new_meta, write_meta
from runner.pending import pending_jobs
from runner.results import RawFiles, delivery_rows, new_run_dir, point_latest
from runner.sampling import Sampler
from runner.signals import Interrupted, ignoring_signals, raising_on_signals
from runner.stack import Stack, StackOptions, start_stack
from runner.table import SummaryError, read_summary, render_table

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


@dataclass(frozen=True)
class BenchOptions:
    """`python -m runner bench`'s options, read once from the command line."""

    stack: StackOptions
    log_dir: Path | None = None  # default: the run's logs/
    scenarios: str = ""
    repeat: int = 1
    seed: int = 1
    quick: bool = False
    duration_s: float | None = None
    locust_processes: int = 1
    label: str = ""
    results_dir: Path = PROJECT_ROOT / "results"
    report: bool = True

    @property
    def external(self) -> bool:
        return self.stack.sync_url is not None or self.stack.delegated_url is not None

    @property
    def warmup_s(self) -> float:
        return QUICK_WARMUP_S if self.quick else WARMUP_S


def run_order(names: list[str], repeat: int) -> Iterator[tuple[str, str, int]]:
    """Every scenario x variant, the variants' order flipped on each repetition."""
    for r in range(repeat):
        variants = DEFAULT_VARIANTS if r % 2 == 0 else DEFAULT_VARIANTS[::-1]
        for name in names:
            for variant in variants:
                yield name, variant, r


@dataclass
class RunState:
    """One scenario x variant x repeat as it goes through the phases."""

    scenario: Scenario
    variant: str
    repeat: int
    record: dict[str, Any]  # its entry in meta.json's runs
    show: Callable[[str], None]  # the progress line
    children: dict[str, Child] = field(default_factory=dict)  # what the sampler measures
    locust: Child | None = None
    locust_log: Path = Path()
    raw_out: Path = Path()  # Locust's raw rows
    stop_timeout_s: float = STOP_TIMEOUT_S
    t0: float = 0.0  # unix seconds: when the load started
    stats: dict[str, Any] = field(default_factory=dict)  # Locust's own totals
    locust_cpu_max: float = 0.0  # as the sampler saw it

    @property
    def tag(self) -> dict[str, Any]:
        return {"scenario": self.scenario.name, "variant": self.variant, "repeat": self.repeat}

    @property
    def key(self) -> str:
        return f"{self.scenario.name}-{self.variant}-{self.repeat}"

    def status(self, doing: str) -> None:
        self.show(f"{self.scenario.name} x {self.variant} (repeat {self.repeat}): {doing}")

    def elapsed(self) -> float:
        return time.time() - self.t0

    def event(self, kind: str, **fields: Any) -> None:
        """One thing the runner did to the stack, in unix seconds and seconds from t0."""
        now = time.time()
        at = {"at": round(now, 6), "at_s": round(now - self.t0, 3)}
        self.record["events"].append({"kind": kind, **at, **fields})

    def swap(self, old: Child, new: Child | None) -> None:
        self.children.pop(old.name, None)
        if new is not None:
            self.children[new.name] = new


class Bench:
    def __init__(
        self,
        settings: Settings,
        stack: Stack,
        exits: ExitStack,
        run_dir: Path,
        meta: dict[str, Any],
        options: BenchOptions,
        console: Console,
    ) -> None:
        self.settings = settings
        self.stack = stack
        self.exits = exits
        self.run_dir = run_dir
        self.meta = meta
        self.options = options
        self.console = console
        self.raw = RawFiles(run_dir)
        self.sampler = Sampler(stack.redis_url, settings.queue_name)
        self.store = open_store(settings)
        self.http = httpx.Client(timeout=10)
        self.workers_dirty = False

    def run(
        self, scenario: Scenario, variant: str, repeat: int, show: Callable[[str], None]
    ) -> None:
        record: dict[str, Any] = {
            "scenario": scenario.name,
            "variant": variant,
            "repeat": repeat,
            **{"t0": None, "load_end": None, "drained_at": None, "drained": False, "events": []},
        }
        self.meta["runs"].append(record)
        run = RunState(scenario, variant, repeat, record, show)
        self.start_generator(run)
        self.drive(run)
        self.drain(run)
        self.collect(run)
        self.account(run)

    # The phases.

    def start_generator(self, run: RunState) -> None:
        """Reset the stack, start Locust; return once its load has started."""
        run.status("preparing")
        self.prepare(run.scenario)
        locust_dir = self.run_dir / "raw" / "locust"
        locust_dir.mkdir(parents=True, exist_ok=True)
        run.raw_out = locust_dir / f"{run.key}.requests.csv"
        run.stop_timeout_s = QUICK_STOP_TIMEOUT_S if self.options.quick else STOP_TIMEOUT_S
        argv = commands.locust_command(sys.executable, self.locust_run(run, locust_dir))
        run.locust_log = self.run_dir / "logs" / f"locust-{run.key}.log"
        locust = run.locust = Child("locust", argv, self.stack.env, run.locust_log)
        self.exits.callback(locust.stop)
        launched = time.monotonic()
        locust.start()
        run.children = {**self.stack.children, "locust": locust}

        # Load starts when Locust's test_start creates the raw file: the timeline starts then.
        run.status("starting Locust")
        deadline = time.monotonic() + LOCUST_START_S
        while not run.raw_out.exists():
            self.check(locust)
            if time.monotonic() > deadline:
                raise StackError(
                    f"Locust did not start within {LOCUST_START_S:.0f}s; see {run.locust_log}"
                )
            time.sleep(LOOP_S)
        run.t0 = run.record["t0"] = time.time()
        run.record["locust_start_s"] = round(time.monotonic() - launched, 2)  # its own overhead

    def drive(self, run: RunState) -> None:
        """Play the fault timeline and sample until Locust ends its load."""
        scenario, locust = run.scenario, run.locust
        assert locust is not None
        if scenario.timeline:
            self.control("POST", "/control/timeline", {"events": list(scenario.timeline)})
        kills = sorted(f.at_s for f in scenario.worker_faults) if run.variant == "delegated" else []
        # Redis is killed in both variants' runs: the sync target does not use it, which shows.
        outages = RedisOutages(scenario.redis_faults)
        while locust.alive():
            elapsed = run.elapsed()
            run.status(f"load, {max(0.0, scenario.duration_s - elapsed):4.1f}s left")
            while kills and elapsed >= kills[0]:
                kills.pop(0)
                self.kill_worker(run)
            self.redis_tick(run, outages, elapsed)
            self.stack.check_alive()
            if self.sampler.due():
                self.sampler.sample(run.tag, run.children)
            if elapsed > scenario.duration_s + run.stop_timeout_s + 30:
                raise StackError(
                    f"Locust ran {elapsed:.0f}s past its {scenario.duration_s}s;"
                    f" see {run.locust_log}"
                )
            time.sleep(LOOP_S)
        load_end = time.time()
        if locust.returncode != 0:
            raise ChildDied(locust)
        run.stats = read_stats(run.raw_out)
        run.record["t0"], run.record["load_end"] = load_window(run.stats, run.t0, load_end)
        run.record["locust_stop_s"] = round(load_end - run.record["load_end"], 2)
        if outages.down is not None:  # the load ended while Redis was down: it comes back first
            time.sleep(max(0.0, outages.down.at_s + outages.down.down_s - run.elapsed()))
            self.redis_tick(run, outages, run.elapsed())

    def drain(self, run: RunState) -> None:
        """Wait, bounded, for the queue to empty so completion times are real."""
        drain_s = QUICK_DRAIN_S if self.options.quick else DRAIN_S
        drain_end = time.monotonic() + drain_s
        drained = False
        while True:
            if self.stack.workers_expendable:
                self.replace_dead_workers(run)
            self.stack.check_alive()
            if self.sampler.due():
                self.sampler.sample(run.tag, self.stack.children)
            if self.sampler.idle():
                drained = True
                break
            if time.monotonic() > drain_end:
                break
            run.status(f"draining the queue, ≤{drain_end - time.monotonic():4.1f}s")
            time.sleep(0.1)
        run.record["drained"], run.record["drained_at"] = drained, time.time() if drained else None
        if self.stack.workers_expendable:
            self.replace_dead_workers(run)
            self.stack.workers_expendable = False  # from here on a dying worker is a fault again
        if not drained:
            self.workers_dirty = True  # leftovers must not leak into the next run
            self.flag(run, "not_drained", f"jobs still queued {drain_s:.0f}s after the load")

    def collect(self, run: RunState) -> None:
        """Append the run's requests, pending jobs, emails, job tries and samples to raw/."""
        run.status("collecting")
        tag = run.tag
        requests = self.raw.append("requests", read_rows(run.raw_out))
        run.raw_out.unlink(missing_ok=True)
        # Before the provider's capture: a job that ends in between is then delivered, never
        # counted lost for having left the queue after the snapshot.
        with redis.Redis.from_url(self.stack.redis_url) as client:
            pending = pending_jobs(client, self.settings.queue_name)
        self.raw.append("pending", ({**tag, **p} for p in pending))
        messages = self.control("GET", "/control/messages", None)["messages"]
        deliveries = self.raw.append("deliveries", delivery_rows(messages, tag))
        with redis.Redis.from_url(self.stack.redis_url) as client:
            events = [json.loads(e) for e in client.lrange(JOB_EVENTS_KEY, 0, -1)]
        self.raw.append("jobs", ({**tag, **e} for e in events))
        self.raw.append("dead_letters", ({**tag, **d} for d in self.store.dead_letters()))
        run.locust_cpu_max = self.sampler.locust_cpu_max
        queue_rows, process_rows = self.sampler.take()
        self.raw.append("queue_samples", queue_rows)
        self.raw.append("process_samples", process_rows)
        # Rows collected, not work counted: the analysis counts (see the table at the end).
        self.console.log(
            f"{run.scenario.name} x {run.variant}: {requests} requests,"
            f" {deliveries} emails, {len(pending)} jobs still queued"
        )

    def account(self, run: RunState) -> None:
        """Flag a run whose load generator was saturated or fell behind its arrival rate."""
        totals = run.stats.get("totals") or {}
        started = int(totals.get("slots_started", 0))
        late = int(totals.get("late_starts", 0))
        cpu_max = max(float(totals.get("max_cpu_percent", 0.0)), run.locust_cpu_max)
        if totals.get("generator_saturated") or cpu_max > 90:
            self.flag(run, "generator_saturated", f"Locust CPU peaked at {cpu_max:.0f}%")
        behind = late > max(LATE_COUNT_FLAG, LATE_SHARE_FLAG * started)
        dropped = totals.get("dropped", 0)
        if behind or int(dropped) > 0:
            self.flag(
                run, "generator_behind", f"{late} of {started} starts late, {dropped} dropped"
            )
        if not run.stats:
            self.flag(run, "no_generator_stats", "Locust wrote no stats file")

    # What the phases use.

    def locust_run(self, run: RunState, locust_dir: Path) -> commands.LocustRun:
        scenario = run.scenario
        return commands.LocustRun(
            locustfile=PROJECT_ROOT / "loadtests" / f"{scenario.locustfile}.py",
            host=self.stack.target_urls[run.variant],
            duration_s=scenario.duration_s,
            users=scenario.users,
            csv_prefix=locust_dir / run.key,
            raw_out=run.raw_out,
            scenario=scenario.name,
            variant=run.variant,
            repeat=run.repeat,
            seed=self.options.seed,
            provider_url=self.stack.provider_url,
            arrival_rate=scenario.rate or None,
            stages=scenario.stages,
            processes=self.options.locust_processes,
            stop_timeout_s=run.stop_timeout_s,
            options={
                "seed_users": self.settings.seed_users,
                "seed_orders": self.settings.seed_orders,
                "webhook_secret": self.settings.webhook_secret,
                **scenario.options,
            },
        )

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
        self.control("POST", "/control/reset", {"seed": self.options.seed})
        self.control("PUT", "/control/faults", scenario.faults)
        with redis.Redis.from_url(self.stack.redis_url) as client:
            client.flushdb()
        s = self.settings
        self.store.seed(self.options.seed, s.seed_users, s.seed_orders, s.max_seats)

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

    def kill_worker(self, run: RunState) -> None:
        victims = self.stack.workers
        if not victims:
            return
        victim = victims[0]
        pid = victim.pid
        replacement = self.stack.replace_worker(victim)
        run.swap(victim, replacement)
        run.event(
            "worker_kill",
            process=victim.name,
            pid=pid,
            replacement=replacement.name,
            replacement_pid=replacement.pid,
        )
        self.console.log(f"worker-crash: SIGKILLed {victim.name}, started {replacement.name}")

    def redis_tick(self, run: RunState, outages: RedisOutages, elapsed: float) -> None:
        """Kill Redis or bring it back when the scenario says; replace workers it took down."""
        action = outages.due(elapsed)
        if action == "kill":
            self.stack.workers_expendable = True  # they die of the lost connection: expected
            victim = self.stack.kill_redis()
            run.swap(victim, None)
            run.event("redis_kill", process="redis", pid=victim.pid)
            self.console.log("redis-restart: SIGKILLed Redis")
        elif action == "restart":
            started = time.time()
            back = self.stack.launch_redis()
            run.children[back.name] = back
            run.event(
                "redis_restart",
                process="redis",
                pid=back.pid,
                appendonly=self.stack.redis_appendonly,
                start_s=round(time.time() - started, 3),
            )
            self.console.log(
                f"redis-restart: Redis back (append-only file {self.stack.redis_appendonly})"
            )
        if outages.down is None and self.stack.workers_expendable:
            self.replace_dead_workers(run)

    def replace_dead_workers(self, run: RunState) -> None:
        """arq workers exit when their Redis connection drops: start one for each that did."""
        for worker in [w for w in self.stack.workers if not w.alive()]:
            replacement = self.stack.replace_worker(worker)
            run.swap(worker, replacement)
            run.event(
                "worker_died",
                process=worker.name,
                pid=worker.pid,
                returncode=worker.returncode,
                replacement=replacement.name,
                replacement_pid=replacement.pid,
            )
            self.console.log(
                f"redis-restart: {worker.name} exited ({worker.returncode}), started"
                f" {replacement.name}"
            )

    def flag(self, run: RunState, kind: str, detail: str) -> None:
        self.meta["flags"].append({**run.tag, "flag": kind, "detail": detail})
        self.console.log(f"[yellow]flag[/] {run.scenario.name} x {run.variant}: {kind}: {detail}")

    def close(self) -> None:
        self.http.close()
        self.sampler.close()
        self.store.close()


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


def read_stats(raw_out: Path) -> dict[str, Any]:
    try:
        stats: dict[str, Any] = json.loads(Path(f"{raw_out}.stats.json").read_text())
    except (OSError, ValueError):
        return {}
    return stats


def load_window(stats: dict[str, Any], t0: float, end: float) -> tuple[float, float]:
    """The load's first start and last stop as Locust's workers saw them."""
    workers = list((stats.get("workers") or {}).values())
    starts = [float(w["t0"]) for w in workers if w.get("t0")]
    stops = [float(w["t_stop"]) for w in workers if w.get("t_stop")]
    return (min(starts) if starts else t0), (max(stops) if stops else end)


def read_rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# The whole bench.


def chosen(
    options: BenchOptions, settings: Settings
) -> tuple[list[Scenario], list[dict[str, str]]]:
    """The scenarios to run, and those skipped with the reason."""
    try:
        scenarios = choose(options.scenarios, options.quick, options.duration_s)
    except UnknownScenario as exc:
        raise UsageError(str(exc)) from None
    if not settings.redis_url:
        return scenarios, []
    # The runner cannot restart a Redis it does not own.
    reason = "REDIS_URL points at a Redis the runner cannot restart"
    skipped = [{"scenario": s.name, "reason": reason} for s in scenarios if s.restarts_redis]
    scenarios = [s for s in scenarios if not s.restarts_redis]
    if not scenarios:
        raise UsageError(
            "the chosen scenarios all restart Redis, which the runner cannot do with"
            " REDIS_URL set; unset it so the runner starts its own Redis"
        )
    return scenarios, skipped


def bench(settings: Settings, options: BenchOptions) -> int:
    scenarios, skipped = chosen(options, settings)
    # Piped output (CI logs) gets a wide table, not rich's default of 80 columns.
    console = Console(stderr=True, width=None if sys.stderr.isatty() else 140)
    exits = ExitStack()
    if not options.external:
        # A private data set, so a bench never fights `make serve` over var/bench.db.
        data = Path(exits.enter_context(tempfile.TemporaryDirectory(prefix="bench-data-")))
        settings = settings.model_copy(
            update={"database_path": data / "bench.db", "tickets_dir": data / "tickets"}
        )
    if options.quick:
        settings = settings.model_copy(
            update={"max_seats": min(settings.max_seats, QUICK_MAX_SEATS)}
        )
    label = options.label or ("quick" if options.quick else "bench")
    try:
        run_dir = new_run_dir(options.results_dir, label)
    except OSError as exc:
        raise UsageError(
            f"cannot create a results folder in {options.results_dir} ({exc.strerror or exc});"
            " choose another with --results-dir"
        ) from None
    meta = new_meta(
        label=label,
        settings=settings,
        warmup_s=options.warmup_s,
        seed=options.seed,
        repeat=options.repeat,
        quick=options.quick,
        stack=options.stack,
        locust_processes=options.locust_processes,
        scenarios=[s.describe() for s in scenarios],
        skipped=skipped,
    )
    write_meta(run_dir, meta)
    point_latest(options.results_dir, run_dir)
    console.print(f"results: {run_dir}")
    for skip in skipped:
        console.print(f"note: skipped {skip['scenario']}: {skip['reason']}", markup=False)
    stack_options = replace(
        options.stack,
        log_dir=options.log_dir or run_dir / "logs",
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
                stack = start_stack(exits, settings, stack_options)
            meta["stack"] = {
                "pids": stack.pids(),
                "urls": dict(stack.target_urls),
                "provider_url": stack.provider_url,
            }
            write_meta(run_dir, meta)
            runner = Bench(settings, stack, exits, run_dir, meta, options, console)
            order = list(run_order([s.name for s in scenarios], options.repeat))
            by_name = {s.name: s for s in scenarios}
            with Progress(*PROGRESS_COLUMNS, console=console, transient=True) as progress:
                task = progress.add_task("", total=len(order))

                def show(text: str) -> None:
                    progress.update(task, description=text)

                for name, variant, repeat in order:
                    runner.run(by_name[name], variant, repeat, show)
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
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        return code
    console.print(f"finished in {meta['wall_s']}s: {run_dir}")
    if not options.report:
        console.print(f"no report (--no-report): `python -m analysis report {run_dir}` builds it")
    elif report(run_dir, console):
        show_table(run_dir, console)
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


def report(run_dir: Path, console: Console) -> bool:
    """`python -m analysis report RUN_DIR`: summary.json, report.md, report.html and charts."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "analysis", "report", str(run_dir)],
            timeout=REPORT_TIMEOUT_S,
            capture_output=True,
            text=True,
        )
    except subprocess.TimeoutExpired:
        console.print(f"`python -m analysis report` took over {REPORT_TIMEOUT_S:.0f}s: skipped")
        return False
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        console.print(f"`python -m analysis report` failed ({last}); raw results are complete")
        return False
    console.print(f"report: {run_dir / 'report.md'}")
    return True


def show_table(run_dir: Path, console: Console) -> None:
    """The closing table: the report's own numbers (warm-up trimmed), so the two agree."""
    try:
        summary = read_summary(run_dir / "summary.json")
    except SummaryError as exc:
        console.print(f"no table: {exc}", markup=False)
        return
    console.print(render_table(summary))
