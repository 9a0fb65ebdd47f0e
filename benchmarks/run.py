"""Run the benchmarks: ``python -m benchmarks.run [--quick] [--rows PATTERN,...] [--profile]``.

Every row is measured for durable_async ("ours") and for the reference SDK, each in fresh
subprocesses, and printed as Markdown. A full, unfiltered run also writes
``benchmarks/results/latest.md``.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from benchmarks._measure import CAPPED_EXIT_STATUS
from benchmarks._report import Capped, Outcome, render
from benchmarks._spec import (
    QUICK_MAP_SIZES,
    ROWS,
    Case,
    Measurement,
    Plan,
    Result,
    Row,
    Sdk,
    map_row,
)

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent
LATEST = ROOT / "benchmarks" / "results" / "latest.md"

# Steps per execution, measured executions per process, processes per row and side.
FULL = (100, 5, 3)
QUICK = (20, 3, 1)
# The map rows of a full run, by N: fewer executions, to keep `make bench` near 5 minutes.
# The reference's 10,000-item map takes 90 to 100 s per execution: one execution in one
# process, no full-size warm-up, capped, not traced (tracemalloc would multiply its time).
MAP_CAP_SECONDS = 120
MAP_PLANS: dict[int, dict[Sdk, Plan]] = {
    1_000: {Sdk.OURS: Plan(5, 3), Sdk.REFERENCE: Plan(3, 3)},
    10_000: {
        Sdk.OURS: Plan(2, 3, traced=1),
        Sdk.REFERENCE: Plan(1, 1, warm_up=False, traced=0, cap_seconds=MAP_CAP_SECONDS),
    },
}
# Items profiled per row: 20 executions of 100 steps, 1 of 10,000 items.
PROFILE_ITEMS = 2_000
# A safety net around each measuring process; the cap above is the intended limit.
CASE_TIMEOUT_SECONDS = 1_200


class CaseFailed(Exception):
    """A measuring process failed; the message says how."""


class CaseCapped(Exception):
    """A measuring process stopped: an execution outran the case's cap."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"an execution did not finish within {seconds:g} s")
        self.seconds = seconds


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    candidates = _candidates(args.quick)
    rows = _select(candidates, args.rows)
    if not rows:
        known = ", ".join(row.id for row in candidates)
        print(f"No row matches {args.rows!r}; the rows are: {known}.", file=sys.stderr)
        return 2
    steps = args.steps or (QUICK if args.quick else FULL)[0]
    if args.profile:
        from benchmarks._profile import profile_row

        for row in rows:
            size = row.size or steps
            print(profile_row(row, size, max(1, PROFILE_ITEMS // size)))
        return 0
    started = time.perf_counter()
    jobs = [_Job(sdk, row, row.size or steps, _plan(row, sdk, args)) for row in rows for sdk in Sdk]
    outcomes = _measure_all(jobs)
    elapsed = time.perf_counter() - started
    report = render(
        {row: {sdk: outcomes[row, sdk] for sdk in Sdk} for row in rows},
        steps=steps,
        environment=_environment(elapsed),
    )
    print(report)
    print(f"({elapsed:.0f} s)", file=sys.stderr)
    output = args.output or (LATEST if _is_full(args) else None)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(f"# Benchmark results\n\n{report}")
        print(f"Wrote {output}.", file=sys.stderr)
    return 1 if any(isinstance(o, str) for o in outcomes.values()) else 0


@dataclass(frozen=True, slots=True)
class _Job:
    """A row and side to measure, and how."""

    sdk: Sdk
    row: Row
    steps: int
    plan: Plan

    def case(self, round_number: int) -> Case:
        plan = self.plan
        return Case(
            self.sdk,
            self.row,
            self.steps,
            plan.repetitions,
            warm_up=plan.warm_up,
            trace=round_number <= plan.traced_processes,
            cap_seconds=plan.cap_seconds,
        )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="Benchmark durable_async against the reference SDK.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK[0]} steps, {QUICK[1]} executions in {QUICK[2]} process per row and side; "
        f"map rows at N = {', '.join(map(str, QUICK_MAP_SIZES))}",
    )
    parser.add_argument(
        "--rows",
        default="*",
        help="comma-separated glob patterns over row ids, e.g. 'sequential-*,*-sqlite-*'; "
        f"rows: {', '.join(row.id for row in ROWS)}",
    )
    parser.add_argument(
        "--steps", type=int, help="steps per execution (N) of the rows whose id has no -n<N>"
    )
    parser.add_argument(
        "--repetitions",
        type=int,
        help="measured executions per process. Either this or --processes replaces every row's "
        "plan by the standard one (warm-up, these counts, a traced execution in every process); "
        "a cap stays",
    )
    parser.add_argument("--processes", type=int, help="measuring processes per row and side")
    parser.add_argument("--output", type=Path, help="write the report here as well")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="instead of measuring, profile our side of each row with cProfile",
    )
    return parser


def _candidates(quick: bool) -> tuple[Row, ...]:
    if not quick:
        return ROWS
    fixed = tuple(row for row in ROWS if row.size is None)
    return (*fixed, *(map_row(size) for size in QUICK_MAP_SIZES))


def _select(candidates: Sequence[Row], patterns: str) -> list[Row]:
    wanted = [p.strip() for p in patterns.split(",") if p.strip()]
    return [row for row in candidates if any(fnmatch.fnmatchcase(row.id, p) for p in wanted)]


def _plan(row: Row, sdk: Sdk, args: argparse.Namespace) -> Plan:
    """The row's own plan, or the standard one with the command line's counts."""
    _, repetitions, processes = QUICK if args.quick else FULL
    planned = MAP_PLANS.get(row.size or 0, {}).get(sdk) if not args.quick else None
    if planned is not None and not (args.repetitions or args.processes):
        return planned
    if planned is not None:
        repetitions, processes = planned.repetitions, planned.processes
    return Plan(
        args.repetitions or repetitions,
        args.processes or processes,
        cap_seconds=planned.cap_seconds if planned is not None else None,
    )


def _is_full(args: argparse.Namespace) -> bool:
    overrides = (args.steps, args.repetitions, args.processes)
    return not args.quick and args.rows == "*" and not any(overrides)


def _measure_all(jobs: list[_Job]) -> dict[tuple[Row, Sdk], Outcome]:
    """Measure every job in rounds of one process each, so slow drifts of the machine spread."""
    measurements: dict[_Job, list[Measurement]] = {job: [] for job in jobs}
    stopped: dict[_Job, Capped | str] = {}
    rounds = max(job.plan.processes for job in jobs)
    # The cases' SQLite files live here; a runner's threads may still write while a case exits.
    with tempfile.TemporaryDirectory(prefix="durable-bench-") as scratch:
        for round_number in range(1, rounds + 1):
            for job in jobs:
                if job in stopped or round_number > job.plan.processes:
                    continue
                label = f"[{round_number}/{job.plan.processes}] {job.row.id} / {job.sdk}"
                print(f"measuring {label} ...", file=sys.stderr, flush=True)
                try:
                    measurements[job].append(_run_case(job.case(round_number), scratch))
                except CaseCapped as exc:
                    stopped[job] = Capped(exc.seconds)
                except CaseFailed as exc:
                    stopped[job] = str(exc)
    return {(job.row, job.sdk): stopped.get(job) or Result.of(measurements[job]) for job in jobs}


def _run_case(case: Case, scratch: str) -> Measurement:
    """Measure ``case`` in a fresh interpreter."""
    command = [sys.executable, "-m", "benchmarks._measure", case.to_json()]
    try:
        done = subprocess.run(
            command,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=CASE_TIMEOUT_SECONDS,
            env={**os.environ, "PYTHONHASHSEED": "0", "TMPDIR": scratch},
        )
    except subprocess.TimeoutExpired as exc:
        raise CaseFailed(f"did not finish within {CASE_TIMEOUT_SECONDS} s") from exc
    if done.returncode == CAPPED_EXIT_STATUS and case.cap_seconds is not None:
        raise CaseCapped(case.cap_seconds)
    if done.returncode != 0:
        print(done.stderr, file=sys.stderr)
        last = done.stderr.strip().splitlines()[-1:] or ["no output"]
        raise CaseFailed(f"exited with {done.returncode}: {last[0]}")
    return Measurement.from_json(done.stdout.strip().splitlines()[-1])


def _environment(elapsed: float) -> list[str]:
    versions = ", ".join(
        f"{name} {version(name)}"
        for name in (
            "durable-async",
            "aws-durable-execution-sdk-python",
            "aws-durable-execution-sdk-python-testing",
        )
    )
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return [
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; Python {platform.python_version()} on "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, load average "
        f"{load} at the end (other work on the machine inflates the figures); the run took "
        f"{elapsed:.0f} s",
        f"{versions}; {_source()}",
    ]


def _source() -> str:
    """Say which commit of durable_async was measured, and whether it had local changes."""
    try:
        commit = _git("rev-parse", "--short", "HEAD")
        changed = _git("status", "--porcelain", "--", "durable_async")
    except (OSError, subprocess.CalledProcessError):
        return "durable_async source: not a git checkout"
    local = " plus uncommitted changes" if changed else ""
    return f"durable_async at commit {commit}{local}"


def _git(*args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=30
    )
    return done.stdout.strip()


if __name__ == "__main__":
    sys.exit(main())
