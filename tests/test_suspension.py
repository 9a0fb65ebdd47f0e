"""When an invocation ends, and how: orphans, swallowed suspensions, plain awaits, skip time,
abandoned branches, threads and ``sys.exit`` (issue 6, items 4 and 7 to 11, and 14's exit).
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from durable_async import (
    CompletionConfig,
    DurableContext,
    Duration,
    ParallelConfig,
    StepContext,
    durable_execution,
)
from durable_async._execution import _thread_loop
from durable_async._models import OperationStatus, OperationType
from durable_async.service.aws import default_service
from durable_async.service.local.clock import SkipClock
from durable_async.service.local.engine import LocalDurableService
from durable_async.service.local.http import LocalHttpServer
from durable_async.service.local.store import MemoryStore
from durable_async.testing import DurableTestRunner, ExecutionStatus


def _statuses(operations: list[Any], op_type: OperationType) -> dict[str | None, OperationStatus]:
    return {op.name: op.status for op in operations if op.type is op_type}


async def test_a_step_left_running_in_a_child_is_never_sent_after_it() -> None:
    """A step started but not awaited in a child context is refused, not sent after (item 4)."""
    ran: list[int] = []
    leaked: list[asyncio.Future[Any]] = []

    async def child(ctx: DurableContext) -> str:
        leaked.append(asyncio.ensure_future(ctx.step(lambda _: ran.append(1), name="leaked")))
        return "child done"

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> str:
        return await ctx.run_in_child_context(child, name="parent")

    async with DurableTestRunner(handler) as runner:
        result = await runner.run()
    assert result.status is ExecutionStatus.SUCCEEDED, result.error
    assert result.result == "child done"
    assert "leaked" not in _statuses(result.operations, OperationType.STEP)
    assert ran == []


async def test_a_task_leaked_by_the_handler_sends_nothing_after_it_returns() -> None:
    """A step a leaked task starts after the handler returned leaves no STARTED step (item 4)."""

    leaked: list[asyncio.Future[Any]] = []

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> str:
        leaked.append(asyncio.ensure_future(ctx.step(lambda _: time.sleep(0.05), name="late")))
        return "done"

    async with DurableTestRunner(handler) as runner:
        result = await runner.run()
    assert result.status is ExecutionStatus.SUCCEEDED
    assert "late" not in _statuses(result.operations, OperationType.STEP)


async def test_a_swallowed_suspension_never_completes_the_execution() -> None:
    """gather(wait, return_exceptions=True) then return answers PENDING first (item 7)."""

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> str:
        await asyncio.gather(ctx.wait(Duration.from_seconds(60), name="w"), return_exceptions=True)
        return "done"

    async with DurableTestRunner(handler) as runner:
        result = await runner.run()
    assert result.status is ExecutionStatus.SUCCEEDED
    assert result.invocations == 2  # PENDING first; the replay after the wait returns
    assert _statuses(result.operations, OperationType.WAIT) == {"w": OperationStatus.SUCCEEDED}


async def test_a_branch_in_a_plain_await_runs_on_while_a_sibling_waits() -> None:
    """A branch sleeping in plain asyncio reaches its step before the invocation suspends (8)."""

    async def worker(ctx: DurableContext) -> str:
        await asyncio.sleep(0.2)  # an HTTP read, say: not a durable operation
        return await ctx.step(lambda _: "worked", name="work")

    async def waiter(ctx: DurableContext) -> Any:
        callback = await ctx.create_callback(name="approval")
        return await callback.result()

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> list[Any]:
        return (await ctx.parallel([worker, waiter])).get_results()

    async with DurableTestRunner(handler) as runner:
        arn = await runner.start()
        callback_id = await runner.wait_for_callback(arn, name="approval")
        history = await _first_invocation(runner, arn)
        await runner.send_callback_success(callback_id, "yes")
        result = await runner.wait_for_result(arn)
    kinds = [event["EventType"] for event in history]
    assert "StepSucceeded" in kinds
    assert kinds.index("StepSucceeded") < kinds.index("InvocationCompleted")
    assert result.result == ["worked", "yes"]


async def _first_invocation(runner: DurableTestRunner, arn: str) -> list[dict[str, Any]]:
    """Return the history once the first invocation has ended."""
    async with asyncio.timeout(30):
        while True:
            history = await runner.get_history(arn)
            if any(event["EventType"] == "InvocationCompleted" for event in history):
                return history
            await asyncio.sleep(0.01)


@pytest.mark.parametrize("trial", range(10))
async def test_skip_time_stands_still_while_a_step_body_runs(trial: int) -> None:
    """first_successful over a sync step and a 2 h wait gives the step, every time (item 9)."""

    async def fast(ctx: DurableContext) -> str:
        return await ctx.step(lambda _: time.sleep(0.02) or "fast", name="fast")

    async def slow(ctx: DurableContext) -> str:
        await ctx.wait(Duration.from_hours(2), name="two-hours")
        return "slow"

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> list[Any]:
        config = ParallelConfig(completion_config=CompletionConfig.first_successful())
        return (await ctx.parallel([fast, slow], config=config)).get_results()

    async with DurableTestRunner(handler, skip_time=True) as runner:
        result = await runner.run()
    assert result.result == ["fast"]


@pytest.mark.parametrize(
    "completion",
    [
        pytest.param(CompletionConfig.all_successful(), id="a-failure-ends-it"),
        pytest.param(CompletionConfig.first_successful(), id="a-success-ends-it"),
    ],
)
async def test_a_running_step_of_an_abandoned_branch_is_recorded(
    completion: CompletionConfig,
) -> None:
    """When the policy ends the batch, a step body already running finishes and is recorded,
    and nothing new starts in its branch (item 10)."""
    after = []

    async def ends_it(ctx: DurableContext) -> str:
        if completion.min_successful == 1:
            return "first"
        raise ValueError("this branch fails at once")

    async def running(ctx: DurableContext) -> str:
        value = await ctx.step(lambda _: time.sleep(0.3) or "slow", name="slow")
        after.append(await ctx.step(lambda _: "after", name="after"))
        return value

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> int:
        config = ParallelConfig(completion_config=completion)
        return (await ctx.parallel([ends_it, running], config=config)).started_count

    async with DurableTestRunner(handler) as runner:
        result = await runner.run()
    assert result.status is ExecutionStatus.SUCCEEDED, result.error
    assert result.result == 1
    steps = _statuses(result.operations, OperationType.STEP)
    assert steps["slow"] is OperationStatus.SUCCEEDED
    assert "after" not in steps
    assert after == []


@pytest.fixture
def local_http(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalDurableService]:
    """The local service over loopback HTTP, on a loop of its own in a background thread."""
    loop = asyncio.new_event_loop()
    service = LocalDurableService(MemoryStore(), SkipClock())
    server = LocalHttpServer(service)
    ready = threading.Event()
    stop = asyncio.Event()

    async def serve() -> None:
        async with service.store, server:
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", server.url)
    service.loop = loop  # type: ignore[attr-defined]
    try:
        yield service
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()


def test_the_sync_entry_serves_two_threads_at_once(local_http: LocalDurableService) -> None:
    """Two threads calling the decorated handler at once both succeed (item 11)."""
    overlap = threading.Barrier(2, timeout=10)

    def meet(step: StepContext) -> None:
        overlap.wait()  # both invocations are inside a step at the same time

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> str:
        await ctx.step(meet, name="meet")
        return str(event["who"])

    loop: asyncio.AbstractEventLoop = local_http.loop  # type: ignore[attr-defined]

    def event(who: str) -> dict[str, Any]:
        async def begin() -> dict[str, Any]:
            arn = await local_http.start_execution("fn", json.dumps({"who": who}))
            return await local_http.begin_invocation(arn)

        return asyncio.run_coroutine_threadsafe(begin(), loop).result(10)

    outputs: dict[str, dict[str, Any]] = {}

    def call(name: str, invocation: dict[str, Any]) -> None:
        outputs[name] = handler(invocation)
        # The thread's loop and its client would live on with the thread; this one ends here.
        thread_loop = _thread_loop()
        thread_loop.run_until_complete(default_service().aclose())
        thread_loop.close()

    threads = [threading.Thread(target=call, args=(n, event(n))) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert outputs == {
        "a": {"Status": "SUCCEEDED", "Result": '"a"'},
        "b": {"Status": "SUCCEEDED", "Result": '"b"'},
    }


def _exit_in_step(step: StepContext) -> None:
    sys.exit(7)


@pytest.mark.parametrize("where", ["handler", "step", "branch"])
async def test_sys_exit_fails_the_invocation_as_lambda_does(where: str) -> None:
    """sys.exit anywhere in user code fails each invocation as Runtime.ExitError (item 14)."""

    async def branch(ctx: DurableContext) -> None:
        await asyncio.sleep(0)
        sys.exit(7)

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> None:
        if where == "handler":
            sys.exit(7)
        if where == "step":
            await ctx.step(_exit_in_step, name="exits")
        await ctx.parallel([branch])

    async with DurableTestRunner(handler) as runner:
        result = await runner.run(timeout=30)
    assert result.status is ExecutionStatus.FAILED
    assert result.error is not None
    assert result.error.error_type == "Runtime.ExitError"
    assert result.invocations == 3  # the runner's attempts, each ended by the exit


def _two_waits(ctx: DurableContext) -> list[Any]:
    return [ctx.wait(Duration.from_seconds(60), name=f"w{i}") for i in (1, 2)]


async def _in_gather(ctx: DurableContext) -> None:
    await asyncio.gather(*_two_waits(ctx))


async def _in_asyncio_wait(ctx: DurableContext) -> None:
    tasks = [asyncio.ensure_future(w) for w in _two_waits(ctx)]
    await asyncio.wait(tasks)
    for task in tasks:
        task.result()


async def _in_task_group(ctx: DurableContext) -> None:
    async with asyncio.TaskGroup() as group:
        for wait in _two_waits(ctx):
            group.create_task(wait)


async def _in_wait_for(ctx: DurableContext) -> None:
    for i in (1, 2):
        await asyncio.wait_for(ctx.wait(Duration.from_seconds(60), name=f"w{i}"), timeout=3600)


async def _awaiting_tasks(ctx: DurableContext) -> None:
    for task in [asyncio.ensure_future(w) for w in _two_waits(ctx)]:
        await task


async def _in_shield(ctx: DurableContext) -> None:
    for i in (1, 2):
        await asyncio.shield(ctx.wait(Duration.from_seconds(60), name=f"w{i}"))


@pytest.mark.parametrize(
    ("waiting", "invocations"),
    [
        pytest.param(_in_gather, 2, id="gather"),
        pytest.param(_in_asyncio_wait, 2, id="asyncio.wait"),
        pytest.param(_in_task_group, 2, id="TaskGroup"),
        pytest.param(_in_wait_for, 3, id="wait_for"),
        pytest.param(_awaiting_tasks, 2, id="await-task"),
        # shield hides what it waits for: counted as working, so the waits end in-process.
        pytest.param(_in_shield, 1, id="shield-cannot-be-seen-through"),
    ],
)
async def test_a_task_waiting_only_on_parked_tasks_lets_the_invocation_suspend(
    waiting: Any, invocations: int
) -> None:
    """Tasks that only wait on parked durable waits suspend the invocation (the rule, item 8)."""

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> str:
        await waiting(ctx)
        return "done"

    async with DurableTestRunner(handler) as runner:
        result = await runner.run()
    assert result.status is ExecutionStatus.SUCCEEDED, result.error
    assert result.invocations == invocations
