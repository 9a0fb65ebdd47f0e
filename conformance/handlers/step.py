"""Suite 1: steps (requirements 1-1 to 1-20)."""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

from conformance.handlers import _logs  # noqa: F401 - JSON log lines for ExpectedLogs
from conformance.handlers._common import UppercaseSerDes
from durable_async import (
    DurableContext,
    Duration,
    JitterStrategy,
    StepConfig,
    StepContext,
    StepSemantics,
    durable_execution,
    durable_step,
)
from durable_async.retries import RetryPresets, RetryStrategyConfig, create_retry_strategy

NO_RETRY = StepConfig(retry_strategy=RetryPresets.none())


def _retry(**kwargs: Any) -> StepConfig:
    return StepConfig(retry_strategy=create_retry_strategy(RetryStrategyConfig(**kwargs)))


@durable_step
def greet(step: StepContext, name: str) -> str:
    return f"Hello, {name}!"


@durable_execution
async def step_basic(event: Any, ctx: DurableContext) -> str:
    """1-1: one step that succeeds on its first attempt."""
    return await ctx.step(greet(event))


@durable_execution
async def step_with_name(event: Any, ctx: DurableContext) -> str:
    """1-2: a step with an explicit name."""
    return await ctx.step(greet(event), name="custom_step_name")


@durable_step
def first(step: StepContext) -> str:
    return "first"


@durable_step
def then_second(step: StepContext, previous: str) -> str:
    return f"{previous}_second"


@durable_execution
async def step_nested(event: Any, ctx: DurableContext) -> str:
    """1-3: two steps, the second fed by the first."""
    return await ctx.step(then_second(await ctx.step(first())))


@durable_step
def describe_user(step: StepContext, name: str, tags: list[str]) -> dict[str, Any]:
    return {"user": {"name": name, "tags": tags}, "count": len(tags)}


@durable_execution
async def step_complex_object(event: Any, ctx: DurableContext) -> dict[str, Any]:
    """1-4: a step returning a nested object."""
    return await ctx.step(describe_user(event["name"], event["tags"]))


@durable_step
def nothing(step: StepContext) -> None:
    return None


@durable_execution
async def step_null_result(event: Any, ctx: DurableContext) -> None:
    """1-5: a step returning null."""
    return await ctx.step(nothing())


@durable_step
def echo(step: StepContext, value: Any) -> Any:
    return value


@durable_execution
async def step_custom_serdes(event: Any, ctx: DurableContext) -> str:
    """1-6: a step whose SerDes records its result upper-cased."""
    return await ctx.step(echo(event), config=StepConfig(serdes=UppercaseSerDes()))


@durable_step
def greet_logged(step: StepContext, name: str) -> str:
    step.logger.info(f"Greeting step started for: {name}")
    greeting = f"Hello, {name}!"
    step.logger.info(f"Greeting step completed with: {greeting}")
    return greeting


@durable_execution
async def step_logging(event: Any, ctx: DurableContext) -> str:
    """1-7: a step that logs through its step context's logger."""
    return await ctx.step(greet_logged(event))


@durable_step
def computed(step: StepContext) -> str:
    return "computed"


@durable_execution
async def step_and_wait_replay(event: Any, ctx: DurableContext) -> str:
    """1-8: a step, then a wait; the replay returns the recorded result."""
    result = await ctx.step(computed())
    await ctx.wait(Duration.from_seconds(2))
    return result


@durable_step
def cached_value(step: StepContext) -> str:
    step.logger.info("step executed")
    return "cached_value"


@durable_execution
async def step_replay_skips_succeeded(event: Any, ctx: DurableContext) -> str:
    """1-9: a succeeded step is not run again on replay (it logs once)."""
    result = await ctx.step(cached_value())
    await ctx.wait(Duration.from_seconds(1))
    return result


@durable_step
def fails_logged(step: StepContext) -> str:
    step.logger.info("step executed")
    raise RuntimeError("Something went wrong")


@durable_execution
async def step_replay_rethrows_failed(event: Any, ctx: DurableContext) -> str:
    """1-10: a failed step raises its recorded error again on replay without running."""
    try:
        await ctx.step(fails_logged(), config=NO_RETRY)
    except Exception as exc:
        message = str(exc)
    await ctx.wait(Duration.from_seconds(1))
    return f"caught: {message}"


@durable_step
def fails_before(step: StepContext, attempts: int, result: str) -> str:
    if step.attempt < attempts:
        raise RuntimeError(f"Attempt {step.attempt} failed")
    return result


