"""The trend across runs: each key figure per variant in commit order, with its ~95% interval
and the baseline gate's verdict against the run before it."""

from __future__ import annotations

import math
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.export import FIGURES, Entry, entries
from analysis.gate.baseline import compare
from analysis.metrics.load import RunError, read_meta
from analysis.metrics.summary_json import current_summary

# The figures the issue calls key: the client's latency and errors, and the work's fate.
KEY_FIGURES = tuple(f for f in FIGURES if not f.higher_is_better)
COLUMNS = [
    "run",
    "label",
    "variant",
    "scenario",
    "endpoint",
    "metric",
    "value",
    "low",
    "high",
    "verdict",
]


@dataclass(frozen=True)
class TrendRun:
    path: Path
    sha: str
    started_at: float
    summary: dict[str, Any]

    @property
    def label(self) -> str:
        return self.sha[:7] if self.sha else self.path.name


@dataclass(frozen=True)
class Trend:
    runs: list[TrendRun]
    order: str  # "commit" when git knows every run's commit, else "start time"
    points: pd.DataFrame  # COLUMNS, one row per run x variant x scenario x endpoint x figure


def find_runs(folder: Path) -> list[Path]:
    """The run folders directly in `folder` (those with a meta.json); `latest` is skipped, so
    the newest run is not counted twice."""
    if not folder.is_dir():
        raise RunError(f"no folder of runs at {folder}")
    found = [
        child
        for child in sorted(folder.iterdir())
        if child.is_dir() and not child.is_symlink() and (child / "meta.json").is_file()
    ]
    if not found:
        raise RunError(f"no runs in {folder}: a run is a folder with a meta.json")
    return found


def load_trend(folder: Path, *, repo: Path, min_effect: float, max_change: float) -> Trend:
    runs = []
    for path in find_runs(folder):
        meta = read_meta(path)
        started = meta.get("started_at")
        runs.append(
            TrendRun(
                path=path,
                sha=str(meta.get("git_sha") or ""),
                started_at=float(started) if isinstance(started, int | float) else math.inf,
                summary=current_summary(path),  # computed from raw/ where an older run has none
            )
        )
    runs, order = in_order(runs, commit_positions(repo))
    return Trend(runs, order, points(runs, min_effect=min_effect, max_change=max_change))


def commit_positions(repo: Path) -> dict[str, int]:
    """Every commit git knows in `repo`, parents before children; {} where git cannot tell."""
    try:
        listed = subprocess.run(
            ["git", "-C", str(repo), "rev-list", "--topo-order", "--reverse", "--all"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return {}
    return {sha: i for i, sha in enumerate(listed)}


def in_order(runs: list[TrendRun], positions: dict[str, int]) -> tuple[list[TrendRun], str]:
    """Commit order when git knows every run's commit (runs of one commit by start time);
    otherwise start time, and the trend says so."""
    if all(r.sha in positions for r in runs):
        return sorted(runs, key=lambda r: (positions[r.sha], r.started_at)), "commit"
    return sorted(runs, key=lambda r: r.started_at), "start time"


def points(runs: list[TrendRun], *, min_effect: float, max_change: float) -> pd.DataFrame:
    rows = []
    for i, run in enumerate(runs):
        verdicts: dict[str, str] = {}
        if i:
            checks = compare(
                run.summary, runs[i - 1].summary, min_effect=min_effect, max_change=max_change
            )
            # A check is named "<path> vs baseline"; its detail starts with "<verdict>:".
            verdicts = {
                c.name.removesuffix(" vs baseline"): (
                    "skipped" if c.status == "skip" else c.detail.partition(":")[0]
                )
                for c in checks
            }
        keys = {f.metric for f in KEY_FIGURES}
        rows += [_row(i, run, e, verdicts) for e in entries(run.summary) if e.figure.metric in keys]
    return pd.DataFrame(rows, columns=COLUMNS)


def _row(i: int, run: TrendRun, e: Entry, verdicts: dict[str, str]) -> dict[str, Any]:
    p = e.path
    return {
        "run": i,
        "label": run.label,
        "variant": p.variant,
        "scenario": p.scenario,
        "endpoint": p.endpoint,
        "metric": p.metric,
        "value": e.value,
        "low": e.low,
        "high": e.high,
        "verdict": verdicts.get(str(p), ""),
    }
