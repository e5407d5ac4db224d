"""Which requests a target traces: a seeded share, capped at so many a second."""

from __future__ import annotations

from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.tracing import Sampled


class Clock:
    def __init__(self) -> None:
        self.now_s = 0.0

    def __call__(self) -> float:
        return self.now_s


def chosen(ratio: float, max_per_s: float, rate: float, seconds: float) -> int:
    """How many of `rate` requests a second for `seconds` a target would trace."""
    clock = Clock()
    sampled = Sampled(stub, stub, ratio, max_per_s, "1:target-test:1", clock)
    count = 0
    for i in range(round(rate * seconds)):
        clock.now_s = i / rate
        count += sampled.chosen()
    return count


async def stub(scope: Scope, receive: Receive, send: Send) -> None:
    pass


def test_a_share_is_drawn_request_by_request() -> None:
    assert chosen(1.0, 0.0, 100, 10) == 1000
    assert chosen(0.0, 0.0, 100, 10) == 0
    assert 900 <= chosen(0.1, 0.0, 1000, 10) <= 1100


def test_below_the_cap_the_share_is_as_drawn() -> None:
    # The scenarios' usual 20 requests a second: a 10% share is 2 a second, under a cap of 5.
    assert chosen(0.1, 5.0, 20, 100) == chosen(0.1, 0.0, 20, 100)


def test_a_saturated_target_traces_at_most_the_cap() -> None:
    # 5 a second, after a first second's worth: at 4,000 requests a second, 0.1% of them.
    assert 5 * 10 <= chosen(0.1, 5.0, 4000, 10) <= 5 * 10 + 5
    assert 5 * 10 <= chosen(1.0, 5.0, 4000, 10) <= 5 * 10 + 5


async def test_a_request_left_out_goes_to_the_plain_stack_with_the_instrumentation_off() -> None:
    """Off: the Redis, PostgreSQL and httpx instrumentations check that switch first, so a
    request left out pays for the check, not for a span the sampler would drop."""
    reached: list[str] = []

    def app(name: str) -> ASGIApp:
        async def record(scope: Scope, receive: Receive, send: Send) -> None:
            switch = "on" if is_instrumentation_enabled() else "off"
            reached.append(f"{name} {scope['type']} {switch}")

        return record

    async def receive() -> Message:
        return {}

    async def send(message: Message) -> None:
        pass

    for ratio in (0.0, 1.0):
        sampled = Sampled(app("plain"), app("traced"), ratio, 0.0, "1")
        await sampled({"type": "http"}, receive, send)
        await sampled({"type": "lifespan"}, receive, send)
    # The lifespan always reaches the instrumented stack: it starts the app once for both.
    assert reached == [
        "plain http off",
        "traced lifespan on",
        "traced http on",
        "traced lifespan on",
    ]
    assert is_instrumentation_enabled()  # and on again after it
