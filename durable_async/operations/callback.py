"""ctx.create_callback and ctx.wait_for_callback: wait for an external system to answer.

``create_callback`` records a CALLBACK operation (START is awaited: the service hands out the
callback id) and returns a :class:`Callback`. Its ``result()`` waits, suspending the invocation,
until the service records the answer. A failed or timed-out callback raises from ``result()``,
never from ``create_callback``, so the code between the two runs the same on every replay.

``wait_for_callback`` is a child context (SubType ``WaitForCallback``) holding the callback,
a step that runs the submitter with the callback id, and the wait for the result.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, cast

from durable_async import exceptions
from durable_async._context import DurableContext, OperationRef, Runtime, StepContext
from durable_async._logger import ReplayAwareLogger
from durable_async._models import (
    Operation,
    OperationAction,
    OperationStatus,
    OperationSubType,
    OperationType,
)
from durable_async._user import bind_after_two
from durable_async.config import CallbackConfig, ChildConfig, StepConfig, WaitForCallbackConfig
from durable_async.exceptions import (
    CallbackError,
    CallbackExternalError,
    CallbackSubmitterError,
    CallbackTimeoutError,
    ChildContextError,
    SerDesError,
    StepError,
)
from durable_async.serdes import PASS_THROUGH_SERDES, SerDes, deserialize

__all__ = [
    "Callback",
    "WaitForCallbackContext",
    "durable_wait_for_callback",
    "run_create_callback",
    "run_wait_for_callback",
]

T = TypeVar("T")
P = ParamSpec("P")

# The reference SDK raises these two CallbackError subclasses here.
_EXTERNAL_ERROR = CallbackExternalError
_SUBMITTER_ERROR = CallbackSubmitterError


@dataclass(frozen=True)
class WaitForCallbackContext:
    """What a wait_for_callback submitter receives besides the callback id: a logger."""

    logger: ReplayAwareLogger


Submitter = Callable[[str, WaitForCallbackContext], Any]


class Callback(Generic[T]):
    """A created callback: hand ``callback_id`` to the system that answers, then await result()."""

    def __init__(
        self, callback_id: str, operation_id: str, runtime: Runtime, serdes: SerDes[T] | None
    ) -> None:
        self.callback_id = callback_id
        self.operation_id = operation_id
        self._runtime = runtime
        self._serdes = serdes

    async def result(self) -> T | None:
        """Wait for the answer and return it, deserialized with the config's SerDes.

        The invocation suspends while nothing else can progress; the service invokes it again
        once the callback is answered. Raises ``CallbackTimeoutError`` when the callback timed
        out or missed a heartbeat, ``CallbackError`` when it failed.
        """
        state = self._runtime.state

        def answered() -> bool:
            op = state.get(self.operation_id)
            return op is None or op.is_terminal

        await self._runtime.activity.wait_until(
            answered, None, f"callback {self.operation_id} to be answered"
        )
        op = state.get(self.operation_id)
        if op is None:
            raise CallbackError("The callback operation must exist before its result is read.")
        if op.status is not OperationStatus.SUCCEEDED:
            raise _terminal_error(op)
        if op.result is None:
            return None
        serdes = self._runtime.serdes_for(self._serdes, PASS_THROUGH_SERDES)
        return cast(T, deserialize(serdes, op.result, self.operation_id, self._runtime.arn))


def _terminal_error(op: Operation) -> CallbackError:
    """Return the error a callback that ended other than SUCCEEDED raises (as the reference)."""
    timed_out = op.status is OperationStatus.TIMED_OUT
    error_cls = CallbackTimeoutError if timed_out else _EXTERNAL_ERROR
    error = op.error
    default = "Callback timed out" if timed_out else "Callback failed"
    message = error.error_message if error is not None and error.error_message else default
    return error_cls(
        message,
        data=error.error_data if error is not None else None,
        stack_trace=error.stack_trace if error is not None else None,
    )


async def run_create_callback(
    ctx: DurableContext, op_id: str, name: str | None, config: CallbackConfig
) -> Callback[Any]:
    """Start the callback ``op_id`` unless recorded, and return it with its id."""
    runtime = ctx.runtime
    sub_type = config.sub_type or OperationSubType.CALLBACK.value
    ref = OperationRef(ctx, op_id, OperationType.CALLBACK, sub_type, name)
    op = ref.recorded()
    if op is None:
        timeouts = {
            "TimeoutSeconds": config.timeout_seconds,
            "HeartbeatTimeoutSeconds": config.heartbeat_timeout_seconds,
        }
        await ref.send(OperationAction.START, options=("CallbackOptions", timeouts))
        op = ref.current()
    if op is None or not op.callback_id:
        raise CallbackError(f"Missing callback details for operation: {op_id}")
    return Callback(op.callback_id, op_id, runtime, config.serdes)


def durable_wait_for_callback(
    func: Callable[Concatenate[str, WaitForCallbackContext, P], T],
) -> Callable[P, Callable[[str, WaitForCallbackContext], T]]:
    """Turn ``func(callback_id, wctx, *args, **kwargs)`` into a factory of submitters.

    ``ctx.wait_for_callback(notify(email))`` then runs ``notify(callback_id, wctx, email)`` as
    the submitter of a wait_for_callback named ``notify``. Works for sync and async functions;
    the factory keeps ``func``'s parameters for type checkers.
    """
    return bind_after_two(func)


async def run_wait_for_callback(
    ctx: DurableContext,
    op_id: str,
    submitter: Submitter,
    name: str | None,
    config: WaitForCallbackConfig | None,
) -> Any:
    """Run the wait_for_callback child context ``op_id`` and return the callback's result."""
    from durable_async.operations.child import run_child

    async def body(child: DurableContext) -> Any:
        prefix = f"{name} " if name else ""
        callback = await child.create_callback(name=f"{prefix}create callback id", config=config)
        step_config = (
            StepConfig(retry_strategy=config.retry_strategy, serdes=config.serdes)
            if config is not None
            else None
        )
        await child.step(
            _submitter_step(submitter, callback.callback_id),
            name=f"{prefix}submitter",
            config=step_config,
        )
        return await callback.result()

    try:
        return await run_child(
            ctx, op_id, body, name, ChildConfig(), sub_type=OperationSubType.WAIT_FOR_CALLBACK
        )
    except ChildContextError as exc:
        error = _unwrap(exc)
        if error is exc:
            raise
        raise error from exc


