"""Run the conformance suite on a local service and write its table (``python -m conformance``).

``--target serve`` runs our handlers on ``durable-async serve`` (skip-time); ``--target dex`` runs
them on the reference emulator ``dex-local-runner``. Each writes its own section of
``docs/conformance.md`` (``--doc``; ``--no-doc`` leaves it alone). On dex, each failure is
prefixed with the emulator gap it shows (:mod:`conformance.gaps`), and the table has a column for
the reference SDK's own handlers on dex, read from ``conformance/results/dex-reference.json``.

``--templates DIR`` runs another SDK's handlers (its ``template_*.yaml`` and their ``CodeUri``)
instead of ours, and ``--record FILE`` writes the outcomes as JSON instead of the doc: that is how
the reference column is measured, from the reference SDK's own conformance package
(``packages/aws-durable-execution-sdk-python-conformance-tests`` of its repository, each suite's
handlers copied to ``lambda-build/<suite>/`` as its ``scripts/build_examples.py`` does).

The exit status is 0 when every requirement run passed or, on dex, failed with a named gap.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import re
import shlex
import signal
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from aws_durable_execution_conformance_tests.history import load_yaml_file

from conformance import gaps
from conformance.catalog import TEMPLATES, Catalog, load_catalog
from conformance.driver import FAILED, NOT_RUN, Outcome, run_requirement
from conformance.report import DOC, REFERENCE_RESULTS, read_results, section, write_section
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
# dex-local-runner runs on the real clock unless told --skip-time, and its skip-time is no model
# of Lambda's clock: its SkipClock fires a timer the moment it is armed, while the invocation that
# armed it is still running, so the timer's end is recorded before that invocation's
# InvocationCompleted; and one virtual clock serves every execution, so one execution's jump (2-5
# waits an hour) moves the timestamps of all. So table (b) runs dex on the real clock, as it runs
# by default and as Lambda runs. Nothing waits out a long timer there: a requirement that expects
# no result ends once its history matches (2-4, 2-5), or fails 30 s after the last new event.
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
            share = [rid for rid in runnable if skips_time(rid, target) == skip_time]
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
            return services[skips_time(rid, target)]

        def one(rid: str) -> Outcome:
            case = catalog.requirements[rid]
            function = catalog.functions[catalog.answered_by[rid]]
            return run_requirement(
                rid, case.suite.name, case.path, function, service_for(rid), log_dir, history_dir
            )

        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="conformance") as pool:
            results = dict(zip(runnable, pool.map(one, runnable), strict=True))
    return [results.get(rid) or _not_run(catalog, rid) for rid in ids]


def skips_time(requirement_id: str, target: str) -> bool:
    """Whether ``requirement_id`` runs on ``target``'s skip-time instance (else real time)."""
    return target == "serve" and requirement_id not in REAL_TIME


def _not_run(catalog: Catalog, rid: str) -> Outcome:
    case = catalog.requirements[rid]
    from aws_durable_execution_conformance_tests.extensions import requirement_description

    reason = catalog.not_run.get(rid, "not run: no handler in conformance/templates")
    return Outcome(rid, case.suite.name, requirement_description(case) or "", NOT_RUN, reason)


def attribute(outcomes: list[Outcome], catalog: Catalog, work: Path) -> list[Outcome]:
    """Name the dex gaps behind each failure on dex (:mod:`conformance.gaps`).

    Each failure's errors are judged against the requirement's expected history and the
    history dex recorded (``work/history``); a crash counts only where dex's own log says an
    invocation of that execution failed. A failure with an error no gap explains gets the
    reason ``unexplained: ...``.
    """
    failed_invocations = invocation_failures(work)
    named = []
    for o in outcomes:
        if o.status == FAILED:
            expected = load_yaml_file(str(catalog.requirements[o.requirement_id].path))
            saved = work / "history" / f"{o.requirement_id}.json"
            history = json.loads(saved.read_text()) if saved.exists() else {}
            found = gaps.diagnose(
                o.errors,
                expected.get("ExpectedExecutionHistory") or [],
                history.get("Events", []),
                crashed=bool(o.arn) and o.arn in failed_invocations,
            )
            reason = o.reason if found.explained else "unexplained: " + "; ".join(found.unexplained)
            named_gaps = tuple(g.key for g in gaps.GAPS if g in found.gaps)
            o = dataclasses.replace(o, reason=reason, gaps=named_gaps)
        named.append(o)
    return named


def invocation_failures(work: Path) -> set[str]:
    """The executions of which dex logged a failed invocation (a crash, Runtime.ExitError)."""
    pattern = re.compile(r"\[([^\]]+)\] Invocation failed: ")
    arns: set[str] = set()
    for log in work.glob("*/dex-local-runner.log"):
        arns.update(pattern.findall(log.read_text(encoding="utf-8", errors="replace")))
    return arns


def record(outcomes: list[Outcome], path: Path, target: str, handlers: str) -> None:
    """Write ``outcomes`` as JSON: what ran where, and each id's status, gaps and reason."""
    from importlib.metadata import version

    data = {
        "target": target,
        "handlers": handlers,
        "versions": {
            name: version(name)
            for name in (
                "aws-durable-execution-sdk-python",
                "aws-durable-execution-sdk-python-testing",
                "aws-durable-execution-conformance-tests",
            )
        },
        "outcomes": {
            o.requirement_id: {"status": o.status, "gaps": list(o.gaps), "reason": o.reason}
            for o in outcomes
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n", encoding="utf-8")


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
    parser.add_argument(
        "--templates", type=Path, help="run these templates' handlers (another SDK's) instead"
    )
    parser.add_argument(
        "--record", type=Path, help="write the outcomes as JSON here instead of the doc"
    )
    parser.add_argument(
        "--handlers", default="", help="with --record: where the handlers came from (a note)"
    )
    parser.add_argument(
        "--reference",
        type=Path,
        default=REFERENCE_RESULTS,
        help="the reference handlers' recorded outcomes, a column of the dex table",
    )
    args = parser.parse_args(argv)
    # The services run in sessions of their own: on SIGTERM, unwind so each is stopped.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    theirs = args.templates is not None and args.templates.resolve() != TEMPLATES.resolve()
    catalog = load_catalog(args.templates or TEMPLATES, strict=not theirs)
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
    if args.target == "dex":
        outcomes = attribute(outcomes, catalog, work)
    for outcome in outcomes:
        line = f"{outcome.requirement_id:>6} {outcome.status:8} {outcome.seconds:6.1f}s"
        print(line, outcome.reason[:300])
    if args.record:
        record(outcomes, args.record, args.target, args.handlers or str(args.templates))
        print(f"wrote {len(outcomes)} outcomes into {args.record}")
        return 0
    reference = read_results(args.reference) if args.target == "dex" else None
    text = section(args.target, HEADINGS[args.target], COMMANDS[args.target], outcomes, reference)
    if args.no_doc or args.ids or args.suite or theirs:
        print(text)
    else:
        write_section(args.target, text, args.doc)
        print(f"wrote the {args.target} table into {args.doc}")
    print(f"histories and logs: {work}", file=sys.stderr)
    if args.target == "serve":
        return 1 if any(o.status == FAILED for o in outcomes) else 0
    unexplained = [o for o in outcomes if o.status == FAILED and not o.gaps]
    unexplained += [o for o in outcomes if o.reason.startswith("unexplained: ")]
    return 1 if unexplained else 0
