"""`python -m demo` for real: its API, its page in Debian's Chromium, and a clean Ctrl-C."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
STARTUP_DEADLINE_S = 90.0  # the issue asks for ~20 s; a busy shared machine gets slack
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"Chromium is not installed at {CHROMIUM}: apt-get install -y chromium (CI does)",
)


@dataclass
class Demo:
    process: subprocess.Popen[str]
    url: str


@pytest.fixture(scope="module")
def demo() -> Iterator[Demo]:
    process = subprocess.Popen(
        [sys.executable, "-m", "demo", "--no-browser", "--rate", "10"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + STARTUP_DEADLINE_S
    seen = []
    url = None
    while url is None and time.monotonic() < deadline and process.poll() is None:
        if select.select([process.stdout], [], [], 1.0)[0]:
            line = process.stdout.readline()
            seen.append(line)
            found = re.search(r"demo page: (http://127\.0\.0\.1:\d+/)", line)
            url = found.group(1) if found else None
    try:
        assert url is not None, f"no URL printed within {STARTUP_DEADLINE_S:.0f}s: {seen}"
        yield Demo(process, url)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=60)


def test_the_api_refuses_bad_values_with_a_json_400(demo: Demo) -> None:
    with httpx.Client(base_url=demo.url, timeout=10) as client:
        too_fast = client.post("/api/rate", json={"per_s": 1000})
        assert too_fast.status_code == 400
        assert "from 0.5 to 50" in too_fast.json()["detail"]
        unknown = client.put("/api/faults", json={"name": "meteor"})
        assert unknown.status_code == 400
        assert "outage" in unknown.json()["detail"]  # it lists the ones there are
        assert client.post("/api/rate", json={"per_s": "fast"}).status_code == 422
        assert client.get("/api/state").json()["rate"] == 10.0  # nothing changed


@pytest.fixture(scope="module")
def page(demo: Demo) -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM}: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        tab.goto(demo.url)
        yield tab
        browser.close()


LATENCY_SERIES = """e => {
    const chart = getElement(e.id.slice(1)).chart;
    const option = chart.getOption();
    return {
        data: option.series.map(s => s.data),
        bands: (option.series[0].markArea || {data: []}).data.length,
    };
}"""


def latency(page: Any) -> dict[str, Any]:
    result: dict[str, Any] = page.get_by_test_id("latency-chart").evaluate(LATENCY_SERIES)
    return result


def last(series: list[list[Any]]) -> float:
    values = [v for _, v in series if v is not None]
    return float(values[-1]) if values else 0.0


def wait_for(check: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"{what} within {timeout_s:.0f}s"
        time.sleep(0.5)


@needs_chromium
def test_the_charts_receive_new_points(page: Any) -> None:
    page.get_by_test_id("latency-chart").wait_for()
    wait_for(lambda: len(latency(page)["data"][0]) > 2, 30, "the chart got points")
    before = len(latency(page)["data"][0])
    wait_for(lambda: len(latency(page)["data"][0]) > before, 10, "the chart got a new point")


@needs_chromium
def test_a_bad_rate_shows_a_clear_message(page: Any) -> None:
    # Quasar puts the attribute on the <input> or on its wrapper, depending on the version.
    field = page.locator("input[data-testid=rate-input], [data-testid=rate-input] input").first
    field.fill("lots")
    page.get_by_test_id("set-rate").click()
    message = page.get_by_test_id("message")
    wait_for(lambda: "arrival rate must be" in message.inner_text(), 10, "the message shown")


@needs_chromium
def test_an_outage_raises_the_sync_p99_above_the_delegated_one(
    page: Any, tmp_path: Path, demo: Demo
) -> None:
    wait_for(lambda: len(latency(page)["data"][1]) > 5, 30, "a few seconds of points")
    sync_before = last(latency(page)["data"][1])
    page.get_by_test_id("fault-outage").click()
    badge = page.get_by_test_id("fault-state")
    wait_for(lambda: badge.inner_text() == "provider: outage", 10, "the provider's state shown")

    def sync_slower() -> bool:
        now = latency(page)
        sync_p99, delegated_p99 = last(now["data"][1]), last(now["data"][3])
        return sync_p99 > 2 * sync_before and sync_p99 > delegated_p99 and now["bands"] >= 1

    wait_for(sync_slower, 45, "sync p99 above twice its own and above delegated's, band shown")
    page.screenshot(path=str(tmp_path / "outage.png"))
    # `DEMO_SCREENSHOT=docs/demo-outage.png` keeps this one for the README.
    if os.environ.get("DEMO_SCREENSHOT"):
        page.screenshot(path=os.environ["DEMO_SCREENSHOT"])
    assert (tmp_path / "outage.png").stat().st_size > 10_000
    httpx.put(f"{demo.url}api/faults", json={"name": "healthy"}, timeout=10).raise_for_status()


def test_ctrl_c_stops_everything(demo: Demo) -> None:
    descendants = psutil.Process(demo.process.pid).children(recursive=True)
    assert len(descendants) >= 6  # redis, provider, two targets, workers, two Locusts
    demo.process.send_signal(signal.SIGINT)
    assert demo.process.wait(timeout=60) == 0
    _, alive = psutil.wait_procs(descendants, timeout=10)
    assert not alive, f"left behind: {[p.pid for p in alive]}"
