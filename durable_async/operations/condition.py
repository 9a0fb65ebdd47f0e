"""ctx.wait_for_condition: poll a check durably until the wait strategy says stop.

One STEP operation (SubType ``WaitForCondition``). Each poll runs ``check(state, context)``;
the wait strategy then decides. Continuing records RETRY with the new state as its payload and
the delay as NextAttemptDelaySeconds, so the next poll (maybe in a later invocation) starts from
that state; stopping records SUCCEED with the final state. An error from the check or the
strategy (``WaitForConditionError`` once attempts are exhausted) records FAIL at once: the check
is not retried. START is queued without waiting, as for at-least-once steps.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio.to_thread

from durable_async._checkpoint import check_payload_size
from durable_async._context import DurableContext
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
        self.serdes: SerDes[Any] = config.serdes or EXTENDED_TYPES_SERDES

    def update(self, action: OperationAction, **fields: Any) -> dict[str, Any]:
        return make_update(
            self.op_id,
            OperationType.STEP,
            action,
            parent_id=self.ctx.parent_id,
            name=self.name,
            sub_type=OperationSubType.WAIT_FOR_CONDITION,
            **fields,
        )

    async def run(self) -> Any:
        op = self.ctx.recorded(
            self.op_id, OperationType.STEP, OperationSubType.WAIT_FOR_CONDITION, self.name
        )
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
            op = await self.wait_for_next_poll()

    async def poll(self, op: Operation | None) -> Any:
        """Run one check and record its outcome; return ``_POLL_AGAIN`` when one is scheduled."""
        if op is None or op.status is not OperationStatus.STARTED:
            self.runtime.checkpointer.enqueue(
                self.update(OperationAction.START), scope=self.ctx.scope
            )
        attempt = (op.attempt if op is not None else 0) + 1
        try:
            payload = self.encode(await self.call(self.current_state(op), attempt))
            check_payload_size(payload, self.label)
            decision = self.config.wait_strategy(self.decode(payload), attempt)
        except (ExecutionError, InvocationError):
            raise
        except Exception as exc:
            error = ErrorObject.from_exception(exc)
            await self.send(self.update(OperationAction.FAIL, error=error))
            raise rebuild_error(WaitForConditionError, error) from exc
        if not decision.should_continue:
            await self.send(self.update(OperationAction.SUCCEED, payload=payload))
            return self.decode(payload)
        delay = max(1, decision.delay_seconds)
        options = ("StepOptions", {"NextAttemptDelaySeconds": delay})
        await self.send(self.update(OperationAction.RETRY, payload=payload, options=options))
        return _POLL_AGAIN

    def current_state(self, op: Operation | None) -> Any:
        """Return the state the last poll recorded, or the initial state round-tripped."""
        if op is not None and op.result:
            return self.decode(op.result)
        return self.decode(self.encode(self.config.initial_state))

    async def call(self, state: Any, attempt: int) -> Any:
        check_context = WaitForConditionCheckContext(self.logger(attempt), attempt)
        check = self.check
        if inspect.iscoroutinefunction(check):
            return await check(state, check_context)
        value = await anyio.to_thread.run_sync(check, state, check_context)
        if inspect.isawaitable(value):
            return await value
        return value

    async def wait_for_next_poll(self) -> Operation | None:
        """Park until the service marks the operation READY for its next poll."""
        state = self.runtime.state
        op = state.get(self.op_id)
        next_ms = op.next_attempt_timestamp if op is not None else None
        resume_at = next_ms / 1000 if next_ms is not None else None

        def ready() -> bool:
            current = state.get(self.op_id)
            return current is not None and current.status is not OperationStatus.PENDING

        await self.runtime.activity.wait_until(ready, resume_at, f"next poll of {self.label}")
        return state.get(self.op_id)

    async def send(self, update: dict[str, Any]) -> None:
        await self.runtime.send(update, scope=self.ctx.scope)

    def encode(self, value: Any) -> str:
        return serialize(self.serdes, value, self.op_id, self.runtime.arn)

    def decode(self, payload: str | None) -> Any:
        return deserialize(self.serdes, payload, self.op_id, self.runtime.arn)

    def logger(self, attempt: int) -> ReplayAwareLogger:
        return self.ctx.logger.bind(
            live=True, operation_id=self.op_id, operation_name=self.name, attempt=attempt
        )

    @property
    def label(self) -> str:
        return self.name or self.op_id


async def run_wait_for_condition(
    ctx: DurableContext,
    op_id: str,
    check: CheckFunc,
    name: str | None,
    config: WaitForConditionConfig[Any],
) -> Any:
    """Poll ``check`` as the wait_for_condition ``op_id`` of ``ctx``; return the final state."""
    return await _Condition(ctx, op_id, check, name, config).run()
