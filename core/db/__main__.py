"""`python -m core.db seed`: (re)create the deterministic data set in the configured database."""

from __future__ import annotations

import argparse
import sys
import time

from core.db import DatabaseError, describe_database, open_store
from core.settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.db", description=__doc__)
    parser.add_argument("command", choices=["seed"], help="seed: (re)create the data set")
    parser.parse_args(argv)
    settings = Settings()
    started = time.perf_counter()
    try:
        store = open_store(settings)
    except DatabaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        store.seed(settings.seed, settings.seed_users, settings.seed_orders, settings.max_seats)
    finally:
        store.close()
    print(
        f"seeded {settings.seed_users} users and {settings.seed_orders} orders"
        f" (seed {settings.seed}) into {describe_database(settings)['url']}"
        f" in {time.perf_counter() - started:.2f}s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
