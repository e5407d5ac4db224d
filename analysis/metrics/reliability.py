"""The reliability table: per scenario x variant, the faults injected and the work's fate."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from analysis.metrics.compute import scenario_order
from analysis.metrics.load import Run, RunError
from analysis.metrics.work import work_table
from core.scenarios import SERVER_NAMES

Row = dict[str, Any]
KEYS = ["scenario", "variant"]
COUNTS = (
    "expected",
    "delivered",
    "pending",
    "lost",
    "dead_lettered",
    "duplicates",
    "duplicate_attempts",
)
HEALTHY_MEDIAN_MS = 150
FUZZ_FILES = ("fuzz.json", "fuzz.txt")
# One line of `python -m fuzzing`'s table (fuzzing/harness.py, Tally.line).
_FUZZ_LINE = re.compile(
    r"^(?P<route>\S.*?)\s+(?P<cases>\d+) cases\s+(?P<errors>\d+) 5xx\s+(?P<known>\d+) known"
    r"\s+(?P<new>\d+) new problems$"
)


def reliability_rows(run: Run, ledger: pd.DataFrame) -> list[Row]:
    """One row per scenario x variant, in the scenarios' order, sync first."""
    requests = run.requests
    if requests.empty:
        return []
    seen = requests.groupby(KEYS, observed=True).agg(
        requests=("status", "size"), server_errors=("status", lambda s: int((s >= 500).sum()))
    )
    runs = run.runs.assign(load_s=(run.runs["load_end"] - run.runs["t0"]).clip(lower=0))
    load_s = runs.groupby(KEYS)["load_s"].sum()
    work = {
        (str(w["scenario"]), str(w["variant"])): {k: int(w[k]) for k in COUNTS}
        for w in (work_table(ledger, KEYS).to_dict("records") if len(ledger) else [])
    }
    scenarios = {
        str(s.get("name")): s for s in run.meta.get("scenarios") or [] if isinstance(s, dict)
    }
    rows = []
    for key, counts in seen.iterrows():
        scenario, variant = (str(k) for k in cast(tuple[Any, ...], key))
        seconds = float(load_s.get((scenario, variant), math.nan))
        events = _events(run.meta, scenario, variant)
        row: Row = {
            "scenario": scenario,
            "variant": variant,
            "requests": int(counts["requests"]),
            "rate_rps": _round(counts["requests"] / seconds if seconds > 0 else math.nan, 1),
            "faults": faults_in_words(scenarios.get(scenario, {}), events),
            "server_errors": int(counts["server_errors"]),
            "work": None,
            "dead_letter_reasons": dead_letter_reasons(run.dead_letters, scenario, variant),
            "crash": None,
            "redis_appendonly": _appendonly(events),
        }
        row["work"] = work.get((scenario, variant))
        if any(e.get("kind") in ("worker_kill", "worker_died") for e in events):
            row["crash"] = crash_delay(run.jobs, ledger, scenario, variant)
        rows.append(row)
    return sorted(rows, key=lambda r: (scenario_order(r["scenario"]), r["variant"] != "sync"))


def _events(meta: dict[str, Any], scenario: str, variant: str) -> list[dict[str, Any]]:
    out = []
    for r in meta.get("runs") or []:
        if isinstance(r, dict) and r.get("scenario") == scenario and r.get("variant") == variant:
            out += [e for e in r.get("events") or [] if isinstance(e, dict)]
    return out


def _appendonly(events: list[dict[str, Any]]) -> bool | None:
    restarts = [e for e in events if e.get("kind") == "redis_restart"]
    return bool(restarts[-1].get("appendonly")) if restarts else None


# The runner's events of a target restart (runner/faults.py), in words.
TARGET_RESTARTS = {"target_term": "SIGTERMed (a deploy)", "target_kill": "SIGKILLed (a crash)"}


