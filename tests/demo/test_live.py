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
TOUR_STEP_S = 8  # `--tour-step-s`: long enough for a click to pause a step on a busy machine
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
        [
            sys.executable,
            "-m",
            "demo",
            "--no-browser",
            "--rate",
            "10",
            "--tour-step-s",
            str(TOUR_STEP_S),
        ],
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


SERIES = """e => {
    const option = getElement(e.id.slice(1)).chart.getOption();
    const band = (option.series[0].markArea || {data: []}).data;
    return {
        data: option.series.map(s => s.data),
        bands: band.length,
        band_ms: band.length ? band[band.length - 1][1].xAxis - band[band.length - 1][0].xAxis : 0,
    };
}"""


def series(page: Any, chart: str) -> dict[str, Any]:
    """A chart's series as the browser holds them, in the order of their legend."""
    result: dict[str, Any] = page.get_by_test_id(f"{chart}-chart").evaluate(SERIES)
    return result


def latency(page: Any) -> dict[str, Any]:
    return series(page, "latency")


def last(points: list[list[Any]]) -> float:
    values = [v for _, v in points if v is not None]
    return float(values[-1]) if values else 0.0


def cell(page: Any, column: str, variant: str) -> int:
    """A count in the numbers table, e.g. cell(page, "lost", "delegated")."""
    return int(page.get_by_test_id(f"{column}-{variant}").inner_text().replace(",", ""))


