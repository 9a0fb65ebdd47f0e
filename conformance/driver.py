"""Run one requirement the way the suite's own pipeline does, against a local service.

The suite's ``app.py`` deploys with SAM, invokes on AWS and reads CloudWatch; everything else it
does is library code, used here unchanged: the requirement's YAML and variables
(``PlaceholderContext``), the callback actions and the polling validator that sends them
(``PollingValidator``), the history matcher (``EventHistoryMatcher``), the result check, and the
log validator (``CloudWatchLogValidator``). Only the three AWS-bound steps are local: the
execution starts on the local service, history comes from its Lambda API, and the log records
come from the JSON lines the handlers wrote (:mod:`conformance.handlers._logs`), filtered by
execution ARN as the suite's CloudWatch query filters them.
"""

from __future__ import annotations

import json
import time
import traceback
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from aws_durable_execution_conformance_tests import validate as suite
from aws_durable_execution_conformance_tests.callback import CallbackAction
from aws_durable_execution_conformance_tests.cloudwatch import CloudWatchLogValidator
from aws_durable_execution_conformance_tests.history import EventHistoryMatcher, load_yaml_file
from aws_durable_execution_conformance_tests.variables import PlaceholderContext

from conformance.catalog import Function

PASSED, FAILED, NOT_RUN = "passed", "failed", "not run"
# The field of a line the handler printed, as conformance.handlers._logs keeps it (not imported
# here: importing it installs its capture in this process).
STDOUT_FIELD = "stdout"
POLL_INTERVAL = 0.05  # seconds between history polls; the suite's 2 s suits AWS, not loopback
SYNC_TIMEOUT = 120.0  # how long a synchronous requirement may take to end


class Service(Protocol):
    """A local service: a Lambda API ``client`` and a way to start an execution."""

    client: Any

    def start(self, function: Function, payload: Any, *, synchronous: bool) -> str: ...


@dataclass(frozen=True)
class Outcome:
    """One requirement's result: passed, failed or not run, and why."""

    requirement_id: str
    suite: str
    description: str
    status: str
    reason: str = ""
    seconds: float = 0.0
    errors: tuple[str, ...] = ()  # the validator's errors, each whole (reason joins them)
    arn: str = ""  # the execution's ARN on the service, once started
    gaps: tuple[str, ...] = ()  # on dex: the keys of the emulator gaps the failure shows


def run_requirement(
    requirement_id: str,
    suite_name: str,
    path: Path,
    function: Function,
    service: Service,
    log_dir: Path,
    history_dir: Path,
) -> Outcome:
    """Run requirement ``requirement_id`` (its YAML at ``path``) on ``service`` by ``function``."""
    spec: dict[str, Any] = load_yaml_file(str(path))
    began = time.monotonic()
    started: list[str] = []
    try:
        errors = _run(
            spec, function, service, log_dir, history_dir / f"{requirement_id}.json", started
        )
    except Exception as exc:
        errors = [f"harness error: {exc!r}", *traceback.format_exc().splitlines()[-3:]]
    status = PASSED if not errors else FAILED
    return Outcome(
        requirement_id,
        suite_name,
        str(spec.get("description", "")).strip(),
        status,
        "; ".join(errors),
        time.monotonic() - began,
        tuple(errors),
        started[0] if started else "",
    )


def _run(
    spec: dict[str, Any],
    function: Function,
    service: Service,
    log_dir: Path,
    saved: Path,
    started: list[str],
) -> list[str]:
    context = PlaceholderContext()
    context.resolve_variables(spec.get("Variables"))
    payload = context.substitute(spec.get("Input"))
    expected_events: list[dict[str, Any]] = spec.get("ExpectedExecutionHistory") or []
    expected_result: dict[str, Any] | None = spec.get("ExpectedResult")
    synchronous = not spec.get("AsyncInvoke", False)
    arn = service.start(function, payload, synchronous=synchronous)
    started.append(arn)
    if synchronous:
        errors = _check_synchronous(arn, service.client, expected_events, expected_result, context)
    else:
        errors = _check_asynchronous(
            spec, arn, service.client, expected_events, expected_result, context
        )
    history = suite.get_execution_history(arn, service.client)
    if history is not None:
        saved.write_text(json.dumps(history, indent=2, default=str))
    if not errors and spec.get("ExpectedLogs"):
        records = execution_log_events(log_dir, arn)
        errors = (
            CloudWatchLogValidator().validate(spec["ExpectedLogs"], records, context=context).errors
        )
    return errors


