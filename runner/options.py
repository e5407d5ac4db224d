"""`python -m runner bench`'s options, read once from the command line, and the run order."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from core.contracts import DEFAULT_VARIANTS, FAN_OUT, VARIANT_NAMES
from core.scenarios import QUICK_ALL, QUICK_QUEUES, Scenario
from core.settings import PROJECT_ROOT
from queues import has_workers
from runner.children import UsageError
from runner.stack import StackOptions

WARMUP_S = 5.0
# Runs side by side whose scenario restarts targets or workers: each start-up takes a core for
# a second or two, and seven targets replaced at once took 7 s each to answer on two cores.
SIDE_BY_SIDE_RESTARTING = 3
QUICK_WARMUP_S = 1.0  # quick runs carry only a few seconds of load


@dataclass(frozen=True)
class BenchOptions:
    stack: StackOptions
    log_dir: Path | None = None  # default: the run's logs/
    scenarios: str = ""
    repeat: int = 1
    seed: int = 1
    quick: bool = False
    duration_s: float | None = None
    locust_processes: int = 1
    # Above 0: Locust's master only, waiting for this many workers that the user starts
    # (`locust -f loadtests/<file>.py --worker --master-host ...`), on this host or others.
    expect_workers: int = 0
    expect_workers_wait_s: float = 60.0
    master_bind_host: str = "127.0.0.1"
    master_bind_port: int = 5557
    label: str = ""
    results_dir: Path = PROJECT_ROOT / "results"
    report: bool = True
    floor: bool = True
    one_at_a_time: bool = False  # a quick run without its variants side by side

    @property
    def side_by_side(self) -> bool:
        """A quick run gives a scenario's variants their loads at the same time, each its own
        Locust, unless told not to or its load generator is distributed."""
        return (
            self.quick
            and not self.one_at_a_time
            and self.expect_workers == 0
            and self.locust_processes == 1
        )

    @property
    def variants(self) -> tuple[str, ...]:
        return self.stack.variants

    @property
    def external(self) -> bool:
        return bool(self.stack.urls)

    @property
    def warmup_s(self) -> float:
        return QUICK_WARMUP_S if self.quick else WARMUP_S


def parse_variants(text: str) -> tuple[str, ...]:
    """`sync,saq` or `all` (empty: the default two), in the table's order."""
    wanted = [n.strip() for n in text.split(",") if n.strip()]
    if not wanted:
        return DEFAULT_VARIANTS
    if wanted == ["all"]:
        return VARIANT_NAMES
    unknown = [n for n in wanted if n not in VARIANT_NAMES]
    if unknown:
        raise UsageError(
            f"unknown variant {', '.join(unknown)}: choose from {', '.join(VARIANT_NAMES)}, or all"
        )
    return tuple(n for n in VARIANT_NAMES if n in wanted)


def run_order(
    scenarios: Sequence[Scenario | str],
    repeat: int,
    variants: Sequence[str] = DEFAULT_VARIANTS,
    quick: bool = False,
) -> Iterator[tuple[str, str, int]]:
    """Every scenario x variant, the variants' order flipped on each repetition, the scenarios
    with the same work env next to each other (a change of env restarts workers and targets).

    Quick runs keep the variants beyond the default two to the scenarios marked QUICK_ALL (or
    QUICK_QUEUES, for those with queue workers, or a tuple naming them); a job design's rows go
    only to the variants that follow the design (bench.design_blind).
    """
    for r in range(repeat):
        order = list(variants) if r % 2 == 0 else list(variants)[::-1]
        for scenario in by_work_env(scenarios):
            name = scenario if isinstance(scenario, str) else scenario.name
            mark = QUICK_ALL if isinstance(scenario, str) or not quick else scenario.quick
            fan_out = isinstance(scenario, str) or scenario.job_design == FAN_OUT
            for variant in order:
                if not (fan_out or has_workers(variant)):
                    continue
                if (
                    mark == QUICK_ALL
                    or (mark == QUICK_QUEUES and has_workers(variant))
                    or (isinstance(mark, tuple) and variant in mark)
                    or variant in DEFAULT_VARIANTS
                ):
                    yield name, variant, r


S = TypeVar("S", bound=Scenario | str)


def by_work_env(scenarios: Sequence[S]) -> list[S]:
    """The scenarios in table order, but each beside the first with the same work env."""
    groups: dict[tuple[tuple[str, str], ...], list[S]] = {}
    for scenario in scenarios:
        env = () if isinstance(scenario, str) else tuple(sorted(scenario.work_env.items()))
        groups.setdefault(env, []).append(scenario)
    return [scenario for group in groups.values() for scenario in group]


def together(
    order: Sequence[tuple[str, str, int]], scenarios: Sequence[Scenario], side_by_side: bool
) -> Iterator[tuple[str, tuple[str, ...], int]]:
    """The run order in groups run at the same time: when side by side, each login scenario's
    variants of one repetition; else, and for webhooks, one run each.

    A login's work id names its run (loadtests.plans.RequestIds draws it from the variant), so
    runs side by side tell their emails and jobs apart; a webhook's names its order, which every
    variant's run pays alike.
    """
    login = {s.name for s in scenarios if s.locustfile == "login"}
    restarting = {s.name for s in scenarios if s.target_faults or s.worker_faults}
    group: list[str] = []
    for i, (name, variant, repeat) in enumerate(order):
        group.append(variant)
        following = order[i + 1] if i + 1 < len(order) else None
        joins = following is not None and following[0] == name and following[2] == repeat
        full = name in restarting and len(group) == SIDE_BY_SIDE_RESTARTING
        if not (side_by_side and name in login and joins) or full:
            yield name, tuple(group), repeat
            group = []
