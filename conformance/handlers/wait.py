"""Suite 2: waits (requirements 2-1 to 2-5)."""

from __future__ import annotations

from typing import Any

from conformance.handlers import _logs  # noqa: F401 - JSON log lines for ExpectedLogs
from durable_async import DurableContext, Duration, durable_execution


@durable_execution
async def wait_basic(event: Any, ctx: DurableContext) -> str:
    """2-1: one two-second wait."""
    await ctx.wait(Duration.from_seconds(2))
    return "Wait completed"


@durable_execution
async def wait_with_name(event: Any, ctx: DurableContext) -> str:
    """2-2: a named wait."""
    await ctx.wait(Duration.from_seconds(2), name="custom_wait_name")
    return "Wait with name completed"


@durable_execution
async def wait_multiple_sequential(event: Any, ctx: DurableContext) -> dict[str, int]:
    """2-3: two named waits one after the other."""
    await ctx.wait(Duration.from_seconds(2), name="wait-1")
    await ctx.wait(Duration.from_seconds(2), name="wait-2")
    return {"completedWaits": 2}


@durable_execution
async def wait_duration_units(event: Any, ctx: DurableContext) -> str:
    """2-4: a wait given in minutes is recorded in seconds."""
    await ctx.wait(Duration.from_minutes(1))
    return "Wait with minutes completed"


@durable_execution
async def wait_long_duration(event: Any, ctx: DurableContext) -> str:
    """2-5: a one-hour wait."""
    await ctx.wait(Duration.from_hours(1))
    return "Wait with hours completed"
