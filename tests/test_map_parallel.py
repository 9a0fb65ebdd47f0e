"""ctx.map and ctx.parallel on the SQLite-backed local service."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import pytest

from durable_async import (
    BatchResult,
    CompletionConfig,
    CompletionReason,
    DurableContext,
    Duration,
    JsonSerDes,
    MapConfig,
    NestingType,
    ParallelBranch,
    ParallelConfig,
    StepContext,
    durable_execution,
)
from durable_async._ids import operation_id
from durable_async.exceptions import ChildContextError, ValidationError
from durable_async.testing import DurableTestRunner
from tests.conftest import Harness


def _summary(batch: BatchResult[Any]) -> dict[str, Any]:
    return {
        "results": batch.get_results(),
        "errors": [e.error_message if e else None for e in batch.get_errors()],
        "reason": batch.completion_reason.value,
        "statuses": [item.status.value for item in batch.all],
    }


async def _operations(harness: Harness, result: dict[str, Any]) -> list[dict[str, Any]]:
    return await harness.service.list_operations(result["DurableExecutionArn"])


async def test_map_collects_failures_without_raising(harness: Harness) -> None:
    """A failing item never raises from map; it is a FAILED item carrying its own error type."""

    async def check(ctx: DurableContext, item: int, index: int, items: Any) -> int:
        value = await ctx.step(lambda _: item * 10, name="scale")
        if item == 2:
            raise ValueError(f"item {item} is bad")
        return value

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> dict[str, Any]:
        config = MapConfig(completion_config=CompletionConfig.all_completed())
        batch = await ctx.map([1, 2, 3], check, name="check", config=config)
        assert batch.get_errors()[0] is not None
        return {**_summary(batch), "type": batch.get_errors()[0].error_type}

    result = await harness.run(handler)
    assert json.loads(result["Result"]) == {
        "results": [10, 30],
        "errors": ["item 2 is bad"],
        "reason": "ALL_COMPLETED",
        "statuses": ["SUCCEEDED", "FAILED", "SUCCEEDED"],
        "type": "ValueError",
    }


async def test_throw_if_error_raises_the_first_failure(harness: Harness) -> None:
    """throw_if_error raises ChildContextError with the first failed item's message and type."""

    async def fail_odd(ctx: DurableContext, item: int, index: int, items: Any) -> int:
        if item % 2:
            raise KeyError(f"odd {item}")
        return item

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> str:
        config = MapConfig(completion_config=CompletionConfig.all_completed())
        batch = await ctx.map([2, 3, 5], fail_odd, config=config)
        try:
            batch.throw_if_error()
        except ChildContextError as exc:
            return f"{exc.error_type}: {exc.message}"
        return "no error"

    result = await harness.run(handler)
    assert json.loads(result["Result"]) == "KeyError: 'odd 3'"


async def test_default_map_completion_stops_at_the_first_failure(harness: Harness) -> None:
    """With no completion config the first failure completes the map as tolerance exceeded."""

    async def item_fn(ctx: DurableContext, item: int, index: int, items: Any) -> int:
        if item == 0:
            raise RuntimeError("zero")
        await ctx.wait(Duration.from_seconds(10))
        return item

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> dict[str, Any]:
        return _summary(await ctx.map([0, 1, 2], item_fn))

    result = await harness.run(handler)
    assert json.loads(result["Result"]) == {
        "results": [],
        "errors": ["zero"],
        "reason": "FAILURE_TOLERANCE_EXCEEDED",
        "statuses": ["FAILED", "STARTED", "STARTED"],
    }


