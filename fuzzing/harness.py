"""Run seeded Hypothesis searches against real servers and tally what each route answered."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from redis import Redis
from schemathesis import GenerationMode
from schemathesis.core.result import Ok
from uvicorn.importer import import_from_string

from core.contracts import VARIANT_NAMES, VARIANTS
from core.db import open_store
from core.postgres_server import embedded_postgres
from core.serving import serve
from core.settings import Settings
from fuzzing.strategies import Param, RawRequest
from provider.app import create_app as create_provider
from queues import needs_database

T = TypeVar("T")
TIMEOUT_S = 10.0
PROVIDER_KEY = "SG.fuzz-key"
VALID_MAIL = {
    "personalizations": [{"to": [{"email": "user1@example.com"}]}],
    "from": {"email": "login@delegate-bench.test"},
    "subject": "Your sign-in link",
    "content": [{"type": "text/plain", "value": "hello"}],
}


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)  # names in lower case


@dataclass(frozen=True)
class KnownBug:
    """A finding already pinned by an xfail test: it does not fail the fuzz run."""

    routes: tuple[str, ...]
    status: int
    matches: Callable[[RawRequest], bool]


@dataclass
class Tally:
    route: str
    cases: int = 0
    server_errors: int = 0
    known: int = 0
    findings: dict[str, str] = field(default_factory=dict)  # problem -> first example

    def line(self) -> str:
        return (
            f"{self.route:<48} {self.cases:>6} cases {self.server_errors:>4} 5xx"
            f" {self.known:>4} known {len(self.findings):>3} new problems"
        )


def problem(answer: Answer, allowed_5xx: frozenset[int] = frozenset()) -> str | None:
    """What is wrong with an answer to a fuzzed request, or None."""
    if answer.status >= 500 and answer.status not in allowed_5xx:
        return f"{answer.status} server error"
    if 400 <= answer.status < 500:
        if answer.content_type.split(";")[0].strip().lower() != "application/json":
            return f"{answer.status} with content-type {answer.content_type!r}"
        try:
            json.loads(answer.body)
        except ValueError:
            return f"{answer.status} with a body that is not JSON"
    return None


def send(client: httpx.Client, request: RawRequest) -> Answer | str | None:
    """The server's answer, a problem when it gave none, or None when httpx cannot send it."""
    # uvicorn closes the connection after a 500; httpx may reuse it once before it notices.
    for attempt in (1, 2):
        content: bytes | Iterator[bytes] | None = request.content
        if request.chunked and request.content is not None:
            content = iter([request.content])
        try:
            response = client.request(
                request.method,
                request.path,
                headers=request.headers,
                params=request.params,
                content=content,
            )
        except (httpx.LocalProtocolError, httpx.InvalidURL, UnicodeEncodeError):
            return None
        except httpx.TimeoutException:
            return f"no answer within {TIMEOUT_S} s"
        except httpx.TransportError as exc:
            if attempt == 2:
                return f"connection failed: {type(exc).__name__}"
            continue
        headers = {name.lower(): value for name, value in response.headers.items()}
        return Answer(
            response.status_code, headers.get("content-type", ""), response.content, headers
        )
    raise AssertionError("unreachable")


def record(
    tally: Tally,
    request: RawRequest,
    outcome: Answer | str,
    known: tuple[KnownBug, ...] = (),
    allowed_5xx: frozenset[int] = frozenset(),
) -> None:
    tally.cases += 1
    found = outcome if isinstance(outcome, str) else problem(outcome, allowed_5xx)
    if isinstance(outcome, Answer) and outcome.status >= 500:
        tally.server_errors += 1
    if found is None:
        return
    if isinstance(outcome, Answer) and any(
        tally.route in bug.routes and bug.status == outcome.status and bug.matches(request)
        for bug in known
    ):
        tally.known += 1
        return
    answer = f"{outcome.status} {outcome.body[:200]!r}" if isinstance(outcome, Answer) else ""
    tally.findings.setdefault(found, f"{request.describe()} -> {answer}")


