"""Suite 8: parallel (requirements 8-1 to 8-22)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from conformance.handlers import _logs  # noqa: F401 - JSON log lines for ExpectedLogs
from durable_async import (
    BatchResult,
    CompletionConfig,
    DurableContext,
    Duration,
    NestingType,
    ParallelBranch,
    ParallelConfig,
    StepContext,
    durable_execution,
    durable_step,
)
from durable_async.serdes import SerDes, SerDesContext

Branch = Callable[[DurableContext], Awaitable[Any]]


def returns(value: Any) -> Branch:
    """A branch that returns ``value`` and records nothing inside."""

    async def branch(ctx: DurableContext) -> Any:
        return value

    return branch


async def fails(ctx: DurableContext) -> Any:
    raise RuntimeError("branch failed")


@durable_step
def echo(step: StepContext, value: Any) -> Any:
    return value


def steps(value: Any) -> Branch:
    """A branch that returns ``value`` through one step."""

    async def branch(ctx: DurableContext) -> Any:
        return await ctx.step(echo(value))

    return branch


def one_at_a_time(**completion: Any) -> ParallelConfig:
    return ParallelConfig(max_concurrency=1, completion_config=CompletionConfig(**completion))


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


@durable_execution
async def parallel_basic(event: Any, ctx: DurableContext) -> list[Any]:
    """8-1: two branches of one step each."""
    branches = [steps("task-1"), steps("task-2")]
    result = await ctx.parallel(branches, name="parallel", config=ParallelConfig(max_concurrency=1))
    return result.get_results()


@durable_execution
async def parallel_branches_only(event: Any, ctx: DurableContext) -> list[Any]:
    """8-2: no operation name."""
    branches = [returns("alpha"), returns("beta")]
    result = await ctx.parallel(branches, config=ParallelConfig(max_concurrency=1))
    return result.get_results()


@durable_execution
async def parallel_named_branches(event: Any, ctx: DurableContext) -> list[Any]:
    """8-3: ParallelBranch objects give the branches names."""
    branches = [ParallelBranch(returns("one"), "first"), ParallelBranch(returns("two"), "second")]
    result = await ctx.parallel(branches, name="named", config=ParallelConfig(max_concurrency=1))
    return result.get_results()


@durable_execution
async def parallel_heterogeneous(event: Any, ctx: DurableContext) -> list[Any]:
    """8-4: branches return a string, a number and an object."""
    branches = [returns("hello"), returns(42), returns({"k": "v"})]
    result = await ctx.parallel(branches, name="hetero", config=ParallelConfig(max_concurrency=1))
    return result.get_results()


@durable_execution
async def parallel_empty(event: Any, ctx: DurableContext) -> list[Any]:
    """8-5: no branches at all."""
    return (await ctx.parallel([], name="empty")).get_results()


@durable_execution
async def parallel_fail_fast(event: Any, ctx: DurableContext) -> dict[str, Any]:
    """8-6: no failure tolerated: the third branch never starts."""
    branches = [returns("ok"), fails, returns("never")]
    config = one_at_a_time(tolerated_failure_count=0)
    return summary(await ctx.parallel(branches, name="failfast", config=config), *ALL)


@durable_execution
async def parallel_throw_if_error(event: Any, ctx: DurableContext) -> list[Any]:
    """8-7: throw_if_error raises the branch's failure, failing the execution."""
    config = one_at_a_time(tolerated_failure_count=0)
    result = await ctx.parallel([fails, returns("never")], name="throwing", config=config)
    result.throw_if_error()
    return result.get_results()


@durable_execution
async def parallel_min_successful(event: Any, ctx: DurableContext) -> dict[str, Any]:
    """8-8: two successes are enough; the rest never start."""
    branches = [returns(f"s{i}") for i in range(4)]
    config = one_at_a_time(min_successful=2)
    result = await ctx.parallel(branches, name="min-successful", config=config)
    return summary(result, "completionReason", "successCount", "totalCount")


@durable_execution
async def parallel_tolerated_within(event: Any, ctx: DurableContext) -> dict[str, Any]:
    """8-9: one failure, one tolerated: every branch runs."""
    branches = [returns("s0"), fails, returns("s2")]
    config = one_at_a_time(tolerated_failure_count=1)
    return summary(await ctx.parallel(branches, name="tolerated", config=config), *ALL)


@durable_execution
async def parallel_tolerated_exceeded(event: Any, ctx: DurableContext) -> dict[str, Any]:
    """8-10: the second failure exceeds the one tolerated; the third branch never starts."""
    branches = [fails, fails, returns("never")]
    config = one_at_a_time(tolerated_failure_count=1)
    result = await ctx.parallel(branches, name="tolerated-exceeded", config=config)
    return summary(result, *NO_STATUS)


@durable_execution
async def parallel_concurrent(event: Any, ctx: DurableContext) -> list[Any]:
    """8-11: two at a time; results stay in branch order."""
    branches = [returns(f"r{i}") for i in range(3)]
    config = ParallelConfig(max_concurrency=2)
    return (await ctx.parallel(branches, name="concurrent", config=config)).get_results()


