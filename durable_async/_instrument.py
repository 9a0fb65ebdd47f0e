"""One invocation's instrumentation: builds its plugins and calls their hooks.

The SDK holds an :class:`Instrumentation` only when the handler has plugin factories, so an
invocation without plugins pays one ``is None`` test per hook point and builds nothing. Hooks
are plain calls made by the task that reaches the hook point (see :mod:`durable_async.plugin`
for the order).

Containment, as the reference SDK's: whatever a factory or a hook raises is logged and ignored,
``asyncio.CancelledError`` and exception groups included (a synchronous hook cannot be where a
cancellation of the SDK's task is delivered, so one it raises is its own), except
``KeyboardInterrupt``, ``SystemExit`` and ``GeneratorExit``, which tell the process to stop and
propagate. ``on_invocation_end`` still reaches every plugin before one of those propagates, and
one raised while a checkpoint response is merged is held until then (the checkpointer is not
the place to stop). A hook written ``async def`` returns a coroutine nobody would await: it is
closed and logged as the plugin's error.
"""

from __future__ import annotations

import copy
import datetime
import inspect
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
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
    PropagationMetadata,
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
# Raised by plugin code, these say "stop" to the process rather than report a plugin defect.
_CONTROL = (KeyboardInterrupt, SystemExit, GeneratorExit)


