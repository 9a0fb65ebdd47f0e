"""Suite 6: wait_for_condition (requirements 6-1 to 6-13)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from conformance.handlers import _logs  # noqa: F401 - JSON log lines for ExpectedLogs
from durable_async import (
    DurableContext,
    Duration,
    JitterStrategy,
    StepContext,
    WaitForConditionCheckContext,
    WaitForConditionConfig,
    WaitForConditionDecision,
    WaitStrategyConfig,
    durable_execution,
    durable_step,
)
from durable_async.serdes import SerDes, SerDesContext
from durable_async.waits import create_wait_strategy

Strategy = Callable[[Any, int], WaitForConditionDecision]


def increment(state: int, check: WaitForConditionCheckContext) -> int:
    return state + 1


def until(done: Callable[[Any], bool]) -> Strategy:
    """Poll every second until ``done(state)``."""

    def strategy(state: Any, attempts_made: int) -> WaitForConditionDecision:
        if done(state):
            return WaitForConditionDecision.stop_polling()
        return WaitForConditionDecision.continue_waiting(Duration.from_seconds(1))

    return strategy


def stop_at_once(state: Any, attempts_made: int) -> WaitForConditionDecision:
    return WaitForConditionDecision.stop_polling()


def count_to(threshold: int, start: int = 0) -> WaitForConditionConfig[int]:
    return WaitForConditionConfig(until(lambda state: state >= threshold), initial_state=start)


@durable_execution
async def wait_for_condition_basic(event: Any, ctx: DurableContext) -> int:
    """6-1: count up from 0, one check a second, until the input's threshold."""
    return await ctx.wait_for_condition(increment, count_to(int(event)))


@durable_execution
async def wait_for_condition_immediate(event: Any, ctx: DurableContext) -> int:
    """6-2: the first check already meets the condition."""

    def unchanged(state: int, check: WaitForConditionCheckContext) -> int:
        return state

    config = WaitForConditionConfig(until(lambda state: state >= 5), initial_state=int(event))
    return await ctx.wait_for_condition(unchanged, config)


@durable_execution
async def wait_for_condition_with_name(event: Any, ctx: DurableContext) -> int:
    """6-3: a named wait_for_condition."""
    return await ctx.wait_for_condition(increment, count_to(int(event)), name="poll-status")


@durable_execution
async def wait_for_condition_custom_initial_state(event: Any, ctx: DurableContext) -> int:
    """6-4: counting starts from an initial state of 5."""
    return await ctx.wait_for_condition(increment, count_to(int(event), start=5))


@durable_execution
async def wait_for_condition_fixed_delay(event: Any, ctx: DurableContext) -> int:
    """6-5: a backoff strategy with a fixed 2-second delay."""
    threshold = int(event)
    strategy = create_wait_strategy(
        WaitStrategyConfig(
            should_continue_polling=lambda state: state < threshold,
            initial_delay=Duration.from_seconds(2),
            backoff_rate=1,
            jitter_strategy=JitterStrategy.NONE,
        )
    )
    return await ctx.wait_for_condition(increment, WaitForConditionConfig(strategy, 0))


@durable_execution
async def wait_for_condition_max_attempts(event: Any, ctx: DurableContext) -> int:
    """6-6: the condition is never met; three attempts, then the operation fails."""
    strategy = create_wait_strategy(
        WaitStrategyConfig(
            should_continue_polling=lambda state: True,
            max_attempts=3,
            initial_delay=Duration.from_seconds(1),
            backoff_rate=1,
            jitter_strategy=JitterStrategy.NONE,
        )
    )
    return await ctx.wait_for_condition(increment, WaitForConditionConfig(strategy, 0))


def check_fails(state: None, check: WaitForConditionCheckContext) -> None:
    raise RuntimeError("check function failed")


@durable_execution
async def wait_for_condition_check_throws(event: Any, ctx: DurableContext) -> None:
    """6-7: the check raises; the execution fails."""
    await ctx.wait_for_condition(check_fails, WaitForConditionConfig(stop_at_once, None))


@durable_execution
async def wait_for_condition_check_throws_caught(event: Any, ctx: DurableContext) -> str:
    """6-8: the check raises; the handler catches it."""
    try:
        await ctx.wait_for_condition(check_fails, WaitForConditionConfig(stop_at_once, None))
    except Exception:
        return "recovered"
    return "not reached"


@durable_execution
async def wait_for_condition_complex_object(event: Any, ctx: DurableContext) -> dict[str, Any]:
    """6-9: the state is an object; two checks turn it DONE."""

    def advance(state: dict[str, Any], check: WaitForConditionCheckContext) -> dict[str, Any]:
        attempts = state["attempts"] + 1
        return {"status": "DONE" if attempts >= 2 else "PENDING", "attempts": attempts}

    config = WaitForConditionConfig(
        until(lambda state: state["status"] == "DONE"),
        initial_state={"status": "PENDING", "attempts": 0},
    )
    return await ctx.wait_for_condition(advance, config)


@durable_execution
async def wait_for_condition_null_result(event: Any, ctx: DurableContext) -> None:
    """6-10: the check returns null and polling stops."""

    def nothing(state: None, check: WaitForConditionCheckContext) -> None:
        return None

    return await ctx.wait_for_condition(nothing, WaitForConditionConfig(stop_at_once, None))


class PrefixSerDes(SerDes[str]):
    """Record the state with a visible ``ENC:`` prefix, so the custom SerDes shows in history."""

    def serialize(self, value: str, serdes_context: SerDesContext) -> str:
        return "ENC:" + value

    def deserialize(self, data: str, serdes_context: SerDesContext) -> str:
        return data.removeprefix("ENC:")


@durable_execution
async def wait_for_condition_custom_serdes(event: Any, ctx: DurableContext) -> str:
    """6-11: the state is recorded through a custom SerDes."""

    def grow(state: str, check: WaitForConditionCheckContext) -> str:
        return state + "x"

    config = WaitForConditionConfig(
        until(lambda state: len(state) >= 2), initial_state="", serdes=PrefixSerDes()
    )
    return await ctx.wait_for_condition(grow, config)


@durable_step
def times_ten(step: StepContext, value: int) -> int:
    return value * 10


@durable_execution
async def wait_for_condition_then_step(event: Any, ctx: DurableContext) -> int:
    """6-12: the polled result feeds a step."""
    polled = await ctx.wait_for_condition(increment, count_to(int(event)))
    return await ctx.step(times_ten(polled))


@durable_execution
async def wait_for_condition_multiple_sequential(event: Any, ctx: DurableContext) -> int:
    """6-13: the second wait_for_condition starts from the first one's result."""
    first = await ctx.wait_for_condition(increment, count_to(2))
    return await ctx.wait_for_condition(increment, count_to(4, start=first))
