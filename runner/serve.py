"""`python -m runner serve`: the whole stack in the foreground until Ctrl-C or a child dies."""

from __future__ import annotations

import json
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from core.db import describe_database
from core.settings import Settings
from runner.children import ChildDied, StackError
from runner.signals import Interrupted, ignoring_signals, raising_on_signals
from runner.stack import Stack, StackOptions, start_stack

MONITOR_INTERVAL_S = 0.25


def describe(stack: Stack) -> dict[str, Any]:
    return {
        "redis_url": stack.redis_url,
        "provider_url": stack.provider_url,
        **{f"{name}_url": url for name, url in stack.target_urls.items()},
        "database_path": str(stack.settings.database_path),
        "database": describe_database(stack.settings),  # the embedded PostgreSQL's URL, if any
        "logs": str(stack.options.log_dir),
        "pids": stack.pids(),
    }


def serve(settings: Settings, options: StackOptions, urls_file: Path) -> int:
    exits = ExitStack()
    wrote = False
    started = time.monotonic()
    try:
        with raising_on_signals():
            stack = start_stack(exits, settings, options)
            urls = describe(stack)
            urls_file.parent.mkdir(parents=True, exist_ok=True)
            urls_file.write_text(json.dumps(urls, indent=2) + "\n")
            wrote = True
            print(f"stack up in {time.monotonic() - started:.1f}s (logs in {options.log_dir}/)")
            for name in (*stack.target_urls, "provider", "redis"):
                print(f"  {name:<10} {urls[f'{name}_url']}")
            print(f"  database   {urls['database']['url']}")
            print(f"  workers    {len(stack.workers)}")
            print(f"URLs written to {urls_file}; Ctrl-C stops everything.", flush=True)
            while True:
                stack.check_alive()
                time.sleep(MONITOR_INTERVAL_S)
    except Interrupted as exc:
        print(f"{exc}: stopping", file=sys.stderr)
        return 0
    except ChildDied as exc:
        print(f"error: {exc}; its last lines:", file=sys.stderr)
        for line in exc.tail:
            print(f"  {line}", file=sys.stderr)
        print("stopping the rest of the stack", file=sys.stderr)
        return exc.exit_code
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    finally:
        with ignoring_signals():
            exits.close()
            if wrote:
                urls_file.unlink(missing_ok=True)
