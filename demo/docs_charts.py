"""`make docs-charts RUN=results/<run>`: the README's charts, copied from a run with its origin."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from core.settings import PROJECT_ROOT

# What a reader should see first: both halves of the answer, on a good day and a bad one.
CHARTS = {
    "summary.png": "every scenario: client p99 and the work's fate, per variant",
    "latency-over-time-outage.png": "client latency through a provider outage (red band)",
    "completion-outage.png": "how long after the request each email arrived, same outage",
    "queue-outage.png": "the queues filling and draining around the outage",
    "latency-vs-load-spike.png": "latency as the arrival rate steps past saturation",
}
# The ticket job's lesson (issue 10), from a run of big-orders and hung-ticket under each job
# design: `--tickets` copies these beside the others, with their origin in TICKETS.md.
TICKET_CHARTS = {
    "tickets-completion-big-orders.png": "payment to tickets email against seats, per job design",
    "tickets-work.png": "ticket programs started per seat sold, per scenario and job design",
    "tickets-timeline-big-orders.png": "the queue and the worker's job starts: a stalled worker",
    "tickets-timeline-hung-ticket.png": "the same with a ticket program that hangs now and then",
}
GROUPS = {
    "main": (CHARTS, "README.md", "the outage and spike scenarios"),
    "tickets": (TICKET_CHARTS, "TICKETS.md", "the big-orders and hung-ticket scenarios"),
}
OUT = PROJECT_ROOT / "docs" / "charts"


class DocsError(Exception):
    """A run that cannot provide the charts; the message is one line for the user."""


def copy_charts(run: Path, out: Path, group: str = "main") -> str:
    """Replace out/'s charts of a group with the run's, and a file saying where they came from
    (README.md for the main group); the other groups' charts stay."""
    charts, origin, scenarios = GROUPS[group]
    run = run.resolve()  # results/latest is a symlink: record the folder it points at
    try:
        meta = json.loads((run / "meta.json").read_text())
    except (OSError, ValueError):
        raise DocsError(f"{run} has no readable meta.json: is it a results folder?") from None
    missing = [name for name in charts if not (run / "charts" / name).is_file()]
    if missing:
        raise DocsError(
            f"{run.name} lacks charts/{', charts/'.join(missing)}: run a bench with"
            f" {scenarios}, then `make report RUN={run}`"
        )
    out.mkdir(parents=True, exist_ok=True)
    others = {name for g, (c, _, _) in GROUPS.items() if g != group for name in c}
    for old in out.glob("*.png"):
        if old.name not in others:
            old.unlink()
    for name in charts:
        shutil.copyfile(run / "charts" / name, out / name)
    flag = "" if group == "main" else f" DOCS_ARGS=--{group}"
    kind = "a quick run (`--quick`: ~5 s per scenario)" if meta.get("quick") else "a full run"
    lines = [
        "# Charts of a real run",
        "",
        f"Copied by `make docs-charts RUN=results/<run>{flag}` from one results folder;"
        " not edited.",
        "",
        f"- run folder: `{run.name}`, {kind}",
        f"- git SHA: `{meta.get('git_sha') or 'not recorded'}`",
        f"- command: `{meta.get('command') or 'not recorded'}`",
        f"- machine: {meta.get('cpu', {}).get('model', '?')},"
        f" {meta.get('cpu', {}).get('logical', '?')} logical CPUs",
        "",
        *[f"- `{name}`: {what}" for name, what in charts.items()],
        "",
    ]
    (out / origin).write_text("\n".join(lines))
    return f"copied {len(charts)} charts of {run.name} into {out}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m demo.docs_charts", description=__doc__)
    p.add_argument("run", type=Path, help="a results folder, e.g. results/latest")
    p.add_argument("--out", type=Path, default=OUT, help="where the charts go (docs/charts)")
    p.add_argument(
        "--tickets", action="store_true", help="the ticket job's charts (issue 10) instead"
    )
    args = p.parse_args(argv)
    try:
        print(copy_charts(args.run, args.out, "tickets" if args.tickets else "main"))
    except DocsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
