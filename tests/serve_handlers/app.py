"""Functions that tests/test_serve*.py serve with `durable-async serve --function ...`.

Loaded in serve's worker processes by module name, from this folder: ``app.py:greet``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pricing import cents_of

from durable_async import (
    DurableContext,
    Duration,
    InvokeConfig,
    WaitForCallbackConfig,
    WaitForCallbackContext,
    durable_execution,
)


@durable_execution
async def greet(event: dict[str, Any], ctx: DurableContext) -> dict[str, Any]:
    greeting = await ctx.step(lambda _: f"hello {event.get('who', 'world')}", name="greet")
    return {"greeting": greeting}


@durable_execution
async def approval(event: dict[str, Any], ctx: DurableContext) -> dict[str, Any]:
    def submit(callback_id: str, wctx: WaitForCallbackContext) -> None:
        return None  # the test reads the callback id from the history

    config = WaitForCallbackConfig(timeout=Duration.from_seconds(event.get("timeout", 300)))
    answer = await ctx.wait_for_callback(submit, name="approval", config=config)
    return {"approved": answer}


@durable_execution
async def sleepy(event: dict[str, Any], ctx: DurableContext) -> str:
    await ctx.wait(Duration.from_seconds(event.get("seconds", 3600)), name="nap")
    return "rested"


@durable_execution
async def crasher(event: dict[str, Any], ctx: DurableContext) -> str:
    def once(_: Any) -> str:
        marker = Path(event["marker"])
        if not marker.exists():
            marker.write_text("crashed once")
            os._exit(int(event.get("status", 3)))  # the worker dies mid-invocation
        return "survived"

    return await ctx.step(once, name="risky")


@durable_execution
async def caller(event: dict[str, Any], ctx: DurableContext) -> Any:
    config: InvokeConfig[Any, Any] = InvokeConfig(tenant_id=event.get("tenant"))
    return await ctx.invoke(event["target"], event["payload"], name="price", config=config)


def price(event: dict[str, Any]) -> dict[str, int]:
    """A plain function (an Invoke or chained-invoke target)."""
    return {"cents": cents_of(event["items"])}


def broken(event: Any, context: Any) -> None:
    """A plain Lambda-shaped function that raises."""
    raise ValueError(f"no price for {event!r} in {context.function_name}")
