"""report.md: short enough for a CI job summary, charts as relative links."""

from __future__ import annotations

from analysis.report.document import Document
from analysis.report.tables import Table

BAD = "⚠️"  # marks a bad figure in a table (the HTML report colours it instead)


def render_markdown(doc: Document) -> str:
    lines = [f"# {doc.title}", ""]
    lines += [f"> **Warning:** {w}" for w in doc.warnings]
    if doc.warnings:
        lines.append("")
    if doc.overview:
        lines += ["## At a glance", "", _table(doc.overview), ""]
        lines += [
            f"{BAD} marks a bad figure: a client p99 of a second or more, errors of 1% or"
            " more, any work lost.",
            "",
        ]
    lines += [doc.floor, ""]
    toc = [f"[{s.scenario}](#{s.anchor})" for s in doc.sections]
    lines += ["Scenarios: " + " · ".join(toc), ""]
    lines += ["## Verdict", ""]
    for s in doc.sections:
        lines += [f"- **{s.scenario}** ({s.endpoint}):", *(f"  - {line}" for line in s.verdict)]
    lines += [f"- **enumeration**: {doc.enumeration_verdict}", ""]
    for section in doc.sections:
        lines += [f'<a id="{section.anchor}"></a>', ""]
        lines += [f"## {section.scenario} ({section.endpoint})", "", _table(section.table), ""]
        if section.others:
            lines += ["Other endpoints:", "", _table(section.others), ""]
        lines += [f"![{c.title}]({c.file})" for c in section.charts]
        lines.append("")
    if doc.tickets:
        lines += ["## The ticket job's lesson", ""]
        lines += [f"- {t}" for t in doc.tickets]
        lines.append("")
        lines += [f"![{c.title}]({c.file})" for c in doc.ticket_charts]
        lines.append("")
    if doc.reliability:
        lines += ["## Reliability", "", _table(doc.reliability), ""]
        lines += [f"- {n}" for n in doc.reliability_notes]
        lines.append("")
    lines += ["## Account enumeration", "", _table(doc.enumeration), ""]
    lines += [f"![{c.title}]({c.file})" for c in doc.charts]
    return "\n".join(lines).rstrip() + "\n"


def _table(table: Table) -> str:
    def line(i: int, cells: list[str]) -> str:
        marked = [f"{BAD} {c}" if (i, j) in table.bad else c for j, c in enumerate(cells)]
        return "| " + " | ".join(c.replace("|", "\\|") for c in marked) + " |"

    align = ["---"] + ["---:"] * (len(table.header) - 1)
    rows = [line(i, cells) for i, cells in enumerate(table.rows)]
    return "\n".join([line(-1, table.header), "|" + "|".join(align) + "|", *rows])
