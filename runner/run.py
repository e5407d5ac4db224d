"""Scenario x variant runs through the stack, as named phases.

prepare → start the load generator → drive the load and the fault timeline → drain the work →
collect the raw rows → account for the generator's health. A quick run runs a scenario's
variants side by side: each phase then takes them all, each variant with its own load
generator, faults, drain and rows (`run_side_by_side`). The floor (runner/floor.py) is a run of
the first phases whose rows are split by rate. Faults live in runner/faults.py.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
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
    promises_work,
)
from core.db import open_store
from core.scenarios import DRAIN_S, QUICK_DRAIN_S, Scenario
from core.settings import PROJECT_ROOT, Settings
from loadtests.options import ready_file
from runner import clocks, commands
from runner.children import Child, ChildDied, StackError
from runner.collect import Collector
from runner.faults import Faults, ServerFaults, end_grace, replace_dead_workers
from runner.floor import floor_scenario, split_stages
from runner.generator import generator_flags, host_clocks, load_window, read_rows, read_stats
from runner.options import BenchOptions
from runner.sampling import Sampler
from runner.stack import Stack
from runner.state import Launched, Load, RunState

LOOP_S = 0.05
LOCUST_START_S = 30.0  # importing Locust and gevent takes a second or two on a busy machine
# In-flight requests get this long to finish when the load stops; Locust also waits this long
# for users that claimed a future slot, so a long one costs every run its full length.
STOP_TIMEOUT_S = 10.0
QUICK_STOP_TIMEOUT_S = 1.0
OUTSTANDING_CHECK_S = 0.5  # a variant without a queue: how often the drain asks the provider


class Runner:
    """Runs scenario x variant runs through one stack, into one results folder: one at a time,
    or a scenario's variants side by side."""

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
        self.sampler = Sampler()
        self.store = open_store(settings, checked=True)  # it outlives db-outage's restart
        self.http = httpx.Client(timeout=10)
        self.collector = Collector(run_dir, stack, self.store, self.control)
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
        queue = self.stack.queue(variant)
        return RunState(scenario, variant, repeat, record, show, queue, self.stop_timeout_s)

    def run(
        self, scenario: Scenario, variant: str, repeat: int, show: Callable[[str], None]
    ) -> None:
        self.run_side_by_side(scenario, (variant,), repeat, show)

    def run_side_by_side(
        self,
        scenario: Scenario,
        variants: Sequence[str],
        repeat: int,
        show: Callable[[str], None],
    ) -> None:
        """The scenario for each variant, their loads at the same time (one: alone)."""
        names = " + ".join(variants)
        runs = [self.new_run(scenario, v, repeat, show) for v in variants]
        for run in runs:
            run.names = names
            self.meta["runs"].append(run.record)
        runs[0].status("preparing")
        # Their start-ups overlap the preparation.
        launched = [self.launch_generator(run) for run in runs]
        self.prepare(runs)
        loads = self.start_generators(runs, launched)
        self.drive(runs, loads)
        self.drain(runs, loads)
        self.collect(runs, loads)
        for run, load in zip(runs, loads, strict=True):
            self.account(run, load)

    def floor(
        self, variant: str, rates: Mapping[float, list[str]], show: Callable[[str], None]
    ) -> None:
        """GET /noop on the variant's target at each rate: rows as repeats of `floor`."""
        scenario = floor_scenario(list(rates), self.options.quick)
        run = self.new_run(scenario, variant, 0, show)
        [load] = self.start_generators([run], [self.launch_generator(run)])
        self.drive([run], [load])
        t0 = float(run.record["t0"])
        rows = split_stages(read_rows(load.raw_out), t0, scenario.stages)
        self.collector.raw.append("requests", ({**r, "scenario": FLOOR_SCENARIO} for r in rows))
        load.raw_out.unlink(missing_ok=True)
        self.sampler.take(run.tag)
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
        self.account(run, load)

    # The phases.

    def prepare(self, runs: Sequence[RunState]) -> None:
        """The same starting line for every run: nothing left working, provider, queue and data
        reset.

        What may still work on a past run's requests (`dirty`) is stopped with all it started
        before the reset, and the runs' own targets and workers too when they need the
        scenario's env; all start again after it, side by side, so their start-ups overlap.
        """
        self.stack.check_alive()  # a child that died between runs is a fault, not a restart
        stack, scenario = self.stack, runs[0].scenario
        env = dict(scenario.work_env)
        workers = {v: stack.worker_env.get(v, {}) for v in self.dirty if stack.workers_of(v)}
        targets = {
            v: stack.target_env.get(v, {})
            for v in self.dirty - set(workers)
            if f"target-{v}" in stack.children
        }
        for variant in (run.variant for run in runs):
            if stack.workers_of(variant) and stack.worker_env.get(variant) != env:
                workers[variant] = env
            if f"target-{variant}" in stack.children and stack.target_env.get(variant, {}) != env:
                targets[variant] = env
        self.dirty.clear()
        # Told to stop all at once, they shut down side by side; then each is waited for.
        stopping = [w for v in workers for w in stack.workers_of(v)]
        stopping += [stack.children[f"target-{v}"] for v in targets]
        for child in stopping:
            child.terminate()
        counts = {v: stack.stop_workers(v) for v in workers}
        ports = {v: stack.stop_target(v) for v in targets}
        restarted = [f"workers-{v}" for v in workers] + [f"target-{v}" for v in targets]
        for run in runs:
            run.record["restarted"] = restarted
        appendonly = scenario.redis_appendonly
        stack.set_redis_appendonly(
            self.settings.redis_appendonly if appendonly is None else appendonly
        )
        self.control("POST", "/control/reset", {"seed": self.options.seed})
        self.control("PUT", "/control/faults", scenario.faults)
        for name in stack.options.variants:
            queue = stack.queue(name)
            if queue is not None:
                queue.reset()
        with redis.Redis.from_url(stack.redis_url) as client:
            client.delete(JOB_EVENTS_KEY)
        s = self.settings
        self.store.seed(self.options.seed, s.seed_users, s.seed_orders, s.max_seats)
        gates = [stack.launch_workers(v, counts[v], e) for v, e in workers.items()]
        gates += [stack.launch_target(v, e, port=ports[v]) for v, e in targets.items()]
        for gate in gates:
            gate()

    def launch_generator(self, run: RunState) -> Launched:
        """Start Locust, its load held until start_generator gives the go."""
        locust_dir = self.run_dir / "raw" / "locust"
        locust_dir.mkdir(parents=True, exist_ok=True)
        raw_out = locust_dir / f"{run.key}.requests.csv"
        go_file = locust_dir / f"{run.key}.go"
        go_file.unlink(missing_ok=True)
        argv = commands.locust_command(sys.executable, self.locust_run(run, raw_out, go_file))
        log = self.run_dir / "logs" / f"locust-{run.key}.log"
        child = Child("locust", argv, self.stack.env, log)
        self.exits.callback(child.stop)
        child.start()
        return Launched(child, log, raw_out, go_file)

    def start_generators(
        self, runs: Sequence[RunState], launched: Sequence[Launched]
    ) -> list[Load]:
        """Give each Locust its go once all are ready; return when each load has started."""
        runs[0].status("starting Locust")
        # Workers started elsewhere may take their time to connect: Locust waits that long.
        deadline = time.monotonic() + LOCUST_START_S + self.options.expect_workers_wait_s
        for locust in launched:
            ready = Path(ready_file(str(locust.go_file)))
            while not ready.exists():
                self.stack.check_alive()
                self.locust_alive(locust, deadline)
                time.sleep(LOOP_S)
            ready.unlink()
        clocks_start = clocks.measure(self.stack.provider_url, self.stack.redis_url)
        started_at = time.monotonic()
        for run, locust in zip(runs, launched, strict=True):
            locust.go_file.touch()
            run.children = {**self.stack_children(run.variant), "locust": locust.child}
        # Load starts when Locust's test_start creates the raw file: the timeline starts then.
        loads: dict[int, Load] = {}
        while len(loads) < len(runs):
            self.stack.check_alive()
            for i, (run, locust) in enumerate(zip(runs, launched, strict=True)):
                if i in loads:
                    continue
                if locust.raw_out.exists():
                    locust.go_file.unlink()
                    t0 = run.record["t0"] = time.time()
                    # Its own overhead.
                    run.record["locust_start_s"] = round(time.monotonic() - started_at, 2)
                    loads[i] = Load(
                        locust.child, locust.log, locust.raw_out, t0, run.record, clocks_start
                    )
                else:
                    self.locust_alive(locust, deadline)
            time.sleep(LOOP_S)
        return [loads[i] for i in range(len(runs))]

    def locust_alive(self, locust: Launched, deadline: float) -> None:
        """Fail when a Locust died, or took too long to start."""
        if not locust.child.alive() and locust.child.returncode != 0:
            raise ChildDied(locust.child)
        if time.monotonic() > deadline:
            raise StackError(f"Locust did not start within {LOCUST_START_S:.0f}s; see {locust.log}")

    def drive(self, runs: Sequence[RunState], loads: Sequence[Load]) -> None:
        """Play the fault timeline and sample until every Locust ends its load."""
        scenario = runs[0].scenario
        pairs = list(zip(runs, loads, strict=True))
        faults = [Faults(self.stack, self.console, run, load) for run, load in pairs]
        servers = ServerFaults(self.stack, self.console, runs, loads)
        if scenario.timeline:
            self.control("POST", "/control/timeline", {"events": list(scenario.timeline)})
        if any(run.queue for run in runs) and scenario.job_design == MONOLITHIC_NO_TIMEOUT:
            # A blocking ticket program holds the worker's event loop; its Redis connection can
            # time out and the worker exit. That is this design's failure: replaced and recorded.
            self.stack.workers_expendable = True
        ended: dict[int, float] = {}  # unix seconds each Locust was seen to have ended
        while len(ended) < len(runs):
            for i, ((run, load), played) in enumerate(zip(pairs, faults, strict=True)):
                if i in ended:
                    continue
                if not load.locust.alive():
                    ended[i] = time.time()
                    continue
                elapsed = load.elapsed()
                if elapsed > scenario.duration_s + run.stop_timeout_s + 30:
                    raise StackError(
                        f"Locust ran {elapsed:.0f}s past its {scenario.duration_s}s; see {load.log}"
                    )
                played.tick(elapsed)
            servers.tick()
            self.stack.check_alive()
            left = max(0.0, scenario.duration_s - servers.elapsed())
            runs[0].status(f"load, {left:4.1f}s left")
            if self.sampler.due():
                self.sampler.sample([(run.tag, run.children, run.queue) for run in runs])
            time.sleep(LOOP_S)
        for played in faults:
            played.join()
        for i, (run, load) in enumerate(pairs):
            if load.locust.returncode != 0:
                raise ChildDied(load.locust)
            load.clocks_end = clocks.measure(self.stack.provider_url, self.stack.redis_url)
            load.stats = read_stats(load.raw_out)
            run.record["t0"], run.record["load_end"] = load_window(load.stats, load.t0, ended[i])
            run.record["locust_stop_s"] = round(ended[i] - run.record["load_end"], 2)
        servers.finish()

    def drain(self, runs: Sequence[RunState], loads: Sequence[Load]) -> None:
        """Wait, bounded, for each run's work to settle so completion times are real.

        A queue variant is drained when its queue is empty. A variant without one (its work in
        the target's process, if anywhere) when every email its answers promised is sent or
        dead-lettered; replaced targets first finish what they were doing.
        """
        drain_s = QUICK_DRAIN_S if self.options.quick else DRAIN_S
        drain_end = time.monotonic() + drain_s
        pairs = list(zip(runs, loads, strict=True))
        for run, load in pairs:
            for retired in run.retired:
                while retired.child.alive() and time.monotonic() < drain_end:
                    end_grace(run, load, self.console)
                    time.sleep(LOOP_S)
                retired.child.stop()
        owed = {i: self.promised(run, load) for i, (run, load) in enumerate(pairs) if not run.queue}
        drained: dict[int, float] = {}  # unix seconds each run was seen drained
        next_check = 0.0
        while True:
            if self.stack.workers_expendable:
                replace_dead_workers(self.stack, self.console, runs, loads)
            self.stack.check_alive()
            if self.sampler.due():
                self.sampler.sample(
                    [(r.tag, self.stack_children(r.variant), r.queue) for r in runs]
                )
            if owed and time.monotonic() >= next_check:
                settled = self.settled()
                for work in owed.values():
                    work -= settled
                next_check = time.monotonic() + OUTSTANDING_CHECK_S
            for i, run in enumerate(runs):
                if i not in drained and (
                    owed.get(i) == set() or (run.queue is not None and run.queue.idle())
                ):
                    drained[i] = time.time()
            if len(drained) == len(runs) or time.monotonic() > drain_end:
                break
            runs[0].status(f"draining the work, ≤{drain_end - time.monotonic():4.1f}s")
            time.sleep(0.1)
        for i, run in enumerate(runs):
            run.record["drained"], run.record["drained_at"] = i in drained, drained.get(i)
        if self.stack.workers_expendable:
            replace_dead_workers(self.stack, self.console, runs, loads)
            self.stack.workers_expendable = False  # from here on a dying worker is a fault again
        for i, (run, load) in enumerate(pairs):
            if i not in drained or self.may_still_work(run, load):
                self.dirty.add(run.variant)  # leftovers must not leak into the next run
            if i not in drained:
                self.flag(run, "not_drained", f"work still owed {drain_s:.0f}s after the load")

    def collect(self, runs: Sequence[RunState], loads: Sequence[Load]) -> None:
        """Append each run's requests, pending jobs, emails, job tries and samples to raw/."""
        runs[0].status("collecting")
        parts = []
        for run, load in zip(runs, loads, strict=True):
            queue_rows, process_rows, load.cpu_max = self.sampler.take(run.tag)
            parts.append((run, load.raw_out, queue_rows, process_rows))
        for run, counts in zip(runs, self.collector.collect(parts), strict=True):
            # Rows collected, not work counted: the analysis counts (see the table at the end).
            self.console.log(f"{run.scenario.name} x {run.variant}: {counts}")

    def account(self, run: RunState, load: Load) -> None:
        """Flag a load generator that was saturated or fell behind its rate, and clocks too far
        apart to correct completion times with."""
        for kind, detail in generator_flags(load.stats, load.cpu_max):
            self.flag(run, kind, detail)
        hosts = host_clocks(load.clocks_start, load.clocks_end, load.stats)
        run.record[CLOCK_OFFSETS] = hosts
        why = clocks.beyond_bound(hosts)
        if why:
            self.flag(run, "clock_offsets", why)

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

    def locust_run(self, run: RunState, raw_out: Path, go_file: Path) -> commands.LocustRun:
        scenario = run.scenario
        return commands.LocustRun(
            locustfile=PROJECT_ROOT / "loadtests" / f"{scenario.locustfile}.py",
            host=self.stack.target_urls[run.variant],
            duration_s=scenario.duration_s,
            users=scenario.users,
            csv_prefix=raw_out.parent / run.key,
            raw_out=raw_out,
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
            go_file=go_file,
            options={
                "seed_users": self.settings.seed_users,
                "seed_orders": self.settings.seed_orders,
                "webhook_secret": self.settings.webhook_secret,
                **scenario.options,
            },
        )

    def may_still_work(self, run: RunState, load: Load) -> bool:
        """Whether a variant's processes may still work on this run's requests after the drain.

        Work in the target's own process outlives the answers the drain waits for: a sync
        handler keeps going after its client gave up, and a webhook's redeliveries and second
        events keep making tickets after the order's email.
        """
        if run.queue is not None:
            return False
        return any(
            r["endpoint"] == "webhook" or not float(r["status"] or 0)
            for r in read_rows(load.raw_out)
        )

    def promised(self, run: RunState, load: Load) -> set[str]:
        """Work ids the run's answers promised and a live target may still be working on.

        A request sent before a target restart was answered, if at all, by the process that was
        replaced: what it promised is settled by the time it exited, sent or gone with it.
        """
        owed = set()
        for row in read_rows(load.raw_out):
            if not row["work_id"]:
                continue
            if run.replaced_at is not None and float(row["start"] or 0) < run.replaced_at:
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

    def flag(self, run: RunState, kind: str, detail: str) -> None:
        self.meta["flags"].append({**run.tag, "flag": kind, "detail": detail})
        self.console.log(f"[yellow]flag[/] {run.scenario.name} x {run.variant}: {kind}: {detail}")

    def close(self) -> None:
        self.http.close()
        self.store.close()