def wait_for(check: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"{what} within {timeout_s:.0f}s"
        time.sleep(0.5)


def newest_ms(page: Any) -> float:
    """The time of the latency chart's newest point (the chart keeps only its last 90 s, so
    its length stops growing: its newest time does not)."""
    points = latency(page)["data"][0]
    return float(points[-1][0]) if points else 0.0


def wait_for_points(page: Any, points: int) -> None:
    """Until the page drew `points` more seconds: time as the page itself counts it."""
    drawn = newest_ms(page)
    # A point a second; half a second of slack for the ticks' own jitter.
    wait_for(lambda: newest_ms(page) >= drawn + 1000 * (points - 0.5), 20, f"{points} new points")


@needs_chromium
def test_the_charts_receive_new_points(page: Any) -> None:
    page.get_by_test_id("latency-chart").wait_for()
    wait_for(lambda: len(latency(page)["data"][0]) > 2, 30, "the chart got points")
    before = newest_ms(page)
    wait_for(lambda: newest_ms(page) > before, 10, "the chart got a new point")


WATERFALL = """e => {
    const option = getElement(e.id.slice(1)).chart.getOption();
    return {title: option.title[0].text, rows: option.yAxis[0].data};
}"""


@needs_chromium
def test_an_outage_puts_its_latest_slow_email_on_the_page_as_a_waterfall(
    demo: Demo, page: Any
) -> None:
    def waterfall() -> dict[str, Any]:
        found: dict[str, Any] = page.get_by_test_id("trace-chart").evaluate(WATERFALL)
        return found

    page.get_by_test_id("trace-chart").wait_for()
    with httpx.Client(base_url=demo.url, timeout=10) as client:
        client.put("/api/faults", json={"name": "outage"}).raise_for_status()
        time.sleep(2)  # the logins of these seconds fail their first tries
        client.put("/api/faults", json={"name": "healthy"}).raise_for_status()
    wait_for(lambda: "login:" in waterfall()["title"], 60, "a slow login's trace")
    rows = waterfall()["rows"]
    # The request, then its email's tries: a queue's (each a `process send_magic_link` with its
    # provider call) or sync's, inside the request; whichever variant's login was slow last.
    tries = sum("process send_magic_link" in r for r in rows)
    assert rows[0].startswith("POST /login") and (tries >= 2 if tries else len(rows) >= 3), rows


@needs_chromium
def test_a_bad_rate_shows_a_clear_message(page: Any) -> None:
    # Quasar puts the attribute on the <input> or on its wrapper, depending on the version.
    field = page.locator("input[data-testid=rate-input], [data-testid=rate-input] input").first
    field.fill("lots")
    page.get_by_test_id("set-rate").click()
    message = page.get_by_test_id("message")
    wait_for(lambda: "arrival rate must be" in message.inner_text(), 10, "the message shown")


class Tour:
    """The guided tour as a viewer plays it: the button, the caption, and pausing each step."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.button = page.get_by_role("button", name="guided tour")
        self.caption = page.get_by_test_id("caption")

    def reach(self, title: str) -> None:
        """Wait for the step's caption, pause there, and check the pause held it."""
        text = self.caption.inner_text
        wait_for(lambda: text().startswith(title), TOUR_STEP_S + 20, f"the {title!r} caption")
        self.button.click()
        wait_for(lambda: "(paused" in text(), 10, f"the {title!r} step paused")
        self.held = text()
        assert self.held.startswith(title), f"the tour left {title!r} before the pause: {text()}"

    def go_on(self, points: int = 2) -> None:
        """Resume, once the charts got new points while the paused step stood still."""
        wait_for_points(self.page, points)
        assert self.caption.inner_text() == self.held, "a paused step moved on"
        self.button.click()
        wait_for(lambda: "(paused" not in self.caption.inner_text(), 10, "the tour resumed")


@needs_chromium
@pytest.mark.timeout(300)  # ~60 s; DEMO_SCREENSHOT adds 40 s of outage
def test_the_guided_tour_plays_end_to_end_and_its_captions_match_the_charts(
    page: Any, tmp_path: Path
) -> None:
    wait_for(lambda: len(latency(page)["data"][1]) > 5, 30, "a few seconds of points")
    badge = page.get_by_test_id("fault-state")
    tour = Tour(page)
    tour.button.click()

    # Steady: sync waits for the provider in every login, delegated only enqueues.
    tour.reach("Steady")
    wait_for(lambda: badge.inner_text() == "provider: healthy", 10, "a healthy provider")
    steady = latency(page)["data"]
    assert last(steady[0]) > last(steady[2]), "sync p50 above delegated's on a good day"
    assert cell(page, "lost", "sync") == cell(page, "lost", "delegated") == 0
    sync_p99_steady = last(steady[1])
    tour.go_on()

    # Outage: the sync p99 climbs, delegated stays flat; its retries wait in the queue.
    tour.reach("Outage")
    wait_for(lambda: badge.inner_text() == "provider: outage", 10, "the provider's state shown")

    def outage_shows() -> bool:
        now, queue = latency(page), series(page, "queue")["data"]
        sync_p99, delegated_p99 = last(now["data"][1]), last(now["data"][3])
        return (
            sync_p99 > 2 * sync_p99_steady
            and sync_p99 > delegated_p99
            and now["bands"] >= 1
            and last(queue[1]) > 0  # deferred: jobs waiting for their retry
        )

    wait_for(outage_shows, 45, "sync p99 above twice its own and delegated's, a band, retries")
    if os.environ.get("DEMO_SCREENSHOT"):
        # For the README: charts that hold ~40 s of outage, and the caption not paused.
        wait_for(lambda: latency(page)["band_ms"] >= 40_000, 90, "40 s of outage")
        tour.button.click()
        wait_for(lambda: "(paused" not in tour.caption.inner_text(), 10, "the tour resumed")
        page.screenshot(path=os.environ["DEMO_SCREENSHOT"])
        tour.button.click()
        wait_for(lambda: "(paused" in tour.caption.inner_text(), 10, "paused again")
        tour.held = tour.caption.inner_text()
    page.screenshot(path=str(tmp_path / "outage.png"))
    assert (tmp_path / "outage.png").stat().st_size > 10_000
    work = series(page, "work")["data"]  # per variant: promised, delivered
    gap_in_outage = last(work[2]) - last(work[3])
    assert gap_in_outage > 0, "delegated's delivered fell behind promised"
    tour.go_on()

    # A deploy in the outage: the targets are replaced; delegated's queued jobs wait in Redis.
    tour.reach("Deploy during the outage")
    for _ in range(3):
        wait_for_points(page, 1)
        assert cell(page, "lost", "delegated") == 0
    tour.go_on()

    # Recovery: the deferred jobs come due; delivered catches up with promised, none lost.
    tour.reach("Recovery")
    wait_for(lambda: badge.inner_text() == "provider: healthy", 10, "the provider healthy again")

    def caught_up() -> bool:
        work, queue = series(page, "work")["data"], series(page, "queue")["data"]
        gap = last(work[2]) - last(work[3]) - cell(page, "dead", "delegated")
        return last(queue[1]) == 0 and gap < gap_in_outage and cell(page, "lost", "delegated") == 0

    wait_for(caught_up, 90, "no deferred job left, delivered caught up, nothing lost")
    tour.go_on()

    # Worker crash: clients notice nothing and the dead worker's job is pending, not lost.
    tour.reach("Worker crash")
    for _ in range(3):
        wait_for_points(page, 1)
        assert cell(page, "lost", "delegated") == 0
        assert last(series(page, "answers")["data"][3]) == 0, "delegated clients saw no error"
    tour.go_on(points=0)
    wait_for(lambda: tour.caption.inner_text().startswith("Done"), TOUR_STEP_S + 20, "the end")


def test_a_deploy_replaces_every_target_and_the_load_goes_on(demo: Demo) -> None:
    with httpx.Client(base_url=demo.url, timeout=60) as client:
        before = client.get("/api/state").json()["latest"]["variants"]
        answer = client.post("/api/targets/deploy")
        assert answer.status_code == 200, answer.text
        assert answer.json()["message"].startswith("2 targets deployed")

        def answered_since() -> bool:
            now = client.get("/api/state").json()["latest"]["variants"]
            return all(
                now[v]["requests"] - now[v]["errors"] > before[v]["requests"] - before[v]["errors"]
                for v in before
            )

        wait_for(answered_since, 30, "answers from the replaced targets")


def test_ctrl_c_stops_everything(demo: Demo) -> None:
    descendants = psutil.Process(demo.process.pid).children(recursive=True)
    assert len(descendants) >= 6  # redis, provider, two targets, workers, two Locusts
    demo.process.send_signal(signal.SIGINT)
    assert demo.process.wait(timeout=60) == 0
    _, alive = psutil.wait_procs(descendants, timeout=10)
    assert not alive, f"left behind: {[p.pid for p in alive]}"
