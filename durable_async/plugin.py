"""Instrumentation plugins: the reference SDK's plugin interface, name for name.

A plugin observes an invocation without taking part in it: when it starts and ends, when each
operation starts and ends, when user code (a step body, a child context's function, a condition
check) starts and ends, and when checkpoint responses change operations. Register a *factory*,
not a plugin; the SDK asks it for a fresh plugin per invocation::

    from durable_async import durable_execution
    from durable_async.plugin import DurableInstrumentationPlugin, OperationEndInfo


    class Timings(DurableInstrumentationPlugin):
        def on_operation_end(self, info: OperationEndInfo) -> None:
            print(info.name, info.status, info.end_time)


    class TimingsFactory:
        def create_plugin(self, info: object, /) -> Timings:
            return Timings()


    @durable_execution(plugins=[TimingsFactory()])
    async def handler(event: dict[str, object], ctx: object) -> None: ...

Factories are also found by name: ``DURABLE_EXECUTION_PLUGINS=otel,mine`` (the reference's
variable) loads the entry points of those names in the ``durable_async.plugins`` group (see
:mod:`durable_async.plugin_discovery`).

**Where hooks run.** Every hook is a plain (synchronous) call made on the invocation's event
loop, by the task that runs the operation, and that task waits for it: keep hooks fast, and do
slow work (a network export) on a thread of your own, finished in ``on_invocation_end``. A hook
that raises is logged and ignored, so a plugin cannot fail an execution; only
``KeyboardInterrupt``, ``SystemExit`` and ``GeneratorExit`` propagate, once
``on_invocation_end`` has reached every plugin. A hook defined ``async def`` is an error (its
coroutine is closed and logged). See ``docs/plugins.md``.

**Order and repeats** are the reference's:

- ``on_operation_start`` runs before an operation's START is queued (``is_replayed`` is true for
  a step's later attempt), and for an operation recorded in an earlier invocation that is still
  in progress when this one replays it (``is_replayed`` true); it precedes
  ``on_user_function_start``.
- ``on_user_function_start``/``on_user_function_end`` bracket each run of user code, with the
  attempt number for steps and condition checks; the end hook runs before the outcome is
  checkpointed.
- ``on_operation_end`` runs once per invocation when an operation reaches a terminal status,
  before the operation returns to user code: when the checkpoint response that ends it is
  merged, or, for an operation that ended while the execution was suspended (a wait that
  elapsed, a callback answered, a chained invoke that finished), when this invocation replays
  it; one nobody replays is reported before ``on_invocation_end``. An operation replayed from a
  terminal checkpoint it had in an earlier invocation is not reported again. Within one
  response, descendants are reported before their ancestors. A child context that records no
  end is reported when its function returns, on every run: a virtual one (``is_replayed``
  false) and one rebuilding a result too large to record (``is_replayed`` true).
- ``on_operation_change`` runs after every checkpoint response that changed an operation's
  status, with the changed operations and the whole map.
- ``on_invocation_start`` runs before the handler starts, ``on_invocation_end`` after every
  other hook, however the invocation ends (``RETRY`` when it raised to the service).
"""

from __future__ import annotations

import dataclasses
import datetime
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol, Self

from durable_async._models import ErrorObject, Operation, OperationStatus, OperationType

__all__ = [
    "DurableInstrumentationPlugin",
    "DurableInstrumentationPluginFactory",
    "InvocationEndInfo",
    "InvocationInfo",
    "InvocationStartInfo",
    "InvocationStatus",
    "OperationChangeInfo",
    "OperationEndInfo",
    "OperationInfo",
    "OperationStartInfo",
    "OperationType",
    "PropagationInput",
    "PropagationMetadata",
    "UserFunctionEndInfo",
    "UserFunctionOutcome",
    "UserFunctionStartInfo",
]


class InvocationStatus(Enum):
    """How an invocation ended, as plugins see it."""

    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    PENDING = "PENDING"
    RETRY = "RETRY"