async def test_first_successful_returns_after_one_and_cancels_the_rest(harness: Harness) -> None:
    """A parallel with first_successful ends after one success; the others' updates never go."""

    async def quick(ctx: DurableContext) -> str:
        return await ctx.step(lambda _: "quick", name="quick-step")

    async def slow(ctx: DurableContext) -> str:
        # A callback nobody completes: the branch stays parked whatever the clock does.
        callback = await ctx.create_callback(name="never-answered")
        await callback.result()
        return await ctx.step(lambda _: "slow", name="slow-step")

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> dict[str, Any]:
        config = ParallelConfig(completion_config=CompletionConfig.first_successful())
        batch = await ctx.parallel(
            [ParallelBranch(slow, "slow"), ParallelBranch(quick, "quick")],
            name="race",
            config=config,
        )
        return _summary(batch)

    result = await harness.run(handler)
    assert json.loads(result["Result"]) == {
        "results": ["quick"],
        "errors": [],
        "reason": "MIN_SUCCESSFUL_REACHED",
        "statuses": ["STARTED", "SUCCEEDED"],
    }
    names = [u.get("Name") for call in harness.recorder.calls for u in call]
    assert "slow-step" not in names
    assert await harness.service.invocations(result["DurableExecutionArn"]) == 1


async def test_completion_policies(harness: Harness) -> None:
    """min_successful, tolerated counts and percentages complete with the reference's reasons."""

    async def item_fn(ctx: DurableContext, item: int, index: int, items: Any) -> int:
        if item < 0:
            raise ValueError(str(item))
        return item

    cases = {
        "min": (CompletionConfig(min_successful=2), [1, 2, 3]),
        "count": (CompletionConfig(tolerated_failure_count=1), [-1, -2, 3]),
        "pct": (CompletionConfig(tolerated_failure_percentage=50), [-1, 2, 3, 4]),
    }

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> dict[str, str]:
        reasons = {}
        for key, (completion, items) in cases.items():
            batch = await ctx.map(
                items,
                item_fn,
                name=key,
                config=MapConfig(max_concurrency=1, completion_config=completion),
            )
            reasons[key] = batch.completion_reason.value
        return reasons

    result = await harness.run(handler)
    assert json.loads(result["Result"]) == {
        "min": "MIN_SUCCESSFUL_REACHED",
        "count": "FAILURE_TOLERANCE_EXCEEDED",
        "pct": "ALL_COMPLETED",
    }


async def test_the_reason_is_judged_at_the_first_end_that_completes_the_batch(
    harness: Harness,
) -> None:
    """Branches ending together: the reason is the one of the first end, as the reference's.

    min_successful=1 with both items done at once is MIN_SUCCESSFUL_REACHED, not ALL_COMPLETED;
    the other item still shows its true status.
    """

    async def item_fn(ctx: DurableContext, item: int, index: int, items: Any) -> int:
        return item

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> dict[str, Any]:
        config = MapConfig(completion_config=CompletionConfig(min_successful=1))
        return _summary(await ctx.map([1, 2], item_fn, name="m", config=config))

    result = await harness.run(handler)
    assert json.loads(result["Result"]) == {
        "results": [1, 2],
        "errors": [],
        "reason": "MIN_SUCCESSFUL_REACHED",
        "statuses": ["SUCCEEDED", "SUCCEEDED"],
    }


async def test_max_concurrency_bounds_branches_in_flight(harness: Harness) -> None:
    """No more than max_concurrency items run at once, and a waiting item keeps its slot."""
    live = {"now": 0, "peak": 0}

    async def item_fn(ctx: DurableContext, item: int, index: int, items: Any) -> int:
        live["now"] += 1
        live["peak"] = max(live["peak"], live["now"])
        try:
            await ctx.wait(Duration.from_seconds(1 + item % 3))
            return item
        finally:
            live["now"] -= 1

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> list[int]:
        batch = await ctx.map(list(range(7)), item_fn, config=MapConfig(max_concurrency=3))
        return batch.get_results()

    result = await harness.run(handler)
    assert json.loads(result["Result"]) == list(range(7))
    assert live["peak"] == 3


async def test_ids_follow_the_index_and_names_come_from_the_namer(harness: Harness) -> None:
    """Item contexts take ids from their index and names from item_namer; branches likewise."""

    async def item_fn(ctx: DurableContext, item: str, index: int, items: Any) -> str:
        return item.upper()

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> list[str]:
        config = MapConfig(item_namer=lambda item, index: f"order-{item}")
        batch = await ctx.map(["a", "b"], item_fn, name="orders", config=config)
        both = await ctx.parallel([lambda c: "x", ParallelBranch(lambda c: "y", name="named")])
        return batch.get_results() + both.get_results()

    result = await harness.run(handler)
    assert json.loads(result["Result"]) == ["A", "B", "x", "y"]
    ops = {op["Id"]: op for op in await _operations(harness, result)}
    map_id = operation_id(None, 1)
    assert ops[map_id]["SubType"] == "Map"
    assert ops[operation_id(map_id, 0)]["Name"] == "order-a"
    assert ops[operation_id(map_id, 1)]["SubType"] == "MapIteration"
    parallel_id = operation_id(None, 2)
    assert ops[parallel_id]["SubType"] == "Parallel"
    assert ops[operation_id(parallel_id, 0)]["Name"] == "parallel-branch-0"
    assert ops[operation_id(parallel_id, 1)]["Name"] == "named"


