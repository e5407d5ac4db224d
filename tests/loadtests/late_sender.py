"""A locustfile whose user dawdles DAWDLE_S between its slot's time and its send.

Run by tests/loadtests/test_locust_run.py, which sets DAWDLE_S (importing this file would import
Locust, which monkey-patches the test process).
"""

from __future__ import annotations

import os

import gevent
from locust import task

from loadtests.users import BenchUser, current_run

DAWDLE_S = float(os.environ["DAWDLE_S"])


class LateSender(BenchUser):
    @task
    def noop(self) -> None:
        got = self.next_slot()
        if got is None:
            return
        slot, intended, start = got
        gevent.sleep(DAWDLE_S)  # as if building the request took this long
        self.call("noop", "GET", "/noop", current_run().ids.for_slot(slot), intended, start)
