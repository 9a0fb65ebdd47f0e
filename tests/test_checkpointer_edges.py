"""The checkpointer's edge paths: later refreshes, cancelled waiters, failures, limits, no token.

Each test pins a fault an adversarial review found (issue 6, items 1, 2, 3, 5 and 6) against the
real local service on SQLite.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from durable_async import DurableContext, durable_execution
from durable_async._checkpoint import Checkpointer
from durable_async._models import OperationAction, OperationType, make_update
from durable_async._state import ExecutionState
from durable_async.config import CheckpointBatcherConfig
from durable_async.exceptions import CheckpointError
from durable_async.service import ServiceError
from durable_async.service.local.clock import SkipClock
from durable_async.service.local.engine import LocalDurableService
from durable_async.service.local.store import SqliteStore
from tests.conftest import RecordingService

LIMIT = 750 * 1024


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[LocalDurableService]:
    """The real local service on SQLite, answering after 5 ms like a nearby service would."""
    async with SqliteStore(tmp_path / "edges.sqlite3") as store:
        yield LocalDurableService(store, SkipClock(), checkpoint_latency=0.005)


async def _checkpointer(
    service: Any, inner: LocalDurableService, config: CheckpointBatcherConfig | None = None
) -> Checkpointer:
    arn = await inner.start_execution("fn", "{}")
    event = await inner.begin_invocation(arn)
    state = ExecutionState(arn)
    return Checkpointer(service, arn, event["CheckpointToken"], merge=state.merge, config=config)


async def _until(condition: Callable[[], bool]) -> None:
    """Let the loop run until ``condition`` holds (a call is in flight, say)."""
    while not condition():  # noqa: ASYNC110 - the checkpointer signals nothing we could await
        await asyncio.sleep(0)


def _step(op_id: str, action: OperationAction, payload: str | None = None) -> dict[str, Any]:
    return make_update(op_id, OperationType.STEP, action, sub_type="Step", payload=payload)


async def test_every_refresh_gets_a_call_made_after_it(service: LocalDurableService) -> None:
    """A second refresh after the first was answered makes a call of its own (item 1)."""
    recorder = RecordingService(service)
    async with await _checkpointer(recorder, service) as checkpointer:
        await checkpointer.refresh()
        await checkpointer.refresh()
        await asyncio.gather(checkpointer.refresh(), checkpointer.refresh())
    assert recorder.calls == [[], [], []]


async def test_a_refresh_asked_during_a_call_waits_for_the_next(
    service: LocalDurableService,
) -> None:
    """A refresh asked while a refresh call is in flight is answered by a later call."""
    recorder = RecordingService(service)
    async with await _checkpointer(recorder, service) as checkpointer:
        first = asyncio.ensure_future(checkpointer.refresh())
        await _until(lambda: recorder.in_flight > 0)
        await checkpointer.refresh()
        assert first.done()
    assert recorder.calls == [[], []]


async def test_a_cancelled_refresh_waiter_leaves_the_others_waiting(
    service: LocalDurableService,
) -> None:
    """Cancelling one of two callers sharing a refresh does not cancel the other (item 2)."""
    recorder = RecordingService(service)
    async with await _checkpointer(recorder, service) as checkpointer:
        cancelled = asyncio.ensure_future(checkpointer.refresh())
        sibling = asyncio.ensure_future(checkpointer.refresh())
        await _until(lambda: recorder.in_flight > 0)
        cancelled.cancel()
        await sibling  # raises CancelledError when the shared future was cancelled
        assert cancelled.cancelled()
    assert recorder.calls == [[]]


async def test_a_waiter_timing_out_in_wait_for_leaves_its_sibling_running(
    service: LocalDurableService,
) -> None:
    """``asyncio.wait_for`` around one blocked send does not cancel the sibling's send."""
    recorder = RecordingService(service)
    async with await _checkpointer(recorder, service) as checkpointer:
        sibling = asyncio.ensure_future(checkpointer.send(_step("b", OperationAction.START)))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(checkpointer.send(_step("a", OperationAction.START)), 0.001)
        await sibling
    sent = sorted(u["Id"] for call in recorder.calls for u in call)
    assert sent == ["a", "b"]


@dataclass
class _Throttled(RecordingService):
    """Fails every call as throttled after ``delay`` seconds in flight."""

    delay: float = 0.01

    async def checkpoint(
        self,
        arn: str,
        token: str,
        updates: list[dict[str, Any]],
        client_token: str | None = None,
    ) -> dict[str, Any]:
        self.calls.append(list(updates))
        await asyncio.sleep(self.delay)
        raise ServiceError("Rate exceeded", code="TooManyRequestsException", retryable=True)


