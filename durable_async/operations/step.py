"""ctx.step: run a function once, durably, with retries.

Lifecycle of one attempt: START (queued without waiting for at-least-once semantics, awaited for
at-most-once), run the function, then SUCCEED with the serialized result, or RETRY with the
strategy's delay, or FAIL once the strategy gives up. Replay returns the recorded outcome.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

import anyio.to_thread

from durable_async._checkpoint import check_payload_size
from durable_async._context import DurableContext, StepContext
from durable_async._logger import ReplayAwareLogger
from durable_async._models import (
    ErrorObject,
    Operation,
    OperationAction,
    OperationStatus,
    OperationSubType,
    OperationType,
    make_update,
)
from durable_async.config import StepConfig, StepSemantics
from durable_async.exceptions import (
    ExecutionError,
    SerDesError,
    StepError,
    StepInterruptedError,
    ValidationError,
)
from durable_async.retries import RetryPresets
from durable_async.serdes import EXTENDED_TYPES_SERDES, deserialize, serialize

__all__ = ["durable_step", "run_step"]

T = TypeVar("T")
StepFunc = Callable[[StepContext], T | Awaitable[T]]

_DEFAULT_RETRY = RetryPresets.default()


def durable_step(func: Callable[..., Any]) -> Callable[..., StepFunc[Any]]:
    """Turn ``func(step_context, *args, **kwargs)`` into a factory of step functions.

    ``ctx.step(charge(order_id, cents))`` then runs ``charge(step_context, order_id, cents)`` as a
    step named ``charge``. Works for sync and async functions.
    """
    is_async = inspect.iscoroutinefunction(func)

    def bind(*args: Any, **kwargs: Any) -> StepFunc[Any]:
        if is_async:

            async def run_async(step_context: StepContext) -> Any:
                return await func(step_context, *args, **kwargs)

            bound: Any = run_async
        else:

            def run_sync(step_context: StepContext) -> Any:
                return func(step_context, *args, **kwargs)

            bound = run_sync
        bound._original_name = func.__name__
        return cast("StepFunc[Any]", bound)  # a string: no generic alias built per call

    bind.__name__ = func.__name__
    bind.__doc__ = func.__doc__
    return bind


class _Step:
    """One step operation, from its recorded state to its outcome."""

    def __init__(
        self,
        ctx: DurableContext,
        op_id: str,
        func: StepFunc[Any],
        name: str | None,
        config: StepConfig,
    ) -> None:
        self.ctx = ctx
        self.runtime = ctx.runtime
        self.op_id = op_id
        self.func = func
        self.name = name
        self.config = config
        self.sub_type = config.sub_type or OperationSubType.STEP.value
        # The reference SDK's default for step results, so histories are interchangeable.
        self.serdes = config.serdes or EXTENDED_TYPES_SERDES

    def update(self, action: OperationAction, **fields: Any) -> dict[str, Any]:
        return make_update(
            self.op_id,
            OperationType.STEP,
            action,
            parent_id=self.ctx.parent_id,
            name=self.name,
            sub_type=self.sub_type,
            **fields,
        )

    async def run(self) -> Any:
        op = self.ctx.recorded(self.op_id, OperationType.STEP, self.sub_type, self.name)
        while True:
            if op is not None and op.status is OperationStatus.SUCCEEDED:
                return self.decode(op.result)
            if op is not None and op.status is OperationStatus.FAILED:
                raise _step_error(op.error)
            if op is not None and op.status is OperationStatus.PENDING:
                op = await self.wait_for_retry(op)
                continue
            with self.runtime.activity.busy():
                outcome = await self.attempt(op)
            if outcome is not _RETRY:
                return outcome
            op = await self.wait_for_retry(self.runtime.state.get(self.op_id))

    async def attempt(self, op: Operation | None) -> Any:
        """Run one attempt and record its outcome; return ``_RETRY`` when one is scheduled."""
        at_most_once = self.config.step_semantics is StepSemantics.AT_MOST_ONCE_PER_RETRY
        if op is not None and op.status is OperationStatus.STARTED and at_most_once:
            interrupted = StepInterruptedError(
                f"Step {self.name or self.op_id} was interrupted before its outcome was "
                "recorded; at-most-once semantics hand it to the retry strategy.",
                step_id=self.op_id,
            )
            return await self.handle_failure(interrupted, op.attempt + 1)
        if op is None or op.status is not OperationStatus.STARTED:
            start = self.update(OperationAction.START)
            if at_most_once:
                await self.runtime.send(start, scope=self.ctx.scope)
            else:
                self.runtime.checkpointer.enqueue(start, scope=self.ctx.scope)
        attempt = (op.attempt if op is not None else 0) + 1
        try:
            value = await self.call(attempt)
            payload = serialize(self.serdes, value, self.op_id, self.runtime.arn)
            check_payload_size(payload, self.label)
            result = self.decode(payload)
        except ExecutionError:
            raise
        except (SerDesError, ValidationError) as exc:
            # Running the function again would produce the same unusable result: fail now.
            return await self.handle_failure(exc, attempt, retry=False)
        except Exception as exc:
            return await self.handle_failure(exc, attempt)
        await self.runtime.send(
            self.update(OperationAction.SUCCEED, payload=payload), scope=self.ctx.scope
        )
        return result

    async def call(self, attempt: int) -> Any:
        step_context = StepContext(self.op_id, attempt, self.logger(attempt))
        func = self.func
        if inspect.iscoroutinefunction(func):
            return await func(step_context)
        value = await anyio.to_thread.run_sync(func, step_context)
        if inspect.isawaitable(value):
            return await value
        return value

    async def handle_failure(self, error: Exception, attempt: int, *, retry: bool = True) -> Any:
        """Record RETRY (and return ``_RETRY``) or FAIL (and raise StepError)."""
        strategy = self.config.retry_strategy or _DEFAULT_RETRY
        error_object = ErrorObject.from_exception(error)
        if retry and (decision := strategy(error, attempt)).should_retry:
            delay = max(1, decision.delay_seconds)
            update = self.update(
                OperationAction.RETRY,
                error=error_object,
                options=("StepOptions", {"NextAttemptDelaySeconds": delay}),
            )
            await self.runtime.send(update, scope=self.ctx.scope)
            return _RETRY
        await self.runtime.send(
            self.update(OperationAction.FAIL, error=error_object), scope=self.ctx.scope
        )
        raise _step_error(error_object) from error

    async def wait_for_retry(self, op: Operation | None) -> Operation | None:
        """Park until the service marks the step READY for its next attempt."""
        state = self.runtime.state
        next_ms = op.next_attempt_timestamp if op is not None else None
        resume_at = next_ms / 1000 if next_ms is not None else None

        def ready() -> bool:
            current = state.get(self.op_id)
            return current is not None and current.status is not OperationStatus.PENDING

        await self.runtime.activity.wait_until(ready, resume_at, f"retry of {self.label}")
        return state.get(self.op_id)

    def decode(self, payload: str | None) -> Any:
        return deserialize(self.serdes, payload, self.op_id, self.runtime.arn)

    def logger(self, attempt: int) -> ReplayAwareLogger:
        return self.ctx.logger.bind(
            live=True, operation_id=self.op_id, operation_name=self.name, attempt=attempt
        )

    @property
    def label(self) -> str:
        return self.name or self.op_id


_RETRY: Any = object()


def _step_error(error: ErrorObject | None) -> StepError:
    error = error or ErrorObject("StepError", "The step failed without a recorded error.")
    return StepError(error.error_message, error.error_type, error.error_data, error.stack_trace)


async def run_step(
    ctx: DurableContext,
    op_id: str,
    func: StepFunc[T],
    name: str | None,
    config: StepConfig,
) -> T:
    """Run the step with id ``op_id`` in ``ctx`` and return its (round-tripped) result."""
    return cast(T, await _Step(ctx, op_id, func, name, config).run())
