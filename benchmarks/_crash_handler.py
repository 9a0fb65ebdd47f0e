"""The crash campaign's durable handler: steps that journal every body run to an fsync'd file.

Each step body appends a ``start`` line before its work and an ``end`` line after it, each
flushed to disk with ``fsync`` before the body goes on, so the journal survives a SIGKILL at
any point and tells the campaign exactly which bodies ran, when, in which process and attempt.
A body returns its value and the id of this run of the body; the recorded result therefore
names the run the store kept. The handler's own result depends on the input alone.

The handler mixes at-least-once steps (the default), at-most-once steps, one-second waits on
the real clock and a map whose items run their steps concurrently on worker threads.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
import uuid
from typing import Any

from durable_async import (
    DurableContext,
    Duration,
    JitterStrategy,
    MapConfig,
    RetryStrategyConfig,
    StepConfig,
    StepContext,
    StepSemantics,
    durable_execution,
    durable_step,
)
from durable_async.retries import create_retry_strategy

__all__ = ["AT_MOST_ONCE_STEPS", "MAP_ITEMS", "STEPS", "expected_result", "handler"]

MAP_ITEMS = 3
# Top-level steps in order, and which of them run at most once per attempt.
STEPS = ("reserve", "charge", "notify", "settle", "archive")
AT_MOST_ONCE_STEPS = frozenset({"charge", "settle"})
BODY_SECONDS = (0.02, 0.25)  # how long a body works: long enough for a kill to land inside

# An at-most-once step killed mid-body is handed to its retry strategy (StepInterruptedError):
# enough attempts that no number of kills the campaign makes can use them up, a second apart.
_RETRY = create_retry_strategy(
    RetryStrategyConfig(
        max_attempts=50,
        initial_delay=Duration.from_seconds(1),
        max_delay=Duration.from_seconds(1),
        backoff_rate=1,
        jitter_strategy=JitterStrategy.NONE,
    )
)
_AT_MOST_ONCE = StepConfig(
    retry_strategy=_RETRY, step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY
)
_AT_LEAST_ONCE = StepConfig(retry_strategy=_RETRY)


def value_of(seed: int, step: str) -> int:
    """Return the value step ``step`` computes for an execution with this ``seed``."""
    digest = hashlib.sha256(f"{seed}:{step}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 1_000_000


def item_step(index: int) -> str:
    return f"item-{index}"


def expected_result(event: dict[str, Any]) -> dict[str, Any]:
    """Return the result the handler must produce for ``event``, computed without running it."""
    seed = int(event["seed"])
    values = {step: value_of(seed, step) for step in STEPS}
    items = [value_of(seed, item_step(i)) for i in range(MAP_ITEMS)]
    return {"values": values, "items": items, "total": sum(values.values()) + sum(items)}


def journal(path: str, record: dict[str, Any]) -> None:
    """Append one JSON line to ``path`` and fsync it before returning.

    One ``write`` of a short line with O_APPEND, so lines from concurrent bodies (map items on
    threads, two processes) never interleave.
    """
    line = (json.dumps(record, separators=(",", ":")) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def _body_seconds(seed: int, step: str, attempt: int) -> float:
    low, high = BODY_SECONDS
    fraction = value_of(seed + attempt, f"time:{step}") / 1_000_000
    return low + (high - low) * fraction


def _record(event: dict[str, Any], step: str, attempt: int, mark: str, run: str) -> dict[str, Any]:
    return {
        "t": time.time(),
        "execution": event["name"],
        "step": step,
        "attempt": attempt,
        "mark": mark,
        "run": run,
        "pid": os.getpid(),
    }


@durable_step
def work(step_context: StepContext, event: dict[str, Any], step: str) -> dict[str, Any]:
    """Journal the start, work a while on this thread, journal the end; return value and run."""
    run = uuid.uuid4().hex
    attempt = step_context.attempt
    journal(event["journal"], _record(event, step, attempt, "start", run))
    time.sleep(_body_seconds(int(event["seed"]), step, attempt))
    value = value_of(int(event["seed"]), step)
    journal(event["journal"], _record(event, step, attempt, "end", run))
    return {"value": value, "run": run}


@durable_step
async def work_async(step_context: StepContext, event: dict[str, Any], step: str) -> dict[str, Any]:
    """The same as :func:`work`, as a coroutine on the event loop."""
    run = uuid.uuid4().hex
    attempt = step_context.attempt
    journal(event["journal"], _record(event, step, attempt, "start", run))
    await asyncio.sleep(_body_seconds(int(event["seed"]), step, attempt))
    value = value_of(int(event["seed"]), step)
    journal(event["journal"], _record(event, step, attempt, "end", run))
    return {"value": value, "run": run}


async def _top(ctx: DurableContext, event: dict[str, Any], step: str, *, sync: bool) -> int:
    config = _AT_MOST_ONCE if step in AT_MOST_ONCE_STEPS else _AT_LEAST_ONCE
    body = work(event, step) if sync else work_async(event, step)
    outcome = await ctx.step(body, name=step, config=config)
    return int(outcome["value"])


@durable_execution
async def handler(event: dict[str, Any], ctx: DurableContext) -> dict[str, Any]:
    """Run the steps, two real one-second waits and a map; return what expected_result says."""
    values = {"reserve": await _top(ctx, event, "reserve", sync=True)}
    values["charge"] = await _top(ctx, event, "charge", sync=True)
    await ctx.wait(Duration.from_seconds(1), name="cool-off")

    async def item(c: DurableContext, index: int, _: int, __: object) -> int:
        step = item_step(index)
        outcome = await c.step(work(event, step), name=step, config=_AT_LEAST_ONCE)
        return int(outcome["value"])

    batch = await ctx.map(
        list(range(MAP_ITEMS)), item, name="items", config=MapConfig(max_concurrency=MAP_ITEMS)
    )
    values["notify"] = await _top(ctx, event, "notify", sync=False)
    values["settle"] = await _top(ctx, event, "settle", sync=False)
    await ctx.wait(Duration.from_seconds(1), name="grace")
    values["archive"] = await _top(ctx, event, "archive", sync=True)
    items = batch.get_results()
    return {"values": values, "items": items, "total": sum(values.values()) + sum(items)}
