"""ctx.run_in_child_context on the SQLite-backed local service: results, replay, failure, size."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from durable_async import (
    ChildConfig,
    DurableContext,
    Duration,
    durable_execution,
    durable_with_child_context,
)
from durable_async._ids import operation_id
from durable_async.exceptions import ChildContextError
from tests.conftest import Harness


@durable_with_child_context
async def two_steps_around_a_wait(ctx: DurableContext, n: int) -> int:
    first = await ctx.step(lambda _: n, name="first")
    await ctx.wait(Duration.from_seconds(2), name="pause")
    second = await ctx.step(lambda _: n * 10, name="second")
    return first + second


async def test_gathered_child_contexts_replay_deterministically(harness: Harness) -> None:
    """Three child contexts with waits inside resume after suspension with nothing re-run."""
    runs: list[str] = []

    @durable_with_child_context
    async def branch(ctx: DurableContext, n: int) -> int:
        first = await ctx.step(lambda _: runs.append(f"first-{n}") or n, name="first")
        await ctx.wait(Duration.from_seconds(2 + n), name="pause")
        second = await ctx.step(lambda _: runs.append(f"second-{n}") or n * 10, name="second")
        return first + second

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> list[int]:
        return list(await asyncio.gather(*(ctx.run_in_child_context(branch(n)) for n in range(3))))

    result = await harness.run(handler)
    assert json.loads(result["Result"]) == [0, 11, 22]
    assert sorted(runs) == sorted(
        [f"first-{n}" for n in range(3)] + [f"second-{n}" for n in range(3)]
    )
    operations = await harness.service.list_operations(result["DurableExecutionArn"])
    contexts = [op for op in operations if op["Type"] == "CONTEXT"]
    assert [op["Id"] for op in contexts] == [operation_id(None, n) for n in (1, 2, 3)]
    assert {op["Name"] for op in contexts} == {"branch"}
    inner = [op for op in operations if op.get("ParentId") == operation_id(None, 2)]
    prefix = operation_id(None, 2)
    assert sorted(op["Id"] for op in inner) == sorted(operation_id(prefix, n) for n in (1, 2, 3))


async def test_recorded_child_result_is_returned_without_running_the_body(
    harness: Harness,
) -> None:
    """After a later wait, the replay takes the child's recorded result and skips its body."""
    body_runs: list[int] = []

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> dict[str, Any]:
        async def body(child: DurableContext) -> dict[str, Any]:
            body_runs.append(1)
            return {"sum": await child.step(lambda _: 5, name="inner")}

        value = await ctx.run_in_child_context(body, name="compute")
        await ctx.wait(Duration.from_seconds(3))
        return value

    result = await harness.run(handler)
    assert json.loads(result["Result"]) == {"sum": 5}
    assert body_runs == [1]
    assert await harness.service.invocations(result["DurableExecutionArn"]) == 2


async def test_failing_child_raises_child_context_error_on_first_run_and_replay(
    harness: Harness,
) -> None:
    """A failing body is recorded as FAIL; first run and replay both raise ChildContextError."""
    seen: list[str] = []

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> list[str]:
        async def body(child: DurableContext) -> None:
            await child.step(lambda _: 1, name="ok")
            raise KeyError("missing sku")

        try:
            await ctx.run_in_child_context(body, name="reserve")
        except ChildContextError as exc:
            seen.append(f"{exc.error_type}: {exc.message}")
        await ctx.wait(Duration.from_seconds(1))
        return seen

    result = await harness.run(handler)
    assert json.loads(result["Result"]) == ["KeyError: 'missing sku'"] * 2
    ops = {
        op.get("Name"): op
        for op in await harness.service.list_operations(result["DurableExecutionArn"])
    }
    assert ops["reserve"]["Status"] == "FAILED"
    assert ops["reserve"]["ContextDetails"]["Error"]["ErrorType"] == "KeyError"


async def test_large_child_result_replays_from_children(harness: Harness) -> None:
    """A result over 256 KB stores the summary with ReplayChildren and rebuilds it on replay."""
    body_runs: list[int] = []
    blob = "q" * (300 * 1024)

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> int:
        async def body(child: DurableContext) -> str:
            body_runs.append(1)
            half = await child.step(lambda _: blob[: len(blob) // 2], name="half")
            return half * 2

        config = ChildConfig(summary_generator=lambda value: f"{len(value)} chars")
        value = await ctx.run_in_child_context(body, name="big", config=config)
        await ctx.wait(Duration.from_seconds(1))
        return len(value)

    result = await harness.run(handler)
    assert json.loads(result["Result"]) == len(blob)
    assert body_runs == [1, 1]  # the body ran again on replay, its step did not
    ops = {
        op.get("Name"): op
        for op in await harness.service.list_operations(result["DurableExecutionArn"])
    }
    details = ops["big"]["ContextDetails"]
    assert details["ReplayChildren"] is True
    assert details["Result"] == f"{len(blob)} chars"
    assert ops["half"]["StepDetails"]["Attempt"] == 1


async def test_no_update_from_a_completed_contexts_leftover_task_is_sent(
    harness: Harness,
) -> None:
    """A task started inside a child that outlives it never checkpoints, even a new operation."""
    leftovers: list[asyncio.Task[Any]] = []

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> str:
        async def body(child: DurableContext) -> str:
            async def late() -> None:
                await asyncio.sleep(0.01)
                await child.step(lambda _: "too late", name="late")

            leftovers.append(asyncio.ensure_future(late()))
            return "done"

        value = await ctx.run_in_child_context(body, name="parent")
        await asyncio.sleep(0.05)  # the leftover task tries its step now
        await ctx.step(lambda _: "after", name="after")
        return value

    result = await harness.run(handler)
    assert result["Status"] == "SUCCEEDED"
    names = [u.get("Name") for call in harness.recorder.calls for u in call]
    assert "late" not in names
    assert leftovers[0].done()
    assert type(leftovers[0].exception()).__name__ == "OrphanedChildException"
