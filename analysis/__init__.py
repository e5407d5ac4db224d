"""Turn a results folder into metrics, charts, reports and a regression gate.

Layers, each importing only those above it: `metrics/` (raw files in, frames and summary.json
out), then `report/` (charts, report.md, report.html) and `gate/` (thresholds, baseline, JUnit),
then `cli.py`, the only module that prints.
"""