class Instrumentation:
    """The plugins of one invocation and what they have been told."""

    def __init__(
        self,
        plugins: list[DurableInstrumentationPlugin],
        start: InvocationStartInfo,
        state: ExecutionState,
    ) -> None:
        self._plugins = plugins
        # Plugins whose on_invocation_start was called: only they get later hooks.
        self._live: list[DurableInstrumentationPlugin] = []
        self._start = start
        self._state = state
        self._ended: set[str] = set()  # operations whose end hook has run
        self._replayed: set[str] = set()  # in-progress operations reported on replay
        # Changed while the execution was suspended (UpdatedOperationIds): reported as updates
        # when replayed, never as replayed history.
        self._updated = set(start.updated_operations)
        # Of those, the ended ones whose end hook has not run yet (run on replay, else at end).
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
        self._held: BaseException | None = None  # a stop raised while a response was merged

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
        instrumentation = cls(_build(factories, info), info, state)
        try:
            instrumentation._call("on_invocation_start", info)
        except BaseException as stop:
            instrumentation.end(None, stop)  # the plugins that started hear that it ended
            raise
        return instrumentation

    # -- operations -----------------------------------------------------------------------

    def propagation(self, ref: OperationRef, function_name: str) -> str | None:
        """The trace header plugins give a chained invoke's START: the first non-blank one."""
        arn = self._start.execution_arn or ""
        info = PropagationInput(arn, ref.op_id, function_name, ref.ctx.parent_id)
        chosen: str | None = None
        for plugin in self._live:
            try:
                header = _trace_header(plugin.provide_propagation_metadata(info))
            except BaseException as exc:
                stop = _contain(exc, "plugin %s failed in provide_propagation_metadata", plugin)
                if stop is not None:
                    raise stop from None
                continue
            if header is None or not header.strip():
                continue
            if chosen is None:
                chosen = header
            elif header != chosen:
                _log.warning(
                    "plugins disagree on the trace header of chained invoke %s; keeping the "
                    "first (%r), not %s's (%r)",
                    ref.op_id,
                    chosen,
                    _name(plugin),
                    header,
                )
        return chosen

    def operation_started(self, update: Wire, previous: Operation | None) -> None:
        """An operation's START is about to be queued (``previous``: its record, if any)."""
        info = OperationStartInfo(
            operation_id=update["Id"],
            operation_type=OperationType(update["Type"]),
            sub_type=update.get("SubType"),
            name=update.get("Name"),
            parent_id=update.get("ParentId"),
            # The reference has no time here (the operation is not recorded yet): ours is now.
            start_time=datetime.datetime.now(datetime.UTC),
            is_replayed=previous is not None,
            status=OperationStatus.STARTED,
        )
        self._call("on_operation_start", info)

    def replayed(self, op: Operation) -> None:
        """This invocation's code reached ``op``, recorded before it (a replay)."""
        if op.type is OperationType.EXECUTION:
            return
        if op.id in self._updated:
            if op.id in self._unread:
                self._unread.discard(op.id)
                self._end(op)
            return
        if op.is_terminal or op.status is OperationStatus.READY or op.id in self._replayed:
            return
        self._replayed.add(op.id)
        info = OperationStartInfo(
            operation_id=op.id,
            operation_type=op.type,
            sub_type=op.sub_type,
            name=op.name,
            parent_id=op.parent_id,
            start_time=_time(op.start_timestamp),
            is_replayed=True,
            status=op.status,
        )
        self._call("on_operation_start", info)

    def unrecorded_end(
        self, ref: OperationRef, error: ErrorObject | None, *, is_replayed: bool = False
    ) -> None:
        """A child context that records no end (virtual, FLAT branch, a rebuild) returned."""
        info = OperationEndInfo(
            operation_id=ref.op_id,
            operation_type=ref.type,
            sub_type=ref.sub_type,
            name=ref.name,
            parent_id=ref.ctx.parent_id,
            start_time=None,
            is_replayed=is_replayed,
            status=OperationStatus.SUCCEEDED if error is None else OperationStatus.FAILED,
            end_time=datetime.datetime.now(datetime.UTC),
            error=error,
        )
        self._call("on_operation_end", info)

    def merging(
        self, merge: Callable[[list[Wire]], None]
    ) -> Callable[[list[Wire], Collection[str]], None]:
        """Wrap ``merge`` (of checkpoint responses) to report the operations it changes.

        Every operation is kept, ended ones too: plugins are told of changes by comparing.
        """
        operations = self._state.operations

        def merged(wire_operations: list[Wire], settled: Collection[str] = ()) -> None:
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
            try:
                self._report_changes(changed)
            except BaseException as stop:  # only a stop gets here: hold it for end()
                _log.error("a plugin asked to stop while a checkpoint response was merged")
                self._held = self._held or stop

        return merged

    def _report_changes(self, changed: list[Operation]) -> None:
        operations = self._state.operations
        ending = [op for op in changed if op.is_terminal and op.type is not OperationType.EXECUTION]
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

    # -- user code ------------------------------------------------------------------------

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
        """Tell plugins the user code ``start`` described ended."""
        end = UserFunctionEndInfo.from_start_info(start, error, outcome=outcome)
        self._call("on_user_function_end", end)

    # -- the end --------------------------------------------------------------------------

    def end(self, output: Wire | None, failure: BaseException | None) -> None:
        """Report what no code read, then the invocation's end (``failure``: it raised).

        When ``failure`` is given it is what the caller raises: a stop a plugin raises here is
        logged instead, so instrumentation never replaces an invocation's own failure.
        """
        stop = self._held
        try:
            self._drain()
        except BaseException as exc:  # only a stop gets here
            stop = stop or exc
        try:
            self._call("on_invocation_end", self._end_info(output, failure), finish=True)
        except BaseException as exc:
            stop = stop or exc
        if stop is None:
            return
        if failure is not None:
            _log.error("a plugin asked to stop while the invocation was failing", exc_info=stop)
            return
        raise stop

    def _drain(self) -> None:
        """Run the end hooks of operations that ended while suspended and nobody replayed."""
        operations = self._state.operations
        stop: BaseException | None = None
        for op_id in sorted(self._unread, key=lambda i: -_depth(operations[i], operations)):
            try:
                self._end(operations[op_id])
            except BaseException as exc:
                stop = stop or exc
        self._unread.clear()
        if stop is not None:
            raise stop

    def _end_info(self, output: Wire | None, failure: BaseException | None) -> InvocationEndInfo:
        if failure is not None or output is None:
            status, error, result = InvocationStatus.RETRY, _error(failure), None
        else:
            status = InvocationStatus(output["Status"])
            error = ErrorObject.from_wire(output.get("Error"))
            result = output.get("Result")
        start = self._start
        return InvocationEndInfo(
            request_id=start.request_id,
            execution_arn=start.execution_arn,
            is_first_invocation=start.is_first_invocation,
            execution_start_time=start.execution_start_time,
            execution_input=start.execution_input,
            operations=_infos(self._state.operations),
            status=status,
            error=error,
            execution_result=result,
        )

    # -- dispatch -------------------------------------------------------------------------

    def _end(self, op: Operation) -> None:
        if op.id in self._ended:
            return
        self._ended.add(op.id)
        self._call("on_operation_end", OperationEndInfo.from_operation(op))

    def _call(self, hook: str, info: Any, *, finish: bool = False) -> None:
        """Call ``hook`` of every live plugin; ``finish``: of every one, even after a stop."""
        starting = hook == "on_invocation_start"
        stop: BaseException | None = None
        for plugin in list(self._plugins if starting else self._live):
            if starting:
                self._live.append(plugin)  # before the call: a failed start still gets its end
            try:
                _returns_nothing(getattr(plugin, hook)(info), hook)
            except BaseException as exc:
                held = _contain(exc, "plugin %s failed in " + hook + "; ignored", plugin)
                if held is not None and not finish:
                    raise held from None
                stop = stop or held
        if stop is not None:
            raise stop


