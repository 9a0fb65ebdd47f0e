"""Operations rebuilt from ``GetDurableExecutionHistory`` events, for runners that see only those.

A client outside an invocation cannot read ``GetDurableExecutionState``; the history tells the
same story an event at a time. Each operation takes its identity from its first event and its
status and details from its latest one.
"""

from __future__ import annotations

import datetime
from typing import Any

__all__ = ["events_to_operations", "invocation_count"]

_TYPES = (
    ("ChainedInvoke", "CHAINED_INVOKE", "ChainedInvokeDetails"),
    ("Execution", "EXECUTION", "ExecutionDetails"),
    ("Callback", "CALLBACK", "CallbackDetails"),
    ("Context", "CONTEXT", "ContextDetails"),
    ("Step", "STEP", "StepDetails"),
    ("Wait", "WAIT", "WaitDetails"),
)
_STATUSES = {
    "Started": "STARTED",
    "Succeeded": "SUCCEEDED",
    "Failed": "FAILED",
    "TimedOut": "TIMED_OUT",
    "Cancelled": "CANCELLED",
    "Stopped": "STOPPED",
}


def events_to_operations(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the ``Operation`` dicts the events describe, in the order they were created."""
    operations: dict[str, dict[str, Any]] = {}
    for event in events:
        kind = _kind(event.get("EventType", ""))
        if kind is None or "Id" not in event:
            continue  # InvocationCompleted and types this version does not know
        op_type, details_key, status = kind
        op = operations.get(event["Id"])
        if op is None:
            op = operations[event["Id"]] = {
                key: event[key] for key in ("Id", "Name", "ParentId", "SubType") if key in event
            }
            op.update(Type=op_type, StartTimestamp=_ms(event.get("EventTimestamp")))
        _apply(op, details_key, status, event)
    return list(operations.values())


def invocation_count(events: list[dict[str, Any]]) -> int:
    """Return how many invocations the history records as completed."""
    return sum(event.get("EventType") == "InvocationCompleted" for event in events)


def _kind(event_type: str) -> tuple[str, str, str] | None:
    for prefix, op_type, details_key in _TYPES:
        if event_type.startswith(prefix):
            status = _STATUSES.get(event_type[len(prefix) :])
            return None if status is None else (op_type, details_key, status)
    return None


def _apply(op: dict[str, Any], details_key: str, status: str, event: dict[str, Any]) -> None:
    given = event.get(f"{event['EventType']}Details") or {}
    details: dict[str, Any] = op.setdefault(details_key, {})
    at = _ms(event.get("EventTimestamp"))
    op["Status"] = status
    if status != "STARTED":
        op["EndTimestamp"] = at
    for block, key in (("Result", "Result"), ("Error", "Error"), ("Input", "InputPayload")):
        payload = (given.get(block) or {}).get("Payload")
        if payload is not None:
            details[key] = payload
    if "CallbackId" in given:
        details["CallbackId"] = given["CallbackId"]
    if "ScheduledEndTimestamp" in given:
        details["ScheduledEndTimestamp"] = _ms(given["ScheduledEndTimestamp"])
    retry = given.get("RetryDetails") or {}
    if "CurrentAttempt" in retry:
        details["Attempt"] = retry["CurrentAttempt"]
    delay = retry.get("NextAttemptDelaySeconds")
    if status == "FAILED" and delay is not None and op["Type"] == "STEP":
        # A failed attempt the retry strategy retries: the step waits for its next attempt.
        op["Status"] = "PENDING"
        op.pop("EndTimestamp", None)
        details["NextAttemptTimestamp"] = (at or 0) + int(delay) * 1000
    elif status == "STARTED" and op["Type"] == "STEP":
        details.pop("NextAttemptTimestamp", None)


def _ms(value: Any) -> int | None:
    """Epoch milliseconds from what a client returns: a datetime (botocore) or a number."""
    if isinstance(value, datetime.datetime):
        return round(value.timestamp() * 1000)
    if isinstance(value, int | float):
        return int(value)
    return None
