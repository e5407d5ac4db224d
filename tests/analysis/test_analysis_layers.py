"""analysis/ is layered: metrics, then report and gate beside each other, then the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_product_imports import imported_modules

ANALYSIS = Path(__file__).resolve().parents[2] / "analysis"
# Each layer, and the layers it must not import.
FORBIDDEN = {
    "metrics": ("analysis.report", "analysis.gate", "analysis.cli"),
    "report": ("analysis.gate", "analysis.cli"),
    "gate": ("analysis.report", "analysis.cli"),
}


@pytest.mark.parametrize("layer", list(FORBIDDEN))
def test_a_layer_imports_only_the_layers_below(layer: str) -> None:
    upward = [
        f"{path.name} imports {name}"
        for path in sorted((ANALYSIS / layer).glob("*.py"))
        for name in imported_modules(path)
        if name.startswith(FORBIDDEN[layer])
    ]
    assert upward == []
