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
OUT = PROJECT_ROOT / "docs" / "charts"


class DocsError(Exception):
    """A run that cannot provide the charts; the message is one line for the user."""


def copy_charts(run: Path, out: Path) -> str:
    """Replace out/ with the run's chosen charts and a README.md saying where they came from."""
    run = run.resolve()  # results/latest is a symlink: record the folder it points at
    try:
        meta = json.loads((run / "meta.json").read_text())
    except (OSError, ValueError):
        raise DocsError(f"{run} has no readable meta.json: is it a results folder?") from None
    missing = [name for name in CHARTS if not (run / "charts" / name).is_file()]
    if missing:
        raise DocsError(
            f"{run.name} lacks charts/{', charts/'.join(missing)}: run a bench with the outage"
            f" and spike scenarios, then `make report RUN={run}`"
        )
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):
        old.unlink()
    for name in CHARTS:
        shutil.copyfile(run / "charts" / name, out / name)
    kind = "a quick run (`--quick`: ~5 s per scenario)" if meta.get("quick") else "a full run"
    lines = [
        "# Charts of a real run",
        "",
        "Copied by `make docs-charts RUN=results/<run>` from one results folder; not edited.",
        "",
        f"- run folder: `{run.name}`, {kind}",
        f"- git SHA: `{meta.get('git_sha') or 'not recorded'}`",
        f"- command: `{meta.get('command') or 'not recorded'}`",
        f"- machine: {meta.get('cpu', {}).get('model', '?')},"
        f" {meta.get('cpu', {}).get('logical', '?')} logical CPUs",
        "",
        *[f"- `{name}`: {what}" for name, what in CHARTS.items()],
        "",
    ]
    (out / "README.md").write_text("\n".join(lines))
    return f"copied {len(CHARTS)} charts of {run.name} into {out}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m demo.docs_charts", description=__doc__)
    p.add_argument("run", type=Path, help="a results folder, e.g. results/latest")
    p.add_argument("--out", type=Path, default=OUT, help="where the charts go (docs/charts)")
    args = p.parse_args(argv)
    try:
        print(copy_charts(args.run, args.out))
    except DocsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
