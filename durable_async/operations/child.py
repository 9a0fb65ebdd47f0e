"""ctx.run_in_child_context: a function run in its own context, recorded as one CONTEXT operation.

Operations inside take ids prefixed with the context's id, so concurrent child contexts replay
deterministically whatever order their operations ran in. The context completes the moment its
SUCCEED/FAIL update is created (``_Child.complete``); from then on nothing its leftover
descendants queued or start is ever sent (the checkpointer drops it).

A virtual child (``ChildConfig(is_virtual=True)``) records nothing of its own: its operations
report the caller's parent as theirs, are numbered under the child's id, and a replay runs its
body again, as the reference SDK's virtual contexts do.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

from durable_async._checkpoint import Scope
from durable_async._context import DurableContext, OperationRef
from durable_async._instrument import instrumented
from durable_async._models import (
    ErrorObject,
    Operation,
    OperationAction,
    OperationStatus,
    OperationSubType,
    OperationType,
)
from durable_async._user import bind_after_one
from durable_async.config import ChildConfig
from durable_async.exceptions import (
    ChildContextError,
    DurableOperationError,
    ExecutionError,
    InvocationError,
    NonDeterministicExecutionError,
)
from durable_async.serdes import EXTENDED_TYPES_SERDES, deserialize, round_tripped, serialize

__all__ = ["call_child_func", "durable_with_child_context", "run_child", "run_unrecorded"]

T = TypeVar("T")
P = ParamSpec("P")
ChildFunc = Callable[[DurableContext], Awaitable[T] | T]

CHECKPOINT_SIZE_LIMIT = 256 * 1024


def durable_with_child_context(
    func: Callable[Concatenate[DurableContext, P], T],
) -> Callable[P, Callable[[DurableContext], T]]:
    """Turn ``func(ctx, *args, **kwargs)`` into a factory of child-context functions.

    ``ctx.run_in_child_context(ship(order))`` then runs ``ship(child_ctx, order)`` in a child
    context named ``ship``. The factory keeps ``func``'s parameters and result for type checkers.
    """
    return bind_after_one(func)


async def run_child(
    ctx: DurableContext,
    op_id: str,
    func: ChildFunc[T],
    name: str | None,
    config: ChildConfig,
    *,
    sub_type: str | None = None,
    scope: Scope | None = None,
    round_trip: bool = True,
    too_large: Callable[[Any], bool] | None = None,
) -> T:
    """Run ``func`` in the child context ``op_id`` of ``ctx`` and return its result.

    ``scope``, when given, is the scope the CONTEXT operation belongs to (``ctx.scope`` else).
    The result is round-tripped through the SerDes, so a first run returns what a replay would;
    ``round_trip=False`` is for a caller whose SerDes is known to give back an equal value (a
    map's BatchResult under durable_async's own SerDes, whose items were round-tripped already).
    With it, ``too_large(result)`` may say, cheaply, that the result's text would pass the
    checkpoint size limit: the result is then not written at all (the summary is recorded).
    """
    if config.is_virtual:
        return cast(T, await _run_virtual(ctx, op_id, func, name, config, sub_type, scope))
    child = _Child(ctx, op_id, name, config, sub_type, scope, round_trip, too_large)
    return cast(T, await child.run(func))


class _Child:
    def __init__(
        self,
        ctx: DurableContext,
        op_id: str,
        name: str | None,
        config: ChildConfig,
        sub_type: str | None,
        scope: Scope | None,
        round_trip: bool = True,
        too_large: Callable[[Any], bool] | None = None,
    ) -> None:
        self.ctx = ctx
        self.round_trip = round_trip
        self.too_large = too_large if not round_trip else None
        self.op_id = op_id
        self.config = config
        self.ref = _context_ref(ctx, op_id, name, config, sub_type, scope)
        self.outer_scope = scope or ctx.scope
        self.serdes = ctx.runtime.serdes_for(config.serdes, EXTENDED_TYPES_SERDES)
        self.arn = ctx.runtime.arn

    async def run(self, func: ChildFunc[Any]) -> Any:
        op = self.ref.recorded()
        if op is not None and op.status is OperationStatus.SUCCEEDED and not op.replay_children:
            return deserialize(self.serdes, op.result, self.op_id, self.arn)
        if op is not None and op.status is OperationStatus.FAILED:
            raise _child_error(op.error)
        if op is None:
            self.ref.enqueue(OperationAction.START)
        scope = Scope(self.outer_scope)
        child = DurableContext(self.ctx.runtime, parent_id=self.op_id, scope=scope)
        replaying = op is not None and op.replay_children
        try:
            work = call_child_func(func, child)
            value = await instrumented(self.ref, work, is_replay_children=replaying)
            return await self.finish(op, value, scope)
        except (ExecutionError, InvocationError):
            raise
        except Exception as exc:
            await self.fail(op, exc, scope)
            raise AssertionError("unreachable") from exc
        finally:
            scope.complete()  # ended without a record (a signal, a cancel): same rule

    async def finish(self, op: Operation | None, value: Any, scope: Scope) -> Any:
        if self.too_large is not None and self.too_large(value):
            payload = None  # known too large to record: not written only to be thrown away
            result = value
        else:
            payload = serialize(self.serdes, value, self.op_id, self.arn)
            result = (
                round_tripped(self.serdes, value, payload, self.op_id, self.arn)
                if self.round_trip
                else value
            )
        if op is not None and op.replay_children:
            return result  # recorded before: the body only rebuilt the value
        replay_children = payload is None or len(payload) > CHECKPOINT_SIZE_LIMIT
        if replay_children:
            summary = self.config.summary_generator
            payload = summary(value) if summary is not None else ""
        await self.complete(
            scope,
            OperationAction.SUCCEED,
            payload=payload,
            options=("ContextOptions", {"ReplayChildren": replay_children}),
        )
        return result

    async def fail(self, op: Operation | None, exc: Exception, scope: Scope) -> None:
        error = ErrorObject.from_exception(exc)
        if op is None or not op.replay_children:
            await self.complete(scope, OperationAction.FAIL, error=error)
        raise _child_error(error) from exc

    async def complete(self, scope: Scope, action: OperationAction, **fields: Any) -> None:
        """Record the context's end; it is complete from now, before the record is persisted.

        So nothing a leftover descendant queued, or starts later, is sent after it (the
        reference marks orphans when it creates this checkpoint, not when it is persisted).
        """
        update = self.ref.update(action, **fields)
        scope.complete()
        await self.ctx.runtime.send(update, scope=self.ref.scope or self.ctx.scope)


async def _run_virtual(
    ctx: DurableContext,
    op_id: str,
    func: ChildFunc[Any],
    name: str | None,
    config: ChildConfig,
    sub_type: str | None,
    scope: Scope | None,
) -> Any:
    """Run ``func`` in a virtual child of ``ctx``: no record, the result round-tripped anyway."""
    ref = _context_ref(ctx, op_id, name, config, sub_type, scope)
    if ref.recorded() is not None:
        raise _virtual_mismatch(ref)
    inner = Scope(scope or ctx.scope)
    child = DurableContext(ctx.runtime, parent_id=ctx.parent_id, scope=inner, id_prefix=op_id)
    serdes = ctx.runtime.serdes_for(config.serdes, EXTENDED_TYPES_SERDES)
    arn = ctx.runtime.arn
    try:
        value = await run_unrecorded(ref, func, child)
        return deserialize(serdes, serialize(serdes, value, op_id, arn), op_id, arn)
    except (ExecutionError, InvocationError):
        raise
    except Exception as exc:
        raise _child_error(ErrorObject.from_exception(exc)) from exc


async def run_unrecorded(ref: OperationRef, func: ChildFunc[Any], child: DurableContext) -> Any:
    """Run the function of a child that records no operation (virtual, a FLAT branch).

    Plugins hear of it as an operation that ends when the function returns or raises.
    """
    instrumentation = ref.ctx.runtime.instrumentation
    if instrumentation is None:
        return await call_child_func(func, child)
    try:
        value = await instrumented(ref, call_child_func(func, child))
    except Exception as exc:
        instrumentation.unrecorded_end(ref, ErrorObject.from_exception(exc))
        raise
    instrumentation.unrecorded_end(ref, None)
    return value


def _context_ref(
    ctx: DurableContext,
    op_id: str,
    name: str | None,
    config: ChildConfig,
    sub_type: str | None,
    scope: Scope | None,
) -> OperationRef:
    """The CONTEXT operation a child context is (or, virtual, would be) recorded as."""
    sub_type = sub_type or config.sub_type or OperationSubType.RUN_IN_CHILD_CONTEXT.value
    return OperationRef(ctx, op_id, OperationType.CONTEXT, sub_type, name, scope)


def _virtual_mismatch(ref: OperationRef) -> NonDeterministicExecutionError:
    return NonDeterministicExecutionError(
        f"Replay found child context {ref.label} recorded at id {ref.op_id}, but the code now "
        "runs it virtual (ChildConfig(is_virtual=True)), which records nothing; keep is_virtual "
        "stable while executions are in flight, or start a new execution.",
        step_id=ref.op_id,
    )


async def call_child_func(func: ChildFunc[Any], child: DurableContext) -> Any:
    """Call ``func(child)`` and await its result when it is awaitable."""
    value = func(child)
    if inspect.isawaitable(value):
        return await value
    return value


def _child_error(error: ErrorObject | None) -> DurableOperationError:
    error = error or ErrorObject("The child context failed.", "ChildContextError")
    return ChildContextError(
        error.error_message, error.error_type, error.error_data, error.stack_trace
    )
