"""The facts that join the parts: identifiers, variants, endpoints and the raw files' columns.

Every package imports these; nothing else formats or parses the strings below.
`docs/contracts.md` describes the same for people.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

# Identifiers.

# The client's correlation id, echoed and logged: it decides nothing, since any client may
# send any value (two logins sharing one must still send two emails).
REQUEST_ID_HEADER: Final = "X-Request-ID"
# The work id a login's answer promised, made by the server for every login (registered or
# not, so the answers stay alike): the load generator joins requests to emails with it.
WORK_ID_HEADER: Final = "X-Work-ID"
JOB_EVENTS_KEY: Final = "bench:job-events"  # one JSON record per job try, read by the runner
TRACES_DIR: Final = "traces"  # in a results folder: each process's spans, OTLP JSON lines

# Work ids: one promised email each. The prefix names the endpoint that promised it.
LOGIN_WORK: Final = "login"
ORDER_WORK: Final = "order"
WORK_ENDPOINT_OF_PREFIX: Final = {LOGIN_WORK: "login", ORDER_WORK: "webhook"}


def new_login_id() -> str:
    """The server's id of one login: its work id, job id and idempotency key derive from it."""
    return secrets.token_hex(16)


def login_work_id(login_id: str) -> str:
    return f"{LOGIN_WORK}:{login_id}"


def order_work_id(order_id: int) -> str:
    return f"{ORDER_WORK}:{order_id}"


def order_of_work(work_id: str) -> int | None:
    """The order id of an order's work id, None for any other work id."""
    prefix, sep, rest = work_id.partition(":")
    return int(rest) if prefix == ORDER_WORK and sep and rest.isdigit() else None


def work_endpoint(work_id: str) -> str | None:
    """The endpoint whose 2xx promised this work ("login" or "webhook"), None if not ours."""
    prefix, sep, rest = work_id.partition(":")
    return WORK_ENDPOINT_OF_PREFIX.get(prefix) if sep and rest else None


# Idempotency keys sent to the provider: a retry of the same email carries the same key.
def magic_link_key(login_id: str) -> str:
    return f"magic:{login_id}"


def tickets_key(order_id: int) -> str:
    return f"tickets:{order_id}"


# Job functions and their ids. A deterministic id makes a second enqueue of the same job a no-op.
SEND_MAGIC_LINK: Final = "send_magic_link"
PROCESS_PAYMENT: Final = "process_payment"
GENERATE_TICKET: Final = "generate_ticket"
SEND_TICKETS: Final = "send_tickets"
GENERATE_ORDER_TICKETS: Final = "generate_order_tickets"  # the monolithic designs' one job
JOB_FUNCTIONS: Final = (
    SEND_MAGIC_LINK,
    PROCESS_PAYMENT,
    GENERATE_TICKET,
    SEND_TICKETS,
    GENERATE_ORDER_TICKETS,
)


def login_job_id(login_id: str) -> str:
    return f"login:{login_id}"


def payment_job_id(event_id: str) -> str:
    return f"payment:{event_id}"


def ticket_job_id(order_id: int, seat: int) -> str:
    return f"ticket:{order_id}:{seat}"


def send_tickets_job_id(order_id: int) -> str:
    return f"send-tickets:{order_id}"


def order_tickets_job_id(order_id: int) -> str:
    return f"order-tickets:{order_id}"


def work_id_of_job(function: str, args: Sequence[Any]) -> str:
    """The work id a queued job serves, from its function and positional args (as enqueued)."""
    if function == SEND_MAGIC_LINK and len(args) >= 1:
        return login_work_id(args[0])  # (login_id, address, link_base)
    if function == PROCESS_PAYMENT and len(args) >= 2:
        return order_work_id(args[1])  # (event_id, order_id, request_id)
    if function in (GENERATE_TICKET, SEND_TICKETS, GENERATE_ORDER_TICKETS) and len(args) >= 1:
        return order_work_id(args[0])  # (order_id, seat, request_id) or (order_id, request_id)
    raise ValueError(f"no work id for {function}{tuple(args)!r}")


# Job designs for an order's tickets (issue 10), chosen by the JOB_DESIGN setting of the workers.
# fan-out: one `generate_ticket` per seat, `send_tickets` once all exist (the post's fix).
# monolithic: one `generate_order_tickets` job makes every seat then sends, under the queue's
# default job timeout; a retry starts the order again (the post's mistake).
# monolithic-no-timeout: the same job without a timeout, its subprocess run blocking the
# worker's event loop (the post's first "fix": a hung ticket stalls the worker).
FAN_OUT: Final = "fan-out"
MONOLITHIC: Final = "monolithic"
MONOLITHIC_NO_TIMEOUT: Final = "monolithic-no-timeout"
JobDesign = Literal["fan-out", "monolithic", "monolithic-no-timeout"]
JOB_DESIGNS: Final[tuple[JobDesign, ...]] = (FAN_OUT, MONOLITHIC, MONOLITHIC_NO_TIMEOUT)


# Variants: the same routes and bodies; only where the work runs differs.


@dataclass(frozen=True)
class Variant:
    name: str
    app: str  # the uvicorn factory of its target: f(settings: Settings | None = None)
    queue: str | None  # its queue adapter's name (`queues.ADAPTERS`); None: work in the request
    promises: str  # what survives a crash of the web process, in words