def faults_in_words(scenario: dict[str, Any], events: list[dict[str, Any]]) -> str:
    """The provider's base faults, its fault windows, and what the runner did, in words."""
    parts = []
    raw = scenario.get("faults")
    faults: dict[str, Any] = raw if isinstance(raw, dict) else {}
    latency = faults.get("latency") or {}
    median = latency.get("median_ms")
    if median and median != HEALTHY_MEDIAN_MS:
        parts.append(f"provider median {median:g} ms")
    if faults.get("lost_response_probability"):
        parts.append(f"{faults['lost_response_probability']:.0%} of responses lost after accepting")
    if faults.get("rate_limit"):
        parts.append(f"provider rate limit {faults['rate_limit'].get('per_s')}/s")
    for error in faults.get("errors") or []:
        parts.append(f"{error.get('probability', 0):.0%} {error.get('status')}s")
    for event in scenario.get("timeline") or []:
        if event.get("target", "provider") == "provider":
            a, d = float(event.get("at_s", 0)), float(event.get("duration_s", 0))
            parts.append(f"{event.get('label') or 'provider fault'} {a:.3g}-{a + d:.3g} s")
    env = scenario.get("work_env") or {}
    if env.get("TICKET_HANG_PROBABILITY"):
        parts.append(f"{float(env['TICKET_HANG_PROBABILITY']):.0%} of ticket subprocesses hang")
    options = (scenario.get("load") or {}).get("options") or {}
    if options.get("second_event_share"):
        parts.append(f"{float(options['second_event_share']):.0%} of orders paid by two events")
    if options.get("redelivery_share"):
        parts.append(f"{float(options['redelivery_share']):.0%} redeliveries")
    kinds = Counter(str(e.get("kind")) for e in events)
    if kinds["worker_kill"]:
        at = ", ".join(f"{e['at_s']:.3g}" for e in events if e.get("kind") == "worker_kill")
        parts.append(f"{kinds['worker_kill']} worker SIGKILLs (at {at} s)")
    for server, name in SERVER_NAMES.items():
        kills = [e for e in events if e.get("kind") == f"{server}_kill"]
        backs = [e for e in events if e.get("kind") == f"{server}_restart"]
        for kill, back in zip(kills, backs, strict=False):
            kept = back.get("appendonly")
            aof = "" if kept is None else f" {'with' if kept else 'WITHOUT'} its append-only file"
            parts.append(
                f"{name} SIGKILLed at {kill['at_s']:.3g} s, back"
                f" {back['at_s'] - kill['at_s']:.2g} s later{aof}"
            )
        pauses = [e for e in events if e.get("kind") == f"{server}_pause"]
        resumes = [e for e in events if e.get("kind") == f"{server}_resume"]
        for pause, resume in zip(pauses, resumes, strict=False):
            parts.append(
                f"{name} paused (SIGSTOP) at {pause['at_s']:.3g} s, resumed"
                f" {resume['at_s'] - pause['at_s']:.2g} s later"
            )
    for event in events:
        if event.get("kind") in TARGET_RESTARTS:
            back_s = float(event.get("port_free_s", 0)) + float(event.get("healthy_s", 0))
            parts.append(
                f"target {TARGET_RESTARTS[str(event['kind'])]} at {event['at_s']:.3g} s,"
                f" replaced {back_s:.2g} s later"
            )
    if kinds["target_grace_kill"]:
        parts.append(
            f"{kinds['target_grace_kill']} deployed target(s) still busy after the grace"
            " period, SIGKILLed"
        )
    if kinds["worker_died"]:
        n = kinds["worker_died"]
        parts.append(f"{n} worker{'s' if n > 1 else ''} exited with the connection, restarted")
    return "; ".join(parts) or "none"


def dead_letter_reasons(dead: pd.DataFrame, scenario: str, variant: str) -> dict[str, int]:
    mine = dead[(dead["scenario"] == scenario) & (dead["variant"] == variant)]
    counts = mine["reason"].fillna("no reason recorded").astype(str).value_counts()
    return {str(k): int(v) for k, v in counts.items()}


