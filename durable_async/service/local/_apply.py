"""Applying one checkpoint call: a handler per Type and Action, and the timers due with it.

``HANDLERS[Type][Action]`` is the whole dispatch table; callbacks and chained invokes live in
their own modules (``_callbacks``, ``_invokes``). A handler checks the transition against the
operation's current state and raises ``invalid(...)`` without side effects outside the
:class:`Batch`, which the engine only commits when every update of the call applied.
"""

from __future__ import annotations

from collections.abc import Iterable

from durable_async.service.local import _callbacks, _invokes
from durable_async.service.local._batch import (
    Batch,
    Handler,
    outcome,
    require,
    require_new,
    set_field,
)
from durable_async.service.local._history import error_block, result_block, retry_block
from durable_async.service.local._model import (
    Json,
    OperationRow,
    clean_text,
    error_object,
    invalid,
    shown,
)

__all__ = ["HANDLERS", "Batch", "apply_update", "finish_execution", "fire_due", "settle_output"]


def apply_update(batch: Batch, index: int, update: Json) -> None:
    """Check ``update`` against the recorded state and apply it to ``batch``."""
    current = batch.ops.get(update["Id"])
    _check_metadata(index, update, current)
    _check_parent(batch, index, update)
    HANDLERS[update["Type"]][update["Action"]](batch, update, current)


def _check_metadata(index: int, update: Json, current: OperationRow | None) -> None:
    if current is None:
        return
    recorded = current.data
    for key in _METADATA_KEYS:
        value = update.get(key)
        if (value is not None or key == "Type") and value != recorded.get(key):
            raise invalid(
                f"Update {index} gives operation {update['Id']!r} {key} "
                f"{update.get(key)!r} but it was recorded with {current.data.get(key)!r}; "
                "the handler must run the same operations in the same order on every "
                "invocation."
            )


_METADATA_KEYS = ("Type", "SubType", "Name", "ParentId")


def _check_parent(batch: Batch, index: int, update: Json) -> None:
    # An update that names no ParentId keeps the recorded one, checked when it was created.
    parent_id = update.get("ParentId")
    if parent_id is None or parent_id == batch.execution_id:
        return
    parent = batch.ops.get(parent_id)
    if parent is None or parent.type != "CONTEXT" or parent.status != "STARTED":
        state = "does not exist" if parent is None else f"is a {parent.type} in {parent.status}"
        raise invalid(
            f"Update {index} (Id {update['Id']!r}) names ParentId {parent_id!r}, which {state}; "
            "a parent must be a started CONTEXT, so start it first and never update the "
            "children of a completed context."
        )


# STEP


def _step_start(batch: Batch, update: Json, current: OperationRow | None) -> None:
    if current is None:
        row = batch.create(update, "STARTED")
        row.data["StepDetails"] = {"Attempt": 0}
    else:
        row = require(current, ("READY",), update)
        row.data["Status"] = "STARTED"
        row.data["StepDetails"].pop("NextAttemptTimestamp", None)
        batch.touch(row)
    batch.event("StepStarted", row, {})


def _step_attempt_ends(batch: Batch, update: Json, current: OperationRow | None) -> OperationRow:
    if current is None:
        row = batch.create(update, "STARTED")
        row.data["StepDetails"] = {"Attempt": 0}
    else:
        row = require(current, ("STARTED", "READY"), update)
    details = row.data["StepDetails"]
    # Attempt counts finished attempts, as the reference SDK reads it (current = Attempt + 1).
    details["Attempt"] = int(details.get("Attempt", 0)) + 1
    details.pop("NextAttemptTimestamp", None)
    set_field(details, "Result", update.get("Payload"))
    set_field(details, "Error", update.get("Error"))
    return row


def _step_retry(batch: Batch, update: Json, current: OperationRow | None) -> None:
    row = _step_attempt_ends(batch, update, current)
    delay = int(update["StepOptions"]["NextAttemptDelaySeconds"])
    row.data["Status"] = "PENDING"
    row.data["StepDetails"]["NextAttemptTimestamp"] = batch.now_ms + delay * 1000
    batch.touch(row)
    attempt = row.data["StepDetails"]["Attempt"]
    error = update.get("Error")
    details = outcome(update)
    details.update(retry_block(attempt, delay))
    batch.event("StepFailed" if error is not None else "StepSucceeded", row, details)


def _step_succeed(batch: Batch, update: Json, current: OperationRow | None) -> None:
    row = _step_attempt_ends(batch, update, current)
    batch.end(row, "SUCCEEDED")
    attempt = row.data["StepDetails"]["Attempt"]
    details = outcome(update)
    details.update(retry_block(attempt))
    batch.event("StepSucceeded", row, details)


def _step_fail(batch: Batch, update: Json, current: OperationRow | None) -> None:
    row = _step_attempt_ends(batch, update, current)
    batch.end(row, "FAILED")
    attempt = row.data["StepDetails"]["Attempt"]
    details = outcome(update)
    details.update(retry_block(attempt))
    batch.event("StepFailed", row, details)


# WAIT


def _wait_start(batch: Batch, update: Json, current: OperationRow | None) -> None:
    require_new(current, update)
    seconds = int(update["WaitOptions"]["WaitSeconds"])
    row = batch.create(update, "STARTED")
    end = batch.now_ms + seconds * 1000
    row.data["WaitDetails"] = {"ScheduledEndTimestamp": end}
    batch.event("WaitStarted", row, {"Duration": seconds, "ScheduledEndTimestamp": end})


def _wait_cancel(batch: Batch, update: Json, current: OperationRow | None) -> None:
    row = require(current, ("STARTED",), update)
    batch.end(row, "CANCELLED")
    batch.event("WaitCancelled", row, error_block(update.get("Error")))


