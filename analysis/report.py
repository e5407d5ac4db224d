"""Rebuild summary.json, charts/, report.md and report.html of a run from its raw data."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from analysis.chartset import write_charts
from analysis.document import build_document
from analysis.html import render_html, run_metadata
from analysis.load import Run, RunError, load_run, read_meta
from analysis.markdown import render_markdown
from analysis.metrics import compute_metrics
from analysis.names import AnalysisSettings
from analysis.summary import build_summary, read_summary, write_summary


def resolve_run_dir(path: Path) -> Path:
    """Follow results/latest whether it is a symlink or a file holding the folder's name."""
    if path.is_file():
        target = Path(path.read_text().strip())
        return target if target.is_absolute() else path.parent / target
    return path


def settings_for(meta: dict[str, Any], **overrides: Any) -> AnalysisSettings:
    """Defaults, then the run's own settings (e.g. warmup_s in meta.json), then the flags."""
    recorded = meta.get("settings") if isinstance(meta.get("settings"), dict) else {}
    names = {f.name for f in dataclasses.fields(AnalysisSettings)}
    values = {k: v for k, v in (recorded or {}).items() if k in names and v is not None}
    values.update({k: v for k, v in overrides.items() if v is not None})
    return AnalysisSettings(**values)


def build_report(run_dir: Path, settings: AnalysisSettings, processes: int = 2) -> dict[str, Any]:
    run = load_run(run_dir)
    metrics = compute_metrics(run, settings)
    summary = build_summary(run, metrics, settings)
    write_summary(summary, run_dir / "summary.json")
    charts = write_charts(run, metrics, settings, run_dir / "charts", processes=processes)
    document = build_document(summary, charts)
    (run_dir / "report.md").write_text(render_markdown(document))
    html = render_html(document, run_dir, run_metadata(run.meta, summary))
    (run_dir / "report.html").write_text(html)
    return summary


def current_summary(run_dir: Path, settings: AnalysisSettings | None = None) -> dict[str, Any]:
    """summary.json if the run has one, else computed from raw data (nothing written)."""
    if (run_dir / "summary.json").exists():
        return read_summary(run_dir / "summary.json")
    if not run_dir.is_dir():
        raise RunError(f"no results folder at {run_dir}")
    run: Run = load_run(run_dir)
    settings = settings or settings_for(read_meta(run_dir))
    return build_summary(run, compute_metrics(run, settings), settings)
