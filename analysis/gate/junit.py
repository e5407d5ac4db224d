"""JUnit XML for the gate's checks, so CI shows each one as a test."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from analysis.gate.thresholds import Check


def junit_xml(checks: list[Check], suite: str = "delegate-bench gate") -> str:
    failures = sum(c.status == "fail" for c in checks)
    skipped = sum(c.status == "skip" for c in checks)
    root = ET.Element(
        "testsuite",
        name=suite,
        tests=str(len(checks)),
        failures=str(failures),
        skipped=str(skipped),
        errors="0",
    )
    for check in checks:
        case = ET.SubElement(root, "testcase", classname=suite, name=check.name)
        value = "n/a" if check.value is None else f"{check.value:g}"
        message = f"measured {value}" + (f"; {check.detail}" if check.detail else "")
        if check.status == "fail":
            ET.SubElement(case, "failure", message=message).text = check.threshold
        elif check.status == "skip":
            ET.SubElement(case, "skipped", message=check.detail)
        else:
            ET.SubElement(case, "system-out").text = message
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(checks: list[Check], path: Path) -> None:
    path.write_text(junit_xml(checks))
