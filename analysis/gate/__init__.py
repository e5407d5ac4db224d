"""The regression gate: thresholds, comparison with a baseline run, JUnit XML."""
