"""One invocation's instrumentation: builds its plugins and calls their hooks.

The SDK holds an :class:`Instrumentation` only when the handler has plugin factories, so an
invocation without plugins pays one ``is None`` test per hook point. Hooks are plain calls made
by the task that reaches the hook point (see :mod:`durable_async.plugin` for the order); one that
raises an ``Exception`` is logged and ignored.
"""

from __future__ import annotations

import copy
import datetime
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from durable_async._models import (
    TERMINAL_STATUSES,
    ErrorObject,
    Operation,
    OperationStatus,
    OperationType,
)
from durable_async.plugin import (
    DurableInstrumentationPlugin,
    DurableInstrumentationPluginFactory,
    InvocationEndInfo,
    InvocationStartInfo,
    InvocationStatus,
    OperationChangeInfo,
    OperationEndInfo,
    OperationInfo,
    OperationStartInfo,
    PropagationInput,
    UserFunctionEndInfo,
    UserFunctionOutcome,
    UserFunctionStartInfo,
)

if TYPE_CHECKING:
    from durable_async._context import OperationRef
    from durable_async._state import ExecutionState

__all__ = ["Instrumentation", "instrumented"]

T = TypeVar("T")
Wire = dict[str, Any]
_log = logging.getLogger("durable_async")


class Instrumentation:
    """The plugins of one invocation and what they have been told."""

    def __init__(
        self,
        plugins: list[DurableInstrumentationPlugin],
        start: InvocationStartInfo,
        state: ExecutionState,
    ) -> None:
        self._plugins = plugins
        self._start = start
        self._state = state
        self._ended: set[str] = set()  # operations whose end hook has run
        self._replayed: set[str] = set()  # in-progress operations reported on replay
        # Ended while the execution was suspended, end hook not run yet (run on replay).
        self._unread = {
            op_id
            for op_id, info in start.updated_operations.items()
            if info.status in TERMINAL_STATUSES
            and info.operation_type is not OperationType.EXECUTION
        }
        self._wants_changes = any(
            type(plugin).on_operation_change is not DurableInstrumentationPlugin.on_operation_change
            for plugin in plugins
        )

    @classmethod
    def begin(
        cls,
        factories: Sequence[DurableInstrumentationPluginFactory],
        state: ExecutionState,
        *,
        execution_input: Any,
        request_id: str | None,
        updated_ids: Sequence[str],
        trace_header: str | None,
    ) -> Instrumentation:
        """Build this invocation's plugins and tell them it starts."""
        operations = _infos(state.operations)
        execution = next(
            (op for op in state.operations.values() if op.type is OperationType.EXECUTION), None
        )
        info = InvocationStartInfo(
            request_id=request_id,
            execution_arn=state.arn,
            is_first_invocation=all(
                op.type is OperationType.EXECUTION for op in state.operations.values()
            ),
            execution_start_time=operations[execution.id].start_time if execution else None,
            execution_input=_copy(execution_input),
            operations=operations,
            updated_operations={i: operations[i] for i in updated_ids if i in operations},
            trace_header=trace_header,
        )
        plugins: list[DurableInstrumentationPlugin] = []
        for factory in factories:
            try:
                plugin = factory.create_plugin(info)
            except Exception:
                _log.exception("plugin factory %r failed; this invocation runs without it", factory)
                continue
            if plugin is None:
                _log.error("plugin factory %r returned None; skipped", factory)
                continue
            plugins.append(plugin)
        instrumentation = cls(plugins, info, state)
        instrumentation._call("on_invocation_start", info)
        return instrumentation

    # -- operations -----------------------------------------------------------------------

    def propagation(self, ref: OperationRef, function_name: str) -> str | None:
        """The trace header plugins give a chained invoke's START (the first one given)."""
        arn = self._start.execution_arn or ""
        info = PropagationInput(arn, ref.op_id, function_name, ref.ctx.parent_id)
        for plugin in self._plugins:
            try:
                metadata = plugin.provide_propagation_metadata(info)
            except Exception:
                _log.exception("plugin %r failed in provide_propagation_metadata", plugin)
                continue
            if metadata is not None and metadata.x_amzn_trace_id:
                return metadata.x_amzn_trace_id
        return None

    def operation_started(self, update: Wire, previous: Operation | None) -> None:
        """An operation's START is about to be queued."""
        info = OperationStartInfo(
            operation_id=update["Id"],
            operation_type=OperationType(update["Type"]),
            sub_type=update.get("SubType"),
            name=update.get("Name"),
            parent_id=update.get("ParentId"),
            start_time=datetime.datetime.now(datetime.UTC),
            is_replayed=previous is not None,
            status=OperationStatus.STARTED,
        )
        self._call("on_operation_start", info)

    def replayed(self, op: Operation) -> None:
        """This invocation's code reached ``op``, recorded before it (a replay)."""
        if op.id in self._unread:
            self._unread.discard(op.id)
            self._end(op)
        elif (
            not op.is_terminal
            and op.status is not OperationStatus.READY
            and op.type is not OperationType.EXECUTION
            and op.id not in self._replayed
        ):
            self._replayed.add(op.id)
            self._call(
                "on_operation_start", OperationStartInfo.from_operation(op, is_replayed=True)
            )

    def unrecorded_end(self, ref: OperationRef, error: ErrorObject | None) -> None:
        """A child context that records nothing (virtual, FLAT branch) returned or raised."""
        info = OperationEndInfo(
            operation_id=ref.op_id,
            operation_type=ref.type,
            sub_type=ref.sub_type,
            name=ref.name,
            parent_id=ref.ctx.parent_id,
            start_time=None,
            is_replayed=False,
            status=OperationStatus.SUCCEEDED if error is None else OperationStatus.FAILED,
            end_time=datetime.datetime.now(datetime.UTC),
            error=error,
        )
        self._call("on_operation_end", info)

    def merging(self, merge: Callable[[list[Wire]], None]) -> Callable[[list[Wire]], None]:
        """Wrap ``merge`` (of checkpoint responses) to report the operations it changes."""
        operations = self._state.operations

        def merged(wire_operations: list[Wire]) -> None:
            before = {}
            for wire in wire_operations or ():
                old = operations.get(wire["Id"])
                before[wire["Id"]] = old.status if old is not None else None
            merge(wire_operations)
            changed = [
                operations[op_id]
                for op_id, status in before.items()
                if op_id in operations and operations[op_id].status is not status
            ]
            ending = [
                op for op in changed if op.is_terminal and op.type is not OperationType.EXECUTION
            ]
            for op in sorted(ending, key=lambda op: -_depth(op, operations)):
                self._unread.discard(op.id)
                self._end(op)
            if changed and self._wants_changes:
                info = OperationChangeInfo(
                    self._start.execution_arn,
                    _infos({op.id: op for op in changed}),
                    _infos(operations),
                )
                self._call("on_operation_change", info)

        return merged

    # -- the end --------------------------------------------------------------------------

    def end(self, output: Wire | None, failure: BaseException | None) -> None:
        """Report what no code read, then the invocation's end (``failure``: it raised)."""
        operations = self._state.operations
        for op_id in sorted(self._unread, key=lambda i: -_depth(operations[i], operations)):
            self._end(operations[op_id])
        self._unread.clear()
        if failure is not None or output is None:
            status, error, result = InvocationStatus.RETRY, _error(failure), None
        else:
            status = InvocationStatus(output["Status"])
            error = ErrorObject.from_wire(output.get("Error"))
            result = output.get("Result")
        start = self._start
        info = InvocationEndInfo(
            request_id=start.request_id,
            execution_arn=start.execution_arn,
            is_first_invocation=start.is_first_invocation,
            execution_start_time=start.execution_start_time,
            execution_input=start.execution_input,
            operations=_infos(operations),
            status=status,
            error=error,
            execution_result=result,
        )
        self._call("on_invocation_end", info)

    # -- dispatch -------------------------------------------------------------------------

    def _end(self, op: Operation) -> None:
        if op.id in self._ended:
            return
        self._ended.add(op.id)
        self._call("on_operation_end", OperationEndInfo.from_operation(op))

    def _call(self, hook: str, info: Any) -> None:
        for plugin in self._plugins:
            try:
                getattr(plugin, hook)(info)
            except Exception:
                _log.exception("plugin %r failed in %s; ignored", plugin, hook)

    def user_start(
        self, ref: OperationRef, attempt: int | None, is_replay_children: bool
    ) -> UserFunctionStartInfo:
        """Tell plugins user code of ``ref`` starts; return the info its end is built from."""
        if attempt is None and ref.type is OperationType.CONTEXT:
            # As the reference: a child's function runs as attempt 1 unless the child was
            # recorded before this invocation (a replay of one in progress: no attempt).
            attempt = None if ref.op_id in self._start.operations else 1
        info = UserFunctionStartInfo(
            operation_id=ref.op_id,
            operation_type=ref.type,
            sub_type=ref.sub_type,
            name=ref.name,
            parent_id=ref.ctx.parent_id,
            start_time=datetime.datetime.now(datetime.UTC),
            is_replayed=False,
            status=OperationStatus.STARTED,
            is_replay_children=is_replay_children,
            attempt=attempt,
        )
        self._call("on_user_function_start", info)
        return info

    def user_end(
        self, start: UserFunctionStartInfo, error: ErrorObject | None, outcome: UserFunctionOutcome
    ) -> None:
        self._call(
            "on_user_function_end",
            UserFunctionEndInfo.from_start_info(start, error, outcome=outcome),
        )


