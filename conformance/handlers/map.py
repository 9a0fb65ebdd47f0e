"""Suite 9: map (requirements 9-1 to 9-20)."""

from __future__ import annotations

from typing import Any

from conformance.handlers import _logs  # noqa: F401 - JSON log lines for ExpectedLogs
from durable_async import (
    BatchItem,
    BatchItemStatus,
    BatchResult,
    CompletionConfig,
    CompletionReason,
    DurableContext,
    Duration,
    JsonSerDes,
    MapConfig,
    NestingType,
    StepContext,
    durable_execution,
    durable_step,
)
from durable_async.serdes import SerDes, SerDesContext

SERIAL = MapConfig(max_concurrency=1)


def one_at_a_time(**completion: Any) -> MapConfig:
    return MapConfig(max_concurrency=1, completion_config=CompletionConfig(**completion))


def summary(result: BatchResult[Any], *fields: str) -> dict[str, Any]:
    """The BatchResult fields the requirement's handler returns, under its keys."""
    values = {
        "completionReason": result.completion_reason.value,
        "status": result.status.value,
        "successCount": result.success_count,
        "failureCount": result.failure_count,
        "totalCount": result.total_count,
    }
    return {key: values[key] for key in fields}


ALL = ("completionReason", "status", "successCount", "failureCount", "totalCount")
NO_STATUS = ("completionReason", "successCount", "failureCount", "totalCount")


async def same(ctx: DurableContext, item: Any, index: int, items: Any) -> Any:
    return item


async def upper(ctx: DurableContext, item: str, index: int, items: Any) -> str:
    return item.upper()


async def fails_on_fail(ctx: DurableContext, item: str, index: int, items: Any) -> str:
    if item == "fail":
        raise RuntimeError("item failed")
    return item


async def fails_unless_never(ctx: DurableContext, item: str, index: int, items: Any) -> str:
    if item != "never":
        raise RuntimeError("item failed")
    return item


@durable_step
def greet(step: StepContext, item: str) -> str:
    return f"Hello, {item}!"


async def greets(ctx: DurableContext, item: str, index: int, items: Any) -> str:
    return await ctx.step(greet(item))


@durable_step
def echo(step: StepContext, value: Any) -> Any:
    return value


async def echoes(ctx: DurableContext, item: Any, index: int, items: Any) -> Any:
    return await ctx.step(echo(item))


@durable_execution
async def map_basic(event: Any, ctx: DurableContext) -> list[Any]:
    """9-1: one step per item."""
    items = event if isinstance(event, list) else ["World", "Kiro"]
    return (await ctx.map(items, greets, name="map", config=SERIAL)).get_results()


@durable_execution
async def map_items_only(event: Any, ctx: DurableContext) -> list[Any]:
    """9-2: no operation name; items return directly."""

    async def double(ctx: DurableContext, item: int, index: int, items: Any) -> int:
        return item * 2

    items = event if isinstance(event, list) else [1, 2]
    return (await ctx.map(items, double, config=SERIAL)).get_results()


@durable_execution
async def map_item_index(event: Any, ctx: DurableContext) -> list[Any]:
    """9-3: the map function receives each item's index."""

    async def plus_index(ctx: DurableContext, item: int, index: int, items: Any) -> int:
        return item + index

    items = event if isinstance(event, list) else [10, 20, 30]
    return (await ctx.map(items, plus_index, name="indexed", config=SERIAL)).get_results()


@durable_execution
async def map_empty(event: Any, ctx: DurableContext) -> list[Any]:
    """9-4: no items."""
    items = event if isinstance(event, list) else []
    return (await ctx.map(items, same, name="empty", config=MapConfig())).get_results()


@durable_execution
async def map_fail_fast(event: Any, ctx: DurableContext) -> dict[str, Any]:
    """9-5: no failure tolerated: the third item never starts."""
    config = one_at_a_time(tolerated_failure_count=0)
    result = await ctx.map(["ok", "fail", "never"], fails_on_fail, name="failfast", config=config)
    return summary(result, *ALL)


@durable_execution
async def map_throw_if_error(event: Any, ctx: DurableContext) -> list[Any]:
    """9-6: throw_if_error raises the item's failure, failing the execution."""
    config = one_at_a_time(tolerated_failure_count=0)
    result = await ctx.map(["fail", "never"], fails_on_fail, name="throwing", config=config)
    result.throw_if_error()
    return result.get_results()


@durable_execution
async def map_min_successful(event: Any, ctx: DurableContext) -> dict[str, Any]:
    """9-7: two successes are enough; the rest never start."""
    config = one_at_a_time(min_successful=2)
    result = await ctx.map(["s0", "s1", "s2", "s3"], same, name="min-successful", config=config)
    return summary(result, "completionReason", "successCount", "totalCount")


@durable_execution
async def map_tolerated_within(event: Any, ctx: DurableContext) -> dict[str, Any]:
    """9-8: one failure, one tolerated: every item runs."""
    config = one_at_a_time(tolerated_failure_count=1)
    result = await ctx.map(["s0", "fail", "s2"], fails_on_fail, name="tolerated", config=config)
    return summary(result, *ALL)


@durable_execution
async def map_tolerated_exceeded(event: Any, ctx: DurableContext) -> dict[str, Any]:
    """9-9: the second failure exceeds the one tolerated."""
    config = one_at_a_time(tolerated_failure_count=1)
    items = ["f0", "f1", "never"]
    result = await ctx.map(items, fails_unless_never, name="tolerated-exceeded", config=config)
    return summary(result, *NO_STATUS)


