"""Wire-level pieces of the engine's calls: tokens, markers, names and response shapes."""

from __future__ import annotations

import json
import re
import uuid

from durable_async.service import ServiceError
from durable_async.service.local._model import (
    ExecutionRecord,
    Json,
    OperationRow,
    execution_arn,
    function_arn,
    invalid,
    loads,
    shown,
)

__all__ = [
    "bad_token",
    "check_name",
    "check_token",
    "describe",
    "new_execution",
    "parse_marker",
    "referenced_ids",
    "replayed",
    "summary",
]

_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_MARKER = re.compile(r"[0-9]{1,18}")


def new_execution(
    function_name: str,
    name: str | None,
    input_payload: str | None,
    now: int,
    *,
    execution_id: str | None = None,
) -> tuple[ExecutionRecord, OperationRow]:
    """Return a new RUNNING execution and its EXECUTION operation (a fresh id unless given)."""
    execution_id = execution_id if execution_id is not None else uuid.uuid4().hex
    name = name if name is not None else str(uuid.uuid4())
    payload = _normalized_input(input_payload)
    arn = execution_arn(function_name, name, execution_id)
    record = ExecutionRecord(arn, function_name, name, now, payload, op_seq=1, op_count=1)
    data: Json = {"Id": execution_id, "Name": name, "Type": "EXECUTION", "Status": "STARTED"}
    data.update({"StartTimestamp": now, "ExecutionDetails": {"InputPayload": payload}})
    return record, OperationRow(execution_id, 0, 1, data)


def describe(execution: ExecutionRecord) -> Json:
    """Return ``execution`` in the GetDurableExecution shape."""
    described: Json = {
        "DurableExecutionArn": execution.arn,
        "DurableExecutionName": execution.name,
        "FunctionArn": function_arn(execution.function_name),
        "Version": "$LATEST",
        "Status": execution.status,
        "StartTimestamp": execution.start_ms,
        "InputPayload": execution.input_payload,
    }
    optional = {"EndTimestamp": execution.end_ms, "Result": execution.result}
    described.update({k: v for k, v in optional.items() if v is not None})
    if execution.error is not None:
        described["Error"] = execution.error
    return described


def bad_token(reason: str) -> ServiceError:
    """Return the retryable error for a token that is not the current one."""
    return ServiceError(
        f"Invalid checkpoint token: {reason}.",
        code="InvalidParameterValueException",
        retryable=True,
        status_code=400,
    )


def check_token(execution: ExecutionRecord, token: str) -> None:
    """Raise unless ``token`` is the execution's one valid checkpoint token."""
    if execution.token is not None and token == execution.token:
        return
    if execution.terminal:
        reason = "the execution has ended and accepts no more checkpoints; stop checkpointing"
    elif execution.token is None:
        reason = "no invocation of this execution is running; checkpoint only from one"
    else:
        reason = (
            "it was already used or belongs to an earlier invocation; send the "
            "CheckpointToken of the latest response"
        )
    raise bad_token(reason)


def replayed(execution: ExecutionRecord, token: str, client_token: str | None) -> Json | None:
    """Return the cached response when this call repeats the last one (same ClientToken)."""
    last = execution.last_call
    if not client_token or last is None:
        return None
    if last["ClientToken"] != client_token or last["Token"] != token:
        return None
    response: Json = last["Response"]
    return response


def referenced_ids(updates: object) -> list[str]:
    """Return every operation id an update names, as Id or ParentId, each once."""
    if not isinstance(updates, list):
        return []
    # A call names most ids twice (a START and its completion) and one parent hundreds of times.
    ids: dict[str, None] = {}
    for update in updates:
        if isinstance(update, dict):
            if isinstance(operation_id := update.get("Id"), str):
                ids[operation_id] = None
            if isinstance(parent_id := update.get("ParentId"), str):
                ids[parent_id] = None
    return list(ids)


def parse_marker(marker: str) -> int:
    """Return the position a page marker continues after; -1 for the first page."""
    if not marker:
        return -1
    # isdigit alone takes "²" and other digits int() does not read; markers are ASCII.
    if not isinstance(marker, str) or not _MARKER.fullmatch(marker):
        raise invalid(
            f"Marker {shown(marker)} was not issued by this service; pass the NextMarker of the "
            "previous page, or an empty marker for the first page."
        )
    return int(marker)


def check_name(value: str, what: str) -> None:
    """Raise unless ``value`` is a valid function or execution name."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise invalid(
            f"The {what} {shown(value)} is not valid; use 1 to 64 letters, digits, '-' or '_'."
        )


def _normalized_input(payload: str | None) -> str:
    """Return the input as JSON text: text that is not strict JSON becomes a JSON string."""
    try:
        loads(payload if payload is not None else "")
    except (ValueError, TypeError):
        return json.dumps(payload)
    return str(payload)


def summary(record: ExecutionRecord) -> Json:
    """Return ``record`` in the ListDurableExecutionsByFunction item shape."""
    summary: Json = {
        "DurableExecutionArn": record.arn,
        "DurableExecutionName": record.name,
        "FunctionArn": function_arn(record.function_name),
        "Status": record.status,
        "StartTimestamp": record.start_ms,
    }
    if record.end_ms is not None:
        summary["EndTimestamp"] = record.end_ms
    return summary
