"""A step whose first attempt writes its side effect and then hangs until the test kills it.

Every later attempt writes its line and returns, so a resumed execution can finish. Two
handlers differ only in the step's semantics.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from durable_async import (
    DurableContext,
    RetryPresets,
    StepConfig,
    StepContext,
    StepSemantics,
    durable_execution,
    durable_step,
)

HANG_SECONDS = 120  # far longer than the test waits: it SIGKILLs the process during this sleep


@durable_step
def charge(step: StepContext, log: str) -> int:
    path = Path(log)
    earlier = path.read_text(encoding="utf-8").count("\n") if path.exists() else 0
    with path.open("a", encoding="utf-8") as file:
        file.write(f"charged attempt={step.attempt}\n")
    if earlier == 0:
        time.sleep(HANG_SECONDS)
    return earlier + 1


@durable_execution
async def at_least_once(event: dict[str, Any], ctx: DurableContext) -> dict[str, Any]:
    config = StepConfig(retry_strategy=RetryPresets.none())
    runs = await ctx.step(charge(event["log"]), name="charge", config=config)
    return {"runs": runs}


@durable_execution
async def at_most_once(event: dict[str, Any], ctx: DurableContext) -> dict[str, Any]:
    config = StepConfig(
        retry_strategy=RetryPresets.none(),
        step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY,
    )
    runs = await ctx.step(charge(event["log"]), name="charge", config=config)
    return {"runs": runs}