@durable_execution
async def map_tolerated_pct(event: Any, ctx: DurableContext) -> dict[str, Any]:
    """9-10: two failures of four exceed 25 %."""
    config = one_at_a_time(tolerated_failure_percentage=25)
    items = ["f0", "f1", "never", "never"]
    result = await ctx.map(items, fails_unless_never, name="tolerated-pct", config=config)
    return summary(result, *NO_STATUS)


@durable_execution
async def map_concurrent(event: Any, ctx: DurableContext) -> list[Any]:
    """9-11: two at a time; results stay in item order."""
    config = MapConfig(max_concurrency=2)
    return (await ctx.map(["r0", "r1", "r2"], same, name="concurrent", config=config)).get_results()


@durable_execution
async def map_flat(event: Any, ctx: DurableContext) -> list[Any]:
    """9-12: FLAT nesting: iterations are virtual contexts."""
    config = MapConfig(max_concurrency=1, nesting_type=NestingType.FLAT)
    return (await ctx.map(["fa", "fb"], echoes, name="flat", config=config)).get_results()


@durable_execution
async def map_item_namer(event: Any, ctx: DurableContext) -> list[Any]:
    """9-13: iterations are named by item_namer."""

    async def times_ten(ctx: DurableContext, item: int, index: int, items: Any) -> int:
        return item * 10

    config = MapConfig(max_concurrency=1, item_namer=lambda item, index: f"item-{item}")
    items = event if isinstance(event, list) else [1, 2]
    return (await ctx.map(items, times_ten, name="named-items", config=config)).get_results()


class PrefixSerDes(SerDes[str]):
    """Record an item's result as ``wrapped:<value>``."""

    def serialize(self, value: str, serdes_context: SerDesContext) -> str:
        return f"wrapped:{value}"

    def deserialize(self, data: str, serdes_context: SerDesContext) -> str:
        return data.removeprefix("wrapped:")


@durable_execution
async def map_custom_serde(event: Any, ctx: DurableContext) -> list[Any]:
    """9-14: each item's result goes through the item SerDes."""
    config = MapConfig(max_concurrency=1, item_serdes=PrefixSerDes())
    return (await ctx.map(["x", "y"], upper, name="serdes", config=config)).get_results()


async def waits_on_second(ctx: DurableContext, item: str, index: int, items: Any) -> str:
    if index == 1:
        await ctx.wait(Duration.from_seconds(1))
    return await ctx.step(echo(item))


@durable_execution
async def map_suspend_iteration(event: Any, ctx: DurableContext) -> list[Any]:
    """9-15: the second iteration suspends; the replay skips the first."""
    result = await ctx.map(["r0", "r1"], waits_on_second, name="suspend", config=SERIAL)
    return result.get_results()


@durable_execution
async def map_large_result(event: Any, ctx: DurableContext) -> dict[str, Any]:
    """9-16: four 70 KB results make a map result over the checkpoint threshold."""

    async def large(ctx: DurableContext, item: int, index: int, items: Any) -> str:
        return "x" * 70_000

    result = await ctx.map([0, 1, 2, 3], large, name="large", config=SERIAL)
    return {"successCount": result.success_count, "totalCount": result.total_count}


@durable_execution
async def map_then_wait(event: Any, ctx: DurableContext) -> list[Any]:
    """9-17: a wait after a successful map; the replay skips the map."""
    result = await ctx.map(["a", "b"], upper, name="then-wait", config=SERIAL)
    await ctx.wait(Duration.from_seconds(1))
    return result.get_results()


@durable_execution
async def map_fail_then_wait(event: Any, ctx: DurableContext) -> dict[str, Any]:
    """9-18: a wait after a map that completed with a tolerated failure."""
    config = one_at_a_time(tolerated_failure_count=1)
    result = await ctx.map(["ok", "fail"], fails_on_fail, name="fail-then-wait", config=config)
    await ctx.wait(Duration.from_seconds(1))
    return summary(result, *ALL)


class JoinedSerDes(SerDes[BatchResult[str]]):
    """Record a whole map result as ``OPSERDE:<results joined by commas>``."""

    def serialize(self, value: BatchResult[str], serdes_context: SerDesContext) -> str:
        return "OPSERDE:" + ",".join(value.get_results())

    def deserialize(self, data: str, serdes_context: SerDesContext) -> BatchResult[str]:
        values = data.removeprefix("OPSERDE:").split(",")
        items = [BatchItem(i, BatchItemStatus.SUCCEEDED, v) for i, v in enumerate(values)]
        return BatchResult(items, CompletionReason.ALL_COMPLETED)


OP_SERDES = MapConfig(max_concurrency=1, serdes=JoinedSerDes(), item_serdes=JsonSerDes())


@durable_execution
async def map_op_serde(event: Any, ctx: DurableContext) -> list[Any]:
    """9-19: the whole result goes through the operation SerDes."""
    return (await ctx.map(["x", "y"], upper, name="op-serde", config=OP_SERDES)).get_results()


@durable_execution
async def map_op_serde_replay(event: Any, ctx: DurableContext) -> list[Any]:
    """9-20: the operation SerDes reads the whole result back on replay."""
    result = await ctx.map(["x", "y"], upper, name="op-serde-replay", config=OP_SERDES)
    await ctx.wait(Duration.from_seconds(1))
    return result.get_results()
