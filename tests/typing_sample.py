"""Typed user code that mypy --strict must accept with these exact types (see test_typing.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import assert_type

from durable_async import (
    BatchResult,
    DurableContext,
    StepContext,
    WaitForConditionCheckContext,
    WaitForConditionConfig,
    WaitForConditionDecision,
)


async def price(ctx: DurableContext, quantity: int, index: int, items: Sequence[int]) -> int:
    return quantity * 2


async def fetch(step: StepContext) -> int:
    return 1


def label(step: StepContext) -> str:
    return "label"


async def branch(ctx: DurableContext) -> float:
    return 1.0


async def poll(state: int, check: WaitForConditionCheckContext) -> int:
    return state + 1


def stop(state: int, attempts_made: int) -> WaitForConditionDecision:
    return WaitForConditionDecision.stop_polling()


async def handler(event: dict[str, int], ctx: DurableContext) -> None:
    assert_type(await ctx.step(fetch), int)
    assert_type(await ctx.step(label), str)
    assert_type(await ctx.run_in_child_context(branch), float)
    assert_type(await ctx.map([1, 2], price), BatchResult[int])
    assert_type(await ctx.parallel([branch, branch]), BatchResult[float])
    config = WaitForConditionConfig(wait_strategy=stop, initial_state=0)
    assert_type(await ctx.wait_for_condition(poll, config), int)
