"""Suite 3: child contexts (requirements 3-1 to 3-18)."""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

import boto3

from conformance.handlers import _logs  # noqa: F401 - JSON log lines for ExpectedLogs
from conformance.handlers._common import UppercaseSerDes
from durable_async import (
    ChildConfig,
    DurableContext,
    Duration,
    JitterStrategy,
    StepConfig,
    StepContext,
    durable_execution,
    durable_step,
    durable_with_child_context,
)
from durable_async.retries import RetryPresets, RetryStrategyConfig, create_retry_strategy

NO_RETRY = StepConfig(retry_strategy=RetryPresets.none())


@durable_step
def identity(step: StepContext, value: Any) -> Any:
    return value


@durable_with_child_context
async def one_step(ctx: DurableContext, value: Any) -> Any:
    return await ctx.step(identity(value))


@durable_execution
async def child_basic(event: Any, ctx: DurableContext) -> str:
    """3-1: a child context around one step."""
    return await ctx.run_in_child_context(one_step(str(event)))


@durable_execution
async def child_with_name(event: Any, ctx: DurableContext) -> str:
    """3-2: a child context named by the input."""
    return await ctx.run_in_child_context(one_step(event["value"]), name=event["name"])


@durable_step
def identity_again(step: StepContext, value: Any) -> Any:
    return value


@durable_with_child_context
async def two_steps(ctx: DurableContext, value: str) -> str:
    return await ctx.step(identity_again(await ctx.step(identity(value))))


@durable_execution
async def child_multiple_steps(event: Any, ctx: DurableContext) -> str:
    """3-3: a child context with two sequential steps."""
    return await ctx.run_in_child_context(two_steps(str(event)), name="multi-step")


@durable_step
def child_step_fails(step: StepContext) -> str:
    raise RuntimeError("Child step failed")


@durable_with_child_context
async def failing_child(ctx: DurableContext) -> str:
    return await ctx.step(child_step_fails(), config=NO_RETRY)


@durable_execution
async def child_error(event: Any, ctx: DurableContext) -> str:
    """3-4: a failing step fails its child context and the execution."""
    return await ctx.run_in_child_context(failing_child(), name="failing-child")


@durable_execution
async def child_error_caught(event: Any, ctx: DurableContext) -> str:
    """3-5: a failed child context's error is caught; a recovery step follows."""
    with contextlib.suppress(Exception):  # the requirement swallows it
        await ctx.run_in_child_context(failing_child())
    return await ctx.step(identity(str(event)))


@durable_with_child_context
async def inner(ctx: DurableContext, value: str) -> str:
    return await ctx.step(identity_again(value))


@durable_with_child_context
async def outer(ctx: DurableContext, value: str) -> str:
    await ctx.step(identity(value))
    return await ctx.run_in_child_context(inner(value), name="inner")


@durable_execution
async def child_nested(event: Any, ctx: DurableContext) -> str:
    """3-6: a child context inside a child context."""
    return await ctx.run_in_child_context(outer(str(event)), name="outer")


@durable_step
def fails_first_attempt(step: StepContext, value: str) -> str:
    if step.attempt < 2:
        raise RuntimeError(f"Attempt {step.attempt} failed")
    return value


@durable_with_child_context
async def retrying_child(ctx: DurableContext, value: str) -> str:
    retry = RetryStrategyConfig(max_attempts=3, retryable_error_types=[RuntimeError])
    config = StepConfig(retry_strategy=create_retry_strategy(retry))
    return await ctx.step(fails_first_attempt(value), config=config)


@durable_execution
async def child_retry(event: Any, ctx: DurableContext) -> str:
    """3-7: a step retried inside a child context succeeds on attempt 2."""
    return await ctx.run_in_child_context(retrying_child(str(event)), name="retry-child")


@durable_step
def always_fails(step: StepContext) -> str:
    raise RuntimeError("Always fails")


@durable_with_child_context
async def exhausting_child(ctx: DurableContext) -> str:
    retry = RetryStrategyConfig(
        max_attempts=2,
        initial_delay=Duration.from_seconds(1),
        backoff_rate=1,
        jitter_strategy=JitterStrategy.NONE,
    )
    config = StepConfig(retry_strategy=create_retry_strategy(retry))
    return await ctx.step(always_fails(), config=config)


@durable_execution
async def child_retry_exhaustion(event: Any, ctx: DurableContext) -> str:
    """3-8: a step inside a child context runs out of attempts; the child fails."""
    return await ctx.run_in_child_context(exhausting_child(), name="exhaust-child")


@durable_execution
async def child_replay(event: Any, ctx: DurableContext) -> str:
    """3-9: a succeeded child context returns its recorded result on replay."""
    result = await ctx.run_in_child_context(one_step(str(event)))
    await ctx.wait(Duration.from_seconds(2))
    return result


@durable_with_child_context
async def step_then_wait(ctx: DurableContext, value: str) -> str:
    await ctx.step(identity(value))
    await ctx.wait(Duration.from_seconds(2))
    return value


