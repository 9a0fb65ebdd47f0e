"""Run the benchmarks: ``python -m benchmarks.run [--quick] [--sections ...] [--rows ...]``.

`make bench` runs every section in one go, interleaved: the in-process comparison with the
reference SDK's runner (``reference``), the embedded SQLite store against DBOS (``store``),
fan-out and scale (``fanout``), both SDKs' handlers over HTTP with an injected round trip
(``http``), and the checkpoint call's own benchmark (``checkpoint``, by
``benchmarks.checkpoint_call``). Every row and side is measured in fresh subprocesses, one per
round. A full, unfiltered run writes ``docs/benchmarks.md`` (between its markers), its plots
and ``benchmarks/results/latest.md``; a quick run (``--quick`` or ``BENCH_QUICK=1``) or a
filtered one prints its report and writes it to a temporary folder it names.
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
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from benchmarks import _doc, _suite
from benchmarks._fanout import FanoutMeasurement, FanoutRow
from benchmarks._http import HttpMeasurement, HttpRow
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
from benchmarks._store_spec import StoreMeasurement, StoreRow

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent
LATEST = ROOT / "benchmarks" / "results" / "latest.md"
DOC = ROOT / "docs" / "benchmarks.md"
IMAGES = ROOT / "docs" / "assets" / "benchmarks"
SECTIONS = ("reference", "store", "fanout", "http", "checkpoint")
# The hottest embedded-store workload, profiled after the measurements: (workflows, steps).
PROFILED, QUICK_PROFILED = (1_000, 3), (100, 3)

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
    args.quick = args.quick or os.environ.get("BENCH_QUICK", "") not in ("", "0")
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        known = ", ".join(SECTIONS)
        print(f"Unknown sections {sorted(unknown)}; they are {known}.", file=sys.stderr)
        return 2
    candidates = _candidates(args.quick)
    rows = _select(candidates, args.rows) if "reference" in sections else []
    if "reference" in sections and not rows:
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
    suite = _suite.jobs(sections, args.quick)
    outcomes = _measure_all(jobs, suite)
    full = _is_full(args) and set(sections) == set(SECTIONS)
    if "checkpoint" in sections:
        _checkpoint_call(args.quick, write=full)
    profile = _store_profile(args.quick) if "store" in sections else ""
    elapsed = time.perf_counter() - started
    environment = _environment(elapsed)
    report = render(
        {row: {sdk: outcomes[row, sdk] for sdk in Sdk} for row in rows},
        steps=steps,
        environment=environment,
    )
    output = args.output or (LATEST if full else None)
    if output is not None and rows:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(f"# Benchmark results\n\n{report}")
        print(f"Wrote {output}.", file=sys.stderr)
    failures = [f"{job.label}: {job.failure}" for job in suite if job.failure]
    failures += [f"{r.id} / {s}: {o}" for (r, s), o in outcomes.items() if isinstance(o, str)]
    page, images, prefix = _destination(full)
    block = _doc.render(
        _measured(suite, failures),
        environment=environment,
        profile=profile,
        reference_report=report if rows else "(not run)",
        page=DOC.read_text(encoding="utf-8"),
        images=images,
        image_prefix=prefix,
    )
    _doc.write(page, block)
    print(block)
    print(f"({elapsed:.0f} s) Wrote {page} and its plots in {images}.", file=sys.stderr)
    return 1 if failures else 0


def _destination(full: bool) -> tuple[Path, Path, str]:
    """Where the page and its plots go: the docs for a full run, a scratch folder otherwise."""
    if full:
        return DOC, IMAGES, "assets/benchmarks/"
    scratch = Path(tempfile.mkdtemp(prefix="durable-bench-report-"))
    page = scratch / "benchmarks.md"
    page.write_text(DOC.read_text(encoding="utf-8"), encoding="utf-8")
    return page, scratch, ""


def _measured(suite: list[_suite.Job], failures: list[str]) -> _doc.Measured:
    store: dict[StoreRow, dict[str, list[StoreMeasurement]]] = {}
    fanout: dict[FanoutRow, list[FanoutMeasurement]] = {}
    http: dict[HttpRow, list[HttpMeasurement]] = {}
    for job in suite:
        row = job.row
        if isinstance(row, StoreRow):
            parsed = [StoreMeasurement.from_json(line) for line in job.lines]
            store.setdefault(row, {})[job.side] = parsed
        elif isinstance(row, FanoutRow):
            fanout[row] = [FanoutMeasurement.from_json(line) for line in job.lines]
        elif isinstance(row, HttpRow):
            http[row] = [HttpMeasurement.from_json(line) for line in job.lines]
    return _doc.Measured(store, fanout, http, failures)


def _checkpoint_call(quick: bool, *, write: bool) -> None:
    """Run the checkpoint call's own benchmark; a full run lets it rewrite its section."""
    command = [sys.executable, "-m", "benchmarks.checkpoint_call"]
    command += ["--quick"] if quick else ["--profile"]
    command += ["--write"] if write else []
    print("measuring the checkpoint call ...", file=sys.stderr, flush=True)
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(done.stderr[-2000:], file=sys.stderr)


