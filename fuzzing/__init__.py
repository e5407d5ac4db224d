"""Fuzzing every route of both targets and the fake provider: no 5xx, every refusal JSON."""