def _time(epoch_ms: int | None) -> datetime.datetime | None:
    if epoch_ms is None:
        return None
    return datetime.datetime.fromtimestamp(epoch_ms / 1000, datetime.UTC)


@dataclass(frozen=True)
class OperationInfo:
    """One operation as plugins see it (its recorded fields, never live objects)."""

    operation_id: str
    operation_type: OperationType
    #: The recorded subtype (compare with ``==``), None for the execution itself.
    sub_type: str | None
    name: str | None
    parent_id: str | None
    start_time: datetime.datetime | None
    is_replayed: bool
    status: OperationStatus
    end_time: datetime.datetime | None = field(default=None, kw_only=True)
    #: The serialized result, when there is one.
    result: str | None = field(default=None, kw_only=True)
    error: ErrorObject | None = field(default=None, kw_only=True)
    attempt: int | None = field(default=None, kw_only=True)

    @classmethod
    def from_operation(cls, operation: Operation, *, is_replayed: bool = False) -> Self:
        """The plugin view of a recorded operation (as this class: ``OperationEndInfo``...)."""
        return cls(**_fields(operation), is_replayed=is_replayed)


def _fields(operation: Operation) -> dict[str, Any]:
    return {
        "operation_id": operation.id,
        "operation_type": operation.type,
        "sub_type": operation.sub_type,
        "name": operation.name,
        "parent_id": operation.parent_id,
        "start_time": _time(operation.start_timestamp),
        "status": operation.status,
        "end_time": _time(operation.end_timestamp),
        "result": operation.result,
        "error": _copy_error(operation.error),
        "attempt": operation.attempt if operation.type is OperationType.STEP else None,
    }


def _copy_error(error: ErrorObject | None) -> ErrorObject | None:
    """The plugin's own copy: the recorded error's stack trace is a list replays raise with."""
    if error is None or error.stack_trace is None:
        return error
    return dataclasses.replace(error, stack_trace=list(error.stack_trace))


@dataclass(frozen=True)
class OperationStartInfo(OperationInfo):
    """An operation starting (or found in progress on replay)."""


@dataclass(frozen=True)
class OperationEndInfo(OperationInfo):
    """An operation that reached a terminal status."""


@dataclass(frozen=True)
class OperationChangeInfo:
    """Operations a checkpoint response changed, and the whole map after it."""

    execution_arn: str | None
    updated_operations: dict[str, OperationInfo]
    operations: dict[str, OperationInfo]


class UserFunctionOutcome(Enum):
    """How one run of user code ended; INCOMPLETE when it was cancelled or suspended."""

    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    INCOMPLETE = "INCOMPLETE"

    @classmethod
    def from_error(cls, error: ErrorObject | None) -> UserFunctionOutcome:
        """SUCCEEDED without an error, FAILED with one."""
        return cls.SUCCEEDED if error is None else cls.FAILED


@dataclass(frozen=True)
class UserFunctionStartInfo(OperationInfo):
    """User code of an operation starting (one attempt of a step, a child's function...)."""

    #: True when a map or parallel runs its branches again only to rebuild a large result.
    is_replay_children: bool = False


@dataclass(frozen=True)
class UserFunctionEndInfo(OperationInfo):
    """User code of an operation ending."""

    is_replay_children: bool
    outcome: UserFunctionOutcome

    @classmethod
    def from_start_info(
        cls,
        start_info: UserFunctionStartInfo,
        error: ErrorObject | None,
        *,
        outcome: UserFunctionOutcome | None = None,
    ) -> UserFunctionEndInfo:
        """The end of the run ``start_info`` began, now."""
        return cls(
            operation_id=start_info.operation_id,
            operation_type=start_info.operation_type,
            sub_type=start_info.sub_type,
            name=start_info.name,
            parent_id=start_info.parent_id,
            start_time=start_info.start_time,
            is_replayed=start_info.is_replayed,
            status=start_info.status,
            is_replay_children=start_info.is_replay_children,
            attempt=start_info.attempt,
            outcome=outcome if outcome is not None else UserFunctionOutcome.from_error(error),
            end_time=datetime.datetime.now(datetime.UTC),
            error=error,
        )