def _check_synchronous(
    arn: str,
    client: Any,
    expected_events: list[dict[str, Any]],
    expected_result: dict[str, Any] | None,
    context: PlaceholderContext,
) -> list[str]:
    # A synchronous Invoke of a durable function answers once the execution has ended; wait
    # for the end as well, so a service that answers earlier is judged on the whole history.
    _wait_until_ended(arn, client)
    history = suite.get_execution_history(arn, client)
    if history is None:
        return ["Failed to retrieve execution history"]
    if not expected_events:
        return ["No ExpectedExecutionHistory found in description file"]
    actual = history.get("Events", history.get("events", []))
    match = EventHistoryMatcher(context=context).match(expected_events, actual)
    if not match.success:
        return match.errors
    if expected_result:
        return suite._validate_execution_result(arn, expected_result, client, context)
    return []


def _check_asynchronous(
    spec: dict[str, Any],
    arn: str,
    client: Any,
    expected_events: list[dict[str, Any]],
    expected_result: dict[str, Any] | None,
    context: PlaceholderContext,
) -> list[str]:
    actions = [CallbackAction.from_dict(raw) for raw in spec.get("CallbackActions") or []]
    configured = suite.AsyncValidationConfig.from_dict(spec.get("AsyncConfig") or {})
    config = suite.AsyncValidationConfig(
        poll_interval_seconds=min(POLL_INTERVAL, configured.poll_interval_seconds),
        no_progress_timeout_seconds=configured.no_progress_timeout_seconds,
    )
    validator = suite.PollingValidator(lambda_client=client, config=config, context=context)
    result = validator.validate(arn, expected_events, expected_result, actions)
    return list(result.errors)


def _wait_until_ended(arn: str, client: Any) -> None:
    deadline = time.monotonic() + SYNC_TIMEOUT
    while time.monotonic() < deadline:
        execution = suite.get_durable_execution(arn, client) or {}
        if execution.get("Status") in {"SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED", "CANCELLED"}:
            return
        time.sleep(POLL_INTERVAL)


def execution_log_events(log_dir: Path, arn: str) -> list[dict[str, Any]]:
    """The log records of execution ``arn`` as CloudWatch events (timestamp, message).

    A log record's message is its JSON line; a line the handler printed to stdout (kept as
    ``{"timestamp": ..., "stdout": LINE}`` by :mod:`conformance.handlers._logs`) is ``LINE``,
    as Lambda sends a printed line to CloudWatch. The suite's CloudWatch query keeps events
    whose message is a JSON object with a top-level ``durableExecutionArn`` or ``executionArn``
    equal to the execution's ARN; so does this.
    """
    events: list[dict[str, Any]] = []
    for path in sorted(log_dir.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if not isinstance(record, dict) or "timestamp" not in record:
                continue
            message = line
            if isinstance(record.get(STDOUT_FIELD), str) and "message" not in record:
                message = record[STDOUT_FIELD]
                try:
                    fields = json.loads(message)
                except ValueError:
                    continue  # not JSON: CloudWatch's JSON filter never selects it
                if not isinstance(fields, dict):
                    continue
            else:
                fields = record
            if arn not in (fields.get("executionArn"), fields.get("durableExecutionArn")):
                continue
            stamp = datetime.fromisoformat(record["timestamp"]).timestamp() * 1000
            events.append(
                {"timestamp": int(stamp), "ingestionTime": len(events), "message": message}
            )
    return events