@durable_execution
async def parallel_flat(event: Any, ctx: DurableContext) -> list[Any]:
    """8-12: FLAT nesting: branches are virtual contexts."""
    config = ParallelConfig(max_concurrency=1, nesting_type=NestingType.FLAT)
    result = await ctx.parallel([steps("fa"), steps("fb")], name="flat", config=config)
    return result.get_results()


@durable_execution
async def parallel_tolerated_pct(event: Any, ctx: DurableContext) -> dict[str, Any]:
    """8-13: two failures of four exceed 25 %; the rest never start."""
    branches = [fails, fails, returns("never"), returns("never")]
    config = one_at_a_time(tolerated_failure_percentage=25)
    result = await ctx.parallel(branches, name="tolerated-pct", config=config)
    return summary(result, *NO_STATUS)


@durable_step
def ret_b0(step: StepContext, value: str) -> str:
    return value


async def step_b0(ctx: DurableContext) -> str:
    return await ctx.step(ret_b0("b0"))


async def waits_then_b1(ctx: DurableContext) -> str:
    await ctx.wait(Duration.from_seconds(2))
    return "b1"


@durable_execution
async def parallel_replay_skips_succeeded(event: Any, ctx: DurableContext) -> list[Any]:
    """8-14: after the wait, the replay skips the branch that already succeeded."""
    config = ParallelConfig(max_concurrency=1)
    result = await ctx.parallel([step_b0, waits_then_b1], name="replay", config=config)
    return result.get_results()


class WrapSerDes(SerDes[Any]):
    """Record a value as {"wrapped": value}."""

    def serialize(self, value: Any, serdes_context: SerDesContext) -> str:
        return json.dumps({"wrapped": value})

    def deserialize(self, data: str, serdes_context: SerDesContext) -> Any:
        return json.loads(data)["wrapped"]


@durable_execution
async def parallel_custom_serde(event: Any, ctx: DurableContext) -> list[Any]:
    """8-15: each branch result goes through the item SerDes."""
    config = ParallelConfig(max_concurrency=1, item_serdes=WrapSerDes())
    result = await ctx.parallel([returns("x"), returns("y")], name="serde", config=config)
    return result.get_results()


@durable_execution
async def parallel_all_fail(event: Any, ctx: DurableContext) -> dict[str, Any]:
    """8-16: every branch fails, all three tolerated."""
    config = one_at_a_time(tolerated_failure_count=3)
    return summary(await ctx.parallel([fails, fails, fails], name="all-fail", config=config), *ALL)


@durable_execution
async def parallel_min_not_reached(event: Any, ctx: DurableContext) -> dict[str, Any]:
    """8-17: three successes needed, only two possible: every branch runs."""
    branches = [returns("ok0"), fails, returns("ok2")]
    config = one_at_a_time(min_successful=3)
    return summary(await ctx.parallel(branches, name="min-not-reached", config=config), *ALL)


@durable_execution
async def parallel_combined_config(event: Any, ctx: DurableContext) -> dict[str, Any]:
    """8-18: min_successful and tolerated_failure_count together."""
    branches = [fails, fails, returns("ok2"), returns("ok3")]
    config = one_at_a_time(min_successful=3, tolerated_failure_count=1)
    return summary(await ctx.parallel(branches, name="combined", config=config), *NO_STATUS)


@durable_execution
async def parallel_bad_concurrency(event: Any, ctx: DurableContext) -> list[Any]:
    """8-19: max_concurrency=0 is refused before anything is recorded."""
    config = ParallelConfig(max_concurrency=0)
    branches = [returns("a"), returns("b")]
    return (await ctx.parallel(branches, name="bad-concurrency", config=config)).get_results()


@durable_execution
async def parallel_accessors(event: Any, ctx: DurableContext) -> dict[str, Any]:
    """8-20: BatchResult's accessors after one tolerated failure."""
    config = one_at_a_time(tolerated_failure_count=1)
    branches = [returns("ok0"), fails, returns("ok2")]
    result = await ctx.parallel(branches, name="accessors", config=config)
    return {
        "hasFailure": result.has_failure,
        "successCount": len(result.succeeded()),
        "failureCount": len(result.failed()),
        "errorCount": len(result.get_errors()),
    }


async def inner_parallel(ctx: DurableContext) -> list[Any]:
    config = ParallelConfig(max_concurrency=1)
    return (
        await ctx.parallel([steps("i1"), steps("i2")], name="inner", config=config)
    ).get_results()


@durable_execution
async def parallel_nested(event: Any, ctx: DurableContext) -> list[Any]:
    """8-21: a parallel inside a parallel's branch."""
    config = ParallelConfig(max_concurrency=1)
    return (await ctx.parallel([inner_parallel], name="outer", config=config)).get_results()


@durable_execution
async def parallel_pct_boundary(event: Any, ctx: DurableContext) -> dict[str, Any]:
    """8-22: one failure of four is exactly 25 %, which is tolerated."""
    branches = [fails, returns("ok1"), returns("ok2"), returns("ok3")]
    config = one_at_a_time(tolerated_failure_percentage=25)
    return summary(await ctx.parallel(branches, name="pct-boundary", config=config), *ALL)