async def test_flat_nesting_records_no_item_contexts(harness: Harness) -> None:
    """FLAT items leave no CONTEXT of their own; their steps report the map as parent."""

    async def item_fn(ctx: DurableContext, item: int, index: int, items: Any) -> int:
        return await ctx.step(lambda _: item + 1, name=f"inc-{item}")

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> list[int]:
        batch = await ctx.map([1, 2], item_fn, config=MapConfig(nesting_type=NestingType.FLAT))
        await ctx.wait(Duration.from_seconds(1))
        return batch.get_results()

    result = await harness.run(handler)
    assert json.loads(result["Result"]) == [2, 3]
    ops = await _operations(harness, result)
    map_id = operation_id(None, 1)
    assert [op["SubType"] for op in ops if op["Type"] == "CONTEXT"] == ["Map"]
    steps = [op for op in ops if op["Type"] == "STEP"]
    assert {op["ParentId"] for op in steps} == {map_id}
    assert sorted(op["Id"] for op in steps) == sorted(
        operation_id(operation_id(map_id, i), 1) for i in range(2)
    )


async def test_empty_and_nested_batches(harness: Harness) -> None:
    """An empty map completes at once; a map inside a parallel branch works like any other."""

    async def inner(ctx: DurableContext, item: int, index: int, items: Any) -> int:
        return item * item

    async def branch(ctx: DurableContext) -> list[int]:
        return (await ctx.map([1, 2, 3], inner)).get_results()

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> dict[str, Any]:
        empty = await ctx.map([], inner)
        nested = await ctx.parallel([branch, branch])
        return {"empty": _summary(empty), "nested": nested.get_results()}

    result = await harness.run(handler)
    assert json.loads(result["Result"]) == {
        "empty": {"results": [], "errors": [], "reason": "ALL_COMPLETED", "statuses": []},
        "nested": [[1, 4, 9], [1, 4, 9]],
    }


async def test_map_replays_after_suspension_without_rerunning_items(harness: Harness) -> None:
    """Items that finished before a suspension return their recorded results on replay."""
    runs: list[int] = []

    async def item_fn(ctx: DurableContext, item: int, index: int, items: Any) -> int:
        value = await ctx.step(lambda _: runs.append(item) or item, name="record")
        await ctx.wait(Duration.from_seconds(5 * (item + 1)))
        return value

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> list[int]:
        batch = await ctx.map([0, 1, 2], item_fn)
        await ctx.wait(Duration.from_seconds(1))
        return batch.get_results()

    result = await harness.run(handler)
    assert json.loads(result["Result"]) == [0, 1, 2]
    assert sorted(runs) == [0, 1, 2]
    assert await harness.service.invocations(result["DurableExecutionArn"]) >= 2


async def test_thousand_items_share_few_checkpoint_calls(harness: Harness) -> None:
    """1,000 items with one async step each make at most ceil(updates / 250) + 3 calls."""

    async def double(step: StepContext, value: int) -> int:
        return value * 2

    async def item_fn(ctx: DurableContext, item: int, index: int, items: Any) -> int:
        return await ctx.step(lambda s: double(s, item), name="double")

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> int:
        return sum((await ctx.map(list(range(1000)), item_fn)).get_results())

    result = await harness.run(handler)
    assert json.loads(result["Result"]) == 2 * sum(range(1000))
    updates = sum(len(call) for call in harness.recorder.calls)
    assert updates == 2 + 4 * 1000
    assert len(harness.recorder.calls) <= math.ceil(updates / 250) + 3


