"""with_retry: a block of durable code re-run after durable backoff, compared with the reference."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext as RefContext
from aws_durable_execution_sdk_python import durable_execution as ref_durable_execution
from aws_durable_execution_sdk_python import retries as ref_retries
from aws_durable_execution_sdk_python.config import ChildConfig as RefChildConfig
from aws_durable_execution_sdk_python.config import Duration as RefDuration
from aws_durable_execution_sdk_python.config import StepConfig as RefStepConfig

from durable_async import (
    ChildConfig,
    DurableContext,
    Duration,
    RetryPresets,
    RetryStrategyConfig,
    StepConfig,
    durable_execution,
)
from durable_async.exceptions import (
    ChildContextError,
    NonDeterministicExecutionError,
    StepError,
    ValidationError,
)
from durable_async.retries import RetryDecision, WithRetryConfig, create_retry_strategy, with_retry
from durable_async.testing import DurableTestResult, DurableTestRunner, ExecutionStatus
from tests.side_by_side import our_history, run_reference

NO_STEP_RETRY = StepConfig(retry_strategy=RetryPresets.none())


def strategy(max_attempts: int) -> WithRetryConfig[Any]:
    """A with_retry config of ``max_attempts`` attempts, 2 s doubling with jitter."""
    config = RetryStrategyConfig(max_attempts=max_attempts, initial_delay=Duration.from_seconds(2))
    return WithRetryConfig(retry_strategy=create_retry_strategy(config))


def flaky_block(fail_until: int, runs: list[str]) -> Any:
    """A block whose second step fails in every attempt before ``fail_until``."""

    async def block(ctx: DurableContext, attempt: int) -> int:
        await ctx.step(lambda _: runs.append(f"prep-{attempt}"), name="prep", config=NO_STEP_RETRY)

        def flaky(_: Any) -> int:
            runs.append(f"flaky-{attempt}")
            if attempt < fail_until:
                raise ValueError(f"boom {attempt}")
            return attempt * 10

        return await ctx.step(flaky, name="flaky", config=NO_STEP_RETRY)

    return block


def retrying_handler(fail_until: int, runs: list[str], **config: Any) -> Any:
    """A handler that runs ``flaky_block`` under with_retry, named "reserve" unless told.

    ``event["max"]`` None selects the default strategy.
    """

    @durable_execution
    async def handler(event: dict[str, Any], ctx: DurableContext) -> int:
        retry = strategy(event["max"]).retry_strategy if event["max"] else None
        cfg = WithRetryConfig(retry_strategy=retry, **config)
        block = flaky_block(fail_until, runs)
        return await with_retry(ctx, block, cfg, name=event.get("name", "reserve"))

    return handler


async def run(handler: Any, event: Any = None) -> DurableTestResult:
    """Run ``handler`` to its end on the embedded service, skipping time."""
    async with DurableTestRunner(handler, skip_time=True) as runner:
        return await runner.run(input=event, timeout=30)


# The reference side: the same handlers written for aws-durable-execution-sdk-python 3.0.0.


def ref_block(fail_until: int) -> Any:
    """The reference twin of ``flaky_block``."""
    config = RefStepConfig(retry_strategy=ref_retries.RetryPresets.none())

    def block(ctx: RefContext, attempt: int) -> int:
        ctx.step(lambda _: None, name="prep", config=config)

        def flaky(_: Any) -> int:
            if attempt < fail_until:
                raise ValueError(f"boom {attempt}")
            return attempt * 10

        return ctx.step(flaky, name="flaky", config=config)

    return block


def ref_handler(fail_until: int, **config: Any) -> Any:
    """The reference twin of ``retrying_handler``."""

    @ref_durable_execution
    def handler(event: dict[str, Any], ctx: RefContext) -> int:
        retry = ref_retries.RetryStrategyConfig(
            max_attempts=event["max"] or 3,
            initial_delay=RefDuration.from_seconds(2),
        )
        strategy = ref_retries.create_retry_strategy(retry) if event["max"] else None
        cfg = ref_retries.WithRetryConfig(retry_strategy=strategy, **config)
        name = event.get("name", "reserve")
        value: int = ref_retries.with_retry(ctx, ref_block(fail_until), cfg, name=name)
        return value

    return handler


@pytest.fixture(autouse=True)
def _quiet_reference_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Keep the reference SDK's failure tracebacks out of the test output."""
    caplog.set_level("CRITICAL")


