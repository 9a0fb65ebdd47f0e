"""Handlers the testing tools' tests drive in-process and through ``durable-async serve``."""

from __future__ import annotations

from typing import Any

from durable_async import (
    DurableContext,
    Duration,
    JsonSerDes,
    StepContext,
    WaitForCallbackConfig,
    WaitForCallbackContext,
    durable_execution,
    durable_step,
)


@durable_step
def price(step: StepContext, sku: str, quantity: int) -> int:
    return {"apple": 30, "pear": 45}.get(sku, 10) * quantity


@durable_step
def charge(step: StepContext, cents: int) -> dict[str, Any]:
    if step.attempt == 1:
        raise ConnectionError("the card service is unavailable")
    return {"charged": cents, "attempt": step.attempt}


def ask_manager(callback_id: str, wctx: WaitForCallbackContext) -> None:
    wctx.logger.info("approval requested: %s", callback_id)


async def _price_line(ctx: DurableContext, line: dict[str, Any], index: int, lines: Any) -> int:
    return await ctx.step(price(line["sku"], line["quantity"]), name="price")


@durable_execution
async def order(event: dict[str, Any], ctx: DurableContext) -> dict[str, Any]:
    """Price each line in a map, charge the total, cool off for a day, then ask for approval."""
    priced = await ctx.map(event["lines"], _price_line, name="price-lines")
    total = sum(priced.get_results())
    receipt = await ctx.step(charge(total), name="charge")
    await ctx.wait(Duration.from_hours(24), name="cool-off")
    answer = await ctx.wait_for_callback(
        ask_manager,
        name="approval",
        # No timeout: with skipped time serve would end it while a test polls for its id.
        config=WaitForCallbackConfig(serdes=JsonSerDes()),
    )
    return {"total": total, "receipt": receipt, "approved": answer["approved"]}


@durable_execution
async def quote(event: dict[str, Any], ctx: DurableContext) -> int:
    """Price each line in a map; no callback, so it runs to its end by itself."""
    priced = await ctx.map(event["lines"], _price_line, name="price-lines")
    await ctx.wait(Duration.from_seconds(30), name="settle")
    return sum(priced.get_results())


@durable_execution
async def refuse(event: Any, ctx: DurableContext) -> None:
    """Fail after one step."""
    await ctx.step(lambda _: "reserved", name="reserve")
    raise LookupError(f"no such order: {event['id']}")
