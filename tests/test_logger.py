"""Replay-aware logging: each line once per execution, with the durable fields on the record."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from durable_async import DurableContext, Duration, StepContext, durable_execution
from durable_async._ids import operation_id
from durable_async.testing import DurableTestRunner


async def test_context_logger_is_silent_while_replaying(caplog: pytest.LogCaptureFixture) -> None:
    """Lines logged before a wait appear once although the handler runs twice."""

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> str:
        ctx.logger.info("starting %s", event["id"])
        await ctx.step(lambda _: 1, name="one")
        ctx.logger.info("between")
        await ctx.wait(Duration.from_seconds(5))
        ctx.logger.info("finishing")
        return "done"

    caplog.set_level(logging.INFO, logger="durable_async")
    async with DurableTestRunner(handler) as runner:
        result = await runner.run(input={"id": "o-7"})
    assert result.invocations == 2
    messages = [r.getMessage() for r in caplog.records if r.name == "durable_async"]
    assert messages == ["starting o-7", "between", "finishing"]
    assert {getattr(r, "execution_arn", None) for r in caplog.records} == {result.arn}


async def test_step_logger_carries_operation_and_attempt(caplog: pytest.LogCaptureFixture) -> None:
    """A step's logger puts the operation id, name and attempt on every record."""

    def flaky(step: StepContext) -> str:
        step.logger.info("attempt %d", step.attempt)
        if step.attempt < 2:
            raise RuntimeError("again")
        return "ok"

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> str:
        return await ctx.step(flaky, name="flaky")

    caplog.set_level(logging.INFO, logger="durable_async")
    async with DurableTestRunner(handler) as runner:
        result = await runner.run()
    assert result.result == "ok"
    records = [r for r in caplog.records if r.getMessage().startswith("attempt")]
    assert [(r.getMessage(), r.attempt) for r in records] == [("attempt 1", 1), ("attempt 2", 2)]  # type: ignore[attr-defined]
    assert {r.operation_id for r in records} == {operation_id(None, 1)}  # type: ignore[attr-defined]
    assert {r.operation_name for r in records} == {"flaky"}  # type: ignore[attr-defined]
