"""A handler that records a step and then calls ``sys.exit(7)``, as a careless script might."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from durable_async import DurableContext, StepContext, durable_execution, durable_step


@durable_step
def note(step: StepContext, log: str) -> str:
    with Path(log).open("a", encoding="utf-8") as file:
        file.write("noted\n")
    return "noted"


@durable_execution
async def handler(event: dict[str, Any], ctx: DurableContext) -> None:
    await ctx.step(note(event["log"]), name="note")
    sys.exit(7)
