"""ctx.create_callback and ctx.wait_for_callback on the SQLite-backed local service."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from durable_async import (
    CallbackConfig,
    DurableContext,
    Duration,
    JsonSerDes,
    RetryPresets,
    WaitForCallbackConfig,
    WaitForCallbackContext,
    durable_execution,
    durable_wait_for_callback,
)
from durable_async._ids import operation_id
from durable_async.exceptions import (
    CallbackError,
    CallbackTimeoutError,
    NonDeterministicExecutionError,
)
from durable_async.testing import DurableTestRunner, ExecutionStatus
from tests.conftest import Harness


def describe(exc: CallbackError) -> tuple[str, str | None]:
    """Return the error's class name and message, to compare first run and replay."""
    return type(exc).__name__, exc.message


@durable_execution
async def approval(event: Any, ctx: DurableContext) -> dict[str, Any]:
    callback = await ctx.create_callback(name="approval")
    ctx.logger.info("waiting for %s", callback.callback_id)
    answer = await callback.result()
    return {"callback_id": callback.callback_id, "answer": answer}


async def test_callback_result_is_the_raw_text_by_default(sqlite_path: Path) -> None:
    """The answer comes back as the text that was sent (pass-through); the id is stable."""
    async with DurableTestRunner(approval, store=sqlite_path) as runner:
        arn = await runner.start()
        callback_id = await runner.wait_for_callback(arn, name="approval")
        await runner.send_callback_success(callback_id, {"ok": True})
        result = await runner.wait_for_result(arn, timeout=30)
    assert result.status is ExecutionStatus.SUCCEEDED
    assert result.result == {"callback_id": callback_id, "answer": '{"ok": true}'}
    op = result.get_callback("approval")
    assert op.id == operation_id(None, 1)
    assert op.sub_type == "Callback"
    assert result.invocations == 2


async def test_callback_serdes_decodes_the_answer_and_replay_returns_it_again(
    sqlite_path: Path,
) -> None:
    """With a JSON SerDes the answer is decoded; a replay after a wait returns the same value."""
    answers: list[Any] = []

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> Any:
        callback = await ctx.create_callback("cb", CallbackConfig(serdes=JsonSerDes[Any]()))
        answers.append(await callback.result())
        await ctx.wait(Duration.from_seconds(10), name="after")
        return answers[-1]

    async with DurableTestRunner(handler, store=sqlite_path) as runner:
        arn = await runner.start()
        await runner.send_callback_success(await runner.wait_for_callback(arn), [1, {"a": 2}])
        result = await runner.wait_for_result(arn, timeout=30)
    assert result.result == [1, {"a": 2}]
    assert answers == [[1, {"a": 2}]] * 2


async def test_callback_start_is_awaited_and_carries_its_options(harness: Harness) -> None:
    """START goes alone in a call, with both timeouts in CallbackOptions, before code goes on."""
    seen: list[str] = []

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> str:
        config = CallbackConfig(timeout=Duration.from_minutes(5), sub_type="Approval")
        callback = await ctx.create_callback("cb", config)
        seen.append(callback.callback_id)
        return callback.callback_id

    result = await harness.run(handler)
    [start] = harness.recorder.calls[0]
    assert start["Type"] == "CALLBACK"
    assert start["Action"] == "START"
    assert start["SubType"] == "Approval"
    assert start["CallbackOptions"] == {"TimeoutSeconds": 300, "HeartbeatTimeoutSeconds": 0}
    assert seen
    assert result["Result"] == f'"{seen[0]}"'


async def test_failed_callback_raises_callback_error_on_first_run_and_replay(
    sqlite_path: Path,
) -> None:
    """A failure sent for the callback raises CallbackError with its message, again on replay."""
    caught: list[tuple[str, str | None, str | None]] = []

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> str:
        callback = await ctx.create_callback(name="cb")
        try:
            await callback.result()
        except CallbackError as exc:
            caught.append((*describe(exc), exc.data))
        await ctx.wait(Duration.from_seconds(1))
        return "handled"

    async with DurableTestRunner(handler, store=sqlite_path) as runner:
        arn = await runner.start()
        error = {"ErrorType": "Rejected", "ErrorMessage": "manager said no", "ErrorData": "{}"}
        await runner.send_callback_failure(await runner.wait_for_callback(arn), error)
        result = await runner.wait_for_result(arn, timeout=30)
    assert result.result == "handled"
    assert caught == [("CallbackExternalError", "manager said no", "{}")] * 2


