"""Calls that change an execution from outside its invocation: callbacks and chained invokes.

Like ``_calls``, each function takes the :class:`Snapshot` a store read and returns its result
with the :class:`Batch` to write, inside the call's one transaction. A refusal that follows a
timer firing (a callback that just timed out) is returned, not raised, so the timeout is
still committed; the engine raises it after the commit.
"""

from __future__ import annotations

from durable_async.service import ServiceError
from durable_async.service.local import _callbacks, _invokes
from durable_async.service.local._apply import Batch, fire_due
from durable_async.service.local._model import Json, OperationRow, Snapshot

__all__ = [
    "claim_invoke",
    "complete_callback",
    "complete_invoke",
    "heartbeat_callback",
]


def complete_callback(
    snapshot: Snapshot,
    *,
    now: int,
    callback_id: str,
    operation_id: str,
    result: str | None = None,
    error: Json | None = None,
) -> tuple[ServiceError | None, Batch]:
    """Complete a started callback: SUCCEEDED with ``result``, or FAILED with ``error``."""
    batch, refusal = _open_callback(snapshot, now, callback_id, operation_id)
    if refusal is None:
        row = batch.ops[operation_id]
        _callbacks.complete(batch, row, result=result, error=error)
    return refusal, batch


def heartbeat_callback(
    snapshot: Snapshot, *, now: int, callback_id: str, operation_id: str
) -> tuple[ServiceError | None, Batch]:
    """Push a started callback's heartbeat deadline."""
    batch, refusal = _open_callback(snapshot, now, callback_id, operation_id)
    if refusal is None:
        _callbacks.heartbeat(batch, batch.ops[operation_id])
    return refusal, batch


def _open_callback(
    snapshot: Snapshot, now: int, callback_id: str, operation_id: str
) -> tuple[Batch, ServiceError | None]:
    """Fire due timers first, so a callback past its deadline is not revived."""
    batch = Batch(snapshot, now)
    row = _callbacks.find(batch, operation_id, callback_id)
    if not batch.execution.terminal:
        fire_due(batch, snapshot.due)
    try:
        _callbacks.check_open(batch.execution, row, callback_id)
    except ServiceError as refusal:
        return batch, refusal
    return batch, None


def claim_invoke(snapshot: Snapshot, *, now: int, operation_id: str) -> tuple[bool, Batch | None]:
    """Claim a started chained invoke's plain-function target; False if already claimed."""
    batch = Batch(snapshot, now)
    row = _started_invoke(batch, operation_id)
    if row is None or not _invokes.claim(batch, row):
        return False, None
    return True, batch


def complete_invoke(
    snapshot: Snapshot,
    *,
    now: int,
    operation_id: str,
    status: str,
    result: str | None = None,
    error: Json | None = None,
) -> tuple[bool, Batch | None]:
    """End a started chained invoke; False (nothing written) when it or the execution ended."""
    batch = Batch(snapshot, now)
    row = _started_invoke(batch, operation_id)
    if row is None:
        return False, None
    _invokes.complete(batch, row, status, result=result, error=error)
    return True, batch


def _started_invoke(batch: Batch, operation_id: str) -> OperationRow | None:
    row = batch.ops.get(operation_id)
    if batch.execution.terminal or row is None or row.type != "CHAINED_INVOKE":
        return None
    return row if row.status == "STARTED" else None
