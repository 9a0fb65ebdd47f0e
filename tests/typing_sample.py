"""Typed user code that mypy --strict must accept with these exact types (see test_typing.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, assert_type

from durable_async import (
    BatchItem,
    BatchItemStatus,
    BatchResult,
    Callback,
    CallbackConfig,
    DurableContext,
    Duration,
    ErrorObject,
    InvokeConfig,
    ParallelBranch,
    StepConfig,
    StepContext,
    TypedSerDes,
    WaitForCallbackConfig,
    WaitForCallbackContext,
    WaitForConditionCheckContext,
    WaitForConditionConfig,
    WaitForConditionDecision,
    durable_step,
    durable_wait_for_callback,
    durable_with_child_context,
)
from durable_async.operations.branch import durable_parallel_branch


async def price(ctx: DurableContext, quantity: int, index: int, items: Sequence[int]) -> int:
    return quantity * 2


def sync_price(ctx: DurableContext, quantity: int, index: int, items: Sequence[int]) -> str:
    return str(quantity)


async def fetch(step: StepContext) -> int:
    return 1


def label(step: StepContext) -> str:
    return "label"


async def branch(ctx: DurableContext) -> float:
    return 1.0


def sync_branch(ctx: DurableContext) -> bytes:
    return b""


async def poll(state: int, check: WaitForConditionCheckContext) -> int:
    return state + 1


def sync_poll(state: str, check: WaitForConditionCheckContext) -> str:
    return state


def stop(state: int, attempts_made: int) -> WaitForConditionDecision:
    return WaitForConditionDecision.stop_polling()


def stop_text(state: str, attempts_made: int) -> WaitForConditionDecision:
    return WaitForConditionDecision.stop_polling()


# The decorators keep parameters and results, for async and sync bodies alike.


@durable_step
async def charge(step: StepContext, order_id: str, cents: int, *, currency: str = "EUR") -> int:
    return cents


@durable_step
def describe(step: StepContext, order_id: str) -> dict[str, str]:
    return {"id": order_id}


@durable_with_child_context
async def ship(ctx: DurableContext, order_id: str, express: bool = False) -> list[str]:
    return [order_id]


@durable_with_child_context
def sync_ship(ctx: DurableContext, weight: float) -> float:
    return weight


@durable_wait_for_callback
async def notify(callback_id: str, wctx: WaitForCallbackContext, email: str) -> None:
    return None


@durable_wait_for_callback
def sync_notify(callback_id: str, wctx: WaitForCallbackContext, email: str, retries: int) -> None:
    return None


@durable_parallel_branch(name="user")
async def fetch_user(ctx: DurableContext, user_id: str) -> dict[str, str]:
    return {"id": user_id}


@durable_parallel_branch()
def sync_fetch_user(ctx: DurableContext, user_id: str) -> dict[str, str]:
    return {"id": user_id}


async def decorators(ctx: DurableContext) -> None:
    assert_type(await ctx.step(charge("o-1", 500)), int)
    assert_type(await ctx.step(charge("o-1", 500, currency="USD"), name="charge"), int)
    assert_type(await ctx.step(describe("o-1")), dict[str, str])
    assert_type(await ctx.run_in_child_context(ship("o-1")), list[str])
    assert_type(await ctx.run_in_child_context(ship("o-1", express=True)), list[str])
    assert_type(await ctx.run_in_child_context(sync_ship(2.5)), float)
    assert_type(await ctx.wait_for_callback(notify("a@b.c")), Any)
    assert_type(await ctx.wait_for_callback(sync_notify("a@b.c", 3)), Any)
    # ParallelBranch's own type parameter is pinned in typing_generic.py.
    assert isinstance(fetch_user("u-1"), ParallelBranch)
    await ctx.parallel([fetch_user("u-1"), sync_fetch_user("u-2")])


async def context_methods(ctx: DurableContext) -> None:
    # A coroutine, so asyncio.create_task and TaskGroup take it.
    task = asyncio.create_task(ctx.step(fetch))
    assert_type(task, asyncio.Task[int])
    assert_type(await task, int)
    assert_type(await ctx.step(fetch), int)
    assert_type(await ctx.step(label), str)
    assert_type(await ctx.step(lambda _: 3), int)
    assert_type(await ctx.run_in_child_context(branch), float)
    assert_type(await ctx.run_in_child_context(sync_branch), bytes)
    assert_type(await ctx.map([1, 2], price), BatchResult[int])
    assert_type(await ctx.map([1, 2], sync_price), BatchResult[str])
    assert_type(await ctx.parallel([branch, branch]), BatchResult[float])
    assert_type(await ctx.parallel([sync_branch]), BatchResult[bytes])
    assert_type(await ctx.wait(Duration.from_seconds(1)), None)
    callback = await ctx.create_callback(config=CallbackConfig(timeout=Duration.from_hours(1)))
    assert_type(callback, Callback[Any])
    assert_type(callback.callback_id, str)
    assert_type(await callback.result(), Any | None)
    submitted = ctx.wait_for_callback(lambda cid, wctx: None, config=WaitForCallbackConfig())
    assert_type(await submitted, Any)
    assert_type(await ctx.invoke("pricing-fn", {"id": 1}), Any)
    config = WaitForConditionConfig(wait_strategy=stop, initial_state=0)
    assert_type(await ctx.wait_for_condition(poll, config), int)
    text_config = WaitForConditionConfig(wait_strategy=stop_text, initial_state="")
    assert_type(await ctx.wait_for_condition(sync_poll, text_config), str)


async def batch_result(ctx: DurableContext) -> None:
    batch = await ctx.map([1, 2], price)
    assert_type(batch.all, list[BatchItem[int]])
    assert_type(batch.all[0].result, int | None)
    assert_type(batch.all[0].error, ErrorObject | None)
    assert_type(batch.succeeded(), list[BatchItem[int]])
    assert_type(batch.failed(), list[BatchItem[int]])
    assert_type(batch.started(), list[BatchItem[int]])
    assert_type(batch.get_results(), list[int])
    assert_type(batch.get_errors(), list[ErrorObject | None])
    assert_type(batch.throw_if_error(), None)
    assert_type(batch.status, BatchItemStatus)
    assert_type(batch.has_failure, bool)
    assert_type(batch.success_count, int)
    assert_type(batch.failure_count, int)
    assert_type(batch.started_count, int)
    assert_type(batch.total_count, int)
    assert_type(batch.to_dict(), dict[str, Any])


async def typed_payloads(ctx: DurableContext) -> None:
    assert_type(TypedSerDes(ErrorObject), TypedSerDes[ErrorObject])
    assert_type(TypedSerDes(list[ErrorObject]), TypedSerDes[list[ErrorObject]])
    assert_type(TypedSerDes(ErrorObject | None), TypedSerDes[Any])
    config = InvokeConfig(serdes_payload=TypedSerDes(str), serdes_result=TypedSerDes(ErrorObject))
    assert_type(await ctx.invoke("pricing-fn", "o-1", config=config), ErrorObject)
    step_config = StepConfig(serdes=TypedSerDes(ErrorObject))
    assert_type(step_config, StepConfig)


async def handler(event: dict[str, int], ctx: DurableContext) -> None:
    await decorators(ctx)
    await context_methods(ctx)
    await batch_result(ctx)
    await typed_payloads(ctx)
