"""The report of a run: charts, the document built from summary.json, markdown and HTML."""