@durable_execution
async def step_with_retry(event: Any, ctx: DurableContext) -> str:
    """1-11: fails on attempt 1, succeeds on attempt 2."""
    config = _retry(max_attempts=3, retryable_error_types=[RuntimeError])
    return await ctx.step(fails_before(2, "Operation succeeded"), config=config)


@durable_step
def always_fails(step: StepContext) -> str:
    raise RuntimeError("Always fails")


@durable_execution
async def step_retry_exhaustion(event: Any, ctx: DurableContext) -> str:
    """1-12: four attempts, every one fails; the execution fails."""
    config = _retry(
        max_attempts=4,
        initial_delay=Duration.from_seconds(1),
        backoff_rate=1,
        jitter_strategy=JitterStrategy.NONE,
    )
    return await ctx.step(always_fails(), config=config)


@durable_execution
async def step_default_retry(event: Any, ctx: DurableContext) -> str:
    """1-13: the default retry strategy retries until attempt 3 succeeds."""
    return await ctx.step(fails_before(3, "recovered"))


@durable_execution
async def step_retry_custom_config(event: Any, ctx: DurableContext) -> str:
    """1-14: exponential backoff 2 s x3 without jitter; attempt 3 succeeds."""
    config = _retry(
        max_attempts=5,
        initial_delay=Duration.from_seconds(2),
        backoff_rate=3,
        jitter_strategy=JitterStrategy.NONE,
    )
    return await ctx.step(fails_before(3, "finally succeeded"), config=config)


class TransientError(Exception):
    """An error the retry strategy of 1-15 names as retryable."""


class NotRetryableHereError(Exception):
    """The only retryable type of 1-16, which its step never raises."""


@durable_step
def transient_once(step: StepContext) -> str:
    if step.attempt < 2:
        raise TransientError("Temporary failure")
    return "recovered from transient"


@durable_execution
async def step_retry_specific_exception(event: Any, ctx: DurableContext) -> str:
    """1-15: only TransientError is retried; it is raised once."""
    config = _retry(
        max_attempts=3,
        initial_delay=Duration.from_seconds(1),
        retryable_error_types=[TransientError],
    )
    return await ctx.step(transient_once(), config=config)


@durable_step
def raises_transient(step: StepContext) -> str:
    raise TransientError("transient failure")


@durable_execution
async def step_retry_non_retryable(event: Any, ctx: DurableContext) -> str:
    """1-16: an error outside the retryable types fails the step at once."""
    config = _retry(
        max_attempts=3,
        initial_delay=Duration.from_seconds(1),
        retryable_error_types=[NotRetryableHereError],
    )
    return await ctx.step(raises_transient(), config=config)


def _crash() -> None:
    """End the process as a Lambda sandbox crash would, once the log line is written."""
    time.sleep(0.2)
    os._exit(1)


@durable_step
def crashes(step: StepContext, value: str) -> str:
    step.logger.info(value)
    _crash()
    return "unreachable"


@durable_execution
async def step_at_most_once_no_retry(event: Any, ctx: DurableContext) -> str:
    """1-17: at-most-once step interrupted by a crash, no retry: the step fails for good."""
    config = StepConfig(
        retry_strategy=RetryPresets.none(), step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY
    )
    return await ctx.step(crashes(str(event)), name="at_most_once_flaky_step", config=config)


@durable_step
def crashes_on_first_attempt(step: StepContext, value: str) -> str:
    step.logger.info(value)
    if step.attempt < 2:
        _crash()
    return "succeeded on second attempt"


@durable_execution
async def step_at_most_once_with_retry(event: Any, ctx: DurableContext) -> str:
    """1-18: at-most-once step interrupted by a crash, retried: attempt 2 succeeds."""
    config = StepConfig(
        retry_strategy=create_retry_strategy(
            RetryStrategyConfig(max_attempts=3, initial_delay=Duration.from_seconds(1))
        ),
        step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY,
    )
    return await ctx.step(crashes_on_first_attempt(str(event)), config=config)


@durable_step
def goes_wrong(step: StepContext) -> str:
    raise RuntimeError("Something went wrong")


@durable_execution
async def step_with_error(event: Any, ctx: DurableContext) -> str:
    """1-19: a step that fails without retry fails the execution."""
    return await ctx.step(goes_wrong(), config=NO_RETRY)


@durable_step
def fallback(step: StepContext) -> str:
    return "fallback_result"


@durable_execution
async def step_error_caught(event: Any, ctx: DurableContext) -> str:
    """1-20: a failed step's error is caught and the handler goes on."""
    with contextlib.suppress(Exception):  # the requirement swallows it
        await ctx.step(goes_wrong(), config=NO_RETRY)
    return await ctx.step(fallback())
