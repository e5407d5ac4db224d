"""A scenario's faults as the runner plays them: worker kills, target restarts, server outages.

Runs side by side each play their own workers' and target's faults; a server fault is played
once for them all and recorded in each run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from rich.console import Console

from core.scenarios import SERVER_NAMES, Scenario, ServerFault, TargetFault
from runner.stack import Stack
from runner.state import Load, Retired, RunState


class ServerOutages:
    """A scenario's server faults in order: what is due now (down, back, or nothing)."""

    def __init__(self, faults: tuple[ServerFault, ...]) -> None:
        self.todo = sorted(faults, key=lambda f: f.at_s)
        self.down: ServerFault | None = None

    def due(self, elapsed: float) -> tuple[str, ServerFault] | None:
        """("down", fault) when a fault starts, ("back", fault) when it ends."""
        down = self.down
        if down is not None and elapsed >= down.at_s + down.down_s:
            self.down = None
            return "back", down
        if down is None and self.todo and elapsed >= self.todo[0].at_s:
            self.down = self.todo.pop(0)
            return "down", self.down
        return None


class Faults:
    """The worker and target faults of one run, played by `tick` from the runner's loop."""

    def __init__(self, stack: Stack, console: Console, run: RunState, load: Load) -> None:
        self.stack, self.console, self.run, self.load = stack, console, run, load
        scenario: Scenario = run.scenario
        self.kills = sorted(f.at_s for f in scenario.worker_faults) if run.queue else []
        self.restarts = sorted(scenario.target_faults, key=lambda f: f.at_s)
        self.waiting: Waiting | None = None

    def tick(self, elapsed: float) -> None:
        """Play what is due. A replacement target's health is waited for beside the runner's
        loop, which goes on playing the other runs' faults and sampling meanwhile."""
        while self.kills and elapsed >= self.kills[0]:
            self.kills.pop(0)
            self.kill_worker()
        while self.restarts and elapsed >= self.restarts[0].at_s:
            self.join()  # a target is restarted again only once its replacement is healthy
            healthy = self.restart_target(self.restarts.pop(0))
            self.waiting = Waiting(healthy)
        end_grace(self.run, self.load, self.console)
        if self.waiting is not None and self.waiting.done():
            self.join()

    def join(self) -> None:
        """Wait for the last replacement's health; its failure is the run's."""
        if self.waiting is not None:
            waiting, self.waiting = self.waiting, None
            waiting.join()

    def kill_worker(self) -> None:
        victims = self.stack.workers_of(self.run.variant)
        if not victims:
            return
        victim = victims[0]
        pid = victim.pid
        replacement = self.stack.replace_worker(victim)
        self.run.swap(victim, replacement)
        self.load.event(
            "worker_kill",
            process=victim.name,
            pid=pid,
            replacement=replacement.name,
            replacement_pid=replacement.pid,
        )
        self.console.log(f"worker-crash: SIGKILLed {victim.name}, started {replacement.name}")

    def restart_target(self, fault: TargetFault) -> Callable[[], None]:
        """A deploy (SIGTERM) or a crash (SIGKILL) of the target, replaced under load; the
        wait for the replacement's health, which records the event.

        The event is at the signal; when the replacement was healthy is a second time.
        """
        run, stack, how = self.run, self.stack, fault.how
        # A request sent from now on can only be answered by the replacement: the old process
        # stops listening at the signal (the drain's `promised` counts on it).
        replaced_at = run.replaced_at = time.time()
        signalled = time.monotonic()
        old, gate = stack.restart_target(run.variant, how)
        port_free_s = time.monotonic() - signalled
        new = stack.children[f"target-{run.variant}"]
        run.swap(old, new)
        grace_s = fault.grace_s if how == "term" else None
        run.retired.append(Retired(old, None if grace_s is None else signalled + grace_s))

        def healthy() -> None:
            healthy_s = gate()
            self.load.event(
                f"target_{how}",
                at=replaced_at,
                process=old.name,
                pid=old.pid,
                replacement_pid=new.pid,
                port_free_s=round(port_free_s, 3),
                healthy_s=round(healthy_s, 3),
                healthy_at_s=round(time.time() - self.load.t0, 3),
            )
            self.console.log(
                f"target-restart: {'SIGTERM' if how == 'term' else 'SIGKILL'} to {old.name},"
                f" its replacement healthy {time.monotonic() - signalled:.1f}s later"
            )

        return healthy


