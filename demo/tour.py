"""The guided tour: the outage story as data, played step by step in a thread; pausable."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from demo.controls import Controls

TICK_S = 0.2


@dataclass(frozen=True)
class Step:
    title: str
    duration_s: float
    action: tuple[str, ...]  # a Controls method and its argument; () does nothing
    caption: str


STEPS = (
    Step(
        "Steady",
        20,
        ("set_fault", "healthy"),
        "A good day. Sync waits for the email provider (~150 ms) inside every login, so its"
        " latency is the provider's. Delegated only enqueues a job and answers in a few ms;"
        " its emails arrive a little later.",
    ),
    Step(
        "Outage",
        25,
        ("set_fault", "outage"),
        "The provider fails: 70% answer 503, 30% hang. Watch the sync p99 climb and its errors"
        " appear: each login waits through the failures inside the request. Delegated stays"
        " flat: its jobs retry with backoff, so the deferred queue and the retries grow while"
        " delivered falls behind promised.",
    ),
    Step(
        "Deploy during the outage",
        20,
        ("deploy",),
        "Still in the outage, the targets are deployed: SIGTERM, a replacement at once, and"
        " whatever is still busy 5 s later is SIGKILLed. Delegated's jobs wait in Redis and"
        " survive it. Work held in the web process for its next retry does not: run the demo"
        " with VARIANTS=sync,delegated,background to watch background's delivered line stop"
        " short of promised for good.",
    ),
    Step(
        "Recovery",
        30,
        ("set_fault", "healthy"),
        "The provider is back. Sync is fast again, but the logins that failed got an error and"
        " no email. Delegated's deferred jobs come due and drain: delivered catches up with"
        " promised: late, but none lost.",
    ),
    Step(
        "Worker crash",
        30,
        ("kill_worker",),
        "A worker is killed with SIGKILL and a new one starts. Clients notice nothing: the"
        " endpoint only enqueues. The job the dead worker held is run again only after its"
        " timeout + 10 s, so a few emails arrive late, but they arrive.",
    ),
)


FINISHED = "The tour is over. Press guided tour to play it again, or use the buttons above."


class Tour:
    def __init__(self, controls: Controls, step_s: float | None = None) -> None:
        """`step_s` gives every step that length (short ones for tests); None: each its own."""
        self.controls = controls
        self.durations = [step_s or step.duration_s for step in STEPS]
        self.step = -1
        self.remaining_s = 0.0
        self.paused = False
        self.error = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def play(self) -> None:
        if self.running:
            self.paused = False
            return
        self._stop.clear()
        self.paused = False
        self._thread = threading.Thread(target=self._play, name="tour", daemon=True)
        self._thread.start()

    def pause(self) -> None:
        self.paused = True

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def status(self) -> dict[str, Any]:
        step = STEPS[self.step] if 0 <= self.step < len(STEPS) else None
        return {
            "running": self.running,
            "paused": self.paused,
            "step": self.step,
            "title": step.title if step else ("Done" if self.step == len(STEPS) else ""),
            "caption": step.caption if step else (FINISHED if self.step == len(STEPS) else ""),
            "remaining_s": round(self.remaining_s),
            "error": self.error,
        }

    def _play(self) -> None:
        for index, step in enumerate(STEPS):
            self.step, self.remaining_s = index, self.durations[index]
            method, *args = step.action
            try:
                getattr(self.controls, method)(*args)
            except ValueError as exc:
                self.error = str(exc)
            # Time passes only while playing, so a paused step resumes where it was.
            while self.remaining_s > 0:
                if self._stop.wait(TICK_S):
                    return
                if not self.paused:
                    self.remaining_s -= TICK_S
        self.step = len(STEPS)
