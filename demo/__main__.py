"""`python -m demo`: the stack, a steady load on each variant, and the live page, until Ctrl-C."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import tempfile
import threading
import time
import webbrowser
from contextlib import ExitStack
from pathlib import Path

import uvicorn

from core.contracts import DEFAULT_VARIANTS, TRACES_DIR
from core.redis_server import free_port
from core.settings import Settings
from demo.controls import ControlError, Controls, parse_rate
from demo.feed import Feed
from demo.load import Load
from demo.page import create_app
from demo.tour import Tour
from demo.traces import SlowTraces
from runner.children import ChildDied, StackError, UsageError, port_free
from runner.options import parse_variants
from runner.signals import Interrupted, ignoring_signals, raising_on_signals
from runner.stack import StackOptions, start_stack

TICK_S = 1.0
PAGE_DEADLINE_S = 30.0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m demo", description=__doc__)
    p.add_argument("--rate", default="10", help="arrival rate per variant, requests/s (10)")
    p.add_argument("--host", default="127.0.0.1", help="interface every server binds")
    p.add_argument("--port", type=int, default=0, help="the page's port; 0 picks a free one")
    p.add_argument("--workers", type=int, default=2, help="worker processes per queue (2)")
    p.add_argument(
        "--variants",
        default="",
        help=f"comma-separated, or all (default: {','.join(DEFAULT_VARIANTS)})",
    )
    p.add_argument("--no-browser", action="store_true", help="only print the page's URL")
    p.add_argument(
        "--tour-step-s",
        type=seconds,
        default=None,
        metavar="S",
        help="every guided-tour step lasts S seconds (default: each its own, 20-30 s)",
    )
    return p


def seconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not 0 < number <= 600:  # NaN fails this too
        raise argparse.ArgumentTypeError(f"expected seconds from 0 to 600, not {value!r}")
    return number


def serve_page(exits: ExitStack, app: object, host: str, port: int) -> None:
    """uvicorn in a thread (no signal handlers there): the main thread keeps Ctrl-C."""
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, name="page", daemon=True)
    thread.start()

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10)

    exits.callback(stop)
    deadline = time.monotonic() + PAGE_DEADLINE_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise StackError(f"the demo page could not start on {host}:{port}")
        time.sleep(0.05)


def open_browser(url: str) -> None:
    # Without a display, webbrowser falls back to text browsers that would take the terminal.
    if (
        sys.platform in ("darwin", "win32")
        or os.environ.get("DISPLAY")
        or os.environ.get("WAYLAND_DISPLAY")
    ):
        with contextlib.suppress(Exception):
            webbrowser.open(url)


def run(args: argparse.Namespace) -> int:
    rate = parse_rate(args.rate)
    variants = parse_variants(args.variants)
    if args.port and not port_free(args.host, args.port):
        raise UsageError(f"port {args.port} on {args.host} is in use; choose another with --port")
    exits = ExitStack()
    try:
        with raising_on_signals():
            folder = Path(exits.enter_context(tempfile.TemporaryDirectory(prefix="demo-")))
            settings = Settings(database_path=folder / "demo.db", tickets_dir=folder / "tickets")
            options = StackOptions(
                host=args.host,
                provider_port=0,
                workers=args.workers,
                variants=variants,
                log_dir=folder / "logs",
                # Traced, for the page's latest slow trace: at the demo's rates the cost is small.
                env={
                    "tracing": settings.tracing or "tracing" not in settings.model_fields_set,
                    "trace_dir": folder / TRACES_DIR,
                },
            )
            stack = start_stack(exits, settings, options)
            stack.workers_expendable = True  # killing them is one of the page's buttons
            queues = [q for q in map(stack.queue, variants) if q is not None]
            traces = SlowTraces(folder / TRACES_DIR)
            feed = Feed(stack.redis_url, queues, stack.provider_url, variants, traces)
            exits.callback(feed.close)
            load = Load(stack, variants, folder, rate)
            controls = Controls(stack, load, feed)
            controls.set_fault(
                "healthy"
            )  # the scenarios' good day, not the provider's bare default
            controls.set_rate(rate)
            tour = Tour(controls, args.tour_step_s)
            exits.callback(tour.stop)
            port = args.port or free_port(args.host)
            serve_page(exits, create_app(controls, feed, tour), args.host, port)
            url = f"http://{args.host}:{port}/"
            print(f"demo page: {url}  (logs in {options.log_dir}/; Ctrl-C stops everything)")
            for name in variants:
                print(f"  {name:<10} {stack.target_urls[name]}")
            sys.stdout.flush()
            if not args.no_browser:
                open_browser(url)
            while True:
                started = time.monotonic()
                controls.check()
                feed.tick()
                time.sleep(max(0.0, TICK_S - (time.monotonic() - started)))
    except Interrupted as exc:
        print(f"{exc}: stopping", file=sys.stderr)
        return 0
    except ChildDied as exc:
        print(f"error: {exc}; its last lines:", file=sys.stderr)
        for line in exc.tail:
            print(f"  {line}", file=sys.stderr)
        return exc.exit_code
    finally:
        with ignoring_signals():
            exits.close()


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return run(args)
    except (ControlError, StackError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", 2)


if __name__ == "__main__":
    sys.exit(main())
