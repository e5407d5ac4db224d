"""Every job function by its contract name: what each queue's worker registers."""

from __future__ import annotations

from core.contracts import JOB_FUNCTIONS
from jobs import tasks
from jobs.bookkeeping import JobFunction

FUNCTIONS: dict[str, JobFunction] = {name: getattr(tasks, name) for name in JOB_FUNCTIONS}
