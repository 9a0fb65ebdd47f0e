"""DurableTestRunner: the public way to run handlers on the embedded service in tests."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from durable_async import DurableContext, Duration, durable_execution
from durable_async.service.local.engine import LocalDurableService
from durable_async.service.local.store import SqliteStore
from durable_async.testing import DurableTestRunner, ExecutionStatus


@durable_execution
async def order(event: dict[str, Any], ctx: DurableContext) -> dict[str, Any]:
    total = await ctx.step(lambda _: sum(event["lines"]), name="total")
    await ctx.wait(Duration.from_hours(24), name="cool-off")
    receipt = await ctx.step(lambda _: f"r-{event['id']}", name="receipt")
    return {"total": total, "receipt": receipt}


@durable_execution
async def broken(event: Any, ctx: DurableContext) -> None:
    await ctx.step(lambda _: 1, name="ok")
    raise LookupError("no such order")


async def test_run_reports_result_operations_and_counts(sqlite_path: Path) -> None:
    """run() returns the result, each operation, two invocations and one call per operation."""
    async with DurableTestRunner(order, skip_time=True, store=sqlite_path) as runner:
        result = await runner.run(input={"id": "o-1", "lines": [1, 2]}, timeout=30)
    assert result.status is ExecutionStatus.SUCCEEDED
    assert result.result == {"total": 3, "receipt": "r-o-1"}
    assert result.error is None
    assert result.get_step("total").result == "3"
    assert result.get_wait("cool-off").status.value == "SUCCEEDED"
    assert result.invocations == 2
    assert result.checkpoint_calls == 3
    async with LocalDurableService(SqliteStore(sqlite_path)) as reopened:
        recorded = await reopened.describe_execution(result.arn)
    assert recorded["Status"] == "SUCCEEDED"  # the file outlives the runner


async def test_start_returns_at_once_and_wait_for_result_finishes(sqlite_path: Path) -> None:
    """start() hands back the ARN before the run ends; wait_for_result() waits for the end."""
    async with DurableTestRunner(order, store=sqlite_path) as runner:
        arn = await runner.start(input={"id": "o-2", "lines": [5]})
        assert arn.startswith("arn:aws:lambda:")
        result = await runner.wait_for_result(arn, timeout=30)
    assert result.arn == arn
    assert result.result == {"total": 5, "receipt": "r-o-2"}


async def test_failed_execution_carries_the_error() -> None:
    """A handler error ends FAILED with an ErrorObject naming the exception's type and message."""
    async with DurableTestRunner(broken) as runner:
        result = await runner.run(timeout=30)
    assert result.status is ExecutionStatus.FAILED
    assert result.result is None
    assert result.error is not None
    assert result.error.error_type == "LookupError"
    assert result.error.error_message == "no such order"
    assert result.get_step("ok").status.value == "SUCCEEDED"


async def test_missing_operation_lookup_names_what_exists() -> None:
    """get_step for an unknown name raises KeyError listing the steps that do exist."""
    async with DurableTestRunner(broken) as runner:
        result = await runner.run(timeout=30)
    with pytest.raises(KeyError, match="'ok'"):
        result.get_step("missing")


async def test_real_clock_waits_really_pass() -> None:
    """With skip_time=False a one-second wait takes at least a second of wall time."""

    @durable_execution
    async def pause(event: Any, ctx: DurableContext) -> str:
        await ctx.wait(Duration.from_seconds(1))
        return "after"

    started = time.monotonic()
    async with DurableTestRunner(pause, skip_time=False) as runner:
        result = await runner.run(timeout=30)
    assert result.result == "after"
    assert time.monotonic() - started >= 1.0


async def test_run_times_out_with_a_clear_error() -> None:
    """An execution that cannot end in time raises TimeoutError naming the execution."""

    @durable_execution
    async def long_wait(event: Any, ctx: DurableContext) -> str:
        await ctx.wait(Duration.from_hours(1))
        return "late"

    async with DurableTestRunner(long_wait, skip_time=False) as runner:
        with pytest.raises(TimeoutError, match="did not end within"):
            await runner.run(timeout=0.5)
