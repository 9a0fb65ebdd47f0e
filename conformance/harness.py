"""Run the conformance suite on a local service and write its table (``python -m conformance``).

``--target serve`` runs our handlers on ``durable-async serve`` (skip-time); ``--target dex`` runs
them on the reference emulator ``dex-local-runner``. Each writes its own section of
``docs/conformance.md`` (``--doc``; ``--no-doc`` leaves it alone). The exit status is 0 when every
requirement run passed, or failed only as ``--expect-failures`` (a JSON file, id -> reason) says.
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from conformance import gaps
from conformance.catalog import Catalog, load_catalog
from conformance.driver import FAILED, NOT_RUN, Outcome, run_requirement
from conformance.report import DOC, section, write_section
from conformance.services import DexRunner, Moto, Serve, base_environment

NEEDS_DYNAMODB = {"3-12"}
# Requirements whose outside actor (CallbackActions, sent a second or more after the callback
# starts) must answer before a timer of the same execution fires: with skip-time the service
# moves virtual time past the timer as soon as the execution suspends, before any answer can
# come, so these run on a second service on the real clock. Each takes at most ~6 s of it.
REAL_TIME = {
    "4-5": "the heartbeat and the success must beat a 10 s heartbeat timeout",
    "4-9": "the callback is answered during a 5 s wait",
    "4-10": "the callback fails during a 5 s wait",
    "7-13": "the heartbeat and the success must beat a 10 s heartbeat timeout",
}
HEADINGS = {"serve": "durable-async serve", "dex": "dex-local-runner"}
COMMANDS = {"serve": "make conformance", "dex": "make conformance-dex"}


def run(
    catalog: Catalog,
    ids: Sequence[str],
    target: str,
    work: Path,
    *,
    jobs: int = 4,
    serve_command: Sequence[str] | None = None,
    start_with: str = "invoke",
) -> list[Outcome]:
    """Run requirements ``ids`` on ``target`` ("serve" or "dex"); return one outcome per id."""
    log_dir, history_dir = work / "logs", work / "history"
    log_dir.mkdir(parents=True, exist_ok=True)
    history_dir.mkdir(parents=True, exist_ok=True)
    runnable = [rid for rid in ids if rid in catalog.answered_by]
    with contextlib.ExitStack() as stack:
        extra: dict[str, str] = {}
        if NEEDS_DYNAMODB & set(runnable):
            moto = stack.enter_context(Moto(work, base_environment(log_dir)))
            extra["AWS_ENDPOINT_URL_DYNAMODB"] = moto.url
        env = base_environment(log_dir, extra)
        services: dict[bool, Any] = {}
        for skip_time in (True, False):
            share = [rid for rid in runnable if (rid not in REAL_TIME) == skip_time]
            if not share:
                continue
            folder = work / ("skip-time" if skip_time else "real-time")
            folder.mkdir(exist_ok=True)
            # Only the functions this service's requirements use, and the invoke targets: a
            # service starts a worker for every function it hosts.
            hosted = catalog.hosted_for(share)
            if target == "serve":
                made: Any = Serve(
                    hosted,
                    folder,
                    env,
                    skip_time=skip_time,
                    command=serve_command,
                    start_with=start_with,
                )
            else:
                made = DexRunner(hosted, folder, env, skip_time=skip_time)
            services[skip_time] = stack.enter_context(made)

        def service_for(rid: str) -> Any:
            return services[rid not in REAL_TIME]

        def one(rid: str) -> Outcome:
            case = catalog.requirements[rid]
            function = catalog.functions[catalog.answered_by[rid]]
            return run_requirement(
                rid, case.suite.name, case.path, function, service_for(rid), log_dir, history_dir
            )

        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="conformance") as pool:
            results = dict(zip(runnable, pool.map(one, runnable), strict=True))
    return [results.get(rid) or _not_run(catalog, rid) for rid in ids]


def _not_run(catalog: Catalog, rid: str) -> Outcome:
    case = catalog.requirements[rid]
    from aws_durable_execution_conformance_tests.extensions import requirement_description

    reason = catalog.not_run.get(rid, "not run: no handler in conformance/templates")
    return Outcome(rid, case.suite.name, requirement_description(case) or "", NOT_RUN, reason)


def attribute(outcomes: list[Outcome], target: str) -> list[Outcome]:
    """On dex, prefix each failure with the emulator gap it shows (see :mod:`conformance.gaps`)."""
    explained = []
    for o in outcomes:
        gap = gaps.dex_gap(o.reason) if target == "dex" and o.status == FAILED else None
        if gap is not None:
            o = Outcome(
                o.requirement_id, o.suite, o.description, o.status, f"{gap}. {o.reason}", o.seconds
            )
        explained.append(o)
    return explained


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance", description=__doc__)
    parser.add_argument("--target", choices=["serve", "dex"], default="serve")
    parser.add_argument("--id", dest="ids", action="append", help="run only this requirement id")
    parser.add_argument("--suite", action="append", help="run only this suite (step, map, ...)")
    parser.add_argument("--jobs", type=int, default=4, help="requirements run at once")
    parser.add_argument("--doc", type=Path, default=DOC)
    parser.add_argument("--no-doc", action="store_true", help="print the table, leave the doc")
    parser.add_argument("--work", type=Path, help="keep logs and histories here")
    parser.add_argument(
        "--serve-command", help="the command that serves (default: durable-async serve)"
    )
    parser.add_argument(
        "--start-with", choices=["invoke", "start-durable-execution"], default="invoke"
    )
    args = parser.parse_args(argv)
    catalog = load_catalog()
    ids = catalog.select(args.ids, args.suite)
    work = args.work or Path(tempfile.mkdtemp(prefix=f"conformance-{args.target}-"))
    outcomes = run(
        catalog,
        ids,
        args.target,
        work,
        jobs=args.jobs,
        serve_command=shlex.split(args.serve_command) if args.serve_command else None,
        start_with=args.start_with,
    )
    outcomes = attribute(outcomes, args.target)
    for outcome in outcomes:
        line = f"{outcome.requirement_id:>6} {outcome.status:8} {outcome.seconds:6.1f}s"
        print(line, outcome.reason[:300])
    text = section(args.target, HEADINGS[args.target], COMMANDS[args.target], outcomes)
    if args.no_doc or args.ids or args.suite:
        print(text)
    else:
        write_section(args.target, text, args.doc)
        print(f"wrote the {args.target} table into {args.doc}")
    print(f"histories and logs: {work}", file=sys.stderr)
    unexplained = [o for o in outcomes if o.status == FAILED and not o.reason.startswith("gap: ")]
    return 1 if unexplained else 0
