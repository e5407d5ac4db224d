"""The load generator's own options: every knob has a flag, a BENCH_ env var and a default."""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from typing import Any

from core.contracts import VARIANT_NAMES
from core.settings import DEFAULT_WEBHOOK_SECRET

Stages = tuple[tuple[float, float], ...]
LOOPBACK = "127.0.0.1"


def parse_stages(text: str) -> Stages:
    """`"10:20,10:40"` -> ((10.0, 20.0), (10.0, 40.0)): duration_s:rate pairs, run in order."""
    stages: list[tuple[float, float]] = []
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        duration, sep, rate = part.partition(":")
        try:
            pair = (float(duration), float(rate))
        except ValueError:
            pair = (math.nan, math.nan)
        if not sep or not all(math.isfinite(x) and x >= 0 for x in pair) or pair[0] == 0:
            raise ValueError(f"bad stage {part!r}: expected duration_s:rate, e.g. 10:20,10:40")
        stages.append(pair)
    return tuple(stages)


def _stages_arg(text: str) -> str:
    # Kept as text: Locust ships parsed_options to workers and the web UI as plain values.
    try:
        parse_stages(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def _share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a share between 0 and 1")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} is not above 0")
    return value


# (flag, type, default, help); the env var is BENCH_ + the flag in upper snake case.
_OPTIONS: list[tuple[str, Any, Any, str]] = [
    ("--arrival-rate", _positive, 10.0, "Open model: requests/s started, all workers together."),
    ("--stages", _stages_arg, "", "Open model: duration_s:rate steps, e.g. '10:20,10:40'."),
    ("--think-time-s", float, 1.0, "Closed model: each user's pause between requests."),
    ("--raw-out", str, "", "CSV path for one row per request; empty records nothing."),
    ("--scenario", str, "adhoc", "Scenario name written to each raw row."),
    ("--variant", str, "", f"Target variant ({', '.join(VARIANT_NAMES)}) written to each row."),
    ("--repeat", int, 0, "Repetition number written to each raw row."),
    ("--seed", int, 1, "Seeds the request sequence: equal seeds, equal requests."),
    ("--late-threshold-ms", float, 10.0, "A start later than this after its slot counts as late."),
    ("--provider-url", str, "http://127.0.0.1:8025", "Fake provider, for fetching magic links."),
    ("--registered-share", _share, 0.8, "Share of logins for a registered address."),
    ("--follow-share", _share, 0.1, "Share of registered logins that fetch the link and verify."),
    ("--redelivery-share", _share, 0.1, "Share of webhook slots that redeliver an earlier event."),
    ("--ack-timeout-s", _positive, 10.0, "Webhook client timeout (the processor's ack deadline)."),
    ("--webhook-secret", str, DEFAULT_WEBHOOK_SECRET, "Secret that signs the webhook events."),
    ("--seed-users", int, 10_000, "Registered addresses are user0..user<n-1>@example.com."),
    ("--seed-orders", int, 5_000, "Orders 1..n exist in the target's data set."),
    ("--order-offset", int, 0, "Webhook slot k pays order offset+k+1 (redeliveries aside)."),
    ("--get-path", str, "/noop", "noop.py: the path it GETs (e.g. a slow one, to calibrate)."),
    ("--max-users", int, 0, "Open model: users grow to this when all are busy; 0: rate x timeout."),
    (
        "--go-file",
        str,
        "",
        "Wait for this file before the load starts (saying so in FILE.ready); empty: at once.",
    ),
]


def ready_file(go_file: str) -> str:
    """Where Locust says it has started and waits for its go file."""
    return f"{go_file}.ready"


def env_var(flag: str) -> str:
    return "BENCH_" + flag.removeprefix("--").replace("-", "_").upper()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Listener for `events.init_command_line_parser` (a configargparse parser takes env_var)."""
    # Straight on the parser, not a group: only those reach Locust's web UI form.
    for flag, type_, default, help_ in _OPTIONS:
        parser.add_argument(flag, type=type_, default=default, help=help_, env_var=env_var(flag))
    parser.add_argument(
        "--closed-model",
        action="store_true",
        default=False,
        env_var=env_var("--closed-model"),
        help="Each user loops with --think-time-s between requests instead of an arrival rate.",
    )
    # Locust binds its web UI and a master's port on every interface by default; like every
    # server here, ours bind loopback unless told otherwise (--web-host, LOCUST_WEB_HOST, ...).
    parser.set_defaults(web_host=LOOPBACK, master_bind_host=LOOPBACK)


def main(argv: list[str] | None = None) -> None:
    """`python -m loadtests.options --help`: Locust reads --help before it imports a locustfile,
    so `locust -f loadtests/login.py --help` cannot list these."""
    import configargparse  # type: ignore[import-untyped]  # Locust's parser, with env_var

    parser = configargparse.ArgumentParser(
        prog="locust -f loadtests/<file>.py",
        description="The options every locustfile here adds to Locust's own "
        "(webhook.py adds --second-event-share); each has a BENCH_ environment variable.",
    )
    add_arguments(parser)
    parser.parse_args(argv)


@dataclass(frozen=True)
class Options:
    arrival_rate: float = 10.0
    stages: Stages = ()
    closed_model: bool = False
    think_time_s: float = 1.0
    raw_out: str = ""
    go_file: str = ""
    scenario: str = "adhoc"
    variant: str = ""
    repeat: int = 0
    seed: int = 1
    late_threshold_ms: float = 10.0
    provider_url: str = "http://127.0.0.1:8025"
    registered_share: float = 0.8
    follow_share: float = 0.1
    redelivery_share: float = 0.1
    ack_timeout_s: float = 10.0
    webhook_secret: str = DEFAULT_WEBHOOK_SECRET
    seed_users: int = 10_000
    seed_orders: int = 5_000
    order_offset: int = 0
    get_path: str = "/noop"
    max_users: int = 0

    @classmethod
    def from_namespace(cls, ns: argparse.Namespace | None) -> Options:
        """Read Locust's parsed_options (None when Locust runs as a library without a parser)."""
        if ns is None:
            return cls()
        values = {
            name: getattr(ns, name)
            for name in cls.__dataclass_fields__
            if getattr(ns, name, None) is not None
        }
        values["stages"] = parse_stages(str(values.get("stages", "")))
        return cls(**values)


if __name__ == "__main__":
    main()