async def instrumented(
    ref: OperationRef,
    work: Awaitable[T],
    *,
    attempt: int | None = None,
    is_replay_children: bool = False,
) -> T:
    """Await ``work``, the user code of ``ref``, between its user-function hooks."""
    instrumentation = ref.ctx.runtime.instrumentation
    if instrumentation is None:
        return await work
    start = instrumentation.user_start(ref, attempt, is_replay_children)
    outcome, error = UserFunctionOutcome.INCOMPLETE, None
    try:
        value = await work
    except Exception as exc:
        outcome, error = UserFunctionOutcome.FAILED, ErrorObject.from_exception(exc)
        raise
    else:
        outcome = UserFunctionOutcome.SUCCEEDED
        return value
    finally:
        instrumentation.user_end(start, error, outcome)


def _infos(operations: Mapping[str, Operation]) -> dict[str, OperationInfo]:
    return {op_id: OperationInfo.from_operation(op) for op_id, op in operations.items()}


def _depth(op: Operation, operations: Mapping[str, Operation]) -> int:
    depth, parent = 0, op.parent_id
    while parent is not None and depth < 1000:
        depth += 1
        above = operations.get(parent)
        parent = above.parent_id if above is not None else None
    return depth


def _copy(value: Any) -> Any:
    try:
        return copy.deepcopy(value)
    except Exception:
        _log.exception("could not copy the execution input for plugins; they get None")
        return None


def _error(failure: BaseException | None) -> ErrorObject | None:
    return ErrorObject.from_exception(failure) if failure is not None else None
