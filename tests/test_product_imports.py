"""The product never imports the tests: tests import the product, never the reverse."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = (
    *("core", "targets", "jobs", "provider", "loadtests", "analysis", "runner", "fuzzing"),
    *("benchmarks", "demo", "scaleout"),
)


def imported_modules(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def test_no_product_module_imports_tests() -> None:
    packages = [ROOT / p for p in PRODUCT if (ROOT / p).is_dir()]
    assert len(packages) >= 10, packages
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for package in packages
        for path in sorted(package.rglob("*.py"))
        for name in imported_modules(path)
        if name == "tests" or name.startswith("tests.")
    ]
    assert offenders == []


def test_the_check_sees_an_import_of_tests(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import json\nfrom tests.factories import x\nimport tests.support as s\n")
    assert imported_modules(module) == ["json", "tests.factories", "tests.support"]
