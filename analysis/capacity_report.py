"""Capacity: a capacity run's knees, the simple models beside them, chart, table, summary.json."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from analysis.capacity import ERROR_LIMIT, Knee, Plan, Search, Slos, Step, client_ok, work_ok
from analysis.capacity_steps import STEP_SCENARIO, Window, measure_step, step_cpu
from analysis.metrics.load import Run, load_run
from analysis.metrics.stats import clean
from analysis.metrics.summary_json import SCHEMA_VERSION, write_summary
from analysis.report.charts import color
from queues import has_workers

MATCH = 0.25  # a knee within 25% of its model matches it


@dataclass(frozen=True)
class VariantCapacity:
    variant: str
    steps: list[Step]
    client: Knee
    work: Knee
    harness_limit: float  # /noop's, lowered to the first step whose generator fell behind
    noop_limit: float
    counted: list[Step]  # the steps the knees rest on
    registered: float  # share of the steps' logins for a registered address
    cpu: dict[int, dict[str, float]]  # by step (repeat): each kind of process's CPU


def capacity_of(run: Run) -> tuple[Slos, list[VariantCapacity]]:
    """Every step of the run re-measured from raw/, and each variant's knees."""
    record = run.meta.get("capacity") or {}
    slos = Slos(float(record.get("slo_p99_ms", 100)), float(record.get("work_slo_s", 10)))
    warmup = float((run.meta.get("settings") or {}).get("warmup_s", 2.0))
    window = Window(warmup_s=warmup)
    out = []
    for variant in run.meta.get("variants") or []:
        limit = float((record.get("harness") or {}).get(variant, {}).get("limit_rps") or 0.0)
        entries = [e for e in record.get("steps") or [] if e.get("variant") == variant]
        measured = []
        for entry in entries:
            try:
                measured.append(measure_step(run, variant, entry, window))
            except LookupError:  # an interrupted run's last step
                continue
        plan = Plan(
            limit_rps=limit,
            late_share=float(record.get("late_share", 0.02)),
            late_count=int(record.get("late_count", 5)),
        )
        found = Search(plan, slos, measured)
        share = registered_share(run, variant)
        client, work = found.knees()
        out.append(
            VariantCapacity(
                variant,
                measured,
                client,
                work,
                found.limit(),
                limit,
                found.kept(),
                share,
                {s.repeat: step_cpu(run, variant, s.repeat) for s in measured},
            )
        )
    return slos, out


def registered_share(run: Run, variant: str) -> float:
    rows = run.requests
    mine = (rows["scenario"].astype("str") == STEP_SCENARIO) & (
        rows["variant"].astype("str") == variant
    )
    flags = rows.loc[mine.to_numpy(), "registered"]
    return float(flags.eq(True).mean()) if len(flags) else 1.0


def models(
    meta: dict[str, Any], variant: str, registered: float = 1.0
) -> dict[str, tuple[float, str]]:
    """The simple models' rates, by knee: threads (or job slots) ÷ the provider's median.

    Only a registered address's login calls the provider (an unknown one ends at the lookup),
    so the slots are shared by the `registered` share of the logins.
    """
    settings = meta.get("settings") or {}
    scenarios = meta.get("scenarios") or [{}]
    latency = (scenarios[0].get("faults") or {}).get("latency") or {}
    median_s = float(latency.get("median_ms", latency.get("ms", 0))) / 1000.0
    if median_s <= 0 or registered <= 0:
        return {}
    per_login = f"({registered:.0%} registered x {median_s * 1000:.0f} ms)"
    if variant == "sync":
        threads = int(settings.get("sync_threads", 40))
        model = (threads / (registered * median_s), f"SYNC_THREADS {threads} ÷ {per_login}")
        return {"client": model, "work": model}
    if has_workers(variant):
        workers, jobs = int(meta.get("workers") or 1), int(settings.get("worker_max_jobs", 40))
        slots = f"{workers} worker x WORKER_MAX_JOBS {jobs}"
        return {"work": (workers * jobs / (registered * median_s), f"{slots} ÷ {per_login}")}
    return {}


def cpu_text(cpu: dict[str, float]) -> str:
    return ", ".join(f"{kind} {percent:.0f}%" for kind, percent in sorted(cpu.items()))