# The order is the order of tables and colours: the first two keep their places of old runs.
VARIANTS: Final = (
    Variant("sync", "targets.sync:create_app", None, "nothing is promised until the work is done"),
    Variant(
        "delegated",
        "targets.queued:delegated",
        "arq",
        "the queue in Redis (with its append-only file, a Redis crash too)",
    ),
    Variant(
        "background",
        "targets.queued:background",
        "inprocess",
        "nothing: work still pending dies with the web process, and nobody is told",
    ),
    Variant(
        "saq",
        "targets.queued:saq",
        "saq",
        "the queue in Redis (with its append-only file, a Redis crash too)",
    ),
    Variant(
        "celery",
        "targets.queued:celery",
        "celery",
        "the tasks not yet started, in the broker; a task is acknowledged as it starts",
    ),
    Variant(
        "celery-acks-late",
        "targets.queued:celery-acks-late",
        "celery-acks-late",
        "the broker's queue: a task is acknowledged when it ends, redelivered if its worker dies",
    ),
    Variant(
        "procrastinate",
        "targets.queued:procrastinate",
        "procrastinate",
        "the database: the state change and its job commit together (a database crash too)",
    ),
)
VARIANT_NAMES: Final = tuple(v.name for v in VARIANTS)
DEFAULT_VARIANTS: Final = ("sync", "delegated")
BASE_VARIANT: Final = "sync"  # the one every other variant is compared with
# The reserved scenario name of the harness's floor: GET /noop per variant before the scenarios.
FLOOR_SCENARIO: Final = "floor"


def variant(name: str) -> Variant:
    for v in VARIANTS:
        if v.name == name:
            return v
    raise ValueError(f"unknown variant {name!r}: expected one of {', '.join(VARIANT_NAMES)}")


# Endpoints, as the load generator names them in raw/requests.csv.
ENDPOINTS: Final = ("login", "verify", "webhook", "noop")
WORK_ENDPOINTS: Final = ("login", "webhook")  # a 2xx there promises one email


def promises_work(endpoint: str, status: int, error: str, registered: bool | None) -> bool:
    """Whether one answer promised an email: a success of a login for a registered address,
    or of a paid-order webhook (its redeliveries promise the same work)."""
    if not (200 <= status < 400) or error:
        return False
    return endpoint == "webhook" or (endpoint == "login" and registered is True)


# The raw files of a results folder: each column with the dtype the analysis reads it as.
# "category" for strings that repeat a lot (1M rows then cost bytes, not Python objects).

RUN_KEY: Final = ("scenario", "variant", "repeat")
_RUN: Final = {"scenario": "category", "variant": "category", "repeat": "int32"}

RAW_FILES: Final[dict[str, dict[str, str]]] = {
    "requests": {
        **_RUN,
        "endpoint": "category",
        "intended_start": "float64",
        "start": "float64",
        "end": "float64",
        "status": "float64",
        "error": "category",
        "request_id": "str",
        "work_id": "str",
        "registered": "category",
        "worker": "category",  # the Locust worker's index ("0" when one process made the load)
    },
    "deliveries": {
        **_RUN,
        "message_id": "str",
        "kind": "category",
        "work_id": "str",
        "request_id": "str",
        "idempotency_key": "str",
        "to": "str",
        "attempts": "float64",
        "first_at": "float64",
        "last_at": "float64",
    },
    # One row per job try that ended (a try that died with its worker leaves none).
    "jobs": {
        **_RUN,
        "job_id": "str",
        "function": "category",
        "try": "float64",
        "enqueued_at": "float64",
        "started_at": "float64",
        "ended_at": "float64",
        "outcome": "category",
        "work_id": "str",
        "pid": "float64",
        # Ticket subprocesses the try started, kept or thrown away (a timeout, a retry).
        "tickets_run": "float64",
    },
    "dead_letters": {
        **_RUN,
        "work_id": "str",
        "function": "category",
        "tries": "float64",
        "reason": "str",
        "at": "float64",
    },
    # Jobs still queued or running when the runner stopped waiting for the drain.
    "pending": {**_RUN, "job_id": "str", "function": "str", "work_id": "str"},
    # The orders a run's webhooks named, as the store held them after the drain: seats sold and
    # when the tickets email went out (store times, one clock: the workers' and targets' host).
    "orders": {
        **_RUN,
        "order_id": "int64",
        "seats": "float64",
        "paid_at": "float64",
        "tickets_sent_at": "float64",
    },
    "queue_samples": {
        **_RUN,
        "t": "float64",
        "ready": "float64",
        "deferred": "float64",
        "in_progress": "float64",
    },
    "process_samples": {
        **_RUN,
        "t": "float64",
        "process": "category",
        "cpu_percent": "float64",
        "rss_mb": "float64",
    },
}
# Columns that older runs lack: read as empty rather than refused.
# (raw/orders.csv is newer still: a run without it is read as having no orders.)
RAW_OPTIONAL: Final = {"jobs": ("pid", "tickets_run"), "requests": ("worker",)}

# meta.json: each run's clock offsets by host (its clock minus the runner's, in seconds), under
# this key of the run's record; request times are on a Locust worker's clock, deliveries on the
# provider's.
CLOCK_OFFSETS: Final = "clock_offsets"
PROVIDER_CLOCK: Final = "provider"


def locust_worker_clock(worker: str) -> str:
    """The clock_offsets key of the Locust worker named in raw/requests.csv's worker column."""
    return f"locust-{worker}"


def raw_columns(name: str) -> tuple[str, ...]:
    return tuple(RAW_FILES[name])
