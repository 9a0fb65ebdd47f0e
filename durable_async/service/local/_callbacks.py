"""Callbacks: the START handler, completion from outside, heartbeats and timeouts.

A callback id is a bearer credential: whoever holds it can complete the callback. It is the
base64 of ``[arn, operation id, secret]``, where the secret is 128 random bits drawn when the
callback starts. The ARN and operation id let a completion find the operation without an
index; the whole id is stored on the operation (so it survives restarts) and a completion
must present it exactly, compared in constant time. An id built by hand from the ARN and the
operation id lacks the secret and is refused exactly like an id that names nothing.

The deadlines (``TimeoutAt``, ``HeartbeatAt``, epoch ms) live in the operation's ``meta``,
which makes them the operation's due time for the store and ``next_wakeup``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets

from durable_async.service import ServiceError
from durable_async.service.local._batch import Batch, require_new, set_field
from durable_async.service.local._history import error_block, result_block
from durable_async.service.local._model import (
    ExecutionRecord,
    Json,
    OperationRow,
    dumps,
    invalid,
    shown,
)

__all__ = [
    "HEARTBEAT_ERROR",
    "MAX_CALLBACK_ID_CHARS",
    "SECRET_BYTES",
    "TIMEOUT_ERROR",
    "new_callback_id",
    "check_open",
    "complete",
    "find",
    "heartbeat",
    "parse_callback_id",
    "start",
    "time_out",
]

# The errors a timed-out callback records, as the reference emulator records them.
TIMEOUT_ERROR: Json = {"ErrorType": "Callback.Timeout", "ErrorMessage": "Callback timed out"}
HEARTBEAT_ERROR: Json = {
    "ErrorType": "Callback.Heartbeat",
    "ErrorMessage": "Callback timed out on heartbeat",
}


# CallbackId in Lambda's API model: 1 to 1024 characters of standard base64.
MAX_CALLBACK_ID_CHARS = 1024
SECRET_BYTES = 16


def new_callback_id(arn: str, operation_id: str) -> str:
    """Return a new callback id for operation ``operation_id`` of execution ``arn``."""
    secret = secrets.token_hex(SECRET_BYTES)
    return base64.b64encode(dumps([arn, operation_id, secret]).encode()).decode()


def parse_callback_id(callback_id: str) -> tuple[str, str]:
    """Return the ``(arn, operation id)`` a callback id names; refuse ids never issued.

    This only says where to look: :func:`find` accepts the id only if it is the one stored.
    Ids issued before ids carried a secret name two fields and still work for their callback.
    """
    if not isinstance(callback_id, str) or not callback_id:
        raise invalid("CallbackId is required; pass the id the callback operation returned.")
    if len(callback_id) > MAX_CALLBACK_ID_CHARS:
        raise invalid(
            f"CallbackId {shown(callback_id)} is longer than {MAX_CALLBACK_ID_CHARS} "
            "characters; pass the id the callback operation returned."
        )
    try:
        fields = json.loads(base64.b64decode(callback_id, validate=True))
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError, RecursionError):
        raise unknown_callback(callback_id) from None
    if (
        not isinstance(fields, list)
        or len(fields) not in (2, 3)
        or not all(isinstance(field, str) for field in fields)
    ):
        raise unknown_callback(callback_id)
    return fields[0], fields[1]


def unknown_callback(callback_id: str) -> ServiceError:
    """Return the error for a callback id that names no callback."""
    return ServiceError(
        f"Callback {shown(callback_id)} does not exist; pass the CallbackId of a started callback "
        "operation exactly as the service returned it.",
        code="ResourceNotFoundException",
        retryable=False,
        status_code=404,
    )


def start(batch: Batch, update: Json, current: OperationRow | None) -> None:
    """Start a callback: issue its id and arm its timeout and heartbeat timeout."""
    require_new(current, update)
    row = batch.create(update, "STARTED")
    callback_id = new_callback_id(batch.execution.arn, row.id)
    row.data["CallbackDetails"] = {"CallbackId": callback_id}
    options = update.get("CallbackOptions") or {}
    timeout = int(options.get("TimeoutSeconds") or 0)
    heartbeat = int(options.get("HeartbeatTimeoutSeconds") or 0)
    details: Json = {"CallbackId": callback_id}
    if timeout:
        row.meta["TimeoutAt"] = batch.now_ms + timeout * 1000
        details["Timeout"] = timeout
    if heartbeat:
        row.meta["HeartbeatTimeout"] = heartbeat
        row.meta["HeartbeatAt"] = batch.now_ms + heartbeat * 1000
        details["HeartbeatTimeout"] = heartbeat
    batch.event("CallbackStarted", row, details)


def find(batch: Batch, operation_id: str, callback_id: str) -> OperationRow:
    """Return the callback operation ``callback_id`` names; refuse any other id."""
    row = batch.ops.get(operation_id)
    if row is None or row.type != "CALLBACK":
        raise unknown_callback(callback_id)
    issued = str(row.data.get("CallbackDetails", {}).get("CallbackId", ""))
    if not hmac.compare_digest(issued.encode(), callback_id.encode("utf-8", "backslashreplace")):
        raise unknown_callback(callback_id)
    return row


def check_open(execution: ExecutionRecord, row: OperationRow, callback_id: str) -> None:
    """Refuse to complete or heartbeat a callback that ended, or whose execution did."""
    if execution.terminal:
        raise invalid(
            f"Callback {callback_id!r} belongs to execution {execution.arn!r}, which already "
            f"ended with status {execution.status}; the callback can no longer be completed."
        )
    if row.status == "TIMED_OUT":
        error = row.data.get("CallbackDetails", {}).get("Error") or TIMEOUT_ERROR
        raise ServiceError(
            f"Callback {callback_id!r} timed out ({error.get('ErrorType')}) and can no longer "
            "be completed; send heartbeats more often or give the callback a longer timeout.",
            code="CallbackTimeoutException",
            retryable=False,
            status_code=408,
        )
    if row.status != "STARTED":
        raise invalid(
            f"Callback {callback_id!r} already completed with status {row.status}; a callback "
            "is completed once."
        )


def complete(
    batch: Batch, row: OperationRow, *, result: str | None = None, error: Json | None = None
) -> None:
    """End the started callback ``row``: SUCCEEDED with ``result``, or FAILED with ``error``."""
    details = row.data["CallbackDetails"]
    if error is None:
        set_field(details, "Result", result)
        batch.end(row, "SUCCEEDED")
        batch.event("CallbackSucceeded", row, result_block(result))
    else:
        details["Error"] = error
        batch.end(row, "FAILED")
        batch.event("CallbackFailed", row, error_block(error))


def heartbeat(batch: Batch, row: OperationRow) -> None:
    """Push the started callback's heartbeat deadline a full heartbeat timeout from now."""
    seconds = row.meta.get("HeartbeatTimeout")
    if seconds:
        row.meta["HeartbeatAt"] = batch.now_ms + int(seconds) * 1000
        batch.save(row)


def time_out(batch: Batch, row: OperationRow) -> None:
    """End the callback ``row`` TIMED_OUT by whichever of its deadlines came first."""
    timeout_at, heartbeat_at = row.meta.get("TimeoutAt"), row.meta.get("HeartbeatAt")
    by_heartbeat = heartbeat_at is not None and (timeout_at is None or heartbeat_at < timeout_at)
    error = dict(HEARTBEAT_ERROR if by_heartbeat else TIMEOUT_ERROR)
    row.data["CallbackDetails"]["Error"] = error
    batch.end(row, "TIMED_OUT")
    batch.event("CallbackTimedOut", row, error_block(error))
