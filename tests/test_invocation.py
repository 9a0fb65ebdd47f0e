"""One invocation end to end: failures, draining, replay, determinism and bad inputs."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from durable_async import (
    CheckpointBatcherConfig,
    DurableContext,
    Duration,
    RetryPresets,
    StepConfig,
    StepContext,
    durable_execution,
)
from durable_async._checkpoint import Checkpointer
from durable_async._models import OperationAction, OperationType, make_update
from durable_async._state import ExecutionState
from durable_async.exceptions import CheckpointError, ValidationError
from durable_async.service import ServiceError
from tests.conftest import Harness

THROTTLED = ServiceError(
    "Rate exceeded", code="ThrottlingException", retryable=True, status_code=429
)
REJECTED = ServiceError(
    "Bad update", code="InvalidParameterValueException", retryable=False, status_code=400
)


def _gathering_handler(seen: list[str]) -> Any:
    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> str:
        outcomes = await asyncio.gather(
            *(ctx.step(lambda _, i=i: i, name=f"g{i}") for i in range(3)), return_exceptions=True
        )
        seen.extend(type(o).__name__ for o in outcomes)
        return "finished"

    return handler


async def _first_event(harness: Harness) -> dict[str, Any]:
    arn = await harness.service.start_execution("fn", "{}")
    return await harness.service.begin_invocation(arn)


async def test_retryable_checkpoint_failure_fails_every_waiter_and_raises(harness: Harness) -> None:
    """A throttled call fails each waiting step with CheckpointError and the invocation raises."""
    seen: list[str] = []
    handler = _gathering_handler(seen)
    harness.recorder.fail_calls[0] = THROTTLED
    event = await _first_event(harness)
    with pytest.raises(CheckpointError) as info:
        await handler.invoke(event, service=harness.recorder, clock=harness.clock)
    assert info.value.retryable is True
    assert seen == ["CheckpointError"] * 3
    assert len(harness.recorder.calls) == 1


async def test_rejected_checkpoint_fails_the_execution(harness: Harness) -> None:
    """A non-retryable rejection returns FAILED with the CheckpointError; nothing more is sent."""
    seen: list[str] = []
    handler = _gathering_handler(seen)
    harness.recorder.fail_calls[0] = REJECTED
    event = await _first_event(harness)
    output = await handler.invoke(event, service=harness.recorder, clock=harness.clock)
    assert output["Status"] == "FAILED"
    assert output["Error"]["ErrorType"] == "durable_async.exceptions.CheckpointError"
    assert "InvalidParameterValueException" in output["Error"]["ErrorMessage"]
    assert seen == ["CheckpointError"] * 3
    assert len(harness.recorder.calls) == 1


async def test_service_retries_an_invocation_that_hit_a_retryable_failure(
    harness: Harness,
) -> None:
    """After a throttled first invocation the runner invokes again and the execution succeeds."""
    seen: list[str] = []
    harness.recorder.fail_calls[0] = THROTTLED
    result = await harness.run(_gathering_handler(seen))
    assert result["Status"] == "SUCCEEDED"
    assert await harness.service.invocations(result["DurableExecutionArn"]) == 2
    assert seen[-3:] == ["int"] * 3


async def test_close_sends_queued_non_blocking_updates_without_lingering(harness: Harness) -> None:
    """Closing the checkpointer sends queued non-blocking updates at once, in one call."""
    event = await _first_event(harness)
    arn = event["DurableExecutionArn"]
    state = ExecutionState(arn)
    config = CheckpointBatcherConfig(max_batch_time_seconds=60)
    checkpointer = Checkpointer(
        harness.recorder, arn, event["CheckpointToken"], merge=state.merge, config=config
    )
    async with checkpointer:
        for i in range(5):
            update = make_update(
                f"op-{i}", OperationType.STEP, OperationAction.START, sub_type="Step"
            )
            checkpointer.enqueue(update)
    assert [len(call) for call in harness.recorder.calls] == [5]
    assert checkpointer.stats.lingers_expired == 0
    assert sorted(state.operations) == [f"op-{i}" for i in range(5)]


async def test_replay_after_a_wait_returns_recorded_results(harness: Harness) -> None:
    """Steps before a wait run once; the second invocation replays their recorded results."""
    runs: list[str] = []

    def record(name: str) -> Any:
        def body(step: StepContext) -> dict[str, str]:
            runs.append(name)
            return {"name": name}

        return body

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> list[Any]:
        first = await ctx.step(record("a"), name="a")
        await ctx.wait(Duration.from_seconds(30), name="pause")
        second = await ctx.step(record("b"), name="b")
        return [first, second]

    result = await harness.run(handler)
    assert json.loads(result["Result"]) == [{"name": "a"}, {"name": "b"}]
    assert runs == ["a", "b"]
    assert await harness.service.invocations(result["DurableExecutionArn"]) == 2


async def test_gathered_steps_keep_their_ids_on_replay(harness: Harness) -> None:
    """Ids follow call order, not finish order, so gathered steps replay into the same slots."""

    async def slow(step: StepContext) -> str:
        for _ in range(20):
            await asyncio.sleep(0)
        return "slow"

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> list[str]:
        first = await asyncio.gather(
            ctx.step(slow, name="slow"), ctx.step(lambda _: "fast", name="fast")
        )
        await ctx.wait(Duration.from_seconds(1))
        again = await asyncio.gather(
            ctx.step(slow, name="slow2"), ctx.step(lambda _: "fast", name="fast2")
        )
        return [*first, *again]

    result = await harness.run(handler)
    assert json.loads(result["Result"]) == ["slow", "fast", "slow", "fast"]
    from durable_async._ids import operation_id

    ops = {
        op["Id"]: op.get("Name")
        for op in await harness.service.list_operations(result["DurableExecutionArn"])
    }
    assert ops[operation_id(None, 1)] == "slow"
    assert ops[operation_id(None, 2)] == "fast"
    assert ops[operation_id(None, 4)] == "slow2"


async def test_changed_step_name_is_non_deterministic(harness: Harness) -> None:
    """A replay that asks for a different step name at a recorded id fails naming both."""
    version = {"name": "charge"}

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> str:
        await ctx.step(lambda _: 1, name=version["name"])
        version["name"] = "refund"  # the code "changes" before the replay
        await ctx.wait(Duration.from_seconds(5))
        return "unreachable on replay"

    result = await harness.run(handler)
    assert result["Status"] == "FAILED"
    error = result["Error"]
    assert error["ErrorType"] == "durable_async.exceptions.NonDeterministicExecutionError"
    assert "'charge'" in error["ErrorMessage"]
    assert "'refund'" in error["ErrorMessage"]


async def test_changed_operation_type_is_non_deterministic(harness: Harness) -> None:
    """A replay that asks for a wait where a step was recorded fails naming both types."""
    calls = {"n": 0}

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> str:
        calls["n"] += 1
        if calls["n"] == 1:
            await ctx.step(lambda _: 1, name="x")
        else:
            await ctx.wait(Duration.from_seconds(2), name="x")
        await ctx.wait(Duration.from_seconds(5), name="later")
        return "done"

    result = await harness.run(handler)
    assert result["Status"] == "FAILED"
    message = result["Error"]["ErrorMessage"]
    assert result["Error"]["ErrorType"] == "durable_async.exceptions.NonDeterministicExecutionError"
    assert "'STEP'" in message
    assert "'WAIT'" in message


async def test_unserializable_step_result_fails_the_step_and_keeps_earlier_work(
    harness: Harness,
) -> None:
    """A step result JSON cannot hold fails that step clearly; earlier steps stay recorded."""

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> str:
        await ctx.step(lambda _: "kept", name="before")
        await ctx.step(lambda _: object(), name="bad")
        return "unreachable"

    result = await harness.run(handler)
    assert result["Status"] == "FAILED"
    assert result["Error"]["ErrorType"] == "durable_async.exceptions.StepError"
    assert "object" in result["Error"]["ErrorMessage"]
    ops = {
        op.get("Name"): op
        for op in await harness.service.list_operations(result["DurableExecutionArn"])
    }
    assert ops["before"]["Status"] == "SUCCEEDED"
    assert ops["bad"]["Status"] == "FAILED"
    assert ops["bad"]["StepDetails"]["Error"]["ErrorType"] == "durable_async.exceptions.SerDesError"


async def test_oversized_step_result_fails_with_the_limit_named(harness: Harness) -> None:
    """A step result over 256 KB fails the step with a message naming the limit."""

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> str:
        await ctx.step(lambda _: "ok", name="before")
        await ctx.step(lambda _: "y" * (300 * 1024), name="huge")
        return "unreachable"

    result = await harness.run(handler)
    assert result["Status"] == "FAILED"
    assert result["Error"]["ErrorType"] == "durable_async.exceptions.StepError"
    assert "262144 bytes" in result["Error"]["ErrorMessage"]
    ops = {
        op.get("Name"): op
        for op in await harness.service.list_operations(result["DurableExecutionArn"])
    }
    assert ops["before"]["Status"] == "SUCCEEDED"


async def test_unserializable_handler_result_fails_clearly(harness: Harness) -> None:
    """A handler result that is not JSON fails the execution, saying what to return instead."""

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> Any:
        await ctx.step(lambda _: 1, name="kept")
        return {1, 2, 3}

    result = await harness.run(handler)
    assert result["Status"] == "FAILED"
    assert result["Error"]["ErrorType"] == "durable_async.exceptions.SerDesError"
    assert "JSON" in result["Error"]["ErrorMessage"]
    assert len(harness.recorder.calls) == 1


async def test_wait_under_one_second_is_rejected_before_anything_is_sent(harness: Harness) -> None:
    """ctx.wait of zero seconds raises ValidationError at the call; earlier steps stay recorded."""

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> str:
        await ctx.step(lambda _: 1, name="kept")
        try:
            ctx.wait(Duration.from_seconds(0.5))
        except ValidationError as exc:
            return str(exc)
        return "not rejected"

    result = await harness.run(handler)
    assert "at least 1 second" in json.loads(result["Result"])
    assert [u["Type"] for call in harness.recorder.calls for u in call] == ["STEP", "STEP"]


async def test_event_without_token_is_a_clear_error(harness: Harness) -> None:
    """An event with no CheckpointToken raises ValidationError saying where tokens come from."""

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> str:
        return "never"

    event = await _first_event(harness)
    del event["CheckpointToken"]
    with pytest.raises(ValidationError, match="CheckpointToken"):
        await handler.invoke(event, service=harness.recorder, clock=harness.clock)
    assert harness.recorder.calls == []


async def test_retries_follow_the_strategy_then_raise_step_error(harness: Harness) -> None:
    """A failing step is retried per its strategy, attempts numbered, then raises StepError."""
    attempts: list[int] = []

    def flaky(step: StepContext) -> str:
        attempts.append(step.attempt)
        raise RuntimeError(f"boom {step.attempt}")

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> str:
        from durable_async.exceptions import StepError

        try:
            await ctx.step(
                flaky, name="flaky", config=StepConfig(retry_strategy=RetryPresets.transient())
            )
        except StepError as exc:
            return f"{exc.error_type}: {exc.message}"
        return "no error"

    result = await harness.run(handler)
    assert json.loads(result["Result"]) == "RuntimeError: boom 3"
    assert attempts == [1, 2, 3]


async def test_result_over_six_megabytes_is_checkpointed_then_returned_empty(
    harness: Harness,
) -> None:
    """A result over Lambda's 6 MB response limit goes out as EXECUTION SUCCEED; Result is ""."""
    big = "z" * (6 * 1024 * 1024)

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> str:
        await ctx.step(lambda _: 1, name="first")
        return big

    event = await _first_event(harness)
    output = await handler.invoke(event, service=harness.recorder, clock=harness.clock)
    assert output == {"Status": "SUCCEEDED", "Result": ""}
    last = harness.recorder.calls[-1]
    assert [(u["Type"], u["Action"]) for u in last] == [("EXECUTION", "SUCCEED")]
    await harness.service.end_invocation(event["DurableExecutionArn"], output)
    execution = await harness.service.describe_execution(event["DurableExecutionArn"])
    assert execution["Status"] == "SUCCEEDED"
    assert json.loads(execution["Result"]) == big


