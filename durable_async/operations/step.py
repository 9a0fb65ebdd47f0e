"""ctx.step: run a function once, durably, with retries.

Lifecycle of one attempt: START (queued without waiting for at-least-once semantics, awaited for
at-most-once), run the function, then SUCCEED with the serialized result, or RETRY with the
strategy's delay, or FAIL once the strategy gives up. Replay returns the recorded outcome.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

from durable_async._checkpoint import check_payload_size
from durable_async._context import DurableContext, OperationRef, StepContext
from durable_async._instrument import instrumented
from durable_async._models import (
    ErrorObject,
    Operation,
    OperationAction,
    OperationStatus,
    OperationSubType,
    OperationType,
)
from durable_async._overrides import step_override
from durable_async._user import bind_after_one, call_user
from durable_async.config import StepConfig, StepSemantics
from durable_async.exceptions import (
    ExecutionError,
    RetryableSerDesError,
    SerDesError,
    StepError,
    StepInterruptedError,
    ValidationError,
)
from durable_async.retries import RetryPresets
from durable_async.serdes import EXTENDED_TYPES_SERDES, deserialize, round_tripped, serialize
from durable_async.typed_serdes import serdes_for_return

__all__ = ["durable_step", "run_step"]

T = TypeVar("T")
P = ParamSpec("P")
StepFunc = Callable[[StepContext], T | Awaitable[T]]

_DEFAULT_RETRY = RetryPresets.default()


def durable_step(
    func: Callable[Concatenate[StepContext, P], T],
) -> Callable[P, Callable[[StepContext], T]]:
    """Turn ``func(step_context, *args, **kwargs)`` into a factory of step functions.

    ``ctx.step(charge(order_id, cents))`` then runs ``charge(step_context, order_id, cents)`` as a
    step named ``charge``. Works for sync and async functions; the factory keeps ``func``'s
    parameters and result for type checkers.
    """
    return bind_after_one(func)


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
        sub_type = config.sub_type or OperationSubType.STEP.value
        self.ref = OperationRef(ctx, op_id, OperationType.STEP, sub_type, name)
        # The reference SDK's default for step results, so histories are interchangeable; a
        # result declared as a dataclass or model (which it cannot write) is inferred instead.
        fallback = serdes_for_return(func) or EXTENDED_TYPES_SERDES
        self.serdes = ctx.runtime.serdes_for(config.serdes, fallback)

    async def run(self) -> Any:
        op = self.ref.recorded()
        while True:
            if op is not None and op.status is OperationStatus.SUCCEEDED:
                return self.decode(op.result)
            if op is not None and op.status is OperationStatus.FAILED:
                raise _step_error(op.error)
            if op is not None and op.status is OperationStatus.PENDING:
                op = await self.ref.wait_for_next_attempt()
                continue
            with self.runtime.activity.busy():
                outcome = await self.attempt(op)
            if outcome is not _RETRY:
                return outcome
            op = await self.ref.wait_for_next_attempt()

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
            if at_most_once:
                await self.ref.send(OperationAction.START)
            else:
                self.ref.enqueue(OperationAction.START)
        attempt = (op.attempt if op is not None else 0) + 1
        try:
            value = await self.call(attempt)
            payload = serialize(self.serdes, value, self.op_id, self.runtime.arn)
            check_payload_size(payload, self.ref.label)
            result = round_tripped(self.serdes, value, payload, self.op_id, self.runtime.arn)
        except (ExecutionError, RetryableSerDesError):
            raise  # the execution fails, or the invocation does (the service retries it)
        except (SerDesError, ValidationError) as exc:
            # Running the function again would produce the same unusable result: fail now.
            return await self.handle_failure(exc, attempt, retry=False)
        except Exception as exc:
            return await self.handle_failure(exc, attempt)
        await self.ref.send(OperationAction.SUCCEED, payload=payload)
        return result

    async def call(self, attempt: int) -> Any:
        func = self.func
        override = step_override.get()
        if override is not None:
            func = override(self.ref) or func
        work = call_user(func, StepContext.for_attempt(self.ref, attempt))
        return await instrumented(self.ref, work, attempt=attempt)

    async def handle_failure(self, error: Exception, attempt: int, *, retry: bool = True) -> Any:
        """Record RETRY (and return ``_RETRY``) or FAIL (and raise StepError)."""
        strategy = self.config.retry_strategy or _DEFAULT_RETRY
        error_object = ErrorObject.from_exception(error)
        if retry and (decision := strategy(error, attempt)).should_retry:
            delay = max(1, decision.delay_seconds)
            await self.ref.send(
                OperationAction.RETRY,
                error=error_object,
                options=("StepOptions", {"NextAttemptDelaySeconds": delay}),
            )
            return _RETRY
        await self.ref.send(OperationAction.FAIL, error=error_object)
        raise _step_error(error_object) from error

    def decode(self, payload: str | None) -> Any:
        return deserialize(self.serdes, payload, self.op_id, self.runtime.arn)


_RETRY: Any = object()


def _step_error(error: ErrorObject | None) -> StepError:
    error = error or ErrorObject("The step failed without a recorded error.", "StepError")
    return StepError(error.error_message, error.error_type, error.error_data, error.stack_trace)


async def run_step(
    ctx: DurableContext,
    op_id: str,
    func: StepFunc[T],
    name: str | None,
    config: StepConfig,
) -> T:
    """Run the step with id ``op_id`` in ``ctx`` and return its (round-tripped) result."""
    # First, and cheap: of ten thousand gathered steps, those past a full batch wait here, so
    # the first call leaves before they all start.
    await ctx.runtime.checkpointer.make_room()
    return cast(T, await _Step(ctx, op_id, func, name, config).run())
