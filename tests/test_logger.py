"""Replay-aware logging: each line once per execution, with the reference's fields on the record."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from durable_async import DurableContext, Duration, StepContext, durable_execution
from durable_async._ids import operation_id
from durable_async.context import ExecutionContext
from durable_async.logger import Logger, LogInfo
from durable_async.testing import DurableTestRunner


@dataclass
class PowertoolsStyleLogger:
    """A logger like Powertools': five level methods taking ``extra=``, no logging.Logger."""

    lines: list[tuple[str, str, dict[str, object]]] = field(default_factory=list)

    def _emit(self, level: str, msg: object, args: tuple[object, ...], extra: Any) -> None:
        self.lines.append((level, str(msg) % args, dict(extra or {})))

    def debug(self, msg: object, *args: object, extra: Mapping[str, object] | None = None) -> None:
        self._emit("DEBUG", msg, args, extra)

    def info(self, msg: object, *args: object, extra: Mapping[str, object] | None = None) -> None:
        self._emit("INFO", msg, args, extra)

    def warning(
        self, msg: object, *args: object, extra: Mapping[str, object] | None = None
    ) -> None:
        self._emit("WARNING", msg, args, extra)

    def error(self, msg: object, *args: object, extra: Mapping[str, object] | None = None) -> None:
        self._emit("ERROR", msg, args, extra)

    def exception(
        self, msg: object, *args: object, extra: Mapping[str, object] | None = None
    ) -> None:
        self._emit("EXCEPTION", msg, args, extra)

    def messages(self) -> list[str]:
        return [message for _, message, _ in self.lines]

    def extra_of(self, message: str) -> dict[str, object]:
        (extra,) = [extra for _, line, extra in self.lines if line == message]
        return extra


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
    assert {getattr(r, "executionArn", None) for r in caplog.records} == {result.arn}


async def test_step_logger_carries_operation_and_attempt(caplog: pytest.LogCaptureFixture) -> None:
    """A step's logger puts operationId, operationName and attempt on every record."""

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
    assert {r.operationId for r in records} == {operation_id(None, 1)}  # type: ignore[attr-defined]
    assert {r.operationName for r in records} == {"flaky"}  # type: ignore[attr-defined]
    assert not any(hasattr(r, "parentId") for r in records)


async def test_set_logger_takes_any_logger_and_logs_each_line_once() -> None:
    """A Powertools-style logger set on the context gets each line once, with the reference keys."""
    sink = PowertoolsStyleLogger()

    def charge(step: StepContext) -> int:
        step.logger.warning("charging")
        return 7

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> int:
        ctx.set_logger(sink)
        ctx.logger.info("received %s", event, extra={"orderId": event})
        amount = await ctx.step(charge, name="charge")
        await ctx.wait(Duration.from_seconds(5))
        ctx.logger.error("charged %d", amount)
        return amount

    async with DurableTestRunner(handler) as runner:
        result = await runner.run(input="o-1")
    assert result.invocations == 2
    assert sink.lines == [
        ("INFO", "received o-1", {"executionArn": result.arn, "orderId": "o-1"}),
        (
            "WARNING",
            "charging",
            {
                "executionArn": result.arn,
                "operationName": "charge",
                "attempt": 1,
                "operationId": operation_id(None, 1),
            },
        ),
        ("ERROR", "charged 7", {"executionArn": result.arn}),
    ]


async def test_set_logger_reaches_child_contexts_map_items_and_branches() -> None:
    """Child contexts, map items and branches created after set_logger use it, each line once."""
    sink = PowertoolsStyleLogger()

    async def item(ctx: DurableContext, value: int, index: int, _: Any) -> int:
        ctx.logger.info("item %d", index)
        return value

    async def branch(ctx: DurableContext) -> int:
        ctx.logger.info("branch")
        return 0

    async def child(ctx: DurableContext) -> int:
        ctx.logger.info("in child")
        batch = await ctx.map([1, 2], item, name="items")
        await ctx.parallel([branch], name="branches")
        return sum(batch.get_results())

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> int:
        ctx.set_logger(sink)
        total = await ctx.run_in_child_context(child, name="child")
        await ctx.wait(Duration.from_seconds(5))
        return total

    async with DurableTestRunner(handler) as runner:
        result = await runner.run()
    assert (result.result, result.invocations) == (3, 2)
    assert sorted(sink.messages()) == ["branch", "in child", "item 0", "item 1"]
    child_id = operation_id(None, 1)
    map_id = operation_id(child_id, 1)
    assert sink.extra_of("in child") == {"executionArn": result.arn, "parentId": child_id}
    assert sink.extra_of("item 1")["parentId"] == operation_id(map_id, 1)
    assert sink.extra_of("branch")["parentId"] == operation_id(operation_id(child_id, 2), 0)


async def test_set_logger_in_a_child_leaves_the_parent_alone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A logger set inside a child context serves that child only; the parent keeps its own."""
    sink = PowertoolsStyleLogger()

    async def child(ctx: DurableContext) -> None:
        ctx.set_logger(sink)
        ctx.logger.info("child line")

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> None:
        await ctx.run_in_child_context(child, name="child")
        ctx.logger.info("parent line")

    caplog.set_level(logging.INFO, logger="durable_async")
    async with DurableTestRunner(handler) as runner:
        await runner.run()
    assert sink.messages() == ["child line"]
    assert [r.getMessage() for r in caplog.records if r.name == "durable_async"] == ["parent line"]


def test_with_is_replaying_rebinds_only_the_replay_status() -> None:
    """with_is_replaying keeps the logger and fields; with_log_info keeps the replay status."""
    sink = PowertoolsStyleLogger()
    info = LogInfo(ExecutionContext("arn:x"), parent_id="p", operation_id="o", name="n", attempt=2)
    logger = Logger.from_log_info(sink, info)
    assert logger.get_logger() is sink
    logger.with_is_replaying(lambda: True).info("hidden")
    replaying = logger.with_is_replaying(lambda: True).with_log_info(info.with_parent_id("q"))
    replaying.info("hidden too")
    logger.with_is_replaying(lambda: False).debug("shown %s", 1)
    expected = {
        "executionArn": "arn:x",
        "parentId": "p",
        "operationName": "n",
        "attempt": 2,
        "operationId": "o",
    }
    assert sink.lines == [("DEBUG", "shown 1", expected)]
