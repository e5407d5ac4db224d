"""One scenario x variant run through the stack, as named phases over a typed `RunState`.

Start the load generator, drive the load and the fault timeline, drain the queue, collect the
raw rows, and account for the generator's health. The floor (runner/floor.py) is a run of the
first two phases whose rows are split by rate.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis
from rich.console import Console

from core.contracts import (
    CLOCK_OFFSETS,
    FLOOR_SCENARIO,
    JOB_EVENTS_KEY,
    MONOLITHIC_NO_TIMEOUT,
    order_of_work,
    promises_work,
)
from core.db import open_store
from core.scenarios import DRAIN_S, QUICK_DRAIN_S, RedisFault, Scenario
from core.settings import PROJECT_ROOT, Settings
from runner import clocks, commands
from runner.children import Child, ChildDied, StackError
from runner.floor import floor_scenario, split_stages
from runner.options import BenchOptions
from runner.queues import Queue, queue_of
from runner.results import RawFiles, delivery_rows
from runner.sampling import Sampler
from runner.stack import Stack

LOOP_S = 0.05
LOCUST_START_S = 30.0  # importing Locust and gevent takes a second or two on a busy machine
# More late starts than this share (and a handful): the generator fell behind its rate.
LATE_SHARE_FLAG = 0.02
LATE_COUNT_FLAG = 5
# In-flight requests get this long to finish when the load stops; Locust also waits this long
# for users that claimed a future slot, so a long one costs every run its full length.
STOP_TIMEOUT_S = 10.0
QUICK_STOP_TIMEOUT_S = 1.0
OUTSTANDING_CHECK_S = 0.5  # a variant without a queue: how often the drain asks the provider


@dataclass
class RunState:
    """One scenario x variant x repeat as it goes through the phases."""

    scenario: Scenario
    variant: str
    repeat: int
    record: dict[str, Any]  # its entry in meta.json's runs
    show: Callable[[str], None]  # the progress line
    queue: Queue | None = None  # the variant's queue, if its work goes through one
    children: dict[str, Child] = field(default_factory=dict)  # what the sampler measures
    locust: Child | None = None
    locust_log: Path = Path()
    raw_out: Path = Path()  # Locust's raw rows
    stop_timeout_s: float = STOP_TIMEOUT_S
    t0: float = 0.0  # unix seconds: when the load started
    stats: dict[str, Any] = field(default_factory=dict)  # Locust's own totals
    locust_cpu_max: float = 0.0  # as the sampler saw it
    clocks_start: dict[str, clocks.Probe] = field(default_factory=dict)  # other hosts' clocks
    clocks_end: dict[str, clocks.Probe] = field(default_factory=dict)
    retired: list[Child] = field(default_factory=list)  # targets replaced, maybe still finishing
    replaced_at: float = 0.0  # unix seconds: when the last replacement target was started

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


class Runner:
    """Runs one scenario x variant at a time through one stack, into one results folder."""

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
        self.sampler = Sampler(stack.redis_url)
        self.store = open_store(settings)
        self.http = httpx.Client(timeout=10)
        # Variants whose workers or target may still work on a past run's requests.
        self.dirty: set[str] = set()
        self.stop_timeout_s = QUICK_STOP_TIMEOUT_S if options.quick else STOP_TIMEOUT_S

    def new_run(
        self, scenario: Scenario, variant: str, repeat: int, show: Callable[[str], None]
    ) -> RunState:
        record: dict[str, Any] = {
            "scenario": scenario.name,
            "variant": variant,
            "repeat": repeat,
            **{"t0": None, "load_end": None, "drained_at": None, "drained": False, "events": []},
        }
        run = RunState(scenario, variant, repeat, record, show)
        run.queue = queue_of(variant, self.settings)
        run.stop_timeout_s = self.stop_timeout_s
        return run

    def run(
        self, scenario: Scenario, variant: str, repeat: int, show: Callable[[str], None]
    ) -> None:
        run = self.new_run(scenario, variant, repeat, show)
        self.meta["runs"].append(run.record)
        run.status("preparing")
        self.prepare(run)
        self.start_generator(run)
        self.drive(run)
        self.drain(run)
        self.collect(run)
        self.account(run)

    def floor(
        self, variant: str, rates: Mapping[float, list[str]], show: Callable[[str], None]
    ) -> None:
        """GET /noop on the variant's target at each rate: rows as repeats of `floor`."""
        scenario = floor_scenario(list(rates), self.options.quick)
        run = self.new_run(scenario, variant, 0, show)
        self.start_generator(run)
        self.drive(run)
        t0 = float(run.record["t0"])
        rows = split_stages(read_rows(run.raw_out), t0, scenario.stages)
        self.raw.append("requests", ({**r, "scenario": FLOOR_SCENARIO} for r in rows))
        run.raw_out.unlink(missing_ok=True)
        self.sampler.take()
        at = t0
        for repeat, ((duration_s, rate), serves) in enumerate(
            zip(scenario.stages, rates.values(), strict=True)
        ):
            self.meta["floor"].append(
                {
                    "variant": variant,
                    "rate": rate,
                    "repeat": repeat,
                    "t0": round(at, 6),
                    "load_end": round(at + duration_s, 6),
                    "scenarios": serves,
                }
            )
            at += duration_s
        self.account(run)

    # The phases.

    def start_generator(self, run: RunState) -> None:
        """Start Locust; return once its load has started."""
        locust_dir = self.run_dir / "raw" / "locust"
        locust_dir.mkdir(parents=True, exist_ok=True)
        run.raw_out = locust_dir / f"{run.key}.requests.csv"
        argv = commands.locust_command(sys.executable, self.locust_run(run, locust_dir))
        run.clocks_start = clocks.measure(self.stack.provider_url, self.stack.redis_url)
        run.locust_log = self.run_dir / "logs" / f"locust-{run.key}.log"
        locust = run.locust = Child("locust", argv, self.stack.env, run.locust_log)
        self.exits.callback(locust.stop)
        launched = time.monotonic()
        locust.start()
        run.children = {**self.stack_children(run.variant), "locust": locust}

        # Load starts when Locust's test_start creates the raw file: the timeline starts then.
        run.status("starting Locust")
        # Workers started elsewhere may take their time to connect: Locust waits that long.
        deadline = time.monotonic() + LOCUST_START_S + self.options.expect_workers_wait_s
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
        kills = sorted(f.at_s for f in scenario.worker_faults) if run.queue else []
        restarts = sorted(scenario.target_faults, key=lambda f: f.at_s)
        # Redis is killed in every variant's run: those that do not use it show it.
        outages = RedisOutages(scenario.redis_faults)
        if run.queue and scenario.job_design == MONOLITHIC_NO_TIMEOUT:
            # A blocking ticket program holds the worker's event loop; its Redis connection can
            # time out and the worker exit. That is this design's failure: replaced and recorded.
            self.stack.workers_expendable = True
        while locust.alive():
            elapsed = run.elapsed()
            run.status(f"load, {max(0.0, scenario.duration_s - elapsed):4.1f}s left")
            while kills and elapsed >= kills[0]:
                kills.pop(0)
                self.kill_worker(run)
            while restarts and elapsed >= restarts[0].at_s:
                self.restart_target(run, restarts.pop(0).how)
            self.redis_tick(run, outages, elapsed)
            self.stack.check_alive()
            if self.sampler.due():
                self.sampler.sample(run.tag, run.children, run.queue)
            if elapsed > scenario.duration_s + run.stop_timeout_s + 30:
                raise StackError(
                    f"Locust ran {elapsed:.0f}s past its {scenario.duration_s}s;"
                    f" see {run.locust_log}"
                )
            time.sleep(LOOP_S)
        load_end = time.time()
        if locust.returncode != 0:
            raise ChildDied(locust)
        run.clocks_end = clocks.measure(self.stack.provider_url, self.stack.redis_url)
        run.stats = read_stats(run.raw_out)
        run.record["t0"], run.record["load_end"] = load_window(run.stats, run.t0, load_end)
        run.record["locust_stop_s"] = round(load_end - run.record["load_end"], 2)
        if outages.down is not None:  # the load ended while Redis was down: it comes back first
            time.sleep(max(0.0, outages.down.at_s + outages.down.down_s - run.elapsed()))
            self.redis_tick(run, outages, run.elapsed())

    def drain(self, run: RunState) -> None:
        """Wait, bounded, for the work to settle so completion times are real.

        A queue variant is drained when its queue is empty. A variant without one (its work in
        the target's process, if anywhere) when every email its answers promised is sent or
        dead-lettered; replaced targets first finish what they were doing.
        """
        drain_s = QUICK_DRAIN_S if self.options.quick else DRAIN_S
        drain_end = time.monotonic() + drain_s
        for old in run.retired:
            while old.alive() and time.monotonic() < drain_end:
                time.sleep(LOOP_S)
            old.stop()
        owed = None if run.queue else self.promised(run)
        drained = False
        next_check = 0.0
        while True:
            if self.stack.workers_expendable:
                self.replace_dead_workers(run)
            self.stack.check_alive()
            if self.sampler.due():
                self.sampler.sample(run.tag, self.stack_children(run.variant), run.queue)
            if owed is not None and time.monotonic() >= next_check:
                owed -= self.settled()
                next_check = time.monotonic() + OUTSTANDING_CHECK_S
            if (owed is None and self.sampler.idle(run.queue)) or owed == set():
                drained = True
                break
            if time.monotonic() > drain_end:
                break
            run.status(f"draining the work, ≤{drain_end - time.monotonic():4.1f}s")
            time.sleep(0.1)
        run.record["drained"], run.record["drained_at"] = drained, time.time() if drained else None
        if self.stack.workers_expendable:
            self.replace_dead_workers(run)
            self.stack.workers_expendable = False  # from here on a dying worker is a fault again
        if not drained or self.may_still_work(run):
            self.dirty.add(run.variant)  # leftovers must not leak into the next run
        if not drained:
            self.flag(run, "not_drained", f"work still owed {drain_s:.0f}s after the load")

    def collect(self, run: RunState) -> None:
        """Append the run's requests, pending jobs, emails, job tries and samples to raw/."""
        run.status("collecting")
        tag = run.tag
        rows = read_rows(run.raw_out)
        requests = self.raw.append("requests", rows)
        run.raw_out.unlink(missing_ok=True)
        # Before the provider's capture: a job that ends in between is then delivered, never
        # counted lost for having left the queue after the snapshot.
        pending: list[dict[str, Any]] = []
        if run.queue is not None:
            with redis.Redis.from_url(self.stack.redis_url) as client:
                pending = run.queue.pending(client)
        self.raw.append("pending", ({**tag, **p} for p in pending))
        messages = self.control("GET", "/control/messages", None)["messages"]
        deliveries = self.raw.append("deliveries", delivery_rows(messages, tag))
        with redis.Redis.from_url(self.stack.redis_url) as client:
            events = [json.loads(e) for e in client.lrange(JOB_EVENTS_KEY, 0, -1)]
        self.raw.append("jobs", ({**tag, **e} for e in events))
        self.raw.append("dead_letters", ({**tag, **d} for d in self.store.dead_letters()))
        self.raw.append("orders", self.order_rows(rows, tag))
        run.locust_cpu_max = self.sampler.locust_cpu_max
        queue_rows, process_rows = self.sampler.take()
        self.raw.append("queue_samples", queue_rows)
        self.raw.append("process_samples", process_rows)
        # Rows collected, not work counted: the analysis counts (see the table at the end).
        self.console.log(
            f"{run.scenario.name} x {run.variant}: {requests} requests,"
            f" {deliveries} emails, {len(pending)} jobs still queued"
        )

    def order_rows(self, rows: list[dict[str, str]], tag: dict[str, Any]) -> list[dict[str, Any]]:
        """The orders the run's webhooks named, as the store holds them now: the analysis needs
        their seats, and when they were paid and their tickets emailed."""
        ids = {order_of_work(r["work_id"]) for r in rows if r["endpoint"] == "webhook"}
        orders = (self.store.order(i) for i in sorted(i for i in ids if i is not None))
        return [
            {
                **tag,
                "order_id": o.id,
                "seats": o.seats,
                "paid_at": o.paid_at,
                "tickets_sent_at": o.tickets_sent_at,
            }
            for o in orders
            if o is not None
        ]

    def account(self, run: RunState) -> None:
        """Flag a load generator (each worker) that was saturated or fell behind its rate, and
        clocks too far apart to correct completion times with."""
        workers = run.stats.get("workers") or {}
        if len(workers) > 1:
            for index, worker in sorted(workers.items()):
                self.account_generator(run, worker, 0.0, f"Locust worker {index}: ")
        else:
            totals = run.stats.get("totals") or {}
            self.account_generator(
                run,
                {**totals, "cpu_percent": totals.get("max_cpu_percent")},
                run.locust_cpu_max,
                "",
            )
        if not run.stats:
            self.flag(run, "no_generator_stats", "Locust wrote no stats file")
        hosts = clocks.combine(run.clocks_start, run.clocks_end)
        hosts.update(clocks.combine(*_phases(clocks.locust_clocks(run.stats))))
        run.record[CLOCK_OFFSETS] = hosts
        why = clocks.beyond_bound(hosts)
        if why:
            self.flag(run, "clock_offsets", why)

    def account_generator(
        self, run: RunState, stats: Mapping[str, Any], sampled_cpu: float, who: str
    ) -> None:
        started = int(stats.get("slots_started", 0))
        late = int(stats.get("late_starts", 0))
        cpu_max = max(float(stats.get("cpu_percent") or 0.0), sampled_cpu)
        if stats.get("generator_saturated") or cpu_max > 90:
            self.flag(run, "generator_saturated", f"{who}Locust CPU peaked at {cpu_max:.0f}%")
        behind = late > max(LATE_COUNT_FLAG, LATE_SHARE_FLAG * started)
        dropped = int(stats.get("dropped", 0))
        if behind or dropped > 0:
            detail = f"{who}{late} of {started} starts late, {dropped} dropped: {why_behind(stats)}"
            self.flag(run, "generator_behind", detail)

    # What the phases use.

    def stack_children(self, variant: str) -> dict[str, Child]:
        """The children a run of this variant uses: not the other variants' targets and workers."""
        return {
            name: c
            for name, c in self.stack.children.items()
            if not name.startswith(("target-", "worker"))
            or name == f"target-{variant}"
            or self.stack.worker_variant.get(name) == variant
        }

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
            expect_workers=self.options.expect_workers,
            expect_workers_wait_s=self.options.expect_workers_wait_s,
            master_bind_host=self.options.master_bind_host,
            master_bind_port=self.options.master_bind_port,
            stop_timeout_s=run.stop_timeout_s,
            options={
                "seed_users": self.settings.seed_users,
                "seed_orders": self.settings.seed_orders,
                "webhook_secret": self.settings.webhook_secret,
                **scenario.options,
            },
        )

    def prepare(self, run: RunState) -> None:
        """The same starting line for every run: nothing left working, provider, queue and data
        reset.

        What may still work on a past run's requests (`dirty`) is stopped with all it started
        before the reset, and the run's own target and workers too when they need the
        scenario's env; all start again after it, side by side, so their start-ups overlap.
        """
        self.stack.check_alive()  # a child that died between runs is a fault, not a restart
        stack, variant, env = self.stack, run.variant, dict(run.scenario.work_env)
        workers = {v: stack.worker_env.get(v, {}) for v in self.dirty if stack.workers_of(v)}
        targets = {
            v: stack.target_env.get(v, {})
            for v in self.dirty - set(workers)
            if f"target-{v}" in stack.children
        }
        if stack.workers_of(variant) and stack.worker_env.get(variant) != env:
            workers[variant] = env
        if f"target-{variant}" in stack.children and stack.target_env.get(variant, {}) != env:
            targets[variant] = env
        self.dirty.clear()
        counts = {v: stack.stop_workers(v) for v in workers}
        ports = {v: stack.stop_target(v) for v in targets}
        run.record["restarted"] = [f"workers-{v}" for v in workers] + [
            f"target-{v}" for v in targets
        ]
        appendonly = run.scenario.redis_appendonly
        stack.set_redis_appendonly(
            self.settings.redis_appendonly if appendonly is None else appendonly
        )
        self.control("POST", "/control/reset", {"seed": self.options.seed})
        self.control("PUT", "/control/faults", run.scenario.faults)
        with redis.Redis.from_url(stack.redis_url) as client:
            client.flushdb()
        s = self.settings
        self.store.seed(self.options.seed, s.seed_users, s.seed_orders, s.max_seats)
        gates = [stack.launch_workers(v, counts[v], e) for v, e in workers.items()]
        gates += [stack.launch_target(v, e, port=ports[v]) for v, e in targets.items()]
        for gate in gates:
            gate()

    def may_still_work(self, run: RunState) -> bool:
        """Whether a variant's processes may still work on this run's requests after the drain.

        Work in the target's own process outlives the answers the drain waits for: a sync
        handler keeps going after its client gave up, and a webhook's redeliveries and second
        events keep making tickets after the order's email.
        """
        if run.queue is not None:
            return False
        return any(
            r["endpoint"] == "webhook" or not float(r["status"] or 0)
            for r in read_rows(run.raw_out)
        )

    def promised(self, run: RunState) -> set[str]:
        """Work ids the run's answers promised and a live target may still be working on.

        What a replaced target answered is settled by the time it exited: sent, or gone with it.
        """
        owed = set()
        for row in read_rows(run.raw_out):
            if not row["work_id"] or float(row["end"] or 0) < run.replaced_at:
                continue
            registered = {"true": True, "false": False}.get(row["registered"])
            status = int(float(row["status"] or 0))
            if promises_work(row["endpoint"], status, row["error"], registered):
                owed.add(row["work_id"])
        return owed

    def settled(self) -> set[str]:
        """Work ids sent or dead-lettered so far."""
        messages = self.control("GET", "/control/messages", None)["messages"]
        sent = {str(m["work_id"]) for m in messages if m.get("work_id")}
        return sent | {str(d["work_id"]) for d in self.store.dead_letters()}

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
        victims = self.stack.workers_of(run.variant)
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

    def restart_target(self, run: RunState, how: str) -> None:
        """A deploy (SIGTERM) or a crash (SIGKILL) of the target, replaced under load."""
        signalled = time.monotonic()
        run.replaced_at = time.time()
        old, gate = self.stack.restart_target(run.variant, how)
        port_free_s = time.monotonic() - signalled
        new = self.stack.children[f"target-{run.variant}"]
        run.swap(old, new)
        run.retired.append(old)
        healthy_s = gate()
        run.event(
            f"target_{how}",
            process=old.name,
            pid=old.pid,
            replacement_pid=new.pid,
            port_free_s=round(port_free_s, 3),
            healthy_s=round(healthy_s, 3),
        )
        self.console.log(
            f"target-restart: {'SIGTERM' if how == 'term' else 'SIGKILL'} to {old.name},"
            f" its replacement healthy {port_free_s + healthy_s:.1f}s later"
        )

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
            if worker.name in run.children:
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


def why_behind(stats: Mapping[str, Any]) -> str:
    """Why a generator started requests late: out of users, or (users to spare) out of CPU."""
    peak, most = int(stats.get("peak_users", 0)), int(stats.get("max_users", 0))
    if most and peak >= most:
        return f"users ran out at the cap of {most} (--max-users)"
    cpu = float(stats.get("cpu_percent") or 0.0)
    return (
        f"not for want of users ({peak} of at most {most}): the machine's CPU"
        f" (the generator averaged {cpu:.0f}% of a core; the target and workers share it)"
    )


def _phases(
    by_host: Mapping[str, Mapping[str, clocks.Probe]],
) -> tuple[dict[str, clocks.Probe], dict[str, clocks.Probe]]:
    """{host: {phase: probe}} as the two {host: probe} that clocks.combine takes."""
    start = {h: p["start"] for h, p in by_host.items() if "start" in p}
    end = {h: p["end"] for h, p in by_host.items() if "end" in p}
    return start, end
