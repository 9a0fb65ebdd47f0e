"""The handler entry: @durable_execution and one invocation from event to wire output."""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import logging
import os
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from durable_async._activity import Activity
from durable_async._checkpoint import Checkpointer
from durable_async._context import DurableContext, Runtime
from durable_async._instrument import Instrumentation
from durable_async._models import (
    ErrorObject,
    OperationAction,
    OperationType,
    make_update,
)
from durable_async._signals import ProcessExit, find_signal, find_suspend
from durable_async._state import ExecutionState
from durable_async.config import CheckpointBatcherConfig
from durable_async.exceptions import (
    CheckpointError,
    ExecutionError,
    InvocationError,
    SerDesError,
    ValidationError,
)
from durable_async.plugin import DurableInstrumentationPluginFactory
from durable_async.plugin_discovery import load_configured_plugins
from durable_async.serdes import SerDes
from durable_async.service import DurableService
from durable_async.service.clock import Clock, RealClock

if TYPE_CHECKING:
    from durable_async._inputs import DurableExecutionInvocationInput
    from durable_async._protocols import LambdaContext

__all__ = ["DurableHandler", "durable_execution"]

_log = logging.getLogger("durable_async")

Wire = dict[str, Any]
E = TypeVar("E")
R = TypeVar("R")
HandlerFunc = Callable[[E, DurableContext], Awaitable[R]]

LAMBDA_RESPONSE_LIMIT = 6 * 1024 * 1024 - 50

_POLL_SECONDS = 0.05
_loops = threading.local()


class DurableHandler(Generic[E, R]):
    """A durable function: call it as a Lambda handler, or await ``invoke`` on your own loop."""

    def __init__(
        self,
        func: HandlerFunc[E, R],
        *,
        batcher_config: CheckpointBatcherConfig | None = None,
        service: DurableService | None = None,
        serdes: SerDes[Any] | None = None,
        plugins: list[DurableInstrumentationPluginFactory] | None = None,
    ) -> None:
        self.func = func
        self.batcher_config = batcher_config or CheckpointBatcherConfig()
        self.service = service
        self.serdes = serdes
        #: The plugin factories every invocation uses: ``plugins`` then those named in
        #: ``DURABLE_EXECUTION_PLUGINS`` (read now, so a bad name fails at import time).
        self.plugins = load_configured_plugins(plugins)
        functools.update_wrapper(self, func)

    def __call__(
        self,
        event: Wire | DurableExecutionInvocationInput,
        lambda_context: LambdaContext | None = None,
    ) -> Wire:
        """Run one invocation synchronously on this thread's event loop (the Lambda entry).

        Safe from several threads at once: each thread keeps a loop of its own.
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            invocation = self.invoke(
                event,
                lambda_context=lambda_context,
                trace_header=os.environ.get("_X_AMZN_TRACE_ID"),
            )
            return _thread_loop().run_until_complete(invocation)
        raise RuntimeError(
            "A durable handler was called synchronously from a running event loop; "
            "use `await handler.invoke(event)` there instead."
        )

    async def invoke(
        self,
        event: Wire | DurableExecutionInvocationInput,
        *,
        service: DurableService | None = None,
        clock: Clock | None = None,
        lambda_context: LambdaContext | None = None,
        trace_header: str | None = None,
    ) -> Wire:
        """Run one invocation and return its wire output (``{"Status": ...}``).

        ``event`` is the invocation event, as a dict or a ``DurableExecutionInvocationInput``
        (one ``WithClient`` names the service too). ``lambda_context`` is the Lambda context
        object, handed to user code as ``ctx.lambda_context``; ``trace_header`` the invocation's
        ``X-Amzn-Trace-Id``, handed to plugins.

        Raises ``CheckpointError`` (retryable) or another ``InvocationError`` when the service
        should retry the invocation instead of recording an outcome.
        """
        if not isinstance(event, dict):
            service = service or getattr(event, "service_client", None)
            event = event.to_dict()
        backend = service or self.service or _default_service()
        arn, token, initial = _parse_event(event)
        state = ExecutionState(arn)
        state.merge(initial.get("Operations") or [])
        try:
            await _load_pages(backend, state, token, initial.get("NextMarker"))
        except CheckpointError as exc:
            return _outcome(_End(), exc, revoked=False)
        instrumentation = None
        if self.plugins:
            instrumentation = Instrumentation.begin(
                self.plugins,
                state,
                execution_input=_decode_input(_execution_operation(state).input_payload),
                request_id=getattr(lambda_context, "aws_request_id", None),
                updated_ids=event.get("UpdatedOperationIds") or [],
                trace_header=trace_header,
            )
        checkpointer = Checkpointer(
            backend,
            arn,
            token,
            merge=instrumentation.merging(state.merge) if instrumentation else state.merge,
            config=self.batcher_config,
            page=functools.partial(backend.get_execution_state, arn),
        )
        activity = Activity(clock or RealClock(), checkpointer.refresh)
        state.on_change = activity.wake
        runtime = Runtime(
            arn,
            state,
            checkpointer,
            activity,
            clock or RealClock(),
            lambda_context,
            default_serdes=self.serdes,
            instrumentation=instrumentation,
        )
        if instrumentation is None:
            return await self._checkpointed(runtime)
        try:
            output = await self._checkpointed(runtime)
        except BaseException as exc:
            instrumentation.end(None, exc)
            raise
        instrumentation.end(output, None)
        return output

    async def _checkpointed(self, runtime: Runtime) -> Wire:
        """Run the handler with the checkpointer open; return the invocation's wire output."""
        checkpointer = runtime.checkpointer
        async with checkpointer:
            end = await self._run(runtime)
            if runtime.instrumentation is None:
                checkpointer.state_unread()  # plugins still hear of operations that end now
            if end.returned is not None:
                end = await _record_result(end.returned, runtime)
            await checkpointer.drain()
        return _outcome(end, checkpointer.failure, revoked=checkpointer.suspended)

    async def _run(self, runtime: Runtime) -> _End:
        """Run the handler and every task it started; return how the handler ended."""
        execution = _execution_operation(runtime.state)
        root = DurableContext(runtime)
        activity = runtime.activity
        work = self.func(_decode_input(execution.input_payload), root)
        main = activity.start(work if inspect.iscoroutine(work) else _awaited(work))
        try:
            await _supervise(main, activity)
        finally:
            if not main.done():
                main.cancel()
            await asyncio.wait([main])
            if main.cancelled():
                await activity.cancel_all()
        await activity.finish()
        if main.cancelled():
            raise asyncio.CancelledError
        error = main.exception()
        if error is not None or activity.suspended:
            return _End(error=error, suspended=activity.suspended)
        return _End(returned=_Returned(main.result(), execution.id))


