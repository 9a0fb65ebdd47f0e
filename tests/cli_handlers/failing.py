"""A handler that records one step and then raises: the CLI reports a failed execution."""

from __future__ import annotations

from typing import Any

from durable_async import DurableContext, durable_execution


class OrderRejectedError(Exception):
    """The order cannot be fulfilled."""


@durable_execution
async def handler(event: dict[str, Any], ctx: DurableContext) -> dict[str, Any]:
    order_id = await ctx.step(lambda _: event["order_id"], name="load-order")
    raise OrderRejectedError(f"order {order_id} has no items")


def not_durable(event: dict[str, Any]) -> None:
    """A plain function: the CLI refuses to run it."""