def against_model(k: Knee, model_rps: float, note: str = "", cpu: str = "") -> str:
    """Whether a knee matches its model, and if not, why, in words."""
    if k.bound == "upper":
        return (
            f"fails at the lowest rate tried{note}; the model's {model_rps:,.0f}/s is where"
            " its slots saturate"
        )
    assert k.low is not None
    if k.bound == "lower":
        if k.low < model_rps:
            return (
                f"not reached: the harness could not follow past {k.low:,.0f}/s, below the"
                f" model's {model_rps:,.0f}/s"
            )
        return f"at least the model's {model_rps:,.0f}/s, as far as the harness could follow"
    high = k.high if k.high is not None else math.inf
    if k.low <= model_rps * (1 + MATCH) and high >= model_rps * (1 - MATCH):
        return f"matches the model's {model_rps:,.0f}/s"
    if high < model_rps * (1 - MATCH):
        where = f" (at {high:,.0f}/s, median CPU of a core: {cpu})" if cpu else ""
        return (
            f"below the model's {model_rps:,.0f}/s: the slots were not what ran out, but the"
            f" CPU the target, workers, provider and generator share{where}, or the time a job"
            " spends beyond the provider call (pickup, lookup, bookkeeping)"
        )
    return f"above the model's {model_rps:,.0f}/s: the slots were not the limit it assumes"


def variant_rows(meta: dict[str, Any], found: VariantCapacity, slos: Slos) -> dict[str, Any]:
    lowest = min(found.steps, key=lambda s: s.rate, default=None)
    block: dict[str, Any] = {
        "client_rps": found.client.rps,
        "work_rps": found.work.rps,
        "harness_limit_rps": found.harness_limit,
        "noop_limit_rps": found.noop_limit,
    }
    for name, k in (("client", found.client), ("work", found.work)):
        block[name] = {**asdict(k), "text": k.text()}
    for name, (rate, formula) in models(meta, found.variant, found.registered).items():
        k = found.client if name == "client" else found.work
        note = ""
        if name == "client" and lowest is not None and (lowest.p99_ms or 0) > slos.p99_ms:
            note = (
                f": p99 {lowest.p99_ms:,.0f} ms at {lowest.rate:g}/s, above the"
                f" {slos.p99_ms:g} ms SLO, as every answer waits for the provider"
            )
        failed = next((s for s in found.counted if s.rate == k.high), None)
        cpu = cpu_text(found.cpu.get(failed.repeat, {})) if failed else ""
        block[name]["model"] = {
            "rps": round(rate, 1),
            "formula": formula,
            "verdict": against_model(k, rate, note, cpu),
        }
    block["steps"] = [
        {
            # clean: a step with work never done has an infinite p99, which JSON cannot hold.
            **{
                k: clean(v) if isinstance(v, float) else v
                for k, v in asdict(s).items()
                if k != "slope"
            },
            "work_never_done": s.completion_p99_s == math.inf,
            "slope_per_s": None if s.slope is None else round(s.slope.per_s, 3),
            "slope_low": None if s.slope is None else round(s.slope.low, 3),
            "cpu_percent": found.cpu.get(s.repeat, {}),
            "client_ok": client_ok(s, slos),
            "work_ok": work_ok(s, slos),
        }
        for s in sorted(found.steps, key=lambda s: s.rate)
    ]
    return block


def capacity_summary(run: Run) -> dict[str, Any]:
    """summary.json of a capacity run: each variant's knees as a result the gate reads
    (`<variant>.<scenario>.login.capacity.client_rps`), and the steps behind them."""
    slos, found = capacity_of(run)
    meta = run.meta
    scenario = str((meta.get("capacity") or {}).get("scenario", "steady"))
    blocks = {f.variant: variant_rows(meta, f, slos) for f in found}
    return {
        "schema_version": SCHEMA_VERSION,
        "run": {k: meta.get(k) for k in ("label", "started_at", "finished_at", "git_sha", "cpu")},
        "complete": bool(meta.get("complete", False)),
        "incomplete_reason": meta.get("incomplete_reason"),
        "flags": meta.get("flags") or [],
        "scenarios": [scenario],
        "locust_processes": meta.get("locust_processes", 1),
        "slo": {"p99_ms": slos.p99_ms, "error_rate": ERROR_LIMIT, "work_s": slos.work_s},
        "results": [
            {"scenario": scenario, "variant": v, "endpoint": "login", "capacity": b}
            for v, b in blocks.items()
        ],
        "capacity": blocks,
    }


