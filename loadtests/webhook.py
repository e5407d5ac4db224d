"""Signed Stripe-shaped payment webhooks: each slot pays the next order or redelivers an event.

    locust -f loadtests/webhook.py --headless -u 100 -r 100 -t 60s --arrival-rate 5 \
        --host http://127.0.0.1:8001 --order-offset 0 --redelivery-share 0.1 \
        --second-event-share 0.3

--second-event-share pays that share of orders a second time, with the other event type
(payment_intent.succeeded after checkout.session.completed, or before it for half of them): the
targets must still email each order's tickets once.

Slot k pays order --order-offset + k + 1 (redeliveries excepted), so both variants of a run pay
the same orders; give each run against the same database its own offset. The client waits
--ack-timeout-s at most, like a payment processor waiting for the acknowledgement.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from typing import Any

from locust import events, task
from locust.env import Environment

from core.contracts import order_work_id
from core.signatures import HEADER, sign
from loadtests.options import env_var
from loadtests.plans import WebhookPlan, event_id, payment_event_body
from loadtests.users import BenchUser, Run, current_run

logger = logging.getLogger("loadtests")
_plan: tuple[Run, WebhookPlan] | None = None
_second_event_share = 0.0


def _on_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--second-event-share",
        type=float,
        default=0.0,
        env_var=env_var("--second-event-share"),  # Locust's parser is configargparse's
        help="Share of orders also paid by a second event of the other type.",
    )


def _on_test_start(environment: Environment, **_kw: Any) -> None:
    global _second_event_share
    value = getattr(environment.parsed_options, "second_event_share", None)
    _second_event_share = min(1.0, max(0.0, float(value or 0.0)))


def _listen(hook: Any, listener: Callable[..., None]) -> None:
    hook.add_listener(listener)  # EventHook is untyped (see loadtests.users)


_listen(events.init_command_line_parser, _on_parser)
_listen(events.test_start, _on_test_start)


def plan_for(run: Run) -> WebhookPlan:
    """One plan per test in this process, shared by its users."""
    global _plan
    if _plan is None or _plan[0] is not run:
        o = run.options
        plan = WebhookPlan(o.seed, o.redelivery_share, o.order_offset, _second_event_share)
        _plan = (run, plan)
    return _plan[1]


class WebhookUser(BenchUser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # BenchUser builds its HTTP client from these in __init__.
        self.network_timeout = self.connection_timeout = current_run().options.ack_timeout_s
        super().__init__(*args, **kwargs)

    @task
    def pay(self) -> None:
        got = self.take_slot()
        if got is None:
            return
        slot, intended = got
        run = current_run()
        payment = plan_for(run).for_slot(slot)  # before waiting: claims come in slot order
        start = self.wait_for(intended)
        if start is None:
            return
        if payment.redelivery:
            run.count("redeliveries")
        elif payment.second:
            run.count("second_events")
        elif payment.order_id > run.options.seed_orders:
            if not run.extra.get("past_seed_orders"):
                logger.warning("order %d is past --seed-orders: expect 404s", payment.order_id)
            run.count("past_seed_orders")
        secret = run.options.webhook_secret
        kind = payment.event_type
        event = event_id(run.options.seed, payment.order_id, kind)
        body = payment_event_body(event, payment.order_id, kind)
        work_id = order_work_id(payment.order_id)
        self.call(
            "webhook",
            "POST",
            "/webhooks/payment",
            run.ids.for_slot(slot),
            intended,
            start,
            data=body.decode(),  # ASCII JSON: the bytes that were signed
            headers={HEADER: sign(secret, body), "Content-Type": "application/json"},
            work_id=lambda _rid: work_id,
        )