async def test_300_branches_waking_together_share_one_refresh(harness: Harness) -> None:
    """300 items parked on one wait while another branch works are resumed by one refresh call.

    The working branch is in a plain await (real time), which keeps the invocation from
    suspending without holding virtual time still, so the skip clock ends the wait meanwhile.
    """

    async def item_fn(ctx: DurableContext, item: int, index: int, items: Any) -> int:
        if item == -1:
            await asyncio.sleep(0.3)  # an HTTP read, say: work that is not a durable operation
            return len(await ctx.step(lambda _: "busy", name="busy"))
        await ctx.wait(Duration.from_seconds(1), name="shared")
        return item

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> int:
        batch = await ctx.map([-1, *range(300)], item_fn)
        return len(batch.get_results())

    result = await harness.run(handler)
    assert json.loads(result["Result"]) == 301
    assert await harness.service.invocations(result["DurableExecutionArn"]) == 1
    # 300 refresh requests at the wait's end share a call (alone or riding with updates).
    calls = harness.recorder.calls
    updates = sum(len(call) for call in calls)
    assert len([call for call in calls if not call]) <= 1
    # Full batches, the partial ones where the phases (start, wait, finish, the busy branch and
    # the batch ending) meet, and one refresh: 300 separate refreshes would blow far past this.
    assert len(calls) <= math.ceil(updates / 250) + 6


async def test_min_successful_above_the_item_count_is_rejected() -> None:
    """min_successful larger than the items is a ValidationError before anything is recorded."""

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> str:
        try:
            ctx.map(
                [1],
                lambda c, i, n, a: i,
                config=MapConfig(completion_config=CompletionConfig(min_successful=2)),
            )
        except ValidationError as exc:
            return str(exc)
        return "accepted"

    from durable_async.testing import DurableTestRunner

    async with DurableTestRunner(handler) as runner:
        result = await runner.run()
    assert "min_successful is 2" in result.result
    assert [op.type.value for op in result.operations] == ["EXECUTION"]


@pytest.mark.parametrize("width", [pytest.param(3, id="three")])
async def test_branch_results_use_item_serdes(harness: Harness, width: int) -> None:
    """item_serdes writes each branch's result; the batch result round-trips on replay."""
    from durable_async import JsonSerDes

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> list[int]:
        config = MapConfig(item_serdes=JsonSerDes())
        batch = await ctx.map(list(range(width)), lambda c, i, n, a: {"v": i}, config=config)
        await ctx.wait(Duration.from_seconds(1))
        return [r["v"] for r in batch.get_results()]

    result = await harness.run(handler)
    assert json.loads(result["Result"]) == list(range(width))
    ops = await _operations(harness, result)
    items = [op for op in ops if op.get("SubType") == "MapIteration"]
    assert {op["ContextDetails"]["Result"] for op in items} == {'{"v": 0}', '{"v": 1}', '{"v": 2}'}
    assert (
        CompletionReason.ALL_COMPLETED.value
        in next(op for op in ops if op.get("SubType") == "Map")["ContextDetails"]["Result"]
    )


@pytest.mark.parametrize("handler_serdes", [None, "json"])
async def test_a_first_run_and_a_replay_return_equal_batch_results(
    handler_serdes: str | None,
) -> None:
    """The map's result is not decoded again on its first run; it must equal the replayed one."""
    seen: list[str] = []

    def item(ctx: DurableContext, value: int, index: int, inputs: Any) -> Any:
        if value == 2:
            raise ValueError("two")
        return {"v": value, "pair": [value, "a"], "nested": {"deep": [value] * 2}}

    @durable_execution(serdes=JsonSerDes() if handler_serdes else None)
    async def handler(event: Any, ctx: DurableContext) -> int:
        config = MapConfig(completion_config=CompletionConfig(tolerated_failure_count=5))
        result = await ctx.map([1, 2, 3], item, config=config)
        seen.append(repr(result))
        await ctx.wait(Duration.from_seconds(2))  # suspends: the next invocation replays the map
        return len(result.get_results())

    async with DurableTestRunner(handler) as runner:
        outcome = await runner.run()
    assert outcome.result == 2
    assert len(seen) == 2
    assert seen[0] == seen[1]
