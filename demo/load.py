"""One headless Locust process per variant, at one arrival rate, restarted when the rate changes."""

from __future__ import annotations

from pathlib import Path

from runner.children import Child
from runner.commands import LocustRun, locust_command
from runner.stack import Stack

LOCUSTFILE = Path(__file__).resolve().parent.parent / "loadtests" / "login.py"
DAY_S = 86_400.0  # Locust needs a run time; the demo stops it long before
# Open model: the cap on requests in flight. An outage holds sync requests for seconds.
USERS = 300


class Load:
    def __init__(self, stack: Stack, variants: tuple[str, ...], folder: Path, rate: float) -> None:
        self.stack = stack
        self.variants = variants
        self.folder = folder
        self.rate = rate
        self.generation = 0
        self.children: dict[str, Child] = {}
        self.raw_files: dict[str, Path] = {}

    def start(self, rate: float) -> None:
        """(Re)start every variant's Locust at `rate`; each run writes a fresh raw file."""
        self.stop()
        self.rate = rate
        self.generation += 1
        for name in self.variants:
            tag = f"{name}-{self.generation}"
            run = LocustRun(
                locustfile=LOCUSTFILE,
                host=self.stack.target_urls[name],
                duration_s=DAY_S,
                users=USERS,
                csv_prefix=self.folder / f"locust-{tag}",
                raw_out=self.folder / f"requests-{tag}.csv",
                scenario="demo",
                variant=name,
                repeat=self.generation,
                seed=self.generation,
                provider_url=self.stack.provider_url,
                arrival_rate=rate,
                stop_timeout_s=1.0,
            )
            child = self.stack.child(
                f"locust-{name}", locust_command(self.stack.options.python, run), self.stack.env
            )
            self.children[name] = child
            self.raw_files[name] = run.raw_out

    def stop(self) -> None:
        for name, child in self.children.items():
            child.stop()
            self.stack.children.pop(f"locust-{name}", None)
        self.children = {}