@pytest.mark.parametrize(
    "config",
    [
        pytest.param(CallbackConfig(timeout=Duration.from_seconds(30)), id="timeout"),
        pytest.param(
            CallbackConfig(
                timeout=Duration.from_hours(1), heartbeat_timeout=Duration.from_seconds(10)
            ),
            id="heartbeat-timeout",
        ),
    ],
)
async def test_unanswered_callback_times_out(sqlite_path: Path, config: CallbackConfig) -> None:
    """A callback nobody answers (or heartbeats) raises CallbackTimeoutError, again on replay."""
    caught: list[tuple[str, str | None]] = []

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> str:
        callback = await ctx.create_callback("cb", config)
        try:
            await callback.result()
        except CallbackTimeoutError as exc:
            caught.append(describe(exc))
        await ctx.wait(Duration.from_seconds(1))
        return "timed out"

    async with DurableTestRunner(handler, store=sqlite_path) as runner:
        result = await runner.run(timeout=30)
    assert result.result == "timed out"
    assert result.get_callback("cb").status.value == "TIMED_OUT"
    assert len(caught) == 2
    assert caught[0] == caught[1]
    assert caught[0][0] == "CallbackTimeoutError"


async def test_a_heartbeat_leaves_the_callback_waiting_for_its_answer(sqlite_path: Path) -> None:
    """A heartbeat does not complete the callback; the answer sent afterwards is returned."""

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> Any:
        config = CallbackConfig(heartbeat_timeout=Duration.from_seconds(60))
        callback = await ctx.create_callback("cb", config)
        return await callback.result()

    async with DurableTestRunner(handler, store=sqlite_path) as runner:
        arn = await runner.start()
        callback_id = await runner.wait_for_callback(arn, name="cb")
        await runner.send_callback_heartbeat(callback_id)
        await runner.send_callback_success(callback_id, "done")
        result = await runner.wait_for_result(arn, timeout=30)
    assert result.result == "done"


async def test_a_changed_callback_name_is_non_deterministic(sqlite_path: Path) -> None:
    """Replaying a callback under another name fails the execution as non-deterministic."""
    names = iter(["first", "second"])

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> Any:
        callback = await ctx.create_callback(next(names))
        return await callback.result()

    async with DurableTestRunner(handler, store=sqlite_path) as runner:
        arn = await runner.start()
        await runner.send_callback_success(await runner.wait_for_callback(arn), "x")
        result = await runner.wait_for_result(arn, timeout=30)
    assert result.status is ExecutionStatus.FAILED
    assert result.error is not None
    assert result.error.error_type == (
        f"{NonDeterministicExecutionError.__module__}.NonDeterministicExecutionError"
    )


async def test_wait_for_callback_runs_a_sync_submitter_in_a_thread(sqlite_path: Path) -> None:
    """The submitter gets the callback id off the loop's thread; the answer is returned once."""
    submitted: list[tuple[str, bool]] = []

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> Any:
        loop_thread = threading.get_ident()

        def submit(callback_id: str, wctx: WaitForCallbackContext) -> None:
            wctx.logger.info("submitting")
            submitted.append((callback_id, threading.get_ident() != loop_thread))

        answer = await ctx.wait_for_callback(submit, name="approval")
        await ctx.wait(Duration.from_seconds(1))
        return answer

    async with DurableTestRunner(handler, store=sqlite_path) as runner:
        arn = await runner.start()
        callback_id = await runner.wait_for_callback(arn, name="approval")
        await runner.send_callback_success(callback_id, "yes")
        result = await runner.wait_for_result(arn, timeout=30)
    assert result.result == "yes"
    assert submitted == [(callback_id, True)]
    context = result.get_context("approval")
    assert context.sub_type == "WaitForCallback"
    assert context.result == '"yes"'
    callback = result.get_callback("approval create callback id")
    assert callback.parent_id == context.id
    assert callback.id == operation_id(context.id, 1)
    submitter = result.get_step("approval submitter")
    assert submitter.id == operation_id(context.id, 2)
    assert submitter.parent_id == context.id


async def test_wait_for_callback_with_an_async_decorated_submitter(sqlite_path: Path) -> None:
    """@durable_wait_for_callback binds arguments and names the operation after the function."""
    submitted: list[tuple[str, str]] = []

    @durable_wait_for_callback
    async def notify(callback_id: str, wctx: WaitForCallbackContext, email: str) -> None:
        submitted.append((callback_id, email))

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> Any:
        config = WaitForCallbackConfig(serdes=JsonSerDes[Any]())
        return await ctx.wait_for_callback(notify("a@example.com"), config=config)

    async with DurableTestRunner(handler, store=sqlite_path) as runner:
        arn = await runner.start()
        callback_id = await runner.wait_for_callback(arn, name="notify")
        await runner.send_callback_success(callback_id, {"approved": True})
        result = await runner.wait_for_result(arn, timeout=30)
    assert result.result == {"approved": True}
    assert submitted == [(callback_id, "a@example.com")]
    assert result.get_step("notify submitter").status.value == "SUCCEEDED"


