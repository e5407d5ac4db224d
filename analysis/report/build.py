"""Rebuild summary.json, charts/, report.md and report.html of a run from its raw data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from analysis.metrics.compute import compute_metrics
from analysis.metrics.load import load_run
from analysis.metrics.summary_json import build_summary, write_summary
from analysis.names import AnalysisSettings
from analysis.report.chartset import write_charts
from analysis.report.document import build_document
from analysis.report.html import render_html, run_metadata
from analysis.report.markdown import render_markdown


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
