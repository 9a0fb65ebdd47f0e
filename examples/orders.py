"""An order workflow: reserve stock, charge a card (with retries), cool off, then ship.

Run it with:

    durable-async run examples/orders.py:handler --input '{"order_id": "o-1", "cents": 500}'
"""

from __future__ import annotations

import asyncio
from typing import Any

from durable_async import (
    DurableContext,
    Duration,
    RetryPresets,
    StepConfig,
    StepContext,
    StepSemantics,
    durable_execution,
    durable_step,
)


@durable_step
async def reserve(step: StepContext, order_id: str, sku: str) -> dict[str, Any]:
    await asyncio.sleep(0)  # stands in for a call to the inventory service
    return {"order_id": order_id, "sku": sku, "reserved": True}


@durable_step
def charge(step: StepContext, order_id: str, cents: int) -> dict[str, Any]:
    # A sync function: durable_async runs it in a worker thread, off the event loop.
    return {"order_id": order_id, "charged": cents, "attempt": step.attempt}


@durable_execution
async def handler(event: dict[str, Any], ctx: DurableContext) -> dict[str, Any]:
    order_id = event["order_id"]
    # Two independent steps started together: ids follow call order, so replay is stable.
    stock, label = await asyncio.gather(
        ctx.step(reserve(order_id, event.get("sku", "sku-1"))),
        ctx.step(lambda _: f"label-{order_id}", name="print-label"),
    )
    receipt = await ctx.step(
        charge(order_id, event["cents"]),
        config=StepConfig(
            retry_strategy=RetryPresets.default(),
            step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY,
        ),
    )
    await ctx.wait(Duration.from_seconds(2), name="cool-off")
    shipped = await ctx.step(lambda _: {"order_id": order_id, "shipped": True}, name="ship")
    return {"stock": stock, "label": label, "receipt": receipt, "shipment": shipped}
