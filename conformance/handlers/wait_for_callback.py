"""Suite 7: wait_for_callback (requirements 7-1 to 7-15)."""

from __future__ import annotations

import json
from typing import Any

from conformance.handlers import _logs  # noqa: F401 - JSON log lines for ExpectedLogs
from durable_async import (
    DurableContext,
    Duration,
    WaitForCallbackConfig,
    WaitForCallbackContext,
    durable_execution,
    durable_with_child_context,
)
from durable_async.retries import RetryStrategyConfig, create_retry_strategy
from durable_async.serdes import SerDes, SerDesContext


def submit(callback_id: str, wctx: WaitForCallbackContext) -> None:
    """Hand the callback id to the outside world: here the validator finds it in the history."""


@durable_execution
async def wait_for_callback_basic(event: Any, ctx: DurableContext) -> Any:
    """7-1: named by the input, answered with success."""
    return await ctx.wait_for_callback(submit, name=event)


@durable_execution
async def wait_for_callback_explicit_name(event: Any, ctx: DurableContext) -> Any:
    """7-2: a fixed name."""
    return await ctx.wait_for_callback(submit, name="approval")


@durable_execution
async def wait_for_callback_anonymous(event: Any, ctx: DurableContext) -> Any:
    """7-3: no name, a lambda submitter."""
    return await ctx.wait_for_callback(lambda callback_id, wctx: None)


@durable_execution
async def wait_for_callback_external_failure(event: Any, ctx: DurableContext) -> Any:
    """7-4: the outside answers with failure; the execution fails."""
    return await ctx.wait_for_callback(submit, name=event)


@durable_execution
async def wait_for_callback_timeout(event: Any, ctx: DurableContext) -> Any:
    """7-5: nobody answers within 3 seconds; the execution fails."""
    config = WaitForCallbackConfig(timeout=Duration.from_seconds(3))
    return await ctx.wait_for_callback(submit, name=event, config=config)


@durable_execution
async def wait_for_callback_failure_caught(event: Any, ctx: DurableContext) -> Any:
    """7-6: the outside's failure is caught."""
    try:
        return await ctx.wait_for_callback(submit, name=event)
    except Exception:
        return "recovered"


def submit_fails(callback_id: str, wctx: WaitForCallbackContext) -> None:
    raise Exception("submitter failure")


@durable_execution
async def wait_for_callback_submitter_retry_exhaustion(event: Any, ctx: DurableContext) -> Any:
    """7-7: the submitter fails twice, exhausting its retries."""
    retry = RetryStrategyConfig(
        max_attempts=2, initial_delay=Duration.from_seconds(1), max_delay=Duration.from_seconds(1)
    )
    config = WaitForCallbackConfig(retry_strategy=create_retry_strategy(retry))
    return await ctx.wait_for_callback(submit_fails, name=event, config=config)


@durable_with_child_context
async def wrapper(ctx: DurableContext, name: str) -> Any:
    return await ctx.wait_for_callback(submit, name=name)


@durable_execution
async def wait_for_callback_in_child_context(event: Any, ctx: DurableContext) -> Any:
    """7-8: inside a child context named wrapper."""
    return await ctx.run_in_child_context(wrapper(event), name="wrapper")


@durable_execution
async def wait_for_callback_two_sequential(event: Any, ctx: DurableContext) -> Any:
    """7-9: two in a row, first then second."""
    await ctx.wait_for_callback(submit, name="first")
    return await ctx.wait_for_callback(submit, name="second")


def _fixed_data(step: Any) -> str:
    return "fixed-data"


@durable_execution
async def wait_for_callback_mixed_ops(event: Any, ctx: DurableContext) -> Any:
    """7-10: a wait and a step come first."""
    await ctx.wait(Duration.from_seconds(1))
    await ctx.step(_fixed_data)
    return await ctx.wait_for_callback(submit, name=event)


class JsonObjectSerDes(SerDes[dict[str, Any]]):
    """The answer as a JSON object."""

    def serialize(self, value: dict[str, Any], serdes_context: SerDesContext) -> str:
        return json.dumps(value)

    def deserialize(self, data: str, serdes_context: SerDesContext) -> dict[str, Any]:
        decoded: dict[str, Any] = json.loads(data)
        return decoded


@durable_execution
async def wait_for_callback_json_result(event: Any, ctx: DurableContext) -> Any:
    """7-11: the answer is read as an object through a custom SerDes."""
    config = WaitForCallbackConfig(serdes=JsonObjectSerDes())
    result = await ctx.wait_for_callback(submit, name=event, config=config)
    return result["status"]


@durable_execution
async def wait_for_callback_heartbeat_timeout(event: Any, ctx: DurableContext) -> Any:
    """7-12: no heartbeat within 5 seconds; the callback times out."""
    config = WaitForCallbackConfig(heartbeat_timeout=Duration.from_seconds(5))
    return await ctx.wait_for_callback(submit, name=event, config=config)


@durable_execution
async def wait_for_callback_heartbeat_then_success(event: Any, ctx: DurableContext) -> Any:
    """7-13: a heartbeat, then success, within the 10-second heartbeat timeout."""
    config = WaitForCallbackConfig(heartbeat_timeout=Duration.from_seconds(10))
    return await ctx.wait_for_callback(submit, name=event, config=config)


@durable_execution
async def wait_for_callback_timeout_caught(event: Any, ctx: DurableContext) -> Any:
    """7-14: the 3-second timeout is caught."""
    config = WaitForCallbackConfig(timeout=Duration.from_seconds(3))
    try:
        return await ctx.wait_for_callback(submit, name=event, config=config)
    except Exception:
        return "timed-out-handled"


@durable_execution
async def wait_for_callback_null_result(event: Any, ctx: DurableContext) -> Any:
    """7-15: the answer carries no payload."""
    return await ctx.wait_for_callback(submit, name=event)
