"""ctx.wait: a durable sleep the service ends."""

from __future__ import annotations

from durable_async._context import DurableContext, OperationRef
from durable_async._models import (
    OperationAction,
    OperationSubType,
    OperationType,
)
from durable_async.config import Duration
from durable_async.exceptions import ValidationError

__all__ = ["run_wait", "wait_seconds"]


def wait_seconds(duration: Duration) -> int:
    """Return the wait's length in seconds, or raise ValidationError below one second."""
    if not isinstance(duration, Duration):
        raise ValidationError(
            f"ctx.wait takes a Duration, got {type(duration).__name__}; "
            "use Duration.from_seconds(...) and friends."
        )
    if duration.seconds < 1:
        raise ValidationError(
            f"A wait must last at least 1 second, got {duration.seconds}; "
            "use Duration.from_seconds(1) or more."
        )
    return duration.seconds


async def run_wait(ctx: DurableContext, op_id: str, seconds: int, name: str | None) -> None:
    """Start the wait (blocking) unless recorded, then wait until the service completes it."""
    runtime = ctx.runtime
    ref = OperationRef(ctx, op_id, OperationType.WAIT, OperationSubType.WAIT, name)
    op = ref.recorded()
    if op is None:
        await ref.send(OperationAction.START, options=("WaitOptions", {"WaitSeconds": seconds}))
        op = ref.current()
    end_ms = op.scheduled_end_timestamp if op is not None else None
    resume_at = end_ms / 1000 if end_ms is not None else runtime.clock.now() + seconds

    def done() -> bool:
        current = runtime.state.get(op_id)
        return current is not None and current.is_terminal

    # A cancelled or stopped wait ends early, as in the reference SDK.
    await runtime.activity.wait_until(done, resume_at, f"wait {name or op_id}")
