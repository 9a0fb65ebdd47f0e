"""DurableContext: where user code asks for durable operations.

Every operation takes its id when it is *called*, not when it is awaited, so the ids follow
program order even when operations are started together with ``asyncio.gather`` or in a task
group, and a replay hands each call the same id.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, overload

from durable_async._activity import Activity
from durable_async._checkpoint import Checkpointer, Scope
from durable_async._ids import IdCounter
from durable_async._models import (
    Operation,
    OperationAction,
    OperationStatus,
    OperationType,
    make_update,
)
from durable_async._signals import Orphaned, Suspend
from durable_async._state import ExecutionState
from durable_async.config import (
    CallbackConfig,
    ChildConfig,
    Duration,
    InvokeConfig,
    MapConfig,
    ParallelBranch,
    ParallelConfig,
    StepConfig,
    WaitForCallbackConfig,
)
from durable_async.exceptions import NonDeterministicExecutionError
from durable_async.logger import Logger, LogInfo

if TYPE_CHECKING:
    from durable_async._instrument import Instrumentation
    from durable_async._protocols import LambdaContext, LoggerInterface
    from durable_async.batch import BatchResult
    from durable_async.operations.callback import Callback, WaitForCallbackContext
    from durable_async.operations.condition import WaitForConditionCheckContext
    from durable_async.waits import WaitForConditionConfig
from durable_async.serdes import SerDes
from durable_async.service.clock import Clock

__all__ = ["DurableContext", "ExecutionContext", "OperationRef", "Runtime", "StepContext"]

T = TypeVar("T")
U = TypeVar("U")
P = TypeVar("P")
R = TypeVar("R")

_log = logging.getLogger("durable_async")

# The configs of operations given none: frozen, so one of each serves every call.
_STEP_CONFIG = StepConfig()
_CHILD_CONFIG = ChildConfig()


@dataclass(slots=True)
class Runtime:
    """Everything one invocation's operations share."""

    arn: str
    state: ExecutionState
    checkpointer: Checkpointer
    activity: Activity
    clock: Clock
    #: The Lambda context object the handler was called with (None outside Lambda).
    lambda_context: LambdaContext | None = None
    #: Loggers set with ``DurableContext.set_logger``, by the scope of the context that set them.
    loggers: dict[Scope, LoggerInterface] = field(default_factory=dict)
    #: The handler's default SerDes (``durable_execution(serdes=...)``), None to keep each
    #: operation's own default.
    default_serdes: SerDes[Any] | None = None
    #: The invocation's plugins, None when the handler has none.
    instrumentation: Instrumentation | None = None

    def serdes_for(self, own: SerDes[Any] | None, fallback: SerDes[Any]) -> SerDes[Any]:
        """The SerDes an operation uses: its own, else the handler's default, else ``fallback``."""
        if own is not None:
            return own
        return self.default_serdes if self.default_serdes is not None else fallback

    def logger_for(self, scope: Scope) -> LoggerInterface:
        """The logger a context in ``scope`` writes through: its nearest ancestor's set one."""
        if not self.loggers:
            return _log  # nobody called set_logger: no walk up the scopes per new context
        current: Scope | None = scope
        while current is not None:
            if current in self.loggers:
                return self.loggers[current]
            current = current.parent
        return _log

    async def send(self, update: dict[str, Any], *, scope: Scope | None = None) -> None:
        """Checkpoint ``update`` and wait for it; the wait counts as progress, not idleness."""
        with self.activity.busy():
            await self.checkpointer.send(update, scope=scope)


@dataclass(frozen=True)
class ExecutionContext:
    """Read-only facts about the durable execution a context belongs to."""

    durable_execution_arn: str