def render_markdown(summary: dict[str, Any], chart: str | None) -> str:
    slo = summary["slo"]
    lines = [
        f"# Capacity ({', '.join(summary['scenarios'])}'s provider)",
        "",
        f"Client capacity: the highest rate with client p99 ≤ {slo['p99_ms']:g} ms and errors"
        f" < {slo['error_rate']:.0%}. Work capacity: the highest rate at which the queue (or"
        f" the work outstanding) does not grow and request → email p99 ≤ {slo['work_s']:g} s.",
        "",
        "| variant | client capacity | work capacity | harness limit (/noop) | steps |",
        "|---|---:|---:|---:|---:|",
    ]
    for variant, b in summary["capacity"].items():
        lines.append(
            f"| {variant} | {b['client']['text']} | {b['work']['text']} |"
            f" {b['harness_limit_rps']:,.0f}/s ({b['noop_limit_rps']:,.0f}/s) | {len(b['steps'])} |"
        )
    bounded = [
        v
        for v, b in summary["capacity"].items()
        if "lower" in (b["client"]["bound"], b["work"]["bound"])
    ]
    if bounded:
        processes = summary.get("locust_processes", 1)
        lines += [
            "",
            f"≥ N (harness limit): for {', '.join(bounded)} the load generator ({processes}"
            " Locust process) could not follow further (or `--max-rps` stopped the ramp), so"
            " no higher figure is claimed; more generator processes: `--locust-processes N`"
            ' (`make capacity CAPACITY_ARGS="--locust-processes 2"`), or a machine of its own.',
        ]
    lines += ["", "Against the simple models:", ""]
    for variant, b in summary["capacity"].items():
        for name in ("client", "work"):
            model = b[name].get("model")
            if model:
                lines.append(f"- {variant}, {name} ({model['formula']}): {model['verdict']}.")
    if chart:
        lines += ["", f"![capacity]({chart})"]
    return "\n".join(lines) + "\n"


def _p99(s: Step) -> float:
    return s.p99_ms or math.nan


def _slope(s: Step) -> float:
    return s.slope.per_s if s.slope else math.nan


def plot_capacity(found: list[VariantCapacity], slos: Slos) -> Figure:
    """Per variant: client p99 and the backlog's slope against the rate, both knees marked."""
    fig = Figure(figsize=(11, 3.4 * len(found)), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(found), 2, squeeze=False)
    for row, f in zip(axes, found, strict=True):
        colour = color(f.variant)
        counted = set(map(id, f.counted))
        left_out = [s for s in f.steps if id(s) not in counted]
        for ax, value in ((row[0], _p99), (row[1], _slope)):
            ax.plot([s.rate for s in f.counted], [value(s) for s in f.counted], "o-", color=colour)
            if left_out:
                label = "left out (generator behind, or rerun longer)"
                xs, ys = [s.rate for s in left_out], [value(s) for s in left_out]
                ax.plot(xs, ys, "x", color="grey", label=label)
        row[0].axhline(slos.p99_ms, color="grey", ls=":", label=f"SLO {slos.p99_ms:g} ms")
        row[0].set_yscale("log")
        row[0].set_ylabel("client p99 (ms)")
        row[1].axhline(0, color="grey", ls=":")
        row[1].set_ylabel("backlog slope (jobs/s)")
        for ax, k, name in ((row[0], f.client, "client"), (row[1], f.work, "work")):
            ax.set_title(f"{f.variant}: {name} capacity {k.text()}", fontsize=10)
            ax.set_xlabel("arrival rate (logins/s)")
            if k.low is not None and k.high is not None:
                ax.axvspan(k.low, k.high, color=colour, alpha=0.15, label="knee's bracket")
            if f.harness_limit:
                ax.axvline(f.harness_limit, color="black", ls="--", label="harness limit")
            ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def write_report(run_dir: Path) -> str:
    """summary.json, capacity.md and charts/capacity.png; returns the markdown."""
    run = load_run(run_dir)
    summary = capacity_summary(run)
    write_summary(summary, run_dir / "summary.json")
    charts = run_dir / "charts"
    charts.mkdir(exist_ok=True)
    slos, found = capacity_of(run)
    chart = None
    if any(f.steps for f in found):
        fig = plot_capacity(found, slos)
        fig.savefig(charts / "capacity.png", dpi=110)
        chart = "charts/capacity.png"
    text = render_markdown(summary, chart)
    (run_dir / "capacity.md").write_text(text)
    return text
