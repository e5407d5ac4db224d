"""report.md: short enough for a CI job summary, charts as relative links."""

from __future__ import annotations

from analysis.report.document import Document, Table


def render_markdown(doc: Document) -> str:
    lines = [f"# {doc.title}", ""]
    lines += [f"> **Warning:** {w}" for w in doc.warnings]
    if doc.warnings:
        lines.append("")
    lines += ["## Verdict", ""]
    lines += [f"- **{s.scenario}** ({s.endpoint}): {s.verdict}" for s in doc.sections]
    lines += [f"- **enumeration**: {doc.enumeration_verdict}", ""]
    for section in doc.sections:
        lines += [f"## {section.scenario} ({section.endpoint})", "", _table(section.table), ""]
        if section.others:
            lines += ["Other endpoints:", "", _table(section.others), ""]
        lines += [f"![{c.title}]({c.file})" for c in section.charts]
        lines.append("")
    if doc.reliability:
        lines += ["## Reliability", "", _table(doc.reliability), ""]
        lines += [f"- {n}" for n in doc.reliability_notes]
        lines.append("")
    lines += ["## Account enumeration", "", _table(doc.enumeration), ""]
    lines += [f"![{c.title}]({c.file})" for c in doc.charts]
    return "\n".join(lines).rstrip() + "\n"


def _table(table: Table) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    align = ["---"] + ["---:"] * (len(table.header) - 1)
    return "\n".join([line(table.header), "|" + "|".join(align) + "|", *map(line, table.rows)])
