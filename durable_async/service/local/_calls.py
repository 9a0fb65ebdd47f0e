"""The pure part of each call that changes an execution.

Each function takes the :class:`Snapshot` a store read and returns its result with the
:class:`Batch` to write; the store runs it inside the call's one transaction, possibly on its
own thread, so nothing here awaits or touches the event loop.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from durable_async.service.local._apply import (
    HANDLERS,
    Batch,
    apply_update,
    finish_execution,
    fire_due,
    settle_output,
)
from durable_async.service.local._batch import TargetResolver
from durable_async.service.local._history import error_block
from durable_async.service.local._model import (
    ExecutionRecord,
    Json,
    Snapshot,
    conflict,
    error_object,
)
from durable_async.service.local._validate import check_client_token, validate_call
from durable_async.service.local._wire import check_token, replayed

__all__ = [
    "apply_call",
    "close_invocation",
    "complete_invocation",
    "end_execution",
    "fire_due_timers",
    "issue_token",
    "open_invocation",
    "respond",
]

_ACTIONS = {kind: frozenset(actions) for kind, actions in HANDLERS.items()}
_INTERRUPTED = {
    "ErrorType": "InvocationInterrupted",
    "ErrorMessage": "The invocation ended without reporting an outcome; its process may have "
    "stopped. The next invocation replays from the last checkpoint.",
}


def apply_call(
    snapshot: Snapshot,
    *,
    now: int,
    token: str,
    updates: list[Json],
    client_token: str | None,
    targets: TargetResolver | None = None,
) -> tuple[Json, Batch | None]:
    """Apply one checkpoint call to ``snapshot``; return the response and the batch to write.

    ``targets`` resolves the function a chained invoke names; None takes every name as a
    durable function.
    """
    check_client_token(client_token)
    execution = snapshot.execution
    replay = replayed(execution, token, client_token)
    if replay is not None:
        return replay, None
    check_token(execution, token)
    batch = Batch(snapshot, now, targets)
    for index, update in enumerate(validate_call(updates, _ACTIONS)):
        apply_update(batch, index, update)
    if not execution.terminal:
        fire_due(batch, snapshot.due)
    response = respond(batch, snapshot.unseen)
    execution.checkpoint_calls += 1
    if client_token:
        execution.last_call = {
            "ClientToken": client_token,
            "Token": token,
            "Response": response,
        }
    return response, batch


def open_invocation(snapshot: Snapshot, *, now: int) -> tuple[tuple[str | None, list[str]], Batch]:
    """Begin an invocation: close a dangling one, fire due timers, issue a token.

    Returns the token and the ``UpdatedOperationIds``: the operations that changed since the
    handler last saw the state (a wait that elapsed, a retry made READY, a callback answered,
    a chained invoke that finished), in creation order. No token when a due timer ended the
    execution (its ExecutionTimeout passed).
    """
    execution = snapshot.execution
    if execution.terminal:
        raise conflict(
            f"Execution {execution.arn!r} already ended with status {execution.status}; "
            "it cannot be invoked again. Start a new execution instead."
        )
    batch = Batch(snapshot, now)
    if execution.invocation_key is not None:
        complete_invocation(batch, _INTERRUPTED)
    fire_due(batch, snapshot.due)
    if execution.terminal:
        return (None, []), batch
    execution.invocations += 1
    execution.invocation_key = uuid.uuid4().hex
    execution.invocation_start_ms = now
    token = issue_token(execution)
    execution.delivered_seq = execution.op_seq
    changed = (batch.ops[i] for i in dict.fromkeys([*snapshot.unseen, *batch.changed]))
    updated = sorted((r for r in changed if r.type != "EXECUTION"), key=lambda r: r.position)
    return (token, [row.id for row in updated]), batch


def close_invocation(
    snapshot: Snapshot,
    *,
    now: int,
    output: Json | None,
    error: str | Json | None,
    waiting: bool,
) -> tuple[Json | None, Batch]:
    """End the running invocation with its output or error; return the failure, if any."""
    batch = Batch(snapshot, now)
    status = None if output is None else output.get("Status")
    running = error is None and output is not None and not batch.execution.terminal
    failure = error_object(error) if error is not None else None
    if running and status == "PENDING":
        failure = _pending_failure(batch.execution, waiting)
    complete_invocation(batch, failure)
    if running and output is not None and status != "PENDING":
        settle_output(batch, output)
    return failure, batch


def respond(batch: Batch, unseen: Sequence[str]) -> Json:
    """Return the checkpoint response: every changed operation and, unless ended, a token."""
    execution = batch.execution
    ids = dict.fromkeys([*unseen, *batch.changed])
    rows = sorted((batch.ops[i] for i in ids), key=lambda row: row.position)
    execution.delivered_seq = execution.op_seq
    state = {"Operations": [row.data for row in rows], "NextMarker": ""}
    if execution.terminal:
        return {"NewExecutionState": state}
    issue_token(execution)
    return {"CheckpointToken": execution.token, "NewExecutionState": state}


def complete_invocation(batch: Batch, failure: Json | None) -> None:
    """Record the running invocation as completed, with ``failure`` if it failed."""
    execution = batch.execution
    details: Json = {
        "StartTimestamp": execution.invocation_start_ms or batch.now_ms,
        "EndTimestamp": batch.now_ms,
        "RequestId": str(uuid.UUID(execution.invocation_key or uuid.uuid4().hex)),
        **error_block(failure),
    }
    batch.event("InvocationCompleted", None, details)
    execution.token = execution.invocation_key = execution.invocation_start_ms = None


def issue_token(execution: ExecutionRecord) -> str:
    """Issue the execution's next checkpoint token; every earlier one stops working."""
    execution.token_seq += 1
    execution.token = f"{execution.invocation_key}z{execution.token_seq:x}"
    return execution.token


def _pending_failure(execution: ExecutionRecord, waiting: bool) -> Json | None:
    if waiting or execution.op_seq > execution.delivered_seq:
        return None
    return error_object(
        "Cannot return PENDING status with no pending operations; the handler must "
        "finish with SUCCEEDED or FAILED when nothing is left to wait for.",
        "InvalidInvocationOutput",
    )


def fire_due_timers(snapshot: Snapshot, *, now: int) -> tuple[bool, Batch]:
    """Fire the execution's due timers (its timeout included); return whether it ended."""
    batch = Batch(snapshot, now)
    if not snapshot.execution.terminal:
        fire_due(batch, snapshot.due)
    return snapshot.execution.terminal, batch


def end_execution(
    snapshot: Snapshot, *, now: int, status: str, error: Json | None
) -> tuple[int, Batch]:
    """End a running execution with ``status``; refuse one that already ended."""
    if snapshot.execution.terminal:
        raise conflict(
            f"Execution {snapshot.execution.arn!r} already ended with status "
            f"{snapshot.execution.status}; only a RUNNING execution can be stopped or failed."
        )
    batch = Batch(snapshot, now)
    finish_execution(batch, status, error=error)
    return now, batch