def instrumented(
    ref: OperationRef,
    work: Awaitable[T],
    *,
    attempt: int | None = None,
    is_replay_children: bool = False,
) -> Awaitable[T]:
    """``work``, the user code of ``ref``, awaited between its user-function hooks.

    Without plugins it is ``work`` itself (no coroutine around it: a map item runs two of these).
    A child context rebuilding a large result (``is_replay_children``) records nothing when it
    returns, so it is reported as ended (replayed) here, as the reference does on every rebuild.
    """
    instrumentation = ref.ctx.runtime.instrumentation
    if instrumentation is None:
        return work
    return _instrumented(instrumentation, ref, work, attempt, is_replay_children)


async def _instrumented(
    instrumentation: Instrumentation,
    ref: OperationRef,
    work: Awaitable[T],
    attempt: int | None,
    is_replay_children: bool,
) -> T:
    start = instrumentation.user_start(ref, attempt, is_replay_children)
    outcome, error = UserFunctionOutcome.INCOMPLETE, None
    try:
        value = await work
    except Exception as exc:
        outcome, error = UserFunctionOutcome.FAILED, ErrorObject.from_exception(exc)
        raise
    else:
        outcome = UserFunctionOutcome.SUCCEEDED
    finally:
        instrumentation.user_end(start, error, outcome)
    if is_replay_children:
        instrumentation.unrecorded_end(ref, None, is_replayed=True)
    return value


def _build(
    factories: Sequence[DurableInstrumentationPluginFactory], info: InvocationStartInfo
) -> list[DurableInstrumentationPlugin]:
    """Ask each factory for this invocation's plugin; skip (and log) the ones that fail."""
    plugins: list[DurableInstrumentationPlugin] = []
    for factory in factories:
        try:
            plugin: object = factory.create_plugin(info)
        except BaseException as exc:
            stop = _contain(
                exc, "plugin factory %s failed; this invocation runs without it", factory
            )
            if stop is not None:
                raise stop from None
            continue
        if isinstance(plugin, DurableInstrumentationPlugin):
            plugins.append(plugin)
            continue
        if inspect.iscoroutine(plugin):
            plugin.close()
        _log.error(
            "plugin factory %s returned %s, not a DurableInstrumentationPlugin; this invocation "
            "runs without it",
            _name(factory),
            "None" if plugin is None else f"a {_name(plugin)}",
        )
    return plugins


def _contain(error: BaseException, message: str, culprit: object) -> BaseException | None:
    """Log what plugin code raised; return the part that tells the process to stop, if any."""
    stop: BaseException | None
    contained: BaseException | None
    if isinstance(error, BaseExceptionGroup):
        stop, contained = error.split(_CONTROL)
    elif isinstance(error, _CONTROL):
        stop, contained = error, None
    else:
        stop, contained = None, error
    if contained is not None:
        _log.error(message, _name(culprit), exc_info=contained)
    return stop


def _returns_nothing(result: object, hook: str) -> None:
    if inspect.iscoroutine(result):
        result.close()
        raise TypeError(
            f"{hook} is a coroutine function; hooks are plain calls made on the event loop. "
            f"Define it with def, not async def, and keep it fast."
        )


def _trace_header(metadata: object) -> str | None:
    """The trace header of what ``provide_propagation_metadata`` returned (TypeError if odd)."""
    _returns_nothing(metadata, "provide_propagation_metadata")
    if metadata is None:
        return None
    if not isinstance(metadata, PropagationMetadata):
        raise TypeError(f"expected PropagationMetadata or None, got {_name(metadata)}")
    header = metadata.x_amzn_trace_id
    if header is not None and not isinstance(header, str):
        raise TypeError(f"x_amzn_trace_id must be a str or None, got {_name(header)}")
    return None if header is None else str.__str__(header)


def _name(value: object) -> str:
    """A name for log messages that runs no plugin code (no repr, no instance attributes)."""
    kind = value if isinstance(value, type) else type(value)
    return f"{kind.__module__}.{kind.__qualname__}"


def _infos(operations: Mapping[str, Operation]) -> dict[str, OperationInfo]:
    return {op_id: OperationInfo.from_operation(op) for op_id, op in operations.items()}


def _time(epoch_ms: int | None) -> datetime.datetime | None:
    if epoch_ms is None:
        return None
    return datetime.datetime.fromtimestamp(epoch_ms / 1000, datetime.UTC)


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