# Behaviour.


async def test_first_attempt_success_runs_once_in_a_named_child_context() -> None:
    """A block that succeeds at once runs once, inside one child context, with no backoff wait."""
    runs: list[str] = []
    result = await run(retrying_handler(1, runs), {"max": 3})
    assert result.status is ExecutionStatus.SUCCEEDED
    assert result.result == 10
    assert runs == ["prep-1", "flaky-1"]
    context = result.get_context("reserve")
    assert context.sub_type == "RunInChildContext"
    steps = [op for op in result.operations if op.type.value == "STEP"]
    assert {op.parent_id for op in steps} == {context.id}
    assert [op for op in result.operations if op.type.value == "WAIT"] == []


async def test_two_failures_then_success_waits_durably_between_attempts() -> None:
    """Attempts 1 and 2 fail, each followed by a recorded backoff wait; attempt 3's value wins."""
    runs: list[str] = []
    result = await run(retrying_handler(3, runs), {"max": 3})
    assert result.status is ExecutionStatus.SUCCEEDED
    assert result.result == 30
    assert runs == ["prep-1", "flaky-1", "prep-2", "flaky-2", "prep-3", "flaky-3"]
    waits = [op for op in result.operations if op.type.value == "WAIT"]
    assert sorted(op.name or "" for op in waits) == ["reserve-backoff-1", "reserve-backoff-2"]
    assert {op.parent_id for op in waits} == {result.get_context("reserve").id}
    assert result.invocations == 3  # each backoff suspended the invocation


async def test_replay_after_each_backoff_runs_no_completed_attempt_again() -> None:
    """Resumed invocations replay the recorded steps: every step body ran exactly once."""
    runs: list[str] = []
    attempts_seen: list[int] = []

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> int:
        inner = flaky_block(3, runs)

        async def block(child: DurableContext, attempt: int) -> int:
            attempts_seen.append(attempt)
            return int(await inner(child, attempt))

        return await with_retry(ctx, block, strategy(3), name="reserve")

    result = await run(handler)
    assert result.result == 30
    assert result.invocations == 3
    assert sorted(runs) == sorted(set(runs))  # no body ran twice
    assert len(runs) == 6
    # Invocation 2 replays attempt 1 and runs attempt 2; invocation 3 replays 1, 2 and runs 3.
    assert attempts_seen == [1, 1, 2, 1, 2, 3]


async def test_recorded_success_returns_without_calling_the_block() -> None:
    """After with_retry has succeeded, a replay takes the child's recorded value, skipping func."""
    calls: list[int] = []

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> str:
        async def block(child: DurableContext, attempt: int) -> str:
            calls.append(attempt)
            return await child.step(lambda _: "held", name="hold")

        value = await with_retry(ctx, block, WithRetryConfig(), name="reserve")
        await ctx.wait(Duration.from_seconds(5), name="later")
        return value

    result = await run(handler)
    assert result.result == "held"
    assert result.invocations == 2
    assert calls == [1]


async def test_exhausted_attempts_raise_child_context_error_caused_by_the_last_error() -> None:
    """When attempts run out the last error surfaces as ChildContextError, cause attached."""

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> dict[str, Any]:
        try:
            await with_retry(ctx, flaky_block(9, []), strategy(2), name="reserve")
        except ChildContextError as error:
            cause = error.__cause__
            return {
                "message": error.message,
                "error_type": error.error_type,
                "cause": type(cause).__name__,
                "cause_message": str(cause),
            }
        raise AssertionError("with_retry should have failed")

    result = await run(handler)
    assert result.result == {
        "message": "boom 2",
        "error_type": "durable_async.exceptions.StepError",
        "cause": "StepError",
        "cause_message": "boom 2",
    }
    assert result.get_context("reserve").status.value == "FAILED"


