"""The runner's command lines share these: one-line errors, and the types their numbers take."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from pydantic import ValidationError

from core.settings import Settings


def settings_from_env() -> Settings:
    """The settings, or exit 2 with one line naming the environment variable that is wrong."""
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]).upper()
        print(f"error: environment variable {where}: {first['msg']}", file=sys.stderr)
        raise SystemExit(2) from None


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line, not argparse's usage block: the message says what to fix."""
        self.exit(2, f"error: {self.prog}: {message} (see --help)\n")


def count(text: str) -> int:
    """A whole number of at least 0."""
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 0")
    return int(text)


def positive(text: str) -> int:
    """A whole number of at least 1."""
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return int(text)


def above_zero(text: str) -> float:
    """A number above 0 (seconds, a rate, a share)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:  # NaN fails this too
        raise argparse.ArgumentTypeError(f"{text} is not above 0")
    return value
