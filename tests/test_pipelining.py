"""Fan-out is pipelined: a map or a gather of steps sends its first checkpoint call while it is
still starting branches, and no call carries more than one batch.

Counts, not times: what had started when the first call left, and how big each call was.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from durable_async import DurableContext, MapConfig, durable_execution
from durable_async.config import CheckpointBatcherConfig
from durable_async.plugin import DurableInstrumentationPlugin, OperationStartInfo
from durable_async.testing import DurableTestRunner, ExecutionStatus

BATCH = CheckpointBatcherConfig()


class Calls:
    """What each checkpoint call carried, and how many branches had started when it left."""

    def __init__(self) -> None:
        self.started = 0
        self.sizes: list[int] = []
        self.started_at_call: list[int] = []


def spy(runner: DurableTestRunner, calls: Calls, monkeypatch: pytest.MonkeyPatch) -> None:
    """Record every checkpoint call the real local service answers."""
    real = runner.service.checkpoint

    async def checkpoint(arn: str, token: str, updates: list[dict[str, Any]], *rest: Any) -> Any:
        if updates:
            calls.sizes.append(len(updates))
            calls.started_at_call.append(calls.started)
        return await real(arn, token, updates, *rest)

    monkeypatch.setattr(runner.service, "checkpoint", checkpoint)


@pytest.mark.parametrize("items", [1_000, 10_000])
async def test_a_map_sends_before_its_last_branch_starts(
    items: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = Calls()

    def double(ctx: DurableContext, item: int, index: int, inputs: Any) -> int:
        calls.started += 1
        return item * 2

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> int:
        result = await ctx.map(list(range(items)), double, name="fan")
        return sum(result.get_results())

    async with DurableTestRunner(handler) as runner:
        spy(runner, calls, monkeypatch)
        result = await runner.run()
    assert result.status is ExecutionStatus.SUCCEEDED
    assert result.result == sum(range(items)) * 2
    # The map's own START leaves alone, before any branch; the first call carrying branch
    # updates leaves while most of the map has not started yet.
    first_with_branches = next(i for i, n in enumerate(calls.started_at_call) if n > 0)
    assert calls.started_at_call[first_with_branches] < items // 4
    assert max(calls.sizes) <= BATCH.max_batch_operations


class CountStarts(DurableInstrumentationPlugin):
    """Counts operations whose START has been queued (the hook runs just before it is)."""

    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    def on_operation_start(self, info: OperationStartInfo) -> None:
        self.calls.started += 1


async def _gather_steps(steps: int, *, run_async: bool, monkeypatch: pytest.MonkeyPatch) -> Calls:
    """Gather ``steps`` steps (sync bodies run in threads, async ones finish in their first
    slice); return what each checkpoint call carried and how many had started by then."""
    calls = Calls()

    class Factory:
        def create_plugin(self, info: object, /) -> CountStarts:
            return CountStarts(calls)

    def value(index: int) -> Any:
        def body(_: Any) -> int:
            return index

        async def async_body(_: Any) -> int:
            return index

        return async_body if run_async else body

    @durable_execution(plugins=[Factory()])
    async def handler(event: Any, ctx: DurableContext) -> int:
        return len(await asyncio.gather(*(ctx.step(value(i)) for i in range(steps))))

    async with DurableTestRunner(handler) as runner:
        spy(runner, calls, monkeypatch)
        result = await runner.run()
    assert result.status is ExecutionStatus.SUCCEEDED
    assert result.result == steps
    return calls


async def test_gathered_steps_send_before_the_last_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = await _gather_steps(2_000, run_async=False, monkeypatch=monkeypatch)
    # The first call leaves with one full batch while most steps have not queued their START.
    assert calls.sizes[0] == BATCH.max_batch_operations
    assert calls.started_at_call[0] <= 2 * BATCH.max_batch_operations
    assert max(calls.sizes) <= BATCH.max_batch_operations


async def test_the_first_full_batch_leaves_before_more_steps_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Async steps that finish in their first slice: the first call leaves as soon as a full
    batch is queued, not after another round of steps has run (they could not join it)."""
    calls = await _gather_steps(1_000, run_async=True, monkeypatch=monkeypatch)
    # A START and a SUCCEED per step: the first call carries every step started before it.
    assert calls.sizes[0] == BATCH.max_batch_operations
    assert calls.started_at_call[0] == BATCH.max_batch_operations // 2


async def test_a_limited_map_still_runs_every_item_once() -> None:
    """Waves and max_concurrency together: every item runs once, in a bounded number of slots."""
    running = peak = 0

    async def item(ctx: DurableContext, value: int, index: int, inputs: Any) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0)
        running -= 1
        return value

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> list[int]:
        result = await ctx.map(list(range(200)), item, config=MapConfig(max_concurrency=50))
        return result.get_results()

    async with DurableTestRunner(handler) as runner:
        result = await runner.run()
    assert result.result == list(range(200))
    assert peak <= 50
