"""Every durable operation in one order workflow.

Run it with ``make run``, which is:

    durable-async run examples/everything.py:handler \
        --function pricing-fn=examples/everything.py:pricing \
        --input '{"id": "o-1", "lines": [1, 2, 3]}'

steps (sync and async, with retries), a durable wait, a child context, parallel branches, a
map, wait_for_condition, a callback answered through the Lambda API, and a chained invoke of
another durable function.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiobotocore.session import get_session

from durable_async import (
    CompletionConfig,
    DurableContext,
    Duration,
    JitterStrategy,
    MapConfig,
    ParallelBranch,
    ParallelConfig,
    RetryStrategyConfig,
    StepConfig,
    StepContext,
    WaitForCallbackConfig,
    WaitForCallbackContext,
    WaitForConditionConfig,
    WaitForConditionDecision,
    durable_execution,
    durable_step,
    durable_with_child_context,
)
from durable_async.retries import create_retry_strategy

# Up to 3 attempts, 1 s apart (RetryPresets.transient() would wait about 5 s).
RETRY_AFTER_A_SECOND = StepConfig(
    retry_strategy=create_retry_strategy(
        RetryStrategyConfig(
            max_attempts=3,
            initial_delay=Duration.from_seconds(1),
            jitter_strategy=JitterStrategy.NONE,
        )
    )
)


@durable_step
async def price_line(step: StepContext, quantity: int) -> int:
    await asyncio.sleep(0)  # stands in for a call to a pricing service
    return quantity * 250


@durable_step
def reserve_stock(step: StepContext, order_id: str) -> dict[str, Any]:
    # A sync step runs in a worker thread. It fails on its first attempt to show a retry.
    if step.attempt == 1:
        raise ConnectionError("inventory service timed out")
    return {"order_id": order_id, "reserved": True, "attempt": step.attempt}


@durable_with_child_context
async def ship(ctx: DurableContext, order_id: str) -> str:
    label = await ctx.step(lambda _: f"label-{order_id}", name="print-label")
    await ctx.wait(Duration.from_seconds(1), name="courier-pickup")
    return label


async def ask_for_approval(callback_id: str, wctx: WaitForCallbackContext) -> None:
    wctx.logger.info("approval requested with callback %s", callback_id)
    # A manager would answer from elsewhere; here the answer comes at once, through the same
    # Lambda API call a real approver makes. `durable-async run` points it at the local service.
    async with get_session().create_client("lambda") as client:
        await client.send_durable_execution_callback_success(
            CallbackId=callback_id, Result=json.dumps({"approved": True}).encode()
        )


def poll_payment(state: dict[str, int], attempts_made: int) -> WaitForConditionDecision:
    if state["checks"] >= 3:
        return WaitForConditionDecision.stop_polling()
    return WaitForConditionDecision.continue_waiting(Duration.from_seconds(1))


@durable_execution
async def pricing(event: dict[str, Any], ctx: DurableContext) -> dict[str, int]:
    """A second durable function, called with ctx.invoke."""
    discount = await ctx.step(lambda _: 10 if len(event["lines"]) > 2 else 0, name="discount")
    return {"discount_percent": discount}


@durable_execution
async def handler(event: dict[str, Any], ctx: DurableContext) -> dict[str, Any]:
    order_id = event["id"]
    ctx.logger.info("order %s received", order_id)  # logged once, however often we replay

    stock = await ctx.step(reserve_stock(order_id), config=RETRY_AFTER_A_SECOND)
    prices = await ctx.map(
        event["lines"],
        lambda c, quantity, i, lines: c.step(price_line(quantity)),
        name="price-lines",
        config=MapConfig(max_concurrency=10),
    )
    quote = await ctx.invoke("pricing-fn", {"lines": event["lines"]}, name="quote")
    checks = await ctx.parallel(
        [
            ParallelBranch(lambda c: c.step(lambda _: "ok", name="fraud"), name="fraud-check"),
            ParallelBranch(lambda c: c.step(lambda _: "ok", name="credit"), name="credit-check"),
        ],
        name="checks",
        config=ParallelConfig(completion_config=CompletionConfig.all_successful()),
    )
    approval = await ctx.wait_for_callback(
        ask_for_approval,
        name="approval",
        config=WaitForCallbackConfig(timeout=Duration.from_hours(24)),
    )
    payment = await ctx.wait_for_condition(
        lambda state, check: {"checks": state["checks"] + 1},
        WaitForConditionConfig(wait_strategy=poll_payment, initial_state={"checks": 0}),
        name="payment-settled",
    )
    await ctx.wait(Duration.from_seconds(1), name="cool-off")
    label = await ctx.run_in_child_context(ship(order_id))

    subtotal = sum(prices.get_results())
    total = subtotal * (100 - quote["discount_percent"]) // 100
    return {
        "stock": stock,
        "total_cents": total,
        "checks": checks.get_results(),
        "approval": json.loads(approval),
        "payment_checks": payment["checks"],
        "label": label,
    }