async def test_no_operation_starts_after_suspension_even_if_the_signal_is_swallowed(
    harness: Harness,
) -> None:
    """gather(return_exceptions=True) hands back the suspension, yet a later step is not run."""
    ran: list[str] = []

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> str:
        await asyncio.gather(ctx.wait(Duration.from_seconds(3)), return_exceptions=True)
        await ctx.step(lambda _: ran.append("after"), name="after")
        return "done"

    event = await _first_event(harness)
    output = await handler.invoke(event, service=harness.recorder, clock=harness.clock)
    assert output == {"Status": "PENDING"}
    assert ran == []
    assert [u["Type"] for call in harness.recorder.calls for u in call] == ["WAIT"]


async def test_rejected_state_page_fails_the_execution(harness: Harness) -> None:
    """A non-retryable error while paging the initial state returns FAILED instead of raising."""

    class Rejecting:
        async def checkpoint(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
            raise AssertionError("no checkpoint expected")

        async def get_execution_state(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
            raise REJECTED

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> str:
        return "never"

    event = await _first_event(harness)
    event["InitialExecutionState"]["NextMarker"] = "more"
    output = await handler.invoke(event, service=Rejecting(), clock=harness.clock)
    assert output["Status"] == "FAILED"
    assert output["Error"]["ErrorType"] == "durable_async.exceptions.CheckpointError"


async def test_initial_state_is_paged_with_get_execution_state(tmp_path: Any) -> None:
    """With two operations a page, the replay pages in every recorded step and reruns none."""
    from durable_async.service.local.clock import SkipClock
    from durable_async.service.local.engine import LocalDurableService
    from durable_async.service.local.runner import LocalRunner
    from durable_async.service.local.store import SqliteStore
    from tests.conftest import RecordingService

    runs: list[int] = []

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> int:
        total = 0
        for i in range(5):
            total += await ctx.step(lambda _, i=i: runs.append(i) or i, name=f"p{i}")
        await ctx.wait(Duration.from_seconds(2))
        return total

    clock = SkipClock()
    async with SqliteStore(tmp_path / "paged.sqlite3") as store:
        service = LocalDurableService(store, clock, page_size=2)
        recorder = RecordingService(service)
        pages: list[str] = []
        original = recorder.get_execution_state

        async def counting(arn: str, token: str, marker: str, max_items: int = 1000) -> Any:
            pages.append(marker)
            return await original(arn, token, marker, max_items)

        recorder.get_execution_state = counting  # type: ignore[method-assign]

        async def invoke(event: dict[str, Any]) -> dict[str, Any]:
            return await handler.invoke(event, service=recorder, clock=clock)

        async with LocalRunner(service, clock=clock) as runner:
            runner.register("paged", invoke)
            result = await runner.run("paged", "{}", timeout=30)
    assert result["Status"] == "SUCCEEDED"
    assert json.loads(result["Result"]) == 10
    assert runs == [0, 1, 2, 3, 4]
    assert len(pages) >= 3  # 7 operations on the replay, 2 a page


async def test_interrupted_at_most_once_step_goes_to_the_retry_strategy(harness: Harness) -> None:
    """A recorded START without an outcome is not run again; the retry strategy decides."""
    from durable_async import StepSemantics
    from durable_async._ids import operation_id

    body_runs: list[int] = []
    config = StepConfig(
        step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY, retry_strategy=RetryPresets.none()
    )

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> str:
        await ctx.step(lambda s: body_runs.append(s.attempt), name="charge", config=config)
        return "charged"

    # A first invocation persisted the step's START and then died before recording an outcome.
    arn = await harness.service.start_execution("fn", "{}")
    event = await harness.service.begin_invocation(arn)
    start = make_update(
        operation_id(None, 1),
        OperationType.STEP,
        OperationAction.START,
        name="charge",
        sub_type="Step",
    )
    await harness.service.checkpoint(arn, event["CheckpointToken"], [start])
    await harness.service.end_invocation(
        arn, None, error={"ErrorType": "Crash", "ErrorMessage": "killed"}
    )

    harness.register("fn", handler)
    result = await harness.runner.drive(arn, timeout=30)
    assert result["Status"] == "FAILED"
    assert body_runs == []
    assert result["Error"]["ErrorType"] == "durable_async.exceptions.StepError"
    assert "interrupted" in result["Error"]["ErrorMessage"]
