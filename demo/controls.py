"""The page's buttons, each validated: a bad value is a ControlError with a clear message."""

from __future__ import annotations

import math
import threading

import httpx

from core.scenarios import DEPLOY_GRACE_S
from demo.faults import FAULT_NAMES, FAULTS
from demo.feed import Feed
from demo.load import Load
from runner.stack import Stack

MIN_RATE, MAX_RATE = 0.5, 50.0  # per variant; past ~50/s two Locusts saturate a 2-core machine


class ControlError(ValueError):
    """A bad value or an impossible action; the message is shown as it is."""


def parse_rate(value: object) -> float:
    try:
        rate = float(str(value).strip())
    except ValueError:
        rate = math.nan
    if not MIN_RATE <= rate <= MAX_RATE:  # NaN fails this too
        raise ControlError(
            f"arrival rate must be a number from {MIN_RATE:g} to {MAX_RATE:g} requests/s,"
            f" not {str(value)[:40]!r}"
        )
    return rate


class Controls:
    def __init__(self, stack: Stack, load: Load, feed: Feed) -> None:
        self.stack = stack
        self.load = load
        self.feed = feed
        # The main loop watches the children while the page's threads replace some of them.
        self.lock = threading.RLock()

    def set_rate(self, value: object) -> str:
        rate = parse_rate(value)
        with self.lock:
            self.load.start(rate)
            for variant, path in self.load.raw_files.items():
                self.feed.watch(variant, path)
        return f"arrival rate {rate:g}/s per variant"

    def set_fault(self, name: object) -> str:
        if name not in FAULTS:
            raise ControlError(
                f"unknown fault {str(name)[:40]!r}: expected one of {', '.join(FAULT_NAMES)}"
            )
        try:
            answer = httpx.put(
                f"{self.stack.provider_url}/control/faults", json=FAULTS[str(name)], timeout=5
            )
            answer.raise_for_status()
        except httpx.HTTPError as exc:
            raise ControlError(f"the provider refused the fault model: {exc}") from None
        return f"provider: {name}"

    def kill_worker(self) -> str:
        with self.lock:
            workers = [w for w in self.stack.workers if w.alive()]
            if not workers:
                raise ControlError("no worker is running")
            victim = workers[0]
            pid = victim.pid
            replacement = self.stack.replace_worker(victim)
        return f"{victim.name} (pid {pid}) killed with SIGKILL; {replacement.name} started"

    def deploy(self) -> str:
        """Every target restarted as a deploy does it: SIGTERM, a replacement on its port at
        once, and the old process SIGKILLed if it is still busy after the grace period."""
        with self.lock:
            restarted = [self.stack.restart_target(name, "term") for name in self.load.variants]
            for _, healthy in restarted:
                healthy()
        old = [child for child, _ in restarted]

        def end_grace() -> None:
            for child in old:
                if child.alive():
                    child.kill()

        timer = threading.Timer(DEPLOY_GRACE_S, end_grace)
        timer.daemon = True
        timer.start()
        return (
            f"{len(old)} targets deployed: SIGTERMed and replaced; any still busy in"
            f" {DEPLOY_GRACE_S:g} s is SIGKILLed"
        )

    def restart_redis(self) -> str:
        if self.stack.redis_launch is None:
            raise ControlError("Redis is not the demo's own (REDIS_URL): restart it yourself")
        with self.lock:
            self.stack.kill_redis()
            self.stack.launch_redis()
        return "Redis killed with SIGKILL and started again"

    def check(self) -> None:
        """Raise ChildDied if a server or Locust died; replace workers that died (of Redis)."""
        with self.lock:
            self.stack.check_alive()
            for worker in self.stack.workers:
                if not worker.alive():
                    self.stack.replace_worker(worker)
