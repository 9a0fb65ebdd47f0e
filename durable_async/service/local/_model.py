"""The records the local service keeps: executions, operations, and small wire helpers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from durable_async.service import ServiceError

Json = dict[str, Any]

TERMINAL_OPERATION_STATUSES = frozenset(
    {"SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT", "STOPPED"}
)
TERMINAL_EXECUTION_STATUSES = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED"})
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
VERSION = "$LATEST"


@dataclass
class ExecutionRecord:
    """One durable execution and the service's bookkeeping for it."""

    arn: str
    function_name: str
    name: str
    start_ms: int
    input_payload: str | None = None
    status: str = "RUNNING"
    end_ms: int | None = None
    result: str | None = None
    error: Json | None = None
    # The one checkpoint token that is valid now; None between invocations and once terminal.
    token: str | None = None
    token_seq: int = 0
    # Identifies the running invocation; its tokens may still page GetDurableExecutionState.
    invocation_key: str | None = None
    invocation_start_ms: int | None = None
    invocations: int = 0
    checkpoint_calls: int = 0
    # Bumped on every operation change; delivered_seq is the highest seq the handler has seen.
    op_seq: int = 0
    delivered_seq: int = 0
    op_count: int = 0
    event_count: int = 0
    # {"ClientToken", "Token", "Response"} of the last checkpoint call, for idempotent retries.
    last_call: Json | None = field(default=None)

    @property
    def terminal(self) -> bool:
        """Return True once the execution has ended."""
        return self.status in TERMINAL_EXECUTION_STATUSES

    @property
    def execution_id(self) -> str:
        """Return the EXECUTION operation's Id: the last segment of the ARN."""
        return self.arn.rsplit("/", 1)[-1]


@dataclass
class OperationRow:
    """One operation as the service stores it: the wire dict plus ordering keys.

    ``meta`` is the service's own bookkeeping (callback deadlines, a chained invoke's target);
    it is stored with the operation and never sent to the handler.
    """

    id: str
    position: int
    seq: int
    data: Json
    meta: Json = field(default_factory=dict)

    @property
    def type(self) -> str:
        """Return the operation's Type."""
        return str(self.data["Type"])

    @property
    def status(self) -> str:
        """Return the operation's Status."""
        return str(self.data["Status"])

    @property
    def due_ms(self) -> int | None:
        """Return when the service must act on this operation by itself, if ever."""
        if self.type == "WAIT" and self.status == "STARTED":
            return _int_or_none(self.data.get("WaitDetails", {}).get("ScheduledEndTimestamp"))
        if self.type == "STEP" and self.status == "PENDING":
            return _int_or_none(self.data.get("StepDetails", {}).get("NextAttemptTimestamp"))
        if self.type == "CALLBACK" and self.status == "STARTED":
            deadlines = [self.meta.get(key) for key in ("TimeoutAt", "HeartbeatAt")]
            return min((int(t) for t in deadlines if t is not None), default=None)
        return None

    @property
    def waiting(self) -> bool:
        """Return True while the operation waits on something other than the handler."""
        if self.type == "STEP":
            return self.status in ("PENDING", "READY")
        return self.type in ("WAIT", "CALLBACK", "CHAINED_INVOKE") and self.status in (
            "STARTED",
            "PENDING",
        )


@dataclass
class Snapshot:
    """What one checkpoint call reads before it applies anything."""

    execution: ExecutionRecord
    # The requested operations that exist, plus every due and unseen one.
    operations: dict[str, OperationRow]
    # Ids whose timer is at or before the requested time, in creation order.
    due: list[str]
    # Ids changed after ``execution.delivered_seq``, in creation order.
    unseen: list[str]


@dataclass
class Changes:
    """What one call writes: the execution row, the operations it changed, its new events."""

    execution: ExecutionRecord
    operations: list[OperationRow]
    events: list[Json]


def _int_or_none(value: object) -> int | None:
    return None if value is None else int(str(value))


# One encoder for every call: json.dumps with non-default options builds a new one each time.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def dumps(value: object) -> str:
    """Encode ``value`` as compact JSON."""
    return _ENCODER.encode(value)


def function_arn(function_name: str) -> str:
    """Return the qualified function ARN the local service reports."""
    return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{function_name}:{VERSION}"


def execution_arn(function_name: str, name: str, execution_id: str) -> str:
    """Return a durable execution ARN in the shape Lambda uses."""
    return f"{function_arn(function_name)}/durable-execution/{name}/{execution_id}"


def error_object(error: str | Json | None, default_type: str = "Error") -> Json:
    """Return ``error`` as an ErrorObject dict."""
    if error is None:
        return {"ErrorType": default_type, "ErrorMessage": "The invocation failed."}
    if isinstance(error, str):
        return {"ErrorType": default_type, "ErrorMessage": error}
    return dict(error)


def invalid(message: str) -> ServiceError:
    """Return the non-retryable error for a request that can never succeed as sent."""
    return ServiceError(
        message, code="InvalidParameterValueException", retryable=False, status_code=400
    )


def not_found(arn: str) -> ServiceError:
    """Return the error for an execution the service does not know."""
    return ServiceError(
        f"Durable execution {arn!r} does not exist; check the ARN returned by start_execution.",
        code="ResourceNotFoundException",
        retryable=False,
        status_code=404,
    )


def conflict(message: str) -> ServiceError:
    """Return the error for a request that conflicts with the execution's state."""
    return ServiceError(message, code="ResourceConflictException", retryable=False, status_code=409)
