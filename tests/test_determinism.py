"""A replay that asks for a different operation than the one recorded fails, naming both."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from durable_async import (
    DurableContext,
    Duration,
    WaitForConditionConfig,
    WaitForConditionDecision,
    durable_execution,
)
from durable_async.testing import DurableTestRunner, ExecutionStatus

Op = Callable[[DurableContext], Awaitable[Any]]


def _stop_at_once(state: Any, attempts_made: int) -> WaitForConditionDecision:
    return WaitForConditionDecision.stop_polling()


def _condition(name: str) -> Op:
    config = WaitForConditionConfig(wait_strategy=_stop_at_once, initial_state=0)
    return lambda ctx: ctx.wait_for_condition(lambda state, check: state, config, name=name)


async def _map(ctx: DurableContext) -> Any:
    return await ctx.map([1], lambda c, item, i, items: item, name="batch")


async def _parallel(ctx: DurableContext) -> Any:
    return await ctx.parallel([lambda c: 1], name="batch")


CASES = [
    pytest.param(
        lambda ctx: ctx.step(lambda _: 1, name="a"),
        lambda ctx: ctx.wait(Duration.from_seconds(1), name="a"),
        ("'STEP'", "'WAIT'"),
        id="step-becomes-wait",
    ),
    pytest.param(
        lambda ctx: ctx.run_in_child_context(lambda c: 1, name="reserve"),
        lambda ctx: ctx.run_in_child_context(lambda c: 1, name="refund"),
        ("'reserve'", "'refund'"),
        id="child-renamed",
    ),
    pytest.param(_map, _parallel, ("'Map'", "'Parallel'"), id="map-becomes-parallel"),
    pytest.param(
        lambda ctx: ctx.create_callback(name="approve"),
        lambda ctx: ctx.create_callback(name="reject"),
        ("'approve'", "'reject'"),
        id="callback-renamed",
    ),
    pytest.param(
        lambda ctx: ctx.invoke("pricing", {}, name="price"),
        lambda ctx: ctx.invoke("pricing", {}, name="quote"),
        ("'price'", "'quote'"),
        id="invoke-renamed",
    ),
    pytest.param(
        _condition("ready"), _condition("done"), ("'ready'", "'done'"), id="condition-renamed"
    ),
]


@pytest.mark.parametrize(("first", "second", "named"), CASES)
async def test_changed_operation_fails_the_execution_naming_both(
    first: Op, second: Op, named: tuple[str, str]
) -> None:
    """The replay fails with NonDeterministicExecutionError quoting recorded and asked values."""
    calls = {"n": 0}

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> str:
        calls["n"] += 1
        await (first if calls["n"] == 1 else second)(ctx)
        await ctx.wait(Duration.from_seconds(10), name="later")
        return "unreachable"

    async with DurableTestRunner(handler) as runner:
        runner.register_function("pricing", lambda payload: {"price": 1})
        result = await runner.run(timeout=30)
    assert result.status is ExecutionStatus.FAILED
    assert result.error is not None
    assert result.error.error_type == "durable_async.exceptions.NonDeterministicExecutionError"
    message = result.error.error_message or ""
    assert named[0] in message
    assert named[1] in message
