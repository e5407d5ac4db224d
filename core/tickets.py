"""One ticket file per seat, each made by a real subprocess that is killed when it overruns."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
from pathlib import Path

from core.settings import Settings

PROGRAM = Path(__file__).with_name("ticket_program.py")


class TicketTimeout(Exception):
    pass


def _rng(seed: int, order_id: int, seat: int, attempt: int) -> random.Random:
    return random.Random(f"{seed}:{order_id}:{seat}:{attempt}")


def should_hang(seed: int, order_id: int, seat: int, attempt: int, probability: float) -> bool:
    """A seeded choice per attempt, so a retry of a hung ticket can succeed."""
    return _rng(seed, order_id, seat, attempt).random() < probability


def work_s(settings: Settings, order_id: int, seat: int, attempt: int) -> float:
    """How long this attempt at the ticket takes: fixed, or lognormal when a median is set."""
    if settings.ticket_median_s is None:
        return settings.ticket_work_s
    # A second stream of the same seed: the hang draw above stays what it was.
    rng = _rng(settings.seed + 1, order_id, seat, attempt)
    return settings.ticket_median_s * rng.lognormvariate(0.0, settings.ticket_sigma)


def ticket_path(settings: Settings, order_id: int, seat: int) -> Path:
    return settings.tickets_dir / f"order-{order_id}" / f"seat-{seat}.txt"


def ticket_command(settings: Settings, order_id: int, seat: int, attempt: int) -> list[str]:
    hang = should_hang(settings.seed, order_id, seat, attempt, settings.ticket_hang_probability)
    sleep_s = work_s(settings, order_id, seat, attempt)
    out = ticket_path(settings, order_id, seat)
    program = [sys.executable, "-I", "-S", str(PROGRAM)]
    args = [order_id, seat, out, f"{sleep_s:.4f}", settings.ticket_cpu_s, "1" if hang else "0"]
    return [*program, *map(str, args)]


def _prepare(settings: Settings, order_id: int, seat: int) -> Path:
    path = ticket_path(settings, order_id, seat)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def generate_sync(
    settings: Settings, order_id: int, seat: int, attempt: int = 1, *, timeout: bool = True
) -> Path:
    """Blocking. `timeout=False` waits as long as the program runs: a hung one, forever."""
    path = _prepare(settings, order_id, seat)
    timeout_s = settings.ticket_timeout_s if timeout else None
    try:
        # run() kills the child when the timeout expires.
        subprocess.run(
            ticket_command(settings, order_id, seat, attempt),
            check=True,
            timeout=timeout_s,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise TicketTimeout(f"ticket {order_id}/{seat} overran {timeout_s}s") from exc
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"ticket generator exited with {exc.returncode}") from exc
    return path


async def generate_async(settings: Settings, order_id: int, seat: int, attempt: int = 1) -> Path:
    path = _prepare(settings, order_id, seat)
    process = await asyncio.create_subprocess_exec(
        *ticket_command(settings, order_id, seat, attempt), stdin=asyncio.subprocess.DEVNULL
    )
    try:
        code = await asyncio.wait_for(process.wait(), settings.ticket_timeout_s)
    except TimeoutError as exc:
        raise TicketTimeout(
            f"ticket {order_id}/{seat} overran {settings.ticket_timeout_s}s"
        ) from exc
    finally:
        # A subprocess outlives a cancelled or timed-out job unless it is killed here.
        if process.returncode is None:
            process.kill()
            await process.wait()
    if code != 0:
        raise RuntimeError(f"ticket generator exited with {code}")
    return path