@dataclass(frozen=True, slots=True)
class _Returned:
    value: Any
    execution_id: str


@dataclass(frozen=True, slots=True)
class _End:
    """How the handler ended: with a result, with an error, or suspended (perhaps swallowed)."""

    returned: _Returned | None = None  # what the handler returned, not yet encoded
    wire: Wire | None = None  # the SUCCEEDED output, once encoded (and checkpointed if large)
    error: BaseException | None = None
    suspended: bool = False


@overload
def durable_execution(func: HandlerFunc[E, R], /) -> DurableHandler[E, R]: ...


@overload
def durable_execution(
    *,
    boto3_client: Any = None,
    plugins: list[DurableInstrumentationPluginFactory] | None = None,
    batcher_config: CheckpointBatcherConfig | None = None,
    service: DurableService | None = None,
    serdes: SerDes[Any] | None = None,
) -> Callable[[HandlerFunc[E, R]], DurableHandler[E, R]]: ...


def durable_execution(
    func: HandlerFunc[E, R] | None = None,
    /,
    *,
    boto3_client: Any = None,
    plugins: list[DurableInstrumentationPluginFactory] | None = None,
    batcher_config: CheckpointBatcherConfig | None = None,
    service: DurableService | None = None,
    serdes: SerDes[Any] | None = None,
) -> DurableHandler[E, R] | Callable[[HandlerFunc[E, R]], DurableHandler[E, R]]:
    """Turn ``async def handler(event, ctx)`` into a durable Lambda handler.

    ``boto3_client`` (the reference SDK's keyword) takes an open aiobotocore ``lambda`` client to
    checkpoint through; ``service`` takes any ``DurableService`` (the embedded local service,
    say). Without either, the handler talks to Lambda with a client of its own. ``serdes`` is
    the handler's default SerDes: every operation without a SerDes of its own uses it (step,
    child context, map and parallel item results, callback results, chained invoke payloads and
    results, wait_for_condition state); without it each keeps the reference SDK's default.
    ``plugins`` takes instrumentation plugin factories (:mod:`durable_async.plugin`); those
    named in ``DURABLE_EXECUTION_PLUGINS`` are added after them.
    """
    if boto3_client is not None:
        if service is not None:
            raise ValidationError("Pass boto3_client or service to durable_execution, not both.")
        from durable_async.service.aws import AwsDurableService  # aiobotocore only when asked

        service = AwsDurableService(client=boto3_client)
    options: dict[str, Any] = {
        "batcher_config": batcher_config,
        "service": service,
        "serdes": serdes,
        "plugins": plugins,
    }
    if func is not None:
        return DurableHandler(func, **options)

    def decorate(f: HandlerFunc[E, R]) -> DurableHandler[E, R]:
        return DurableHandler(f, **options)

    return decorate