@dataclass(frozen=True, slots=True)
class OperationRef:
    """One operation as its context sees it: identity, replay check and its updates."""

    ctx: DurableContext
    op_id: str
    type: OperationType
    sub_type: str
    name: str | None
    #: The scope its updates belong to; the context's own unless set (a map item has its own).
    scope: Scope | None = None

    @property
    def label(self) -> str:
        """The operation's name, or its id when it has none (for messages)."""
        return self.name or self.op_id

    def logger(self, attempt: int) -> Logger:
        """A logger for the operation's own code: always live, with its id, name and attempt."""
        ctx = self.ctx
        info = LogInfo(ctx.execution_context, ctx.parent_id, self.op_id, self.name, attempt)
        # Never replaying: an operation's code only runs when it runs for real.
        return Logger.from_log_info(ctx.logger.get_logger(), info)

    def recorded(self) -> Operation | None:
        """Return the recorded operation (after the determinism check), if any."""
        return self.ctx.recorded(self.op_id, self.type, self.sub_type, self.name)

    def current(self) -> Operation | None:
        """Return the operation as the state holds it now."""
        return self.ctx.runtime.state.get(self.op_id)

    def update(self, action: OperationAction, **fields: Any) -> dict[str, Any]:
        """Build this operation's update for ``action``."""
        return make_update(
            self.op_id,
            self.type,
            action,
            parent_id=self.ctx.parent_id,
            name=self.name,
            sub_type=self.sub_type,
            **fields,
        )

    async def send(self, action: OperationAction, **fields: Any) -> None:
        """Checkpoint this operation's ``action`` and wait until it is persisted."""
        update = self.update(action, **fields)
        self._started(update)
        await self.ctx.runtime.send(update, scope=self.scope or self.ctx.scope)

    def enqueue(self, action: OperationAction, **fields: Any) -> None:
        """Queue this operation's ``action`` without waiting for it."""
        update = self.update(action, **fields)
        self._started(update)
        self.ctx.runtime.checkpointer.enqueue(update, scope=self.scope or self.ctx.scope)

    def _started(self, update: dict[str, Any]) -> None:
        """Tell plugins a START is about to be queued (not one the checkpointer will refuse)."""
        instrumentation = self.ctx.runtime.instrumentation
        if (
            instrumentation is not None
            and update["Action"] == OperationAction.START.value
            and not (self.scope or self.ctx.scope).is_orphaned()
        ):
            instrumentation.operation_started(update, self.current())

    async def wait_for_next_attempt(self) -> Operation | None:
        """Park until the service marks this operation READY after a RETRY's delay."""
        op = self.current()
        next_ms = op.next_attempt_timestamp if op is not None else None

        def ready() -> bool:
            current = self.current()
            return current is not None and current.status is not OperationStatus.PENDING

        resume_at = next_ms / 1000 if next_ms is not None else None
        what = f"next attempt of {self.name or self.op_id}"
        await self.ctx.runtime.activity.wait_until(ready, resume_at, what)
        return self.current()


class StepContext:
    """What a step's function receives: a logger and its attempt number (1-based).

    The reference's fields, in its order, so a test can build one to call a step function.
    """

    __slots__ = ("_logger", "_ref", "attempt", "operation_id")

    def __init__(self, logger: Any, attempt: int = 1, operation_id: str = "") -> None:
        self._logger = logger
        self._ref: OperationRef | None = None
        self.attempt = attempt
        self.operation_id = operation_id

    @classmethod
    def for_attempt(cls, ref: OperationRef, attempt: int) -> StepContext:
        """The context of ``ref``'s attempt; its logger is made when the step first uses it."""
        context = cls(None, attempt, ref.op_id)
        context._ref = ref
        return context

    @property
    def logger(self) -> Any:
        """A logger with the step's id, name and attempt on every record."""
        if self._logger is None and self._ref is not None:
            self._logger = self._ref.logger(self.attempt)
        return self._logger


