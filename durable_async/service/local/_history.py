"""History events in the GetDurableExecutionHistory shape."""

from __future__ import annotations

from typing import Any

from durable_async.service.local._model import ExecutionRecord, Json, OperationRow

__all__ = ["error_block", "make_event", "redact", "result_block", "retry_block"]

_OPERATION_KEYS = ("Id", "Name", "ParentId", "SubType")
_DATA_BLOCKS = ("Input", "Result", "Error")


def make_event(
    execution: ExecutionRecord,
    event_type: str,
    now_ms: int,
    row: OperationRow | None = None,
    details: Json | None = None,
) -> Json:
    """Return the next event of ``execution``, numbering it."""
    execution.event_count += 1
    event: Json = {
        "EventType": event_type,
        "EventId": execution.event_count,
        "EventTimestamp": now_ms,
    }
    if row is not None:
        data = row.data
        for key in _OPERATION_KEYS:
            if key in data:
                event[key] = data[key]
    if details is not None:
        event[event_type + "Details"] = details
    return event


def result_block(payload: str | None, key: str = "Result") -> Json:
    """Return ``{key: {Payload, Truncated}}``, or nothing when there is no payload."""
    return {} if payload is None else {key: {"Payload": payload, "Truncated": False}}


def error_block(error: Json | None) -> Json:
    """Return ``{"Error": {Payload, Truncated}}``, or nothing when there is no error."""
    return {} if error is None else {"Error": {"Payload": error, "Truncated": False}}


def retry_block(attempt: int, delay: int | None = None) -> Json:
    """Return the RetryDetails block of a step event."""
    details: Json = {"CurrentAttempt": attempt}
    if delay is not None:
        details["NextAttemptDelaySeconds"] = delay
    return {"RetryDetails": details}


def redact(event: Json) -> Json:
    """Return ``event`` with its payloads left out and marked truncated."""
    out: Json = dict(event)
    for key, value in event.items():
        if key.endswith("Details") and isinstance(value, dict):
            out[key] = {name: _redact_block(name, block) for name, block in value.items()}
    return out


def _redact_block(name: str, block: Any) -> Any:
    if name not in _DATA_BLOCKS or not isinstance(block, dict):
        return block
    return {"Truncated": True}
