"""Bugs the fuzzer found and that are not fixed yet: they do not fail the fuzz run.

An entry names the route, the status and a predicate on the request, and comes with a test in
tests/fuzz/test_findings.py marked xfail(strict=True); both go when the bug is fixed. Every bug
found so far is fixed: their inputs are regression tests in test_findings.py.
"""

from __future__ import annotations

from fuzzing.harness import KnownBug

KNOWN_BUGS: tuple[KnownBug, ...] = ()
