"""Wire models: Operation, OperationUpdate, ErrorObject and their enums, as PROTOCOL.md shapes.

Operations arrive as JSON-shaped dicts (timestamps in epoch milliseconds) and are parsed once;
updates are built as dicts directly, since the checkpointer sizes and sends them as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = [
    "ErrorObject",
    "Operation",
    "OperationAction",
    "OperationStatus",
    "OperationSubType",
    "OperationType",
    "TERMINAL_STATUSES",
    "wire_text",
]

Wire = dict[str, Any]


class OperationType(StrEnum):
    """The kind of a durable operation."""

    EXECUTION = "EXECUTION"
    CONTEXT = "CONTEXT"
    STEP = "STEP"
    WAIT = "WAIT"
    CALLBACK = "CALLBACK"
    CHAINED_INVOKE = "CHAINED_INVOKE"


class OperationSubType(StrEnum):
    """The SDK-level kind of an operation, recorded next to its type."""

    STEP = "Step"
    WAIT = "Wait"
    CALLBACK = "Callback"
    RUN_IN_CHILD_CONTEXT = "RunInChildContext"
    MAP = "Map"
    MAP_ITERATION = "MapIteration"
    PARALLEL = "Parallel"
    PARALLEL_BRANCH = "ParallelBranch"
    WAIT_FOR_CALLBACK = "WaitForCallback"
    WAIT_FOR_CONDITION = "WaitForCondition"
    CHAINED_INVOKE = "ChainedInvoke"


class OperationStatus(StrEnum):
    """Where an operation is in its life."""

    STARTED = "STARTED"
    PENDING = "PENDING"
    READY = "READY"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMED_OUT = "TIMED_OUT"
    STOPPED = "STOPPED"


TERMINAL_STATUSES = frozenset(
    {
        OperationStatus.SUCCEEDED,
        OperationStatus.FAILED,
        OperationStatus.CANCELLED,
        OperationStatus.TIMED_OUT,
        OperationStatus.STOPPED,
    }
)


class OperationAction(StrEnum):
    """What an update does to its operation."""

    START = "START"
    SUCCEED = "SUCCEED"
    FAIL = "FAIL"
    RETRY = "RETRY"
    CANCEL = "CANCEL"


def wire_text(text: str) -> str:
    """Return ``text`` encodable as UTF-8: each lone surrogate becomes a ``\\udcff`` escape.

    A file name decoded with ``os.fsdecode`` keeps its undecodable bytes as lone surrogates;
    such text cannot be sent or stored, and recording it would fail every invocation. Text
    that is already valid (nearly all of it) is returned as it is.
    """
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _optional_text(value: object) -> str | None:
    if value is None:
        return None
    return wire_text(value if isinstance(value, str) else _safe_str(value))


def _safe_str(value: object) -> str:
    """Return ``str(value)``, or a description when its ``__str__`` itself fails."""
    try:
        return str(value)
    except Exception as exc:  # a broken __str__ must not stop the failure being recorded
        return f"<{type(value).__name__} whose str() raised {type(exc).__name__}>"


@dataclass(frozen=True, slots=True)
class ErrorObject:
    """An error as the service records it: the reference SDK's fields, in its order.

    Every field is made wire-safe when the object is built (see :func:`wire_text`), so an
    error holding undecodable text is recorded, escaped, instead of failing the invocation.
    """

    message: str | None = None
    type: str | None = None
    data: str | None = None
    stack_trace: list[str] | None = None

    def __post_init__(self) -> None:
        for name in ("message", "type", "data"):
            value = getattr(self, name)
            safe = _optional_text(value)
            if safe is not value:
                object.__setattr__(self, name, safe)
        if self.stack_trace is not None:
            lines = [_optional_text(line) or "" for line in self.stack_trace]
            if any(a is not b for a, b in zip(lines, self.stack_trace, strict=True)):
                object.__setattr__(self, "stack_trace", lines)

    @property
    def error_message(self) -> str | None:
        """The wire name of ``message`` (``ErrorMessage``)."""
        return self.message

    @property
    def error_type(self) -> str | None:
        """The wire name of ``type`` (``ErrorType``)."""
        return self.type

    @property
    def error_data(self) -> str | None:
        """The wire name of ``data`` (``ErrorData``)."""
        return self.data

    @classmethod
    def from_exception(cls, exc: BaseException) -> ErrorObject:
        """Describe ``exc`` as the reference SDK does: its qualified class name and message.

        An operation error keeps the message, data and stack trace it was rebuilt from.
        """
        from durable_async.exceptions import DurableOperationError

        if isinstance(exc, DurableOperationError):
            return cls(exc.message, _qualified_name(type(exc)), exc.data, exc.stack_trace)
        return cls(_safe_str(exc), _qualified_name(type(exc)))

    @classmethod
    def from_message(cls, message: str) -> ErrorObject:
        """An error with only a message (the reference SDK's constructor of that name)."""
        return cls(message)

    @classmethod
    def from_wire(cls, data: Wire | None) -> ErrorObject | None:
        """Parse an ``ErrorObject`` dict; None stays None."""
        if not data:
            return None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ErrorObject:
        """Parse an ``ErrorObject`` dict (the reference SDK's name)."""
        return cls(
            data.get("ErrorMessage"),
            data.get("ErrorType"),
            data.get("ErrorData"),
            data.get("StackTrace"),
        )

    def to_wire(self) -> Wire:
        """Return the ``ErrorObject`` dict, without absent fields."""
        wire: Wire = {}
        if self.type is not None:
            wire["ErrorType"] = self.type
        if self.message is not None:
            wire["ErrorMessage"] = self.message
        if self.data is not None:
            wire["ErrorData"] = self.data
        if self.stack_trace:
            wire["StackTrace"] = self.stack_trace
        return wire

    def to_dict(self) -> Wire:
        """The reference SDK's name for :meth:`to_wire`."""
        return self.to_wire()


def _qualified_name(error_type: type[BaseException]) -> str:
    """Return ``module.QualName``, leaving builtins unqualified (the reference SDK's rule)."""
    module = error_type.__module__
    name = error_type.__qualname__
    return name if module == "builtins" else f"{module}.{name}"


_DETAILS_KEYS = (
    "StepDetails",
    "WaitDetails",
    "CallbackDetails",
    "ChainedInvokeDetails",
    "ContextDetails",
)


@dataclass(slots=True)
class Operation:
    """One recorded operation, flattened from its details block."""

    id: str
    type: OperationType
    status: OperationStatus
    parent_id: str | None = None
    name: str | None = None
    sub_type: str | None = None
    start_timestamp: int | None = None
    end_timestamp: int | None = None
    result: str | None = None
    error: ErrorObject | None = None
    attempt: int = 0
    next_attempt_timestamp: int | None = None
    scheduled_end_timestamp: int | None = None
    callback_id: str | None = None
    input_payload: str | None = None
    replay_children: bool = False

    @classmethod
    def from_wire(cls, data: Wire) -> Operation:
        """Parse an ``Operation`` dict as the service returns it."""
        op = cls(
            id=data["Id"],
            type=OperationType(data["Type"]),
            status=OperationStatus(data["Status"]),
            parent_id=data.get("ParentId"),
            name=data.get("Name"),
            sub_type=data.get("SubType"),
            start_timestamp=data.get("StartTimestamp"),
            end_timestamp=data.get("EndTimestamp"),
        )
        for key in _DETAILS_KEYS:
            details = data.get(key)
            if details:
                op._read_details(details)
        execution = data.get("ExecutionDetails")
        if execution:
            op.input_payload = execution.get("InputPayload")
        return op

    def _read_details(self, details: Wire) -> None:
        self.result = details.get("Result")
        self.error = ErrorObject.from_wire(details.get("Error"))
        self.attempt = details.get("Attempt") or 0
        self.next_attempt_timestamp = details.get("NextAttemptTimestamp")
        self.scheduled_end_timestamp = details.get("ScheduledEndTimestamp")
        self.callback_id = details.get("CallbackId")
        self.replay_children = bool(details.get("ReplayChildren"))

    @property
    def is_terminal(self) -> bool:
        """Whether the operation has reached a final status."""
        return self.status in TERMINAL_STATUSES


def make_update(
    op_id: str,
    op_type: OperationType,
    action: OperationAction,
    *,
    parent_id: str | None = None,
    name: str | None = None,
    sub_type: str | None = None,
    payload: str | None = None,
    error: ErrorObject | None = None,
    options: tuple[str, Wire] | None = None,
) -> Wire:
    """Build one ``OperationUpdate`` dict; ``options`` is a ``(key, value)`` pair.

    For example ``("WaitOptions", {"WaitSeconds": 5})``.
    """
    # _value_, not .value: the same string, without enum's descriptor call (two per update).
    update: Wire = {"Id": op_id, "Type": op_type._value_, "Action": action._value_}
    if parent_id is not None:
        update["ParentId"] = parent_id
    if name is not None:
        update["Name"] = name
    if sub_type is not None:
        update["SubType"] = sub_type
    if payload is not None:
        update["Payload"] = payload
    if error is not None:
        update["Error"] = error.to_wire()
    if options is not None:
        update[options[0]] = options[1]
    return update
