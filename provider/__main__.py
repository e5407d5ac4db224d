"""`python -m provider [--host H] [--port P]`: serve the fake provider with uvicorn."""

from __future__ import annotations

import argparse
from urllib.parse import urlsplit

import uvicorn

from core.settings import Settings


def main(argv: list[str] | None = None) -> int:
    settings = Settings()
    parser = argparse.ArgumentParser(prog="python -m provider", description=__doc__)
    parser.add_argument("--host", default=settings.host)
    parser.add_argument("--port", type=int, default=urlsplit(settings.provider_url).port or 8025)
    args = parser.parse_args(argv)
    uvicorn.run(
        "provider.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        log_level=settings.log_level.lower(),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
