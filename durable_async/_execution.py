"""The handler entry: @durable_execution and one invocation from event to wire output."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, overload

from durable_async._checkpoint import Checkpointer
from durable_async._context import DurableContext, Runtime
from durable_async._models import (
    ErrorObject,
    OperationAction,
    OperationType,
    make_update,
)
from durable_async._signals import find_suspend
from durable_async._state import Activity, ExecutionState
from durable_async.config import CheckpointBatcherConfig
from durable_async.exceptions import (
    CheckpointError,
    ExecutionError,
    InvocationError,
    SerDesError,
    ValidationError,
)
from durable_async.service import DurableService
from durable_async.service.clock import Clock, RealClock

__all__ = ["DurableHandler", "durable_execution"]

_log = logging.getLogger("durable_async")

Wire = dict[str, Any]
HandlerFunc = Callable[[Any, DurableContext], Awaitable[Any]]

LAMBDA_RESPONSE_LIMIT = 6 * 1024 * 1024 - 50
_IDLE_CONFIRMATIONS = 3  # loop turns to let a sibling that just got its answer start more work

_process_loop: asyncio.AbstractEventLoop | None = None


class DurableHandler:
    """A durable function: call it as a Lambda handler, or await ``invoke`` on your own loop."""

    def __init__(
        self,
        func: HandlerFunc,
        *,
        batcher_config: CheckpointBatcherConfig | None = None,
        service: DurableService | None = None,
    ) -> None:
        self.func = func
        self.batcher_config = batcher_config or CheckpointBatcherConfig()
        self.service = service
        functools.update_wrapper(self, func)

    def __call__(self, event: Wire, lambda_context: Any = None) -> Wire:
        """Run one invocation synchronously on the process's event loop (the Lambda entry)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return _loop().run_until_complete(self.invoke(event))
        raise RuntimeError(
            "A durable handler was called synchronously from a running event loop; "
            "use `await handler.invoke(event)` there instead."
        )

    async def invoke(
        self, event: Wire, *, service: DurableService | None = None, clock: Clock | None = None
    ) -> Wire:
        """Run one invocation and return its wire output (``{"Status": ...}``).

        Raises ``CheckpointError`` (retryable) or another ``InvocationError`` when the service
        should retry the invocation instead of recording an outcome.
        """
        backend = service or self.service or _default_service()
        arn, token, initial = _parse_event(event)
        state = ExecutionState(arn)
        state.merge(initial.get("Operations") or [])
        try:
            await _load_pages(backend, state, token, initial.get("NextMarker"))
        except CheckpointError as exc:
            return _settle({}, exc)
        checkpointer = Checkpointer(
            backend,
            arn,
            token,
            merge=state.merge,
            config=self.batcher_config,
            page=functools.partial(backend.get_execution_state, arn),
        )
        activity = Activity(clock or RealClock(), checkpointer.refresh)
        state.on_change = activity.wake
        runtime = Runtime(arn, state, checkpointer, activity, clock or RealClock())
        async with checkpointer:
            output = await self._run(runtime)
            await checkpointer.drain()
        return _settle(output, checkpointer.failure)

    async def _run(self, runtime: Runtime) -> Wire:
        execution = _execution_operation(runtime.state)
        main = asyncio.ensure_future(
            self.func(_decode_input(execution.input_payload), _root(runtime))
        )
        try:
            await _supervise(main, runtime.activity)
        finally:
            if not main.done():
                main.cancel()
                await asyncio.wait([main])
        if main.cancelled():
            raise asyncio.CancelledError
        error = main.exception()
        if error is not None:
            return _failure_output(error)
        return await _success_output(main.result(), runtime, execution.id)


@overload
def durable_execution(func: HandlerFunc, /) -> DurableHandler: ...


@overload
def durable_execution(
    *, batcher_config: CheckpointBatcherConfig | None = None, service: DurableService | None = None
) -> Callable[[HandlerFunc], DurableHandler]: ...


