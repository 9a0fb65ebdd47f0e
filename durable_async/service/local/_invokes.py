"""Chained invokes: the START handler, the target's identity, and recording how it ended.

The service records the START and leaves running the target to a runner, which asks for
pending invokes, starts the target and reports its end. A durable target runs as its own
execution whose name and ARN derive from the caller's ARN and the operation id, so starting it
again after a restart finds the same execution instead of launching a second one. A plain
function target is claimed in the operation's ``meta`` before it runs, so it never runs twice.
"""

from __future__ import annotations

import hashlib
import uuid

from durable_async.service.local._batch import Batch, require_new, set_field
from durable_async.service.local._history import error_block, result_block
from durable_async.service.local._model import (
    VERSION,
    Json,
    OperationRow,
    execution_arn,
    invalid,
)

__all__ = [
    "INTERRUPTED_ERROR",
    "child_identity",
    "claim",
    "complete",
    "executed_version",
    "outcome_of",
    "pending",
    "start",
    "target_name",
    "unknown_target_error",
]

_EVENTS = {
    "SUCCEEDED": "ChainedInvokeSucceeded",
    "FAILED": "ChainedInvokeFailed",
    "TIMED_OUT": "ChainedInvokeTimedOut",
    "STOPPED": "ChainedInvokeStopped",
}
_TIMED_OUT_ERROR: Json = {
    "ErrorType": "ChainedInvoke.Timeout",
    "ErrorMessage": "The invoked durable execution timed out.",
}
INTERRUPTED_ERROR: Json = {
    "ErrorType": "ChainedInvokeInterrupted",
    "ErrorMessage": "The local runner stopped while the invoked function ran; a plain function "
    "is never run twice for one chained invoke, so the invoke failed. Start a new execution to "
    "try again.",
}


def target_name(function_name: str) -> str:
    """Return the bare function name in a name, ``name:qualifier``, partial ARN or ARN."""
    return function_name.split(":function:", 1)[-1].split(":", 1)[0]


def executed_version(function_name: str) -> str:
    """Return the version an invoke of ``function_name`` runs: its qualifier, or $LATEST."""
    qualifier = function_name.split(":function:", 1)[-1].partition(":")[2]
    return qualifier or VERSION


def unknown_target_error(name: str) -> Json:
    """Return the error of a chained invoke whose target nothing can run."""
    return {
        "ErrorType": "ResourceNotFoundException",
        "ErrorMessage": f"Function not found: no function named {name!r} is registered with "
        f"the local runner. Register it before the execution invokes it: "
        f"runner.register({name!r}, invoker) or runner.register_function({name!r}, fn) on a "
        f"LocalRunner, register_durable_function or register_function on a DurableTestRunner.",
    }


def child_identity(arn: str, operation_id: str) -> tuple[str, str]:
    """Return the (execution name, execution id) of the durable target of this operation."""
    digest = hashlib.blake2b(f"{arn}\n{operation_id}".encode(), digest_size=32).digest()
    return str(uuid.UUID(bytes=digest[:16])), digest[16:].hex()


def start(batch: Batch, update: Json, current: OperationRow | None) -> None:
    """Start a chained invoke, or fail it at once when its target cannot be run."""
    require_new(current, update)
    options = update["ChainedInvokeOptions"]
    name = target_name(options["FunctionName"])
    kind = batch.targets(name) if batch.targets is not None else "durable"
    row = batch.create(update, "STARTED")
    details: Json = {"FunctionName": options["FunctionName"]}
    if kind is None:
        # As the service does: no input is kept for a target it could not resolve.
        batch.event("ChainedInvokeStarted", row, details)
        complete(batch, row, "FAILED", error=unknown_target_error(name))
        return
    payload = update.get("Payload")
    child_name, child_id = child_identity(batch.execution.arn, row.id)
    child_arn = execution_arn(name, child_name, child_id)
    row.meta.update({"FunctionName": name, "Kind": kind, "Input": payload, "ChildArn": child_arn})
    set_field(row.meta, "TenantId", options.get("TenantId"))
    set_field(row.meta, "XAmznTraceId", options.get("XAmznTraceId"))
    set_field(details, "TenantId", options.get("TenantId"))
    if payload is not None:
        details["Input"] = {"Payload": payload, "Truncated": False}
    details["ExecutedVersion"] = executed_version(options["FunctionName"])
    if kind == "durable":
        details["DurableExecutionArn"] = child_arn
    batch.event("ChainedInvokeStarted", row, details)
    batch.invokes_started = True


def pending(row: OperationRow) -> Json:
    """Return what a runner needs to dispatch the started chained invoke ``row``."""
    meta = row.meta
    invoke: Json = {
        "Id": row.id,
        "FunctionName": meta["FunctionName"],
        "Kind": meta["Kind"],
        # An invoke without a payload delivers an empty JSON object, as Lambda Invoke does.
        "Payload": meta["Input"] if meta.get("Input") is not None else "{}",
        "ChildArn": meta["ChildArn"],
        "Claimed": "ClaimedAt" in meta,
    }
    set_field(invoke, "TenantId", meta.get("TenantId"))
    set_field(invoke, "XAmznTraceId", meta.get("XAmznTraceId"))
    return invoke


def claim(batch: Batch, row: OperationRow) -> bool:
    """Mark the plain-function target of ``row`` as running; False if it was already."""
    if "ClaimedAt" in row.meta:
        return False
    row.meta["ClaimedAt"] = batch.now_ms
    batch.save(row)
    return True


def complete(
    batch: Batch,
    row: OperationRow,
    status: str,
    *,
    result: str | None = None,
    error: Json | None = None,
) -> None:
    """End the chained invoke ``row`` with ``status`` and the target's result or error."""
    if status not in _EVENTS:
        raise invalid(
            f"A chained invoke ends SUCCEEDED, FAILED, TIMED_OUT or STOPPED, not {status!r}."
        )
    details: Json = {}
    set_field(details, "Result", result if status == "SUCCEEDED" else None)
    set_field(details, "Error", error if status != "SUCCEEDED" else None)
    row.data["ChainedInvokeDetails"] = details
    batch.end(row, status)
    block = result_block(result) if status == "SUCCEEDED" else error_block(error)
    batch.event(_EVENTS[status], row, block)


def outcome_of(execution: Json) -> tuple[str, str | None, Json | None]:
    """Return (status, result, error) for a chained invoke whose durable target ended so."""
    status = str(execution["Status"])
    error = execution.get("Error")
    if status == "SUCCEEDED":
        return status, execution.get("Result"), None
    if status == "TIMED_OUT":
        return status, None, dict(_TIMED_OUT_ERROR)
    if status == "FAILED":
        return status, None, error or {"ErrorMessage": "Chained invoke failed."}
    return status, None, error