def crash_delay(
    jobs: pd.DataFrame, ledger: pd.DataFrame, scenario: str, variant: str
) -> dict[str, Any]:
    """Work whose job lost a try to a crash, and how much later than the median it completed.

    A try that dies with its worker records nothing (the job's `finally` never runs), so a job
    with a recorded try k and no record of an earlier try lost that one to the crash.
    """
    mine = jobs[(jobs["scenario"] == scenario) & (jobs["variant"] == variant)]
    affected: set[tuple[int, str]] = set()
    for key, tries in mine.groupby(["repeat", "job_id"], observed=True)["try"]:
        repeat = int(cast(tuple[Any, ...], key)[0])
        recorded = set(tries.dropna().astype(int))
        if recorded and any(t not in recorded for t in range(1, max(recorded))):
            affected |= {(repeat, str(w)) for w in mine.loc[tries.index, "work_id"].dropna()}
    done = ledger[
        (ledger["scenario"] == scenario)
        & (ledger["variant"] == variant)
        & ledger["expected"]
        & ledger["delivered"]
    ]
    median = float(done["completion_ms"].median()) if len(done) else math.nan
    keys = list(zip(done["repeat"].astype(int), done["work_id"].astype(str), strict=True))
    hit = done[np.array([k in affected for k in keys], dtype=bool)] if keys else done
    added = (hit["completion_ms"] - median).clip(lower=0)
    # The email may have left before the kill; the job itself ends only when its re-run does.
    ended = mine.groupby(["repeat", "work_id"], observed=True)["ended_at"].max()
    finish = [
        (float(ended.get((int(r), str(w)), math.nan)) - float(t)) * 1000.0
        for r, w, t in zip(hit["repeat"], hit["work_id"], hit["start"], strict=True)
    ]
    return {
        "affected": len(affected),
        "job_done_max_ms": _round(max(finish, default=math.nan), 0),
        "completion_p50_ms": _round(median, 0),
        "added_max_ms": _round(float(added.max()) if len(added) else math.nan, 0),
        "completion_max_ms": _round(float(hit["completion_ms"].max()) if len(hit) else math.nan, 0),
    }


def _round(value: float, digits: int) -> float | None:
    return None if not math.isfinite(value) else round(float(value), digits)


# Fuzz results: `python -m fuzzing` prints a table; its JSON form (if asked for) is read too.


def find_fuzz(run_dir: Path) -> Path | None:
    return next((run_dir / n for n in FUZZ_FILES if (run_dir / n).is_file()), None)


def read_fuzz(path: Path) -> list[Row]:
    """Per route: inputs tried and 5xx seen, from the fuzzer's JSON or its printed table."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise RunError(f"cannot read fuzz results {path} ({exc.strerror or exc})") from None
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if doc is not None:
        routes = doc.get("routes") if isinstance(doc, dict) else doc
        if not isinstance(routes, list) or not all(isinstance(r, dict) for r in routes):
            raise RunError(f"{path} is JSON but has no list of routes")
        try:
            return [
                _fuzzed(r["route"], r["cases"], r["server_errors"], r.get("known", 0))
                for r in routes
            ]
        except (KeyError, TypeError, ValueError):
            raise RunError(f"{path}: each route needs route, cases and server_errors") from None
    rows = []
    for line in text.splitlines():
        found = _FUZZ_LINE.match(line.strip())
        if found:
            rows.append(
                _fuzzed(found["route"].strip(), found["cases"], found["errors"], found["known"])
            )
    if not rows:
        raise RunError(f"{path} holds no fuzz results (the table of `python -m fuzzing`)")
    return rows


def _fuzzed(route: object, cases: str | int, server_errors: str | int, known: str | int) -> Row:
    return {
        "route": str(route),
        "cases": int(cases),
        "server_errors": int(server_errors),
        "known": int(known),
    }
