"""Tracing's cost is read from what a copy spends on a CPU, and worked out from instruction
counts at a target's peak rate."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil
import pytest

from benchmarks.tracing_cost import cpu_s
from benchmarks.tracing_instructions import rule_cost
from runner.bench import TRACED_MAX_PER_S, TRACED_SHARE

BURN = """
import sys, time
end = time.process_time() + 0.3
while time.process_time() < end:
    pass
print("burnt", flush=True)
time.sleep(30)
"""


def test_a_process_is_charged_the_cpu_it_ran_not_the_time_it_waited() -> None:
    child = subprocess.Popen([sys.executable, "-c", BURN], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline() == "burnt\n"
        process = psutil.Process(child.pid)
        ran = cpu_s(process)
        time.sleep(0.3)  # asleep: no more CPU
        assert 0.3 <= ran <= 1.0
        assert cpu_s(process) - ran < 0.05
    finally:
        child.kill()
        child.wait()


def test_the_rule_costs_what_its_traced_share_and_the_rest_cost() -> None:
    counts = {"untraced": 1000.0, "left out": 1010.0, "traced": 3000.0}
    for rate in (20, 1000):  # the scenarios' usual rate, and a target at its peak
        share = min(TRACED_SHARE, TRACED_MAX_PER_S / rate)
        assert rule_cost(counts, rate) == pytest.approx(share * 3.0 + (1 - share) * 1.01 - 1)
    # The cap is so many a second: the faster the target, the smaller the traced share.
    assert rule_cost(counts, 4000) < rule_cost(counts, 1000) < rule_cost(counts, 500)
    assert rule_cost(counts, 1e9) == pytest.approx(0.01, abs=1e-4)  # what a left-out one costs