async def test_close_returns_when_a_call_fails_in_flight(service: LocalDurableService) -> None:
    """close() asked while a failing call is in flight still returns; queued waiters fail (3)."""
    failing = _Throttled(service)
    checkpointer = await _checkpointer(failing, service)
    async with asyncio.timeout(10):
        async with checkpointer:
            first = asyncio.ensure_future(checkpointer.send(_step("a", OperationAction.START)))
            await _until(lambda: bool(failing.calls))
            later = checkpointer.enqueue(_step("b", OperationAction.START), blocking=True)
        # Leaving the block closed the checkpointer: it did not wait for ever.
        with pytest.raises(CheckpointError):
            await first
        assert later is not None
        with pytest.raises(CheckpointError):
            await later
    assert failing.calls == [[_step("a", OperationAction.START)]]


async def test_an_invocation_cancelled_during_a_throttled_call_ends(
    service: LocalDurableService,
) -> None:
    """A deadline that cancels an invocation whose call is then throttled ends it (item 3)."""

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> str:
        return await ctx.step(lambda _: "never recorded", name="stuck")

    throttled = _Throttled(service, delay=0.2)
    arn = await service.start_execution("fn", "{}")
    event = await service.begin_invocation(arn)
    async with asyncio.timeout(10):
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await handler.invoke(event, service=throttled)
    assert len(throttled.calls) == 1


def _sized(op_id: str, size: int) -> dict[str, Any]:
    """A START update whose JSON, as botocore writes it, is exactly ``size`` bytes."""
    base = len(json.dumps(_step(op_id, OperationAction.START, "")))
    update = _step(op_id, OperationAction.START, "x" * (size - base))
    assert len(json.dumps(update)) == size
    return update


async def test_the_byte_limit_counts_brackets_and_commas(service: LocalDurableService) -> None:
    """Updates of 767,998 bytes in all do not go out as one call: with the brackets and the
    ", " between them the body would pass 768,000 bytes (item 5)."""
    recorder = RecordingService(service)
    sizes = [255_999, 255_999, 256_000]
    assert sum(sizes) == LIMIT - 2
    updates = [_sized(f"op-{i}", size) for i, size in enumerate(sizes)]
    config = CheckpointBatcherConfig(max_batch_time_seconds=60)
    async with await _checkpointer(recorder, service, config) as checkpointer:
        for update in updates[:-1]:
            checkpointer.enqueue(update)
        await checkpointer.send(updates[-1])
    assert [len(call) for call in recorder.calls] == [2, 1]
    for call in recorder.calls:
        body = json.dumps({"CheckpointToken": "t" * 64, "Updates": call})
        assert len(body.encode()) <= LIMIT


class _TokenDroppedOnce(RecordingService):
    """Answers one chosen call without a CheckpointToken, as a service revoking it would."""

    drop_at: int = 1

    async def checkpoint(
        self,
        arn: str,
        token: str,
        updates: list[dict[str, Any]],
        client_token: str | None = None,
    ) -> dict[str, Any]:
        response = await super().checkpoint(arn, token, updates, client_token)
        if len(self.calls) - 1 == self.drop_at:
            response = {**response, "CheckpointToken": None}
        return response


async def test_a_response_without_a_token_makes_the_invocation_pending(
    service: LocalDurableService,
) -> None:
    """A handler whose step's answer lacks a token returns PENDING, not SUCCEEDED (item 6)."""

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> str:
        await ctx.step(lambda _: 1, name="one")
        await ctx.step(lambda _: 2, name="two")
        return "done"

    revoking = _TokenDroppedOnce(service)
    arn = await service.start_execution("fn", "{}")
    event = await service.begin_invocation(arn)
    output = await handler.invoke(event, service=revoking)
    assert output == {"Status": "PENDING"}
    assert len(revoking.calls) == 2  # nothing is sent with the spent token


async def test_abort_while_a_batch_is_assembled_settles_its_waiters(
    service: LocalDurableService,
) -> None:
    """An abort that lands while the flusher gathers a batch fails its waiters, none hang."""
    recorder = RecordingService(service)
    checkpointer = await _checkpointer(recorder, service)
    await checkpointer.__aenter__()
    future = checkpointer.enqueue(_step("a", OperationAction.START), blocking=True)
    await asyncio.sleep(0)  # the flusher took it and yields once for company
    await checkpointer.abort()
    assert future is not None
    assert future.done()
    with pytest.raises(CheckpointError):
        await future
    assert recorder.calls == []