class Waiting:
    """A wait run in a thread: done() without blocking, join() re-raises what it raised."""

    def __init__(self, wait: Callable[[], None]) -> None:
        self.error: BaseException | None = None

        def run() -> None:
            try:
                wait()
            except BaseException as exc:  # re-raised by join, in the runner's thread
                self.error = exc

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def done(self) -> bool:
        return not self.thread.is_alive()

    def join(self) -> None:
        self.thread.join()
        if self.error is not None:
            raise self.error


class ServerFaults:
    """A scenario's server faults, played once for the runs side by side, each of which
    records them: a server is failed in every variant's run, and those that do not use it
    show it."""

    def __init__(
        self, stack: Stack, console: Console, runs: Sequence[RunState], loads: Sequence[Load]
    ) -> None:
        self.stack, self.console, self.runs, self.loads = stack, console, runs, loads
        self.outages = ServerOutages(runs[0].scenario.server_faults)

    def elapsed(self) -> float:
        return self.loads[0].elapsed()

    def finish(self) -> None:
        """The load ended while a server was down: it comes back before the drain."""
        down = self.outages.down
        if down is not None:
            time.sleep(max(0.0, down.at_s + down.down_s - self.elapsed()))
            self.tick()

    def event(self, kind: str, **fields: object) -> None:
        at = time.time()
        for load in self.loads:
            load.event(kind, at=at, **fields)

    def tick(self) -> None:
        """Stop or pause a server, or bring it back, when the scenario says; replace workers
        that died of it."""
        stack = self.stack
        due = self.outages.due(self.elapsed())
        if due is not None:
            change, fault = due
            name, server = SERVER_NAMES[fault.server], fault.server
            if fault.how == "pause":
                paused = change == "down"
                stack.pause_server(server, paused)
                self.event(f"{server}_{'pause' if paused else 'resume'}", process=server)
                said = "paused (SIGSTOP)" if paused else "resumed (SIGCONT)"
            elif change == "down":
                stack.workers_expendable = True  # they may die of the lost connection
                victim = stack.kill_server(server)
                for run in self.runs:
                    run.swap(victim, None)
                self.event(f"{server}_kill", process=server, pid=victim.pid)
                said = "SIGKILLed"
            else:
                started = time.time()
                back = stack.launch_server(server)
                for run in self.runs:
                    run.children[back.name] = back
                self.event(
                    f"{server}_restart",
                    process=server,
                    pid=back.pid,
                    appendonly=stack.redis_appendonly if server == "redis" else None,
                    start_s=round(time.time() - started, 3),
                )
                said = "back"
            self.console.log(f"{name}: {said}")
        if self.outages.down is None and stack.workers_expendable:
            replace_dead_workers(stack, self.console, self.runs, self.loads)


def end_grace(run: RunState, load: Load, console: Console) -> None:
    """SIGKILL each replaced target still running past its grace period."""
    now = time.monotonic()
    for retired in run.retired:
        old = retired.child
        if retired.kill_at is not None and now >= retired.kill_at and old.alive():
            old.kill()
            load.event("target_grace_kill", process=old.name, pid=old.pid)
            console.log(f"target-restart: {old.name} still running after its grace: SIGKILLed")


def replace_dead_workers(
    stack: Stack, console: Console, runs: Sequence[RunState], loads: Sequence[Load]
) -> None:
    """Workers that exited (their Redis connection dropped, a blocking job starved it): one
    started for each, recorded in its variant's run."""
    for worker in [w for w in stack.workers if not w.alive()]:
        variant = stack.worker_variant.get(worker.name)
        replacement = stack.replace_worker(worker)
        owner = next((i for i, r in enumerate(runs) if r.variant == variant), 0)
        if worker.name in runs[owner].children:
            runs[owner].swap(worker, replacement)
        loads[owner].event(
            "worker_died",
            process=worker.name,
            pid=worker.pid,
            returncode=worker.returncode,
            replacement=replacement.name,
            replacement_pid=replacement.pid,
        )
        console.log(f"{worker.name} exited ({worker.returncode}), started {replacement.name}")