@durable_execution
async def child_step_and_wait(event: Any, ctx: DurableContext) -> str:
    """3-10: a child context with a step and a wait inside."""
    return await ctx.run_in_child_context(step_then_wait(str(event)), name="mixed-ops")


@durable_step
def fifty_kib(step: StepContext) -> str:
    return "A" * 50 * 1024


@durable_with_child_context
async def large_result(ctx: DurableContext, value: str) -> str:
    # Log on replay too: rebuilding the large result re-runs this body, and the log line is
    # the only sign of that (it records no history event).
    ctx.logger.with_is_replaying(lambda: False).info(value)
    return await ctx.step(fifty_kib()) * 6


@durable_execution
async def child_large_payload(event: Any, ctx: DurableContext) -> dict[str, Any]:
    """3-11: a child result over 256 KiB is rebuilt by replaying the child (ReplayChildren)."""
    result = await ctx.run_in_child_context(large_result(str(event)), name="large-data-processor")
    await ctx.wait(Duration.from_seconds(2))
    return {"success": True, "dataSize": len(result)}


def _attempts(execution_arn: str) -> int:
    """Count this attempt in DynamoDB (moto's server locally) and return the count."""
    client = boto3.client("dynamodb")
    response = client.update_item(
        TableName=os.environ.get("ATTEMPTS_TABLE_NAME", "Attempts"),
        Key={"executionId": {"S": execution_arn}},
        UpdateExpression="SET attemptCount = if_not_exists(attemptCount, :zero) + :one",
        ExpressionAttributeValues={":zero": {"N": "0"}, ":one": {"N": "1"}},
        ReturnValues="UPDATED_NEW",
    )
    return int(response["Attributes"]["attemptCount"]["N"])


@durable_step
def crashes_first_time(step: StepContext, execution_arn: str, value: str) -> str:
    if _attempts(execution_arn) < 2:
        # Crash only once StepStarted has left: a non-blocking START may wait up to
        # CheckpointBatcherConfig.max_batch_time_seconds (1 s) for company before it is sent.
        time.sleep(1.5)
        os._exit(1)
    return value


@durable_with_child_context
async def interrupted(ctx: DurableContext, execution_arn: str, value: str) -> str:
    return await ctx.step(crashes_first_time(execution_arn, value), config=NO_RETRY)


@durable_execution
async def child_interrupted(event: Any, ctx: DurableContext) -> str:
    """3-12: a crash inside a child context's step; the next invocation runs the step again."""
    arn = ctx.execution_context.durable_execution_arn
    return await ctx.run_in_child_context(interrupted(arn, str(event)))


@durable_with_child_context
async def waits_one_second(ctx: DurableContext, value: str) -> str:
    await ctx.wait(Duration.from_seconds(1))
    return value


@durable_execution
async def child_wait_replay(event: Any, ctx: DurableContext) -> str:
    """3-13: a child context that waits, then a step after it."""
    await ctx.run_in_child_context(waits_one_second(str(event)), name="wait-child")
    return await ctx.step(identity(str(event)))


@durable_execution
async def child_custom_serdes(event: Any, ctx: DurableContext) -> str:
    """3-14: a child context whose SerDes records its result upper-cased."""
    config = ChildConfig(serdes=UppercaseSerDes())
    return await ctx.run_in_child_context(one_step(event), name="serdes-child", config=config)


@durable_with_child_context
async def raises_directly(ctx: DurableContext) -> str:
    raise RuntimeError("direct error")


@durable_execution
async def child_error_no_step(event: Any, ctx: DurableContext) -> str:
    """3-15: an error raised in a child body, with no operation inside."""
    return await ctx.run_in_child_context(raises_directly(), name="direct-error")


@durable_with_child_context
async def returns_none(ctx: DurableContext) -> None:
    return None


@durable_execution
async def child_null_result(event: Any, ctx: DurableContext) -> None:
    """3-16: a child context returning null."""
    return await ctx.run_in_child_context(returns_none(), name="null-child")


@durable_with_child_context
async def logs_only(ctx: DurableContext, value: str) -> str:
    # Log on replay too, so a wrong second run of this body would show as a second line.
    ctx.logger.with_is_replaying(lambda: False).info(value)
    return value


@durable_execution
async def child_print_only(event: Any, ctx: DurableContext) -> str:
    """3-17: a child that only logs is not run again on replay."""
    result = await ctx.run_in_child_context(logs_only(str(event)), name="print-child")
    await ctx.wait(Duration.from_seconds(1))
    return result


@durable_execution
async def child_step_wait_after(event: Any, ctx: DurableContext) -> str:
    """3-18: a child with a step and a wait, then a step and a wait after it."""
    await ctx.run_in_child_context(step_then_wait(str(event)), name="step-wait-child")
    result = await ctx.step(identity(str(event)))
    await ctx.wait(Duration.from_seconds(2))
    return result