def _submitter_step(
    submitter: Submitter, callback_id: str
) -> Callable[[StepContext], Any | Awaitable[Any]]:
    """Wrap ``submitter`` as a step function: async stays async, sync runs in a worker thread."""
    if inspect.iscoroutinefunction(submitter):

        async def submit_async(step: StepContext) -> Any:
            return await submitter(callback_id, WaitForCallbackContext(step.logger))

        return submit_async

    def submit_sync(step: StepContext) -> Any:
        return submitter(callback_id, WaitForCallbackContext(step.logger))

    return submit_sync


def _unwrap(exc: ChildContextError) -> Exception:
    """Return the callback-typed error a failed wait_for_callback raises.

    The child context records the type of the error that escaped it, so this reads the same
    on the first run and on replay: a callback error passes through as itself, a failed
    submitter step becomes a submitter error, a SerDes failure a ``SerDesError``, and anything
    else stays a ``ChildContextError``.
    """
    kind = exc.error_type.rpartition(".")[2]
    error_cls = getattr(exceptions, kind, None)
    if isinstance(error_cls, type) and issubclass(error_cls, CallbackError):
        return error_cls(exc.message, data=exc.data, stack_trace=exc.stack_trace)
    if kind == SerDesError.__name__:
        return SerDesError(exc.message)
    if kind == StepError.__name__:
        message = exc.message or "Callback submitter failed"
        return _SUBMITTER_ERROR(message, data=exc.data, stack_trace=exc.stack_trace)
    return exc