class DurableContext:
    """The handle user code uses to run durable operations; every method returns an awaitable."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        parent_id: str | None = None,
        scope: Scope | None = None,
        id_prefix: str | None = None,
    ) -> None:
        self._runtime = runtime
        self._parent_id = parent_id
        self._scope = scope or Scope()
        self._ids = IdCounter(id_prefix if id_prefix is not None else parent_id)
        # Resolved now: an abandoned branch's scope loses its ancestors later.
        self._base_logger = runtime.logger_for(self._scope)
        self._logger: Logger | None = None

    @staticmethod
    def from_lambda_context(
        state: Runtime, lambda_context: LambdaContext | None, replay_status: object = None
    ) -> DurableContext:
        """Return the root context of invocation ``state``, whose handler got ``lambda_context``.

        ``replay_status`` is accepted for the reference's signature; replay is read from the
        recorded operations instead.
        """
        state.lambda_context = lambda_context
        return DurableContext(state)

    @property
    def logger(self) -> Logger:
        """A logger that adds the execution's fields and stays silent while replaying."""
        # Made on first use: most contexts (a map's items, say) never log.
        if self._logger is None:
            info = LogInfo(self.execution_context, parent_id=self._parent_id)
            self._logger = Logger.from_log_info(self._base_logger, info, self.is_replaying)
        return self._logger

    def set_logger(self, new_logger: LoggerInterface) -> None:
        """Log through ``new_logger`` here and in contexts created from here afterwards."""
        self._runtime.loggers[self._scope] = new_logger
        self._base_logger = new_logger
        self._logger = None

    @property
    def lambda_context(self) -> LambdaContext | None:
        """The Lambda context object the handler was called with (None outside Lambda)."""
        return self._runtime.lambda_context

    @property
    def execution_context(self) -> ExecutionContext:
        """Read-only facts about this execution, such as its ARN."""
        return ExecutionContext(self._runtime.arn)

    def is_replaying(self) -> bool:
        """Whether this context's next operation is already recorded (its code is replaying)."""
        return self._runtime.state.get(self._ids.peek_next_id()) is not None

    @property
    def parent_id(self) -> str | None:
        """The id of the CONTEXT operation this context runs in (None at the root)."""
        return self._parent_id

    @property
    def is_virtual(self) -> bool:
        """Whether this context records no CONTEXT operation of its own (a virtual child).

        Its operations report the nearest recorded ancestor as their parent, yet are numbered
        under the child's own id (its prefix), so the two differ exactly for a virtual child.
        """
        return self._parent_id != self._ids.prefix

    def create_child_context(
        self, operation_id: str, *, is_virtual: bool = False
    ) -> DurableContext:
        """Return a child context whose operations are numbered under ``operation_id``.

        A regular child's operations report ``operation_id`` as their parent; a virtual child's
        report this context's own parent, so the child leaves no level in the history.
        """
        parent_id = self._parent_id if is_virtual else operation_id
        scope = Scope(self._scope)
        return DurableContext(
            self._runtime, parent_id=parent_id, scope=scope, id_prefix=operation_id
        )

    # Overloads: with ``T | Awaitable[T]`` alone, mypy cannot solve T for an async function.
    @overload
    def step(
        self,
        func: Callable[[StepContext], Awaitable[T]],
        name: str | None = None,
        config: StepConfig | None = None,
    ) -> Coroutine[Any, Any, T]: ...

    @overload
    def step(
        self,
        func: Callable[[StepContext], T],
        name: str | None = None,
        config: StepConfig | None = None,
    ) -> Coroutine[Any, Any, T]: ...

    def step(
        self,
        func: Callable[[StepContext], T | Awaitable[T]],
        name: str | None = None,
        config: StepConfig | None = None,
    ) -> Coroutine[Any, Any, T]:
        """Run ``func(StepContext)`` once, durably, retrying it per ``config.retry_strategy``.

        ``func`` may be sync (it runs in a worker thread) or async. The result is round-tripped
        through the step's SerDes on the first run too, so the first run and a replay see equal
        values. Raises ``StepError`` once the retry strategy gives up.
        """
        from durable_async.operations.step import run_step

        step_name = name or getattr(func, "_original_name", None)
        return run_step(self, self._ids.next_id(), func, step_name, config or _STEP_CONFIG)

    @overload
    def run_in_child_context(
        self,
        func: Callable[[DurableContext], Awaitable[T]],
        name: str | None = None,
        config: ChildConfig | None = None,
    ) -> Coroutine[Any, Any, T]: ...

    @overload
    def run_in_child_context(
        self,
        func: Callable[[DurableContext], T],
        name: str | None = None,
        config: ChildConfig | None = None,
    ) -> Coroutine[Any, Any, T]: ...

    def run_in_child_context(
        self,
        func: Callable[[DurableContext], Awaitable[T] | T],
        name: str | None = None,
        config: ChildConfig | None = None,
    ) -> Coroutine[Any, Any, T]:
        """Run ``func(child_ctx)`` in a child context recorded as one CONTEXT operation.

        Operations inside are numbered within the child, so child contexts started together
        replay deterministically. Raises ``ChildContextError`` when ``func`` fails.
        """
        from durable_async.operations.child import run_child

        child_name = name or getattr(func, "_original_name", None)
        return run_child(self, self._ids.next_id(), func, child_name, config or _CHILD_CONFIG)

    @overload
    def map(
        self,
        inputs: Sequence[U],
        func: Callable[[DurableContext, U, int, Sequence[U]], Awaitable[T]],
        name: str | None = None,
        config: MapConfig | None = None,
    ) -> Coroutine[Any, Any, BatchResult[T]]: ...

    @overload
    def map(
        self,
        inputs: Sequence[U],
        func: Callable[[DurableContext, U, int, Sequence[U]], T],
        name: str | None = None,
        config: MapConfig | None = None,
    ) -> Coroutine[Any, Any, BatchResult[T]]: ...

    def map(
        self,
        inputs: Sequence[U],
        func: Callable[[DurableContext, U, int, Sequence[U]], Awaitable[T] | T],
        name: str | None = None,
        config: MapConfig | None = None,
    ) -> Coroutine[Any, Any, BatchResult[T]]:
        """Run ``func(ctx, item, index, inputs)`` for each input, each in its own child context.

        Items run concurrently (at most ``config.max_concurrency`` at once) and complete per
        ``config.completion_config``. Never raises for a failed item: the BatchResult holds it.
        """
        from durable_async.operations.concurrency import run_map, validate_completion

        config = config or MapConfig()
        validate_completion(config.completion_config, len(inputs))
        map_name = name or getattr(func, "_original_name", None)
        return run_map(self, self._ids.next_id(), inputs, func, map_name, config)

    @overload
    def parallel(
        self,
        functions: Sequence[
            Callable[[DurableContext], Awaitable[T]] | ParallelBranch[Awaitable[T]]
        ],
        name: str | None = None,
        config: ParallelConfig | None = None,
    ) -> Coroutine[Any, Any, BatchResult[T]]: ...

    @overload
    def parallel(
        self,
        functions: Sequence[Callable[[DurableContext], T] | ParallelBranch[T]],
        name: str | None = None,
        config: ParallelConfig | None = None,
    ) -> Coroutine[Any, Any, BatchResult[T]]: ...

    def parallel(
        self,
        functions: Sequence[Callable[[DurableContext], Awaitable[T] | T] | ParallelBranch[Any]],
        name: str | None = None,
        config: ParallelConfig | None = None,
    ) -> Coroutine[Any, Any, BatchResult[T]]:
        """Run each function in its own branch concurrently; return the BatchResult.

        By default every branch must succeed (``CompletionConfig.all_successful()``); wrap a
        function in ``ParallelBranch(func, name)`` to name its branch.
        """
        from durable_async.operations.concurrency import run_parallel, validate_completion

        config = config or ParallelConfig()
        validate_completion(config.completion_config, len(functions))
        return run_parallel(self, self._ids.next_id(), functions, name, config)

    def wait(self, duration: Duration, name: str | None = None) -> Coroutine[Any, Any, None]:
        """Sleep durably for ``duration`` (at least one second); the invocation may suspend."""
        from durable_async.operations.wait import run_wait, wait_seconds

        seconds = wait_seconds(duration)
        return run_wait(self, self._ids.next_id(), seconds, name)

    def create_callback(
        self, name: str | None = None, config: CallbackConfig | None = None
    ) -> Coroutine[Any, Any, Callback[Any]]:
        """Create a callback; give its ``callback_id`` away, then ``await callback.result()``.

        The answer comes through SendDurableExecutionCallbackSuccess, Failure or Heartbeat.
        """
        from durable_async.operations.callback import run_create_callback

        return run_create_callback(self, self._ids.next_id(), name, config or CallbackConfig())

    def wait_for_callback(
        self,
        submitter: Callable[[str, WaitForCallbackContext], Any],
        name: str | None = None,
        config: WaitForCallbackConfig | None = None,
    ) -> Coroutine[Any, Any, Any]:
        """Create a callback, run ``submitter(callback_id, wctx)`` as a step, await the answer.

        ``submitter`` may be sync (it runs in a worker thread) or async. Raises
        ``CallbackTimeoutError`` or ``CallbackError`` as ``Callback.result()`` does, and
        ``CallbackError`` when the submitter step fails.
        """
        from durable_async.operations.callback import run_wait_for_callback

        callback_name = name or getattr(submitter, "_original_name", None)
        return run_wait_for_callback(self, self._ids.next_id(), submitter, callback_name, config)

    @overload
    def invoke(
        self,
        function_name: str,
        payload: Any,
        name: str | None = None,
        config: None = None,
    ) -> Coroutine[Any, Any, Any]: ...

    @overload
    def invoke(
        self,
        function_name: str,
        payload: P,
        name: str | None = None,
        *,
        config: InvokeConfig[P, R],
    ) -> Coroutine[Any, Any, R]: ...

    @overload
    def invoke(
        self, function_name: str, payload: P, name: str | None, config: InvokeConfig[P, R]
    ) -> Coroutine[Any, Any, R]: ...

    def invoke(
        self,
        function_name: str,
        payload: Any,
        name: str | None = None,
        config: InvokeConfig[Any, Any] | None = None,
    ) -> Coroutine[Any, Any, Any]:
        """Invoke the durable function ``function_name`` with ``payload``; return its result.

        The result's type is ``InvokeConfig``'s second parameter. Raises ``InvokeError`` when
        the target fails, times out or is stopped.
        """
        from durable_async.operations.invoke import run_invoke

        op_id = self._ids.next_id()
        return run_invoke(self, op_id, function_name, payload, name, config or InvokeConfig())

    @overload
    def wait_for_condition(
        self,
        check: Callable[[T, WaitForConditionCheckContext], Awaitable[T]],
        config: WaitForConditionConfig[T],
        name: str | None = None,
    ) -> Coroutine[Any, Any, T]: ...

    @overload
    def wait_for_condition(
        self,
        check: Callable[[T, WaitForConditionCheckContext], T],
        config: WaitForConditionConfig[T],
        name: str | None = None,
    ) -> Coroutine[Any, Any, T]: ...

    def wait_for_condition(
        self,
        check: Callable[[T, WaitForConditionCheckContext], T | Awaitable[T]],
        config: WaitForConditionConfig[T],
        name: str | None = None,
    ) -> Coroutine[Any, Any, T]:
        """Poll ``check(state, context)`` until ``config.wait_strategy`` stops; return the state.

        ``check`` may be sync (it runs in a worker thread) or async. Raises
        ``WaitForConditionError`` when the check fails or the strategy runs out of attempts.
        """
        from durable_async.operations.condition import (
            run_wait_for_condition,
            validate_condition_args,
        )

        validate_condition_args(check, config)
        return run_wait_for_condition(self, self._ids.next_id(), check, name, config)

    # -- for operations -------------------------------------------------------------------

    @property
    def runtime(self) -> Runtime:
        """The invocation this context belongs to."""
        return self._runtime

    @property
    def scope(self) -> Scope:
        """This context as the checkpointer sees it (for orphan checks)."""
        return self._scope

    def recorded(
        self, op_id: str, op_type: OperationType, sub_type: str | None, name: str | None
    ) -> Operation | None:
        """Return the operation recorded at ``op_id``, checking it is the one the code asks for.

        Raises Suspend once the invocation is suspending, so no operation starts after that even
        when user code swallowed the signal (``gather(..., return_exceptions=True)``); raises
        Orphaned in a context that has completed or been abandoned by its map or parallel.
        """
        if self._runtime.activity.suspended:
            raise Suspend("the invocation is suspending; the operation will run on replay")
        if self._scope.is_closed() or self._runtime.activity.handler_ended():
            raise Orphaned(f"operation {op_id} belongs to a completed or abandoned context", op_id)
        op = self._runtime.state.get(op_id)
        if op is None:
            return None
        if self._runtime.instrumentation is not None:
            self._runtime.instrumentation.replayed(op)
        mismatches = [
            f"{field} recorded {old!r}, code asks for {new!r}"
            for field, old, new in (
                ("type", op.type.value, op_type.value),
                ("subtype", op.sub_type, getattr(sub_type, "value", sub_type)),
                ("name", op.name or None, name or None),
                ("parent", op.parent_id or None, self._parent_id),
            )
            if old != new
        ]
        if mismatches:
            raise NonDeterministicExecutionError(
                f"Replay found a different operation at id {op_id}: {'; '.join(mismatches)}. "
                "The handler's code changed the order, type or names of its durable operations "
                "while this execution was in flight; keep them stable, or start a new execution.",
                step_id=op_id,
            )
        return op
