"""``callback succeed|fail|heartbeat`` and ``stop``: act on an execution from outside.

They write to the store the run uses, straight through the local service (no HTTP, no AWS
credentials). A ``run`` waiting in another process sees the change within about a second: its
runner watches the SQLite file's data version.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from durable_async._cli.common import (
    EXIT_NOT_FOUND,
    CliError,
    find_execution,
    json_argument,
    open_service,
    print_json,
    read_argument,
)
from durable_async._cli.progress import callback_name
from durable_async.service import ServiceError
from durable_async.service.local._sqlite import Durability
from durable_async.service.local.engine import LocalDurableService

__all__ = ["CallbackOptions", "StopOptions", "answer_callback", "stop"]


@dataclass
class CallbackOptions:
    """Which callback to answer, and how."""

    store: str
    action: str  # succeed, fail or heartbeat
    callback_id: str | None = None
    execution: str | None = None
    name: str | None = None
    payload: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    json: bool = False
    durability: Durability | None = None


async def answer_callback(options: CallbackOptions) -> int:
    """Complete or heartbeat a started callback, found by id or by execution and name."""
    _check_address(options)
    async with open_service(options.store, options.durability) as service:
        callback_id = options.callback_id or await _callback_id(service, options)
        try:
            if options.action == "succeed":
                await service.send_callback_success(callback_id, _result(options))
            elif options.action == "fail":
                await service.send_callback_failure(callback_id, _error(options))
            else:
                await service.send_callback_heartbeat(callback_id)
        except ServiceError as exc:
            raise _refused(exc) from exc
    done = {"succeed": "SUCCEEDED", "fail": "FAILED", "heartbeat": "HEARTBEAT"}[options.action]
    if options.json:
        print_json({"CallbackId": callback_id, "Action": done})
    else:
        label = options.name or f"{callback_id[:16]}…"
        print(f"callback {label}: {done}", file=sys.stderr)
    return 0


def _check_address(options: CallbackOptions) -> None:
    by_name = options.execution is not None or options.name is not None
    if options.callback_id and by_name:
        raise CliError("name the callback by its id or by --execution and --name, not both.")
    if not options.callback_id and not (options.execution and options.name):
        raise CliError(
            "name the callback: its CALLBACK_ID, or --execution NAME|ARN and --name CALLBACK_NAME."
        )
    if options.action != "fail" and (options.error_type or options.error_message):
        raise CliError("--error-type and --error-message go with `callback fail`.")


def _result(options: CallbackOptions) -> str | None:
    if options.payload is None:
        return None
    text = read_argument(options.payload, "--payload").strip()
    json_argument(text, "--payload")  # the answer is JSON: refuse a typo before it is sent
    return text


def _error(options: CallbackOptions) -> dict[str, Any]:
    error: dict[str, Any] = {}
    if options.payload is not None:
        given = json_argument(options.payload, "--payload")
        if not isinstance(given, dict):
            raise CliError(
                "--payload of `callback fail` is an error object, e.g. "
                '{"ErrorType": "Rejected", "ErrorMessage": "not approved"}.'
            )
        error.update(given)
    if options.error_type is not None:
        error["ErrorType"] = options.error_type
    if options.error_message is not None:
        error["ErrorMessage"] = options.error_message
    return error


async def _callback_id(service: LocalDurableService, options: CallbackOptions) -> str:
    assert options.execution is not None
    assert options.name is not None
    found = await find_execution(service, options.execution)
    operations = await service.list_operations(found.arn)
    by_id = {str(op["Id"]): op for op in operations}
    matches = [
        op
        for op in operations
        if op.get("Type") == "CALLBACK"
        and options.name in (callback_name(op, by_id), op.get("Name"), _path(op, by_id))
    ]
    started = [op for op in matches if op.get("Status") == "STARTED"]
    if len(started) == 1:
        return str(started[0]["CallbackDetails"]["CallbackId"])
    execution = found.execution["DurableExecutionName"]
    if len(started) > 1:
        paths = ", ".join(_path(op, by_id) for op in started)
        raise CliError(
            f"{len(started)} started callbacks of {execution} are named {options.name!r} "
            f"({paths}); pass one's path as --name, or its CALLBACK_ID."
        )
    if matches:
        status = matches[-1]["Status"]
        raise CliError(
            f"callback {options.name!r} of {execution} already ended {status}.", EXIT_NOT_FOUND
        )
    waiting = [callback_name(op, by_id) for op in operations if op.get("Type") == "CALLBACK"]
    known = f" Its callbacks: {', '.join(waiting)}." if waiting else " It has no callbacks yet."
    raise CliError(
        f"execution {execution} has no callback named {options.name!r}.{known}", EXIT_NOT_FOUND
    )


def _path(op: dict[str, Any], by_id: dict[str, dict[str, Any]]) -> str:
    names: list[str] = []
    current: dict[str, Any] | None = op
    while current is not None:
        names.append(str(current.get("Name") or current["Id"]))
        current = by_id.get(str(current.get("ParentId")))
    return "/".join(reversed(names))


def _refused(exc: ServiceError) -> CliError:
    """Return the error for a callback or stop the service refused (unknown, or already over)."""
    return CliError(str(exc), EXIT_NOT_FOUND)


@dataclass
class StopOptions:
    """Which execution to stop, and the error it records."""

    store: str
    execution: str
    error_message: str | None = None
    json: bool = False
    durability: Durability | None = None


async def stop(options: StopOptions) -> int:
    """End a running execution as STOPPED."""
    async with open_service(options.store, options.durability) as service:
        found = await find_execution(service, options.execution)
        status = found.execution["Status"]
        if status != "RUNNING":
            raise CliError(
                f"execution {found.execution['DurableExecutionName']} already ended {status}.",
                EXIT_NOT_FOUND,
            )
        try:
            stopped = await service.stop_execution(found.arn, options.error_message)
        except ServiceError as exc:
            raise _refused(exc) from exc
    if options.json:
        print_json({"DurableExecutionArn": found.arn, "Status": "STOPPED", **stopped})
    else:
        print(f"{found.arn}: STOPPED", file=sys.stderr)
    return 0
