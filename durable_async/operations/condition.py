"""ctx.wait_for_condition: poll a check durably until the wait strategy says stop.

One STEP operation (SubType ``WaitForCondition``). Each poll runs ``check(state, context)``;
the wait strategy then decides. Continuing records RETRY with the new state as its payload and
the delay as NextAttemptDelaySeconds, so the next poll (maybe in a later invocation) starts from
that state; stopping records SUCCEED with the final state. An error from the check or the
strategy (``WaitForConditionError`` once attempts are exhausted) records FAIL at once: the check
is not retried. START is queued without waiting, as for at-least-once steps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from durable_async._checkpoint import check_payload_size
from durable_async._context import DurableContext, OperationRef
from durable_async._instrument import instrumented
from durable_async._logger import ReplayAwareLogger
from durable_async._models import (
    ErrorObject,
    Operation,
    OperationAction,
    OperationStatus,
    OperationSubType,
    OperationType,
)
from durable_async._user import call_user
from durable_async.exceptions import (
    ExecutionError,
    InvocationError,
    ValidationError,
    WaitForConditionError,
)
from durable_async.operations.invoke import rebuild_error
from durable_async.serdes import EXTENDED_TYPES_SERDES, SerDes, deserialize, serialize
from durable_async.waits import WaitForConditionConfig

__all__ = [
    "CheckFunc",
    "WaitForConditionCheckContext",
    "run_wait_for_condition",
    "validate_condition_args",
]


@dataclass(frozen=True)
class WaitForConditionCheckContext:
    """What a wait_for_condition check receives besides the state: a logger and the attempt."""

    logger: ReplayAwareLogger
    attempt: int


CheckFunc = Callable[[Any, WaitForConditionCheckContext], Any]

_POLL_AGAIN: Any = object()


def validate_condition_args(check: object, config: object) -> None:
    """Raise ValidationError when ``check`` or ``config`` is missing."""
    if check is None:
        raise ValidationError("`check` is required for wait_for_condition.")
    if not config:
        raise ValidationError(
            "`config` is required for wait_for_condition: pass a WaitForConditionConfig."
        )


class _Condition:
    """One wait_for_condition operation, from its recorded state to its final state."""

    def __init__(
        self,
        ctx: DurableContext,
        op_id: str,
        check: CheckFunc,
        name: str | None,
        config: WaitForConditionConfig[Any],
    ) -> None:
        self.ctx = ctx
        self.runtime = ctx.runtime
        self.op_id = op_id
        self.check = check
        self.name = name
        self.config = config
        # The reference SDK's default for the polled state, so histories are interchangeable.
        self.serdes: SerDes[Any] = self.runtime.serdes_for(config.serdes, EXTENDED_TYPES_SERDES)
        self.ref = OperationRef(
            ctx, op_id, OperationType.STEP, OperationSubType.WAIT_FOR_CONDITION, name
        )

    async def run(self) -> Any:
        op = self.ref.recorded()
        while True:
            if op is not None and op.status is OperationStatus.SUCCEEDED:
                return self.decode(op.result)
            if op is not None and op.status is OperationStatus.FAILED:
                raise rebuild_error(WaitForConditionError, op.error)
            if op is None or op.status is not OperationStatus.PENDING:
                with self.runtime.activity.busy():
                    outcome = await self.poll(op)
                if outcome is not _POLL_AGAIN:
                    return outcome
            op = await self.ref.wait_for_next_attempt()

    async def poll(self, op: Operation | None) -> Any:
        """Run one check and record its outcome; return ``_POLL_AGAIN`` when one is scheduled."""
        if op is None or op.status is not OperationStatus.STARTED:
            self.ref.enqueue(OperationAction.START)
        attempt = (op.attempt if op is not None else 0) + 1
        try:
            payload = self.encode(await self.call(self.current_state(op), attempt))
            check_payload_size(payload, self.ref.label)
            decision = self.config.wait_strategy(self.decode(payload), attempt)
        except (ExecutionError, InvocationError):
            raise
        except Exception as exc:
            error = ErrorObject.from_exception(exc)
            await self.ref.send(OperationAction.FAIL, error=error)
            raise rebuild_error(WaitForConditionError, error) from exc
        if not decision.should_continue:
            await self.ref.send(OperationAction.SUCCEED, payload=payload)
            return self.decode(payload)
        delay = max(1, decision.delay_seconds)
        options = ("StepOptions", {"NextAttemptDelaySeconds": delay})
        await self.ref.send(OperationAction.RETRY, payload=payload, options=options)
        return _POLL_AGAIN

    def current_state(self, op: Operation | None) -> Any:
        """Return the state the last poll recorded, or the initial state round-tripped."""
        if op is not None and op.result:
            return self.decode(op.result)
        return self.decode(self.encode(self.config.initial_state))

    async def call(self, state: Any, attempt: int) -> Any:
        check_context = WaitForConditionCheckContext(self.ref.logger(attempt), attempt)
        work = call_user(self.check, state, check_context)
        return await instrumented(self.ref, work, attempt=attempt)

    def encode(self, value: Any) -> str:
        return serialize(self.serdes, value, self.op_id, self.runtime.arn)

    def decode(self, payload: str | None) -> Any:
        return deserialize(self.serdes, payload, self.op_id, self.runtime.arn)


async def run_wait_for_condition(
    ctx: DurableContext,
    op_id: str,
    check: CheckFunc,
    name: str | None,
    config: WaitForConditionConfig[Any],
) -> Any:
    """Poll ``check`` as the wait_for_condition ``op_id`` of ``ctx``; return the final state."""
    return await _Condition(ctx, op_id, check, name, config).run()