def durable_execution(
    func: HandlerFunc | None = None,
    /,
    *,
    batcher_config: CheckpointBatcherConfig | None = None,
    service: DurableService | None = None,
) -> DurableHandler | Callable[[HandlerFunc], DurableHandler]:
    """Turn ``async def handler(event, ctx)`` into a durable Lambda handler."""
    if func is not None:
        return DurableHandler(func)

    def decorate(f: HandlerFunc) -> DurableHandler:
        return DurableHandler(f, batcher_config=batcher_config, service=service)

    return decorate


async def _supervise(main: asyncio.Future[Any], activity: Activity) -> None:
    """Run until the handler ends; suspend every waiter once nothing else can progress."""
    while not main.done():
        idle = activity.arm()
        await asyncio.wait((main, idle), return_when=asyncio.FIRST_COMPLETED)
        if main.done():
            return
        for _ in range(_IDLE_CONFIRMATIONS):
            await asyncio.sleep(0)
        if activity.is_idle() and not main.done():
            activity.suspend_all()


def _root(runtime: Runtime) -> DurableContext:
    return DurableContext(runtime)


def _parse_event(event: Wire) -> tuple[str, str, Wire]:
    if not isinstance(event, dict) or not event.get("DurableExecutionArn"):
        raise ExecutionError(
            "The invocation event is not a durable execution event (no DurableExecutionArn). "
            "Check that the function is configured as a durable function."
        )
    token = event.get("CheckpointToken")
    if not token:
        raise ValidationError(
            "The invocation event has no CheckpointToken, so nothing could be checkpointed. "
            "Invoke durable functions through the durable execution service, which supplies it."
        )
    return event["DurableExecutionArn"], token, event.get("InitialExecutionState") or {}


async def _load_pages(
    service: DurableService, state: ExecutionState, token: str, marker: str | None
) -> None:
    try:
        while marker:
            page = await service.get_execution_state(state.arn, token, marker)
            state.merge(page.get("Operations") or [])
            marker = page.get("NextMarker")
    except Exception as exc:
        retryable = getattr(exc, "retryable", True)
        raise CheckpointError(
            f"Could not load the execution's state: {exc}", retryable=retryable
        ) from exc


def _execution_operation(state: ExecutionState) -> Any:
    for op in state.operations.values():
        if op.type is OperationType.EXECUTION:
            return op
    raise ExecutionError(
        "The execution's state has no EXECUTION operation, so the input is unknown; "
        "the service sent an incomplete state."
    )


def _decode_input(payload: str | None) -> Any:
    if not payload or not payload.strip():
        return {}
    return json.loads(payload)


def _failure_output(error: BaseException) -> Wire:
    if find_suspend(error) is not None:
        return {"Status": "PENDING"}
    if isinstance(error, InvocationError) and not isinstance(error, CheckpointError):
        raise error
    if not isinstance(error, Exception):
        raise error
    _log.debug("durable handler failed", exc_info=error)
    return {"Status": "FAILED", "Error": ErrorObject.from_exception(error).to_wire()}


async def _success_output(result: Any, runtime: Runtime, execution_id: str) -> Wire:
    try:
        payload = json.dumps(result)
    except (TypeError, ValueError) as exc:
        error = SerDesError(
            f"The handler returned a {type(result).__name__} that is not JSON-serializable: "
            f"{exc}. Return JSON-compatible data (dicts, lists, strings, numbers, booleans, None)."
        )
        return _failure_output(error)
    if len(payload) <= LAMBDA_RESPONSE_LIMIT:
        return {"Status": "SUCCEEDED", "Result": payload}
    update = make_update(
        execution_id, OperationType.EXECUTION, OperationAction.SUCCEED, payload=payload
    )
    await runtime.checkpointer.send(update)
    return {"Status": "SUCCEEDED", "Result": ""}


def _settle(output: Wire, failure: BaseException | None) -> Wire:
    """Let a checkpoint failure decide the outcome: nothing after it was recorded."""
    if failure is None:
        return output
    if isinstance(failure, CheckpointError) and not failure.retryable:
        return {"Status": "FAILED", "Error": ErrorObject.from_exception(failure).to_wire()}
    raise failure


def _default_service() -> DurableService:
    from durable_async.service.aws import default_service

    return default_service()


def _loop() -> asyncio.AbstractEventLoop:
    global _process_loop
    if _process_loop is None or _process_loop.is_closed():
        _process_loop = asyncio.new_event_loop()
    return _process_loop
