"""The records the local service keeps: executions, operations, and small wire helpers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, TypeVar

from durable_async.service import ServiceError

Json = dict[str, Any]
T = TypeVar("T")

TERMINAL_OPERATION_STATUSES = frozenset(
    {"SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT", "STOPPED"}
)
TERMINAL_EXECUTION_STATUSES = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED"})
# The statuses in which an operation can have a timer (see OperationRow.due_ms).
_TIMED_STATUSES = frozenset({"STARTED", "PENDING"})
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
        kind, status = self.type, self.status
        if status not in _TIMED_STATUSES:
            return None  # every commit asks, and most operations have ended
        if kind == "WAIT" and status == "STARTED":
            return _int_or_none(self.data.get("WaitDetails", {}).get("ScheduledEndTimestamp"))
        if kind == "STEP" and status == "PENDING":
            return _int_or_none(self.data.get("StepDetails", {}).get("NextAttemptTimestamp"))
        if kind == "EXECUTION" and status == "STARTED":
            return _int_or_none(self.meta.get("TimeoutAt"))
        if kind == "CALLBACK" and status == "STARTED":
            deadlines = [self.meta.get(key) for key in ("TimeoutAt", "HeartbeatAt")]
            return min((int(t) for t in deadlines if t is not None), default=None)
        return None

    @property
    def waiting(self) -> bool:
        """Return True while the operation waits on something other than the handler."""
        kind, status = self.type, self.status
        if kind == "STEP":
            return status in ("PENDING", "READY")
        return kind in ("WAIT", "CALLBACK", "CHAINED_INVOKE") and status in (
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


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{text} is too large for a JSON number this service reads")
    return value


_DECODER = json.JSONDecoder(parse_constant=_not_json, parse_float=_finite)


def loads(text: str | bytes) -> Any:
    """Decode strict JSON: NaN, Infinity and numbers that overflow a float are refused.

    Raises ValueError for anything that is not such JSON, nesting too deep to decode included.
    """
    try:
        return _DECODER.decode(text.decode() if isinstance(text, bytes) else text)
    except RecursionError:
        raise ValueError("the JSON nests too deeply to decode") from None


def clean_text(text: str) -> str:
    """Return ``text`` encodable as UTF-8: each lone surrogate becomes a ``\\udcff`` escape.

    JSON may spell a lone surrogate (``"\\udcff"``) and ``os.fsdecode`` makes them of bytes
    that are not UTF-8; such text cannot be stored in SQLite or sent over HTTP. Valid text,
    nearly all of it, comes back as the same object.
    """
    if text.isascii():
        return text
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode()
    return text


def clean(value: T) -> T:
    """Return the JSON ``value`` with every string (keys too) passed through :func:`clean_text`.

    Containers holding nothing to escape come back as the same object, so a caller's values
    are never copied or changed in place without need.
    """
    if isinstance(value, str):
        return clean_text(value)  # type: ignore[return-value]
    if isinstance(value, dict):
        items = [(clean(k), clean(v)) for k, v in value.items()]
        if all(a is k and b is v for (a, b), (k, v) in zip(items, value.items(), strict=True)):
            return value
        return dict(items)  # type: ignore[return-value]
    if isinstance(value, list):
        cleaned = [clean(item) for item in value]
        if all(a is b for a, b in zip(cleaned, value, strict=True)):
            return value
        return cleaned  # type: ignore[return-value]
    return value


def shown(value: object, limit: int = 80) -> str:
    """Return ``repr(value)`` shortened to about ``limit`` characters, for error messages."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def function_arn(function_name: str) -> str:
    """Return the qualified function ARN the local service reports."""
    return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{function_name}:{VERSION}"


def execution_arn(function_name: str, name: str, execution_id: str) -> str:
    """Return a durable execution ARN in the shape Lambda uses."""
    return f"{function_arn(function_name)}/durable-execution/{name}/{execution_id}"


_ERROR_TEXT_KEYS = ("ErrorType", "ErrorMessage", "ErrorData")


def check_error(error: object, where: str) -> Json:
    """Return the ErrorObject ``error`` with its four members only, their text cleaned.

    Members the ErrorObject shape does not have are left out, as the service ignores them;
    a member of the wrong type, or anything but an object, is refused.
    """
    if not isinstance(error, dict):
        raise invalid(
            f"{where} must be an ErrorObject, a JSON object with the optional members "
            f"ErrorType, ErrorMessage, ErrorData and StackTrace, not {type(error).__name__}."
        )
    checked: Json = {}
    for key in _ERROR_TEXT_KEYS:
        value = error.get(key)
        if value is not None and not isinstance(value, str):
            raise invalid(f"{where}.{key} must be a string, not {type(value).__name__}.")
        if value is not None:
            checked[key] = clean_text(value)
    trace = error.get("StackTrace")
    if trace is not None:
        if not isinstance(trace, list) or not all(isinstance(line, str) for line in trace):
            raise invalid(f"{where}.StackTrace must be a list of strings.")
        checked["StackTrace"] = [clean_text(line) for line in trace]
    return checked


def error_object(error: object, default_type: str = "Error") -> Json:
    """Return ``error`` (a message, an ErrorObject dict or None) as a clean ErrorObject dict.

    For errors the service records on its own account (an invocation's failure), so nothing
    here refuses: a malformed error is recorded as an InvalidInvocationOutput saying so.
    """
    if error is None:
        return {"ErrorType": default_type, "ErrorMessage": "The invocation failed."}
    if isinstance(error, str):
        return {"ErrorType": default_type, "ErrorMessage": clean_text(error)}
    try:
        return check_error(error, "The error")
    except ServiceError as exc:
        return {"ErrorType": "InvalidInvocationOutput", "ErrorMessage": exc.message}


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
