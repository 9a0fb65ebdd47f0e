"""Durable handlers for the interop suite, written with durable_async's public API only.

``FUNCTIONS`` maps the function names the emulator invokes to the handlers. Waits and retry
delays are one second, so the suite runs quickly on the emulator's real clock.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from durable_async import (
    DurableContext,
    DurableHandler,
    Duration,
    JitterStrategy,
    RetryPresets,
    RetryStrategyConfig,
    StepConfig,
    StepContext,
    durable_execution,
    durable_step,
)
from durable_async.exceptions import InvocationError
from durable_async.retries import create_retry_strategy

FAN_OUT_WIDTH = 20
FLAKY_FAILURES = 2
DECLINED_MESSAGE = "card declined"

ONE_SECOND_RETRIES = StepConfig(
    retry_strategy=create_retry_strategy(
        RetryStrategyConfig(
            max_attempts=3,
            initial_delay=Duration.from_seconds(1),
            backoff_rate=1,
            jitter_strategy=JitterStrategy.NONE,
        )
    )
)
NO_RETRIES = StepConfig(retry_strategy=RetryPresets.none())

# Process-local, deliberately not durable: the lambda process reports these so tests can tell
# which loop each invocation ran on and whether a recorded step body ran again.
observed_loops: list[asyncio.AbstractEventLoop] = []
step_body_runs: Counter[str] = Counter()
crashed_tokens: set[str] = set()

Handler = Callable[[Any, DurableContext], Awaitable[Any]]


def observed(func: Handler) -> Handler:
    """Note the event loop each invocation of ``func`` runs on."""

    async def run(event: Any, ctx: DurableContext) -> Any:
        observed_loops.append(asyncio.get_running_loop())
        return await func(event, ctx)

    return run


@durable_step
def double(step: StepContext, value: int) -> int:
    return value * 2


@durable_step
async def increment(step: StepContext, value: int) -> int:
    await asyncio.sleep(0)
    return value + 1


@durable_step
def describe(step: StepContext, value: int) -> str:
    return f"value is {value}"


@durable_step
async def square(step: StepContext, value: int) -> int:
    return value * value


@durable_step
def stamp(step: StepContext, label: str) -> str:
    return label


@durable_step
def flaky(step: StepContext) -> dict[str, int]:
    # The attempt number is durable: it survives the re-invocations between attempts.
    if step.attempt <= FLAKY_FAILURES:
        raise RuntimeError(f"attempt {step.attempt} failed")
    return {"attempt": step.attempt}


@durable_step
def decline(step: StepContext) -> None:
    raise ValueError(DECLINED_MESSAGE)


@durable_step
def charge(step: StepContext, token: str) -> int:
    step_body_runs[token] += 1
    return step_body_runs[token]


@durable_execution
@observed
async def three_steps(event: dict[str, int], ctx: DurableContext) -> dict[str, Any]:
    doubled = await ctx.step(double(event["value"]), name="double")
    incremented = await ctx.step(increment(doubled), name="increment")
    text = await ctx.step(describe(incremented), name="describe")
    return {"value": incremented, "text": text}


@durable_execution
@observed
async def wait_between_steps(event: dict[str, Any], ctx: DurableContext) -> list[str]:
    before = await ctx.step(stamp("before"), name="before")
    await ctx.wait(Duration.from_seconds(1), name="pause")
    after = await ctx.step(stamp("after"), name="after")
    return [before, after]


@durable_execution
@observed
async def retry_then_succeed(event: dict[str, Any], ctx: DurableContext) -> dict[str, int]:
    return await ctx.step(flaky(), name="flaky", config=ONE_SECOND_RETRIES)


@durable_execution
@observed
async def concurrent_steps(event: dict[str, Any], ctx: DurableContext) -> list[int]:
    steps = [ctx.step(square(i), name=f"square-{i}") for i in range(FAN_OUT_WIDTH)]
    return list(await asyncio.gather(*steps))


@durable_execution
@observed
async def always_fails(event: dict[str, Any], ctx: DurableContext) -> None:
    await ctx.step(decline(), name="decline", config=NO_RETRIES)


@durable_execution
@observed
async def crash_once(event: dict[str, str], ctx: DurableContext) -> dict[str, int]:
    token = event["token"]
    runs = await ctx.step(charge(token), name="charge")
    if token not in crashed_tokens:
        crashed_tokens.add(token)
        raise InvocationError("The first invocation crashes after its step was recorded.")
    shipped = await ctx.step(square(runs), name="ship")
    return {"charge_runs": runs, "shipped": shipped}


FUNCTIONS: dict[str, DurableHandler] = {
    "three-steps": three_steps,
    "wait-between-steps": wait_between_steps,
    "retry-then-succeed": retry_then_succeed,
    "concurrent-steps": concurrent_steps,
    "always-fails": always_fails,
    "crash-once": crash_once,
}