async def test_unnamed_wait_for_callback_names_its_inner_operations_plainly(
    sqlite_path: Path,
) -> None:
    """Without a name the callback and the step are 'create callback id' and 'submitter'."""

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> Any:
        return await ctx.wait_for_callback(lambda callback_id, wctx: None)

    async with DurableTestRunner(handler, store=sqlite_path) as runner:
        arn = await runner.start()
        await runner.send_callback_success(await runner.wait_for_callback(arn), "ok")
        result = await runner.wait_for_result(arn, timeout=30)
    assert result.result == "ok"
    assert result.get_callback("create callback id").status.value == "SUCCEEDED"
    assert result.get_step("submitter").status.value == "SUCCEEDED"


async def test_failing_submitter_raises_callback_error_on_first_run_and_replay(
    sqlite_path: Path,
) -> None:
    """A submitter that fails past its retry strategy raises CallbackError, again on replay."""
    caught: list[tuple[str, str | None]] = []
    attempts: list[int] = []

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> str:
        def submit(callback_id: str, wctx: WaitForCallbackContext) -> None:
            attempts.append(1)
            raise ConnectionError("queue unreachable")

        config = WaitForCallbackConfig(retry_strategy=RetryPresets.none())
        try:
            await ctx.wait_for_callback(submit, name="approval", config=config)
        except CallbackError as exc:
            caught.append(describe(exc))
        await ctx.wait(Duration.from_seconds(1))
        return "handled"

    async with DurableTestRunner(handler, store=sqlite_path) as runner:
        result = await runner.run(timeout=30)
    assert result.result == "handled"
    assert attempts == [1]
    assert caught == [("CallbackSubmitterError", "queue unreachable")] * 2
    assert result.get_context("approval").status.value == "FAILED"


async def test_wait_for_callback_retries_the_submitter(sqlite_path: Path) -> None:
    """The submitter step follows the config's retry strategy before the callback is awaited."""
    attempts: list[int] = []

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> Any:
        def submit(callback_id: str, wctx: WaitForCallbackContext) -> None:
            attempts.append(1)
            if len(attempts) < 3:
                raise ConnectionError("flaky")

        config = WaitForCallbackConfig(retry_strategy=RetryPresets.linear())
        return await ctx.wait_for_callback(submit, name="approval", config=config)

    async with DurableTestRunner(handler, store=sqlite_path) as runner:
        arn = await runner.start()
        callback_id = await runner.wait_for_callback(arn, name="approval")
        await runner.send_callback_success(callback_id, "late")
        result = await runner.wait_for_result(arn, timeout=30)
    assert result.result == "late"
    assert len(attempts) == 3
    assert result.get_step("approval submitter").attempt == 3


async def test_wait_for_callback_timeout_raises_callback_timeout_error(sqlite_path: Path) -> None:
    """A timed-out wait_for_callback raises CallbackTimeoutError itself, again on replay."""
    caught: list[tuple[str, str | None]] = []

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> str:
        config = WaitForCallbackConfig(timeout=Duration.from_seconds(20))
        try:
            await ctx.wait_for_callback(lambda cid, wctx: None, name="approval", config=config)
        except CallbackTimeoutError as exc:
            caught.append(describe(exc))
        await ctx.wait(Duration.from_seconds(1))
        return "timed out"

    async with DurableTestRunner(handler, store=sqlite_path) as runner:
        result = await runner.run(timeout=30)
    assert result.result == "timed out"
    assert len(caught) == 2
    assert caught[0] == caught[1]
    assert caught[0][0] == "CallbackTimeoutError"
    assert result.get_context("approval").status.value == "FAILED"


async def test_wait_for_callback_failure_raises_callback_error(sqlite_path: Path) -> None:
    """A failure sent to a wait_for_callback raises CallbackError with the sent message."""

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> Any:
        return await ctx.wait_for_callback(lambda cid, wctx: None, name="approval")

    async with DurableTestRunner(handler, store=sqlite_path) as runner:
        arn = await runner.start()
        callback_id = await runner.wait_for_callback(arn, name="approval")
        await runner.send_callback_failure(callback_id, "denied")
        result = await runner.wait_for_result(arn, timeout=30)
    assert result.status is ExecutionStatus.FAILED
    assert result.error is not None
    assert result.error.error_type == "durable_async.exceptions.CallbackExternalError"
    assert result.error.error_message == "denied"


async def test_an_answer_sent_by_the_submitter_itself_is_returned(sqlite_path: Path) -> None:
    """A callback answered while its invocation still runs returns that answer."""
    runners: list[DurableTestRunner] = []

    async def submit(callback_id: str, wctx: WaitForCallbackContext) -> None:
        await runners[0].send_callback_success(callback_id, "instant")

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> Any:
        return await ctx.wait_for_callback(submit, name="approval")

    async with DurableTestRunner(handler, store=sqlite_path) as runner:
        runners.append(runner)
        result = await runner.run(timeout=30)
    assert result.result == "instant"
    assert result.get_step("approval submitter").status.value == "SUCCEEDED"