def explore(
    strategy: st.SearchStrategy[T], probe: Callable[[T], None], examples: int, at: int
) -> None:
    """Feed `examples` seeded inputs to `probe`; no shrinking, since `probe` never raises."""

    @seed(at)
    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def each(value: T) -> None:
        probe(value)

    each()


def schema_requests(raw_schema: dict[str, Any]) -> dict[str, st.SearchStrategy[RawRequest]]:
    """One strategy per operation: schemathesis' positive and negative cases, as raw requests."""
    # The targets declare the bodies they read themselves in their routes' `openapi_extra`.
    schema = schemathesis.openapi.from_dict(raw_schema)
    found = {}
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            raise ValueError(f"the schema has an operation schemathesis cannot use: {result.err()}")
        operation = result.ok()
        modes = [GenerationMode.POSITIVE]
        if any(True for _ in operation.iter_parameters()) or len(operation.body) > 0:
            modes.append(GenerationMode.NEGATIVE)
        cases = st.one_of([operation.as_strategy(generation_mode=mode) for mode in modes])
        found[operation.label] = cases.map(from_case)
    return found


def from_case(case: schemathesis.Case[Any]) -> RawRequest:
    kwargs = case.as_transport_kwargs(base_url="")
    content: bytes | None = None
    if "json" in kwargs:
        content = json.dumps(kwargs["json"]).encode()
    elif isinstance(kwargs.get("data"), str | bytes):
        data = kwargs["data"]
        content = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    params: list[tuple[str, Param]] = [
        (str(name), item if isinstance(item, str) else json.dumps(item))
        for name, value in (kwargs.get("params") or {}).items()
        for item in (value if isinstance(value, list) else [value])
        if item is not None
    ]
    headers = {str(k): str(v) for k, v in kwargs["headers"].items()}
    return RawRequest(case.method.upper(), case.formatted_path, headers, params, content)


@dataclass(frozen=True)
class Stack:
    settings: Settings
    urls: dict[str, str]  # app name -> base URL


def fuzz_settings(redis_url: str, provider_url: str, workdir: Path) -> Settings:
    # Few orders and seats: a signed event for a real order makes the sync target run one
    # ticket subprocess per seat, which would otherwise dominate the run time.
    return Settings(
        redis_url=redis_url,
        provider_url=provider_url,
        database_path=workdir / "fuzz.db",
        tickets_dir=workdir / "tickets",
        provider_read_timeout_s=2.0,
        seed_users=5,
        seed_orders=5,
        max_seats=1,
        ticket_work_s=0.0,
        sync_retry_delay_s=0.01,
        log_level="WARNING",
    )


def provider_settings() -> Settings:
    return Settings(provider_api_key=PROVIDER_KEY, provider_hang_max_s=1.0, log_level="WARNING")


@contextmanager
def open_stack(settings: Settings) -> Iterator[Stack]:
    """Every variant's target and two fake providers: one for mail, one whose control API is
    fuzzed."""
    assert settings.redis_url is not None
    with Redis.from_url(settings.redis_url) as client:
        client.flushdb()
    with ExitStack() as stack:
        # As a bench: with a variant whose queue is in the database, every store is there.
        if needs_database(VARIANT_NAMES) and not settings.database_url:
            url = stack.enter_context(embedded_postgres())
            settings = settings.model_copy(update={"database_url": url})
        store = stack.enter_context(closing(open_store(settings)))
        store.seed(settings.seed, settings.seed_users, settings.seed_orders, settings.max_seats)
        urls = {
            v.name: stack.enter_context(serve(import_from_string(v.app)(settings)))
            for v in VARIANTS
        }
        urls |= {
            "provider": stack.enter_context(serve(create_provider(provider_settings()))),
            "control": stack.enter_context(serve(create_provider(provider_settings()))),
        }
        yield Stack(settings, urls)