async def test_unwrapped_block_records_in_the_caller_and_raises_the_original_error() -> None:
    """With wrap_with_run_in_child_context=False no context is made and StepError propagates."""

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> str:
        cfg = WithRetryConfig(
            retry_strategy=strategy(2).retry_strategy, wrap_with_run_in_child_context=False
        )
        try:
            await with_retry(ctx, flaky_block(9, []), cfg, name="reserve")
        except StepError as error:
            return f"{type(error).__name__}: {error.message}"
        raise AssertionError("with_retry should have failed")

    result = await run(handler)
    assert result.result == "StepError: boom 2"
    recorded = [op for op in result.operations if op.type.value != "EXECUTION"]
    assert {op.type.value for op in recorded} == {"STEP", "WAIT"}
    assert {op.parent_id for op in recorded} == {None}


async def test_strategy_sees_each_error_and_attempt_number() -> None:
    """The strategy is called with the failing attempt's error and its 1-based number."""
    seen: list[tuple[str, int]] = []

    def decide(error: Exception, attempt: int) -> RetryDecision:
        seen.append((str(error), attempt))
        if attempt < 3:
            return RetryDecision.retry(Duration.from_seconds(1))
        return RetryDecision.no_retry()

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> None:
        def block(child: DurableContext, attempt: int) -> Any:
            raise LookupError(f"missing {attempt}")

        await with_retry(ctx, block, WithRetryConfig(retry_strategy=decide), name="lookup")

    result = await run(handler)
    assert result.status is ExecutionStatus.FAILED
    assert result.error is not None
    assert result.error.error_message == "missing 3"
    # Each resumed invocation calls the strategy again for the attempts it replays.
    assert sorted(set(seen)) == [("missing 1", 1), ("missing 2", 2), ("missing 3", 3)]


async def test_error_the_strategy_does_not_retry_stops_at_once() -> None:
    """An error outside retryable_error_types fails the block after one attempt, with no wait."""
    config = RetryStrategyConfig(max_attempts=5, retryable_error_types=[TimeoutError])
    runs: list[str] = []

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> int:
        block = flaky_block(9, runs)
        cfg = WithRetryConfig(retry_strategy=create_retry_strategy(config))
        return await with_retry(ctx, block, cfg, name="reserve")

    result = await run(handler)
    assert result.status is ExecutionStatus.FAILED
    assert runs == ["prep-1", "flaky-1"]
    assert [op for op in result.operations if op.type.value == "WAIT"] == []


async def test_sync_function_returning_an_awaitable_is_awaited() -> None:
    """A plain function that returns ctx.step(...) works as the block, retried like any other."""

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> int:
        def fail_first(_: Any, attempt: int) -> int:
            if attempt == 1:
                raise ValueError("first try fails")
            return attempt

        def block(child: DurableContext, attempt: int) -> Any:
            return child.step(lambda s: fail_first(s, attempt), name="work", config=NO_STEP_RETRY)

        return await with_retry(ctx, block, strategy(3), name="work-block")

    result = await run(handler)
    assert result.result == 2


async def test_child_context_config_sets_the_subtype() -> None:
    """child_context_config reaches the child context: its sub_type is recorded."""

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> int:
        cfg = WithRetryConfig(child_context_config=ChildConfig(sub_type="Reservation"))
        return await with_retry(ctx, lambda child, attempt: attempt, cfg, name="reserve")

    result = await run(handler)
    assert result.result == 1
    assert result.get_context("reserve").sub_type == "Reservation"


async def test_unrecoverable_sdk_error_is_not_retried() -> None:
    """A NonDeterministicExecutionError escapes the block at once: no backoff, execution fails."""
    attempts: list[int] = []

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> None:
        def block(child: DurableContext, attempt: int) -> None:
            attempts.append(attempt)
            raise NonDeterministicExecutionError("the history does not match the code")

        await with_retry(ctx, block, strategy(5), name="reserve")

    result = await run(handler)
    assert result.status is ExecutionStatus.FAILED
    assert attempts == [1]
    assert [op for op in result.operations if op.type.value == "WAIT"] == []


