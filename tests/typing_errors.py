"""User code mypy --strict must refuse: every line marked ``# E: <code>`` is an error of that code.

test_typing.py checks that mypy reports exactly these lines, each with its code, and no others.
Nothing here runs.
"""

from __future__ import annotations

from durable_async import (
    DurableContext,
    StepContext,
    WaitForCallbackContext,
    WaitForConditionCheckContext,
    WaitForConditionConfig,
    WaitForConditionDecision,
    durable_step,
    durable_wait_for_callback,
    durable_with_child_context,
)
from durable_async.operations.branch import durable_parallel_branch


@durable_step
async def charge(step: StepContext, order_id: str, cents: int, *, currency: str = "EUR") -> int:
    return cents


@durable_step
def describe(step: StepContext, order_id: str) -> dict[str, str]:
    return {"id": order_id}


@durable_with_child_context
async def ship(ctx: DurableContext, order_id: str) -> list[str]:
    return [order_id]


@durable_wait_for_callback
def notify(callback_id: str, wctx: WaitForCallbackContext, email: str) -> None:
    return None


@durable_parallel_branch(name="user")
async def fetch_user(ctx: DurableContext, user_id: str) -> dict[str, str]:
    return {"id": user_id}


@durable_step  # E: arg-type
def no_step_context(order_id: str) -> int:
    return 1


@durable_with_child_context  # E: arg-type
async def takes_step_context(step: StepContext, order_id: str) -> int:
    return 1


@durable_wait_for_callback  # E: arg-type
def callback_id_not_first(wctx: WaitForCallbackContext, callback_id: str) -> None:
    return None


@durable_parallel_branch  # E: arg-type
async def bare_branch(ctx: DurableContext) -> int:
    return 1


def stop(state: int, attempts_made: int) -> WaitForConditionDecision:
    return WaitForConditionDecision.stop_polling()


def text_check(state: str, check: WaitForConditionCheckContext) -> str:
    return state


async def misuse(ctx: DurableContext) -> None:
    charge("three", "500")  # E: arg-type
    charge("o-1", 500, currency=1)  # E: arg-type
    charge("o-1")  # E: call-arg
    charge("o-1", 500, "EUR")  # E: call-arg
    charge("o-1", 500, colour="red")  # E: call-arg
    describe(3)  # E: arg-type
    ship(7)  # E: arg-type
    notify()  # E: call-arg
    fetch_user(1)  # E: arg-type
    _text: str = await ctx.step(charge("o-1", 500))  # E: arg-type
    _names: set[str] = await ctx.step(describe("o-1"))  # E: arg-type
    _count: int = await ctx.run_in_child_context(ship("o-1"))  # E: arg-type
    await ctx.step(ship("o-1"))  # E: arg-type
    await ctx.run_in_child_context(charge("o-1", 500))  # E: arg-type
    await ctx.wait_for_callback(charge("o-1", 500))  # E: arg-type
    ints = await ctx.map([1, 2], lambda c, i, n, s: i)
    _strs: list[str] = ints.get_results()  # E: assignment
    await ctx.wait(5)  # E: arg-type
    config = WaitForConditionConfig(wait_strategy=stop, initial_state=0)
    await ctx.wait_for_condition(text_check, config)  # E: arg-type