async def _awaited(work: Awaitable[Any]) -> Any:
    return await work


async def _supervise(main: asyncio.Future[Any], activity: Activity) -> None:
    """Run until the handler ends; suspend every waiter once the suspension rule holds."""
    while not main.done():
        # A task working in a plain await tells nobody when it stops: look again now and then.
        poll = _POLL_SECONDS if activity.working_elsewhere() else None
        changed = activity.next_change()
        await asyncio.wait((main, changed), timeout=poll, return_when=asyncio.FIRST_COMPLETED)
        if main.done():
            return
        await asyncio.sleep(0)  # let wake-ups scheduled by the change run first
        if not main.done() and activity.may_suspend():
            activity.suspend_all()


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


def _outcome(end: _End, failure: CheckpointError | None, *, revoked: bool) -> Wire:
    """Turn how the handler and the checkpointer ended into the invocation's wire output.

    The one place that decides it, in this order: a checkpoint failure outranks the handler
    (nothing after it was recorded); a service that answered without a token, a suspension (even
    one user code swallowed) or a Suspend raised anywhere make it PENDING; ``sys.exit`` and other
    invocation errors fail the invocation (the service retries it); any other exception fails
    the execution; else it SUCCEEDED.
    """
    if failure is not None:
        if failure.retryable:
            raise failure
        return {"Status": "FAILED", "Error": ErrorObject.from_exception(failure).to_wire()}
    error = end.error
    if revoked or end.suspended or (error is not None and find_suspend(error) is not None):
        return {"Status": "PENDING"}
    if error is None:
        assert end.wire is not None, "the handler ended without an outcome"
        return end.wire
    exited = find_signal(error, ProcessExit)
    if exited is not None:
        raise InvocationError(
            f"The function exited during the invocation (sys.exit({exited.code!r})); the "
            "service retries the invocation. Raise an exception instead to fail the execution.",
            error_type="Runtime.ExitError",
        ) from error
    if isinstance(error, InvocationError) or not isinstance(error, Exception):
        raise error
    _log.debug("durable handler failed", exc_info=error)
    return {"Status": "FAILED", "Error": ErrorObject.from_exception(error).to_wire()}


async def _record_result(returned: _Returned, runtime: Runtime) -> _End:
    """Encode the handler's result; one too large for the Lambda response is checkpointed."""
    try:
        payload = json.dumps(returned.value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        return _End(
            error=SerDesError(
                f"The handler returned a {type(returned.value).__name__} that is not "
                f"JSON-serializable: {exc}. Return JSON-compatible data (dicts, lists, strings, "
                "finite numbers, booleans, None)."
            )
        )
    if len(payload) <= LAMBDA_RESPONSE_LIMIT:
        return _End(wire={"Status": "SUCCEEDED", "Result": payload})
    update = make_update(
        returned.execution_id, OperationType.EXECUTION, OperationAction.SUCCEED, payload=payload
    )
    await runtime.checkpointer.send(update)
    return _End(wire={"Status": "SUCCEEDED", "Result": ""})


def _default_service() -> DurableService:
    from durable_async.service.aws import default_service

    return default_service()


def _thread_loop() -> asyncio.AbstractEventLoop:
    """This thread's loop, kept between invocations so clients and connections are reused."""
    loop: asyncio.AbstractEventLoop | None = getattr(_loops, "loop", None)
    if loop is None or loop.is_closed():
        loop = _loops.loop = asyncio.new_event_loop()
    return loop
