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
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from benchmarks._report import Outcome, render
from benchmarks._spec import ROWS, Case, Measurement, Result, Row, Sdk

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent
LATEST = ROOT / "benchmarks" / "results" / "latest.md"

# Steps per execution, measured executions per process, processes per row and side.
FULL = (100, 5, 3)
QUICK = (20, 3, 1)
PROFILE_EXECUTIONS = 20
CASE_TIMEOUT_SECONDS = 300


class CaseFailed(Exception):
    """A measuring process failed; the message says how."""


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    rows = _select(args.rows)
    if not rows:
        known = ", ".join(row.id for row in ROWS)
        print(f"No row matches {args.rows!r}; the rows are: {known}.", file=sys.stderr)
        return 2
    steps, repetitions, processes = QUICK if args.quick else FULL
    steps = args.steps or steps
    repetitions = args.repetitions or repetitions
    processes = args.processes or processes
    if args.profile:
        from benchmarks._profile import profile_row

        for row in rows:
            print(profile_row(row, steps, PROFILE_EXECUTIONS))
        return 0
    started = time.perf_counter()
    cases = [Case(sdk, row, steps, repetitions) for row in rows for sdk in Sdk]
    outcomes = _measure_all(cases, processes)
    report = render(
        {row: {sdk: outcomes[Case(sdk, row, steps, repetitions)] for sdk in Sdk} for row in rows},
        steps=steps,
        samples=repetitions * processes,
        processes=processes,
        environment=_environment(),
    )
    print(report)
    print(f"({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    output = args.output or (LATEST if _is_full(args) else None)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(f"# Benchmark results\n\n{report}")
        print(f"Wrote {output}.", file=sys.stderr)
    return 1 if any(isinstance(o, str) for o in outcomes.values()) else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="Benchmark durable_async against the reference SDK.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK[0]} steps, {QUICK[1]} executions in {QUICK[2]} process per row and side",
    )
    parser.add_argument(
        "--rows",
        default="*",
        help="comma-separated glob patterns over row ids, e.g. 'sequential-*,*-sqlite-*'; "
        f"rows: {', '.join(row.id for row in ROWS)}",
    )
    parser.add_argument("--steps", type=int, help="steps per execution (N)")
    parser.add_argument("--repetitions", type=int, help="measured executions per process")
    parser.add_argument("--processes", type=int, help="measuring processes per row and side")
    parser.add_argument("--output", type=Path, help="write the report here as well")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="instead of measuring, profile our side of each row with cProfile",
    )
    return parser


def _select(patterns: str) -> list[Row]:
    wanted = [p.strip() for p in patterns.split(",") if p.strip()]
    return [row for row in ROWS if any(fnmatch.fnmatchcase(row.id, p) for p in wanted)]


def _is_full(args: argparse.Namespace) -> bool:
    overrides = (args.steps, args.repetitions, args.processes)
    return not args.quick and args.rows == "*" and not any(overrides)


def _measure_all(cases: list[Case], processes: int) -> dict[Case, Outcome]:
    """Measure every case in ``processes`` rounds, so slow drifts of the machine spread out."""
    measurements: dict[Case, list[Measurement]] = {case: [] for case in cases}
    failures: dict[Case, str] = {}
    # The cases' SQLite files live here; a runner's threads may still write while a case exits.
    with tempfile.TemporaryDirectory(prefix="durable-bench-") as scratch:
        for round_number in range(1, processes + 1):
            for case in cases:
                if case in failures:
                    continue
                label = f"[{round_number}/{processes}] {case.row.id} / {case.sdk}"
                print(f"measuring {label} ...", file=sys.stderr, flush=True)
                try:
                    measurements[case].append(_run_case(case, scratch))
                except CaseFailed as exc:
                    failures[case] = str(exc)
    return {case: failures.get(case) or Result.of(measurements[case]) for case in cases}


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
    if done.returncode != 0:
        print(done.stderr, file=sys.stderr)
        last = done.stderr.strip().splitlines()[-1:] or ["no output"]
        raise CaseFailed(f"exited with {done.returncode}: {last[0]}")
    return Measurement.from_json(done.stdout.strip().splitlines()[-1])


def _environment() -> list[str]:
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
        f"{load} at the end (other work on the machine inflates the figures)",
        versions,
    ]


if __name__ == "__main__":
    sys.exit(main())
