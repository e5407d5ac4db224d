"""The short fuzz run of `make test`: a few hundred seeded cases over every route."""

from __future__ import annotations

import pytest

from fuzzing.harness import Stack
from fuzzing.plans import PLANS, run_plan

# Per plan; schema plans give each operation a share of it. Seeded, so every run is the same.
EXAMPLES = 40
SEED = 0


@pytest.mark.parametrize("plan", PLANS)
def test_no_server_errors_and_every_refusal_is_json(plan: str, stack: Stack) -> None:
    tallies = run_plan(plan, stack, EXAMPLES, SEED)
    assert sum(tally.cases for tally in tallies) > 0
    problems = [
        f"{tally.route}: {found}\n    e.g. {example}"
        for tally in tallies
        for found, example in tally.findings.items()
    ]
    assert not problems, "\n".join(problems)
