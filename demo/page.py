"""The live page (NiceGUI, with the ECharts it ships) and the JSON API its controls share."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException
from nicegui import run, ui
from pydantic import BaseModel

from demo.controls import ControlError, Controls
from demo.faults import FAULT_NAMES
from demo.feed import Feed
from demo.tour import Tour
from demo.traces import SlowTrace

BAND_COLOR = "rgba(220, 38, 38, 0.12)"
PALETTE = ("#d97706", "#2563eb", "#059669", "#7c3aed")  # per variant, in the contracts' order
Json = dict[str, Any]


class RateBody(BaseModel):
    per_s: float


class FaultBody(BaseModel):
    name: str


def create_app(controls: Controls, feed: Feed, tour: Tour) -> FastAPI:
    app = FastAPI(title="delegate-bench demo")

    def attempt(action: Any, *args: Any) -> Json:
        try:
            return {"message": action(*args)}
        except ControlError as exc:
            raise HTTPException(400, str(exc)) from None

    # Plain `def`: FastAPI runs them in its thread pool, as the actions block.
    @app.get("/api/state")
    def state() -> Json:
        history, bands = feed.snapshot()
        latest = history[-1] if history else None
        return {"latest": latest, "bands": bands, "rate": controls.load.rate, "tour": tour.status()}

    @app.post("/api/rate")
    def rate(body: RateBody) -> Json:
        return attempt(controls.set_rate, body.per_s)

    @app.put("/api/faults")
    def faults(body: FaultBody) -> Json:
        return attempt(controls.set_fault, body.name)

    @app.post("/api/workers/kill")
    def kill_worker() -> Json:
        return attempt(controls.kill_worker)

    @app.post("/api/targets/deploy")
    def deploy() -> Json:
        return attempt(controls.deploy)

    @app.post("/api/redis/restart")
    def restart_redis() -> Json:
        return attempt(controls.restart_redis)

    @ui.page("/")
    def index() -> None:
        Page(controls, feed, tour)

    ui.run_with(app, title="delegate-bench demo", show_welcome_message=False, reconnect_timeout=10)
    return app


def chart(
    title: str, y_name: str, series: list[str], log: bool = False, pairs: bool = True
) -> ui.echart:
    return ui.echart(
        {
            "animation": False,
            "title": {"text": title, "left": "center", "textStyle": {"fontSize": 14}},
            "legend": {"top": 24},
            "grid": {"top": 70, "left": 55, "right": 15, "bottom": 30},
            "tooltip": {"trigger": "axis"},
            "xAxis": {"type": "time"},
            "yAxis": {"type": "log" if log else "value", "name": y_name, "min": 1 if log else 0},
            "series": [
                {
                    "name": s,
                    "type": "line",
                    "showSymbol": False,
                    "data": [],
                    # One hue per variant; its first measure solid, the second dashed.
                    "color": PALETTE[i // 2 % len(PALETTE)] if pairs else None,
                    "lineStyle": {"type": "dashed" if pairs and i % 2 else "solid"},
                }
                for i, s in enumerate(series)
            ],
        }
    ).classes("w-full h-64")


class Page:
    """One browser tab: controls, numbers and four charts, redrawn once a second."""

    def __init__(self, controls: Controls, feed: Feed, tour: Tour) -> None:
        self.controls, self.feed, self.tour = controls, feed, tour
        variants = feed.variants
        ui.add_css(NUMBERS_CSS)
        with ui.row().classes("w-full items-center gap-2"):
            ui.label(f"delegate-bench: {' vs '.join(variants)}, live").classes("text-xl font-bold")
            self.fault = ui.badge("provider: ?").props("data-testid=fault-state")
        with ui.row().classes("w-full items-end gap-2"):
            self.rate = ui.input("arrival rate /s", value=f"{controls.load.rate:g}")
            self.rate.props("dense data-testid=rate-input").classes("w-32")
            ui.button("set rate", on_click=self.set_rate).props("data-testid=set-rate")
            for name in FAULT_NAMES:
                ui.button(name, on_click=lambda n=name: self.act(controls.set_fault, n)).props(
                    f"outline data-testid=fault-{name}"
                )
            ui.button("kill a worker", on_click=lambda: self.act(controls.kill_worker))
            ui.button("deploy the targets", on_click=lambda: self.act(controls.deploy))
            ui.button("restart Redis", on_click=lambda: self.act(controls.restart_redis))
            ui.button("guided tour", on_click=self.toggle_tour).props("color=green")
        self.message = ui.label("").props("data-testid=message")
        self.caption = ui.label("").classes("text-lg bg-amber-50 p-2 w-full")
        self.caption.props("data-testid=caption")
        self.numbers = ui.html("").classes("w-full")
        with ui.grid(columns=2).classes("w-full"):
            lat = [f"{v} {q}" for v in variants for q in ("p50", "p99")]
            self.latency = chart("client latency (last 5 s, ms)", "ms", lat, log=True)
            rates = [f"{v} {k}" for v in variants for k in ("answers/s", "errors/s")]
            self.answers = chart("answers and errors per second", "/s", rates)
            self.queue = chart("queues", "jobs", ["ready", "deferred", "in progress"], pairs=False)
            work = [f"{v} {k}" for v in variants for k in ("promised", "delivered")]
            self.work = chart("emails promised vs delivered (the analysis's count)", "emails", work)
        self.trace = waterfall_chart().props("data-testid=trace-chart")
        for name in ("latency", "answers", "queue", "work"):
            getattr(self, name).props(f"data-testid={name}-chart")
        self.refresh()
        ui.timer(1.0, self.refresh)

    async def act(self, action: Any, *args: Any) -> None:
        try:
            text = await run.io_bound(action, *args)
        except ControlError as exc:
            self.message.set_text(f"⚠ {exc}")
            self.message.classes(replace="text-red-700")
            return
        self.message.set_text(str(text))
        self.message.classes(replace="text-green-800")

    async def set_rate(self) -> None:
        await self.act(self.controls.set_rate, self.rate.value)

    def toggle_tour(self) -> None:
        if self.tour.running and not self.tour.paused:
            self.tour.pause()
        else:
            self.tour.play()

    def refresh(self) -> None:
        history, bands = self.feed.snapshot()
        if not history:
            return
        latest = history[-1]
        self.fault.set_text(f"provider: {latest['fault']}")
        self.fault.props(f"color={'green' if latest['fault'] == 'healthy' else 'red'}")
        status = self.tour.status()
        if status["title"]:
            state = " (paused: press guided tour to go on)" if status["paused"] else ""
            left = f" {status['remaining_s']} s" if status["running"] else ""
            self.caption.set_text(f"{status['title']}{left}{state}: {status['caption']}")
        self.numbers.set_content(numbers_table(latest))
        now_ms = latest["t"] * 1000
        area = [
            [
                {"name": b["fault"], "xAxis": b["start"] * 1000},
                {"xAxis": (b["end"] or latest["t"]) * 1000},
            ]
            for b in bands
        ]
        v = latest["variants"]
        series = {
            self.latency: [(n, k) for n in v for k in ("p50_ms", "p99_ms")],
            self.answers: [(n, k) for n in v for k in ("answers_per_s", "errors_per_s")],
            self.work: [(n, k) for n in v for k in ("expected", "delivered")],
        }
        for element, keys in series.items():
            data = [[[p["t"] * 1000, p["variants"][n][k]] for p in history] for n, k in keys]
            draw(element, data, area, now_ms)
        queue = [
            [[p["t"] * 1000, (p["queue"] or {}).get(k)] for p in history]
            for k in ("ready", "deferred", "in_progress")
        ]
        draw(self.queue, queue, area, now_ms)
        draw_waterfall(self.trace, self.feed.slowest())


def waterfall_chart() -> ui.echart:
    """Each span a bar from its start: an invisible bar up to the start, stacked under it."""
    return ui.echart(
        {
            "animation": False,
            "title": {"text": "the latest slow email's trace", "left": "center"},
            "grid": {"top": 40, "left": 230, "right": 20, "bottom": 30},
            "tooltip": {"trigger": "item"},
            "xAxis": {"type": "value", "name": "s"},
            "yAxis": {"type": "category", "inverse": True, "data": []},
            "series": [
                {"type": "bar", "stack": "t", "itemStyle": {"color": "transparent"}, "data": []},
                {"type": "bar", "stack": "t", "color": PALETTE[1], "data": []},
            ],
        }
    ).classes("w-full h-96")


def draw_waterfall(element: ui.echart, slow: SlowTrace | None) -> None:
    options = element.options
    if slow is None:
        options["title"]["text"] = "the latest slow email's trace: none yet (try an outage)"
        element.update()
        return
    options["title"]["text"] = (
        f"the latest slow email's trace: {slow.work_id}, {slow.total_s:.1f} s"
    )
    options["yAxis"]["data"] = [f"{b.name} ({b.service})" for b in slow.bars]
    options["series"][0]["data"] = [round(b.start_s, 4) for b in slow.bars]
    options["series"][1]["data"] = [round(b.duration_s, 4) for b in slow.bars]
    element.update()


def draw(element: ui.echart, data: list[list[list[Any]]], area: list[Any], now_ms: float) -> None:
    options = element.options
    options["xAxis"]["min"] = now_ms - 90_000
    options["xAxis"]["max"] = now_ms
    for serie, points in zip(options["series"], data, strict=True):
        serie["data"] = points
    options["series"][0]["markArea"] = {
        "silent": True,
        "itemStyle": {"color": BAND_COLOR},
        "data": area,
    }
    element.update()


NUMBERS_CSS = """
.numbers th, .numbers td { padding: 4px 14px; text-align: right; white-space: nowrap; }
.numbers th:first-child, .numbers td:first-child { text-align: left; padding-left: 0; }
.numbers tr + tr td { border-top: 1px solid #e5e7eb; }
"""
# The table's columns: a heading and how one variant's point shows there.
COLUMNS: tuple[tuple[str, str, Any], ...] = (
    ("p50", "p50_ms", lambda v: _ms(v["p50_ms"])),
    ("p99", "p99_ms", lambda v: _ms(v["p99_ms"])),
    ("answers/s", "answers", lambda v: f"{v['answers_per_s']:.1f}"),
    ("errors", "errors", lambda v: f"{v['errors']:,}"),
    ("delivered / promised", "delivered", lambda v: f"{v['delivered']:,} / {v['expected']:,}"),
    ("pending", "pending", lambda v: f"{v['pending']:,}"),
    ("lost", "lost", lambda v: f"{v['lost']:,}"),
    ("dead letters", "dead", lambda v: f"{v['dead_lettered']:,}"),
    ("request→email p50", "email", lambda v: _ms(v["completion_p50_ms"])),
)


def _ms(x: float | None) -> str:
    return "-" if x is None else f"{x:,.0f} ms"


def numbers_table(point: Json) -> str:
    head = "".join(f"<th>{title}</th>" for title, _, _ in COLUMNS)
    rows = "".join(
        f"<tr><td><b>{name}</b></td>"
        + "".join(f"<td data-testid='{key}-{name}'>{show(v)}</td>" for _, key, show in COLUMNS)
        + "</tr>"
        for name, v in point["variants"].items()
    )
    q = point["queue"]
    queue = (
        "Redis unreachable"
        if q is None
        else f"ready {q['ready']}, deferred {q['deferred']}, in progress {q['in_progress']}"
    )
    return (
        "<table class='numbers text-sm' data-testid='numbers'>"
        f"<tr><th></th>{head}</tr>{rows}</table>"
        f"<div class='text-sm pt-1'>queue: {queue}; jobs retried {point['retries']};"
        f" emails counted by the analysis (promised: a 2xx for a registered address)</div>"
    )