def _store_profile(quick: bool) -> str:
    workflows, steps = QUICK_PROFILED if quick else PROFILED
    command = [sys.executable, "-m", "benchmarks._store_profile", str(workflows), str(steps)]
    print("profiling the hottest store workload ...", file=sys.stderr, flush=True)
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return f"(The profile failed: {done.stderr.strip().splitlines()[-1:]})"
    return done.stdout


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
    parser.add_argument("--output", type=Path, help="write the reference report here as well")
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated sections to run, of {', '.join(SECTIONS)}; a full run has all",
    )
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


def _measure_all(jobs: list[_Job], suite: list[_suite.Job]) -> dict[tuple[Row, Sdk], Outcome]:
    """Measure every job in rounds of one process each, so slow drifts of the machine spread.

    The suite's jobs (store, fan-out, HTTP) take their turns in the same rounds; each keeps
    its processes' lines, or the first failure.
    """
    measurements: dict[_Job, list[Measurement]] = {job: [] for job in jobs}
    stopped: dict[_Job, Capped | str] = {}
    rounds = max([job.plan.processes for job in jobs] + [job.processes for job in suite] + [1])
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
            for step in suite:
                if step.failure is not None or round_number > step.processes:
                    continue
                label = f"[{round_number}/{step.processes}] {step.label}"
                print(f"measuring {label} ...", file=sys.stderr, flush=True)
                try:
                    step.lines.append(_run_command(step.command(), scratch, None))
                except CaseFailed as exc:
                    step.failure = str(exc)
    return {(job.row, job.sdk): stopped.get(job) or Result.of(measurements[job]) for job in jobs}


def _run_case(case: Case, scratch: str) -> Measurement:
    """Measure ``case`` in a fresh interpreter."""
    command = [sys.executable, "-m", "benchmarks._measure", case.to_json()]
    return Measurement.from_json(_run_command(command, scratch, case.cap_seconds))


def _run_command(command: list[str], scratch: str, cap_seconds: float | None) -> str:
    """Run one measuring process; return the last line it printed."""
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
    if done.returncode == CAPPED_EXIT_STATUS and cap_seconds is not None:
        raise CaseCapped(cap_seconds)
    if done.returncode != 0:
        print(done.stderr, file=sys.stderr)
        last = done.stderr.strip().splitlines()[-1:] or ["no output"]
        raise CaseFailed(f"exited with {done.returncode}: {last[0]}")
    return done.stdout.strip().splitlines()[-1]


def _environment(elapsed: float) -> list[str]:
    versions = ", ".join(
        f"{name} {_version(name)}"
        for name in (
            "durable-async",
            "aws-durable-execution-sdk-python",
            "aws-durable-execution-sdk-python-testing",
            "dbos",
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


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "(not installed)"


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
