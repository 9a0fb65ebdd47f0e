"""Append a line, wait on the clock, append another: the CLI's crash-and-resume test runs it.

The event names the side-effect file (``log``) and the wait (``wait_seconds``), so the test can
count how often each step's body really ran.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from durable_async import DurableContext, Duration, StepContext, durable_execution, durable_step


@durable_step
def append(step: StepContext, log: str, line: str) -> str:
    with Path(log).open("a", encoding="utf-8") as file:
        file.write(f"{line}\n")
    return line


@durable_execution
async def handler(event: dict[str, Any], ctx: DurableContext) -> dict[str, Any]:
    first = await ctx.step(append(event["log"], "step-1"), name="first")
    await ctx.wait(Duration.from_seconds(event["wait_seconds"]), name="pause")
    second = await ctx.step(append(event["log"], "step-2"), name="second")
    return {"first": first, "second": second}
