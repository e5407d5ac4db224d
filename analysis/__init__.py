"""Turn a results folder into metrics, charts, reports and a regression gate."""
