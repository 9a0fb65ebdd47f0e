"""Checkpoint batching, measured through whole handlers on the real SQLite-backed local service."""

from __future__ import annotations

import asyncio
import functools
import json
from typing import Any

import pytest

from durable_async import (
    CheckpointBatcherConfig,
    DurableContext,
    StepConfig,
    StepContext,
    StepSemantics,
    durable_execution,
)
from tests.conftest import Harness


@pytest.mark.parametrize("n", [pytest.param(1, id="one"), pytest.param(7, id="seven")])
async def test_sequential_steps_make_one_call_each(harness: Harness, n: int) -> None:
    """N sequential at-least-once steps make exactly N calls, each carrying START and SUCCEED."""

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> int:
        total = 0
        for i in range(n):
            total += await ctx.step(lambda _, i=i: i, name=f"s{i}")
        return total

    result = await harness.run(handler)
    assert result["Status"] == "SUCCEEDED"
    assert json.loads(result["Result"]) == sum(range(n))
    assert len(harness.recorder.calls) == n
    for i in range(n):
        assert harness.recorder.actions(i) == [(f"s{i}", "START"), (f"s{i}", "SUCCEED")]
    assert await harness.service.checkpoint_calls(result["DurableExecutionArn"]) == n


async def test_hundred_gathered_steps_share_at_most_two_calls(harness: Harness) -> None:
    """100 async steps started together with asyncio.gather complete in at most 2 calls."""

    async def double(step: StepContext, i: int) -> int:
        return 2 * i

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> int:
        values = await asyncio.gather(
            *(ctx.step(functools.partial(double, i=i), name=f"d{i}") for i in range(100))
        )
        return sum(values)

    result = await harness.run(handler)
    assert json.loads(result["Result"]) == 2 * sum(range(100))
    assert 1 <= len(harness.recorder.calls) <= 2
    assert sum(len(c) for c in harness.recorder.calls) == 200


async def test_burst_of_300_updates_splits_at_250(harness: Harness) -> None:
    """150 gathered steps (300 updates) go out as a call of 250 updates and one of 50."""

    async def one(step: StepContext) -> int:
        return 1

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> int:
        return sum(await asyncio.gather(*(ctx.step(one, name=f"o{i}") for i in range(150))))

    result = await harness.run(handler)
    assert json.loads(result["Result"]) == 150
    assert [len(c) for c in harness.recorder.calls] == [250, 50]


async def test_one_megabyte_burst_splits_at_750_kb(harness: Harness) -> None:
    """Eight gathered 128 KB results (about 1 MB) split so no call carries over 750 KB."""
    blob = "x" * (128 * 1024)

    async def big(step: StepContext) -> str:
        return blob

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> int:
        results = await asyncio.gather(*(ctx.step(big, name=f"b{i}") for i in range(8)))
        return sum(len(r) for r in results)

    result = await harness.run(handler)
    assert json.loads(result["Result"]) == 8 * len(blob)
    sizes = [len(json.dumps(call).encode()) for call in harness.recorder.calls]
    assert len(sizes) == 2
    assert all(size <= 750 * 1024 for size in sizes)
    assert sum(len(c) for c in harness.recorder.calls) == 16


class _TimerSpy:
    """Records every timer the flusher task schedules on the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.handles: list[asyncio.TimerHandle] = []
        self._call_at = loop.call_at

    def call_at(self, when: float, callback: Any, *args: Any, **kwargs: Any) -> asyncio.TimerHandle:
        handle = self._call_at(when, callback, *args, **kwargs)
        task = asyncio.current_task(self.loop)
        if task is not None and task.get_name().startswith("checkpointer"):
            self.handles.append(handle)
        return handle


async def test_lone_blocked_caller_is_never_kept_waiting_by_a_timer(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a 60 s linger allowed, blocking updates are sent without the flusher arming a timer."""
    loop = asyncio.get_running_loop()
    spy = _TimerSpy(loop)
    monkeypatch.setattr(loop, "call_at", spy.call_at)
    config = StepConfig(step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY)

    @durable_execution(batcher_config=CheckpointBatcherConfig(max_batch_time_seconds=60))
    async def handler(event: Any, ctx: DurableContext) -> str:
        for i in range(3):
            await ctx.step(lambda _: "ok", name=f"amo{i}", config=config)
        return "done"

    result = await harness.run(handler)
    assert result["Status"] == "SUCCEEDED"
    # Every update of an at-most-once step is awaited: START, then SUCCEED, six calls in all.
    assert len(harness.recorder.calls) == 6
    assert spy.handles == []


async def test_a_blocking_arrival_ends_the_linger_at_once(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A queued non-blocking START lingers, and the step's blocking SUCCEED cancels that timer."""
    loop = asyncio.get_running_loop()
    spy = _TimerSpy(loop)
    monkeypatch.setattr(loop, "call_at", spy.call_at)

    @durable_execution(batcher_config=CheckpointBatcherConfig(max_batch_time_seconds=60))
    async def handler(event: Any, ctx: DurableContext) -> str:
        async def slow(step: StepContext) -> str:
            for _ in range(5):
                await asyncio.sleep(0)
            return "ok"

        return await ctx.step(slow, name="slow")

    result = await harness.run(handler)
    assert result["Status"] == "SUCCEEDED"
    assert harness.recorder.actions(0) == [("slow", "START"), ("slow", "SUCCEED")]
    assert spy.handles, "the START alone should have lingered"
    assert all(handle.cancelled() for handle in spy.handles)
