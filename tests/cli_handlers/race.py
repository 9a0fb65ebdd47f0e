"""Two steps, a short wait, a third step; each step body appends its line to a log.

Two CLI processes run it under one ``--name`` at once: the log shows whether any body ran twice.
With ``gate`` in the event, a step after the second waits until that file exists, so the
process running the execution holds it until the test says so (no race against the clock).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from durable_async import DurableContext, Duration, StepContext, durable_execution, durable_step


@durable_step
def append(step: StepContext, log: str, line: str) -> str:
    with Path(log).open("a", encoding="utf-8") as file:
        file.write(f"{line}\n")
    return line


@durable_step
def gate(step: StepContext, path: str) -> None:
    deadline = time.monotonic() + 120
    while not Path(path).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.02)


@durable_execution
async def handler(event: dict[str, Any], ctx: DurableContext) -> list[str]:
    one = await ctx.step(append(event["log"], "one"), name="one")
    two = await ctx.step(append(event["log"], "two"), name="two")
    if "gate" in event:
        await ctx.step(gate(event["gate"]), name="gate")
    await ctx.wait(Duration.from_seconds(event["wait_seconds"]), name="pause")
    three = await ctx.step(append(event["log"], "three"), name="three")
    return [one, two, three]