# CONTEXT


def _context_start(batch: Batch, update: Json, current: OperationRow | None) -> None:
    require_new(current, update)
    batch.event("ContextStarted", batch.create(update, "STARTED"), {})


def _context_close(batch: Batch, update: Json, current: OperationRow | None) -> OperationRow:
    if current is None:
        return batch.create(update, "STARTED")
    return require(current, ("STARTED",), update)


def _context_succeed(batch: Batch, update: Json, current: OperationRow | None) -> None:
    row = _context_close(batch, update, current)
    details: Json = {}
    set_field(details, "Result", update.get("Payload"))
    options = update.get("ContextOptions") or {}
    if "ReplayChildren" in options:
        details["ReplayChildren"] = bool(options["ReplayChildren"])
    row.data["ContextDetails"] = details
    batch.end(row, "SUCCEEDED")
    batch.event("ContextSucceeded", row, outcome(update))


def _context_fail(batch: Batch, update: Json, current: OperationRow | None) -> None:
    row = _context_close(batch, update, current)
    row.data["ContextDetails"] = {} if update.get("Error") is None else {"Error": update["Error"]}
    batch.end(row, "FAILED")
    batch.event("ContextFailed", row, outcome(update))


# EXECUTION


def _execution_close(batch: Batch, update: Json, current: OperationRow | None) -> None:
    if update["Id"] != batch.execution.execution_id:
        raise invalid(
            f"An EXECUTION update must use the execution's own id "
            f"{batch.execution.execution_id!r}, not {update['Id']!r}; take it from the "
            "EXECUTION operation in the invocation's state."
        )
    if update["Action"] == "SUCCEED":
        finish_execution(batch, "SUCCEEDED", result=update.get("Payload"))
    else:
        finish_execution(batch, "FAILED", error=update.get("Error"))


def finish_execution(
    batch: Batch, status: str, *, result: str | None = None, error: Json | None = None
) -> None:
    """End the execution with ``status``; after this no checkpoint token is valid."""
    execution = batch.execution
    execution.status, execution.end_ms = status, batch.now_ms
    execution.result, execution.error = result, error
    execution.token = None
    row = batch.ops.get(execution.execution_id)
    if row is not None:
        batch.end(row, status)
    outcome = result_block(result) if status == "SUCCEEDED" else error_block(error)
    batch.event(f"Execution{status.title().replace('_', '')}", row, outcome)


def settle_output(batch: Batch, output: Json) -> None:
    """End the execution as the handler's SUCCEEDED or FAILED output says; fail on others."""
    status, result = output.get("Status"), output.get("Result")
    if status == "SUCCEEDED" and (result is None or isinstance(result, str)):
        finish_execution(batch, "SUCCEEDED", result=None if result is None else clean_text(result))
    elif status == "SUCCEEDED":
        error = error_object(
            f"The handler returned a Result of type {type(result).__name__}; a durable "
            "handler returns its result as JSON text.",
            "InvalidInvocationOutput",
        )
        finish_execution(batch, "FAILED", error=error)
    elif status == "FAILED":
        finish_execution(batch, "FAILED", error=error_object(output.get("Error")))
    else:
        error = error_object(
            f"The handler returned Status {shown(status)}; a durable handler returns "
            "SUCCEEDED, FAILED or PENDING.",
            "InvalidInvocationOutput",
        )
        finish_execution(batch, "FAILED", error=error)


# Timers


def fire_due(batch: Batch, candidates: Iterable[str]) -> None:
    """Complete each due candidate: waits succeed, retries get READY, callbacks time out."""
    timers: list[tuple[int, int, OperationRow]] = []
    for operation_id in dict.fromkeys([*candidates, *batch.changed]):
        row = batch.ops[operation_id]
        due_ms = row.due_ms
        if due_ms is not None and due_ms <= batch.now_ms:
            timers.append((due_ms, row.position, row))
    # Earliest first, so what fell due before the execution's timeout still happens before it.
    timers.sort(key=lambda timer: (timer[0], timer[1]))
    for _, _, row in timers:
        if batch.execution.terminal:
            return
        due = int(row.due_ms or 0)
        if row.type == "WAIT":
            batch.end(row, "SUCCEEDED")
            seconds = round((due - int(row.data["StartTimestamp"])) / 1000)
            batch.event("WaitSucceeded", row, {"Duration": seconds})
        elif row.type == "STEP":
            row.data["Status"] = "READY"
            batch.touch(row)
        elif row.type == "CALLBACK":
            _callbacks.time_out(batch, row)
        elif row.type == "EXECUTION" and not batch.execution.terminal:
            time_out_execution(batch, row)


def time_out_execution(batch: Batch, row: OperationRow) -> None:
    """End the execution TIMED_OUT: its ExecutionTimeout has passed."""
    seconds = round((int(row.meta["TimeoutAt"]) - int(row.data["StartTimestamp"])) / 1000)
    error = {"ErrorMessage": f"Execution timed out after {seconds} seconds."}
    finish_execution(batch, "TIMED_OUT", error=error)


HANDLERS: dict[str, dict[str, Handler]] = {
    "EXECUTION": {"SUCCEED": _execution_close, "FAIL": _execution_close},
    "STEP": {
        "START": _step_start,
        "RETRY": _step_retry,
        "SUCCEED": _step_succeed,
        "FAIL": _step_fail,
    },
    "WAIT": {"START": _wait_start, "CANCEL": _wait_cancel},
    "CONTEXT": {"START": _context_start, "SUCCEED": _context_succeed, "FAIL": _context_fail},
    "CALLBACK": {"START": _callbacks.start},
    "CHAINED_INVOKE": {"START": _invokes.start},
}