@pytest.mark.parametrize(
    ("build", "message"),
    [
        pytest.param(
            lambda: WithRetryConfig(retry_strategy=3),  # type: ignore[arg-type]
            "must be callable",
            id="strategy",
        ),
        pytest.param(
            lambda: WithRetryConfig(wrap_with_run_in_child_context="yes"),  # type: ignore[arg-type]
            "True or False",
            id="wrap",
        ),
        pytest.param(
            lambda: WithRetryConfig(child_context_config={"sub_type": "x"}),  # type: ignore[arg-type]
            "must be a ChildConfig",
            id="child-config",
        ),
    ],
)
def test_bad_config_is_refused_when_built(build: Any, message: str) -> None:
    """WithRetryConfig refuses values it could not use, saying what to pass instead."""
    with pytest.raises(ValidationError, match=message):
        build()


async def test_arguments_in_the_wrong_order_are_refused_with_advice() -> None:
    """Passing the function where the context goes fails with a sentence showing the call."""

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> None:
        await with_retry(lambda c, a: 1, ctx, WithRetryConfig())  # type: ignore[call-overload]

    result = await run(handler)
    assert result.status is ExecutionStatus.FAILED
    assert result.error is not None
    assert "with_retry(ctx, func, WithRetryConfig(...)" in str(result.error.error_message)


async def test_zero_delay_from_a_strategy_fails_with_advice() -> None:
    """A strategy asking for a 0 s backoff fails the block with a sentence saying what to return."""

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> None:
        def block(child: DurableContext, attempt: int) -> None:
            raise ValueError("not yet")

        def at_once(error: Exception, attempt: int) -> RetryDecision:
            return RetryDecision.retry(Duration())

        await with_retry(ctx, block, WithRetryConfig(retry_strategy=at_once), name="n")

    result = await run(handler)
    assert result.status is ExecutionStatus.FAILED
    assert result.error is not None
    assert "at least 1 second" in str(result.error.error_message)
    assert "Duration.from_seconds(1)" in str(result.error.error_message)


async def test_gathered_retry_blocks_replay_deterministically() -> None:
    """Two with_retry calls run together, each failing once, resume without a mismatch."""
    runs: list[str] = []

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> list[int]:
        calls = (
            with_retry(ctx, flaky_block(2 + n, runs), strategy(3), name=f"r{n}") for n in range(2)
        )
        return list(await asyncio.gather(*calls))

    result = await run(handler)
    assert result.status is ExecutionStatus.SUCCEEDED
    assert result.result == [20, 30]
    assert len(runs) == 2 * 2 + 3 * 2  # every step body of every attempt ran exactly once
    waits = sorted(op.name or "" for op in result.operations if op.type.value == "WAIT")
    assert waits == ["r0-backoff-1", "r1-backoff-1", "r1-backoff-2"]


# Parity with the reference SDK.


@pytest.mark.parametrize(
    ("fail_until", "event", "config"),
    [
        pytest.param(1, {"max": 3}, {}, id="first-attempt"),
        pytest.param(3, {"max": 3}, {}, id="third-attempt"),
        pytest.param(9, {"max": 2}, {}, id="exhausted"),
        pytest.param(9, {"max": None}, {}, id="default-strategy-exhausted"),
        pytest.param(2, {"max": 3, "name": None}, {}, id="unnamed"),
        pytest.param(3, {"max": 3}, {"wrap_with_run_in_child_context": False}, id="unwrapped"),
        pytest.param(
            9, {"max": 2}, {"wrap_with_run_in_child_context": False}, id="unwrapped-exhausted"
        ),
        pytest.param(2, {"max": 3}, {"child_context_config": "Reservation"}, id="sub-type"),
    ],
)
async def test_history_and_outcome_equal_the_reference(
    fail_until: int, event: dict[str, Any], config: dict[str, Any]
) -> None:
    """Ids, parents, types, subtypes, names, statuses and the outcome match the reference SDK."""
    ref_config = dict(config)
    if "child_context_config" in config:
        ref_config["child_context_config"] = RefChildConfig(sub_type=config["child_context_config"])
        config = {"child_context_config": ChildConfig(sub_type=config["child_context_config"])}
    expected_outcome, expected_history = run_reference(ref_handler(fail_until, **ref_config), event)
    result = await run(retrying_handler(fail_until, [], **config), event)
    error = result.error
    outcome = (
        result.status.value,
        result.result,
        error and (str(error.error_type).rsplit(".", 1)[-1], error.error_message),
    )
    assert outcome == expected_outcome
    assert our_history(result) == expected_history