@dataclass(frozen=True)
class InvocationInfo:
    """One invocation of a durable execution."""

    request_id: str | None
    execution_arn: str | None
    is_first_invocation: bool
    execution_start_time: datetime.datetime | None = None
    #: The decoded execution input (a copy: changing it changes nothing).
    execution_input: Any = field(default=None, kw_only=True, repr=False, compare=False)
    #: The recorded operations by id, at the invocation's start (or end, in the end info).
    operations: dict[str, OperationInfo] = field(
        default_factory=dict, kw_only=True, repr=False, compare=False
    )


@dataclass(frozen=True)
class InvocationStartInfo(InvocationInfo):
    """An invocation starting."""

    #: The operations that changed while the execution was suspended (``UpdatedOperationIds``).
    updated_operations: dict[str, OperationInfo] = field(
        default_factory=dict, kw_only=True, repr=False, compare=False
    )
    #: The ``X-Amzn-Trace-Id`` the invocation was started with, when known (an extra of
    #: durable_async: the argument of ``DurableHandler.invoke(trace_header=...)``, else the
    #: ``_X_AMZN_TRACE_ID`` environment variable Lambda sets).
    trace_header: str | None = field(default=None, kw_only=True, compare=False)


@dataclass(frozen=True)
class InvocationEndInfo(InvocationInfo):
    """An invocation ending."""

    status: InvocationStatus = field(kw_only=True)
    error: ErrorObject | None = field(default=None)
    #: The serialized result on SUCCEEDED ("" when it was checkpointed for its size).
    execution_result: str | None = field(default=None, kw_only=True, repr=False, compare=False)


@dataclass(frozen=True)
class PropagationInput:
    """A chained invoke about to be started, for which plugins may add trace metadata."""

    execution_arn: str
    operation_id: str
    target_function_name: str
    parent_operation_id: str | None = None


@dataclass(frozen=True)
class PropagationMetadata:
    """What a plugin adds to a chained invoke's START (``ChainedInvokeOptions``)."""

    x_amzn_trace_id: str | None = None


class DurableInstrumentationPlugin:
    """Base class for plugins: override the hooks you need (see the module's docs)."""

    def provide_propagation_metadata(self, info: PropagationInput) -> PropagationMetadata | None:
        """Return metadata for a chained invoke's START (not for its replay), or None."""
        return None

    def on_invocation_start(self, info: InvocationStartInfo) -> None:
        """The invocation starts; the handler runs next."""

    def on_invocation_end(self, info: InvocationEndInfo) -> None:
        """The invocation ends; every other hook has run."""

    def on_operation_start(self, info: OperationStartInfo) -> None:
        """An operation starts, or is found still in progress on replay."""

    def on_operation_end(self, info: OperationEndInfo) -> None:
        """An operation reached a terminal status (reported once)."""

    def on_operation_change(self, info: OperationChangeInfo) -> None:
        """A checkpoint response changed operations."""

    def on_user_function_start(self, info: UserFunctionStartInfo) -> None:
        """User code of an operation starts."""

    def on_user_function_end(self, info: UserFunctionEndInfo) -> None:
        """User code of an operation ended (before its outcome is checkpointed)."""


class DurableInstrumentationPluginFactory(Protocol):
    """Builds one plugin per invocation: ``create_plugin(info)``, info positional.

    Keep what outlives an invocation (an exporter, a tracer provider) on the factory and what
    does not on the plugin. A factory that raises, or returns something other than a
    DurableInstrumentationPlugin, is logged and skipped for that invocation.
    """

    def create_plugin(self, info: InvocationStartInfo, /) -> DurableInstrumentationPlugin:
        """Return the plugin that observes the invocation ``info`` describes."""
        ...
