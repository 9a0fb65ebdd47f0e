"""The checkpointer on its own, against the real local service: order, sharing, orphans, ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from durable_async._checkpoint import Checkpointer, Scope
from durable_async._models import OperationAction, OperationType, make_update
from durable_async._signals import Orphaned
from durable_async._state import ExecutionState
from durable_async.config import CheckpointBatcherConfig
from durable_async.service.local.clock import SkipClock
from durable_async.service.local.engine import LocalDurableService
from durable_async.service.local.store import SqliteStore
from tests.conftest import RecordingService


@dataclass
class Rig:
    """A started execution, its state and a checkpointer over the recorded real service."""

    recorder: RecordingService
    state: ExecutionState
    checkpointer: Checkpointer
    arn: str


def _start(op_id: str, scope_name: str = "Step") -> dict[str, object]:
    return make_update(op_id, OperationType.STEP, OperationAction.START, sub_type=scope_name)


def _succeed(op_id: str) -> dict[str, object]:
    return make_update(op_id, OperationType.STEP, OperationAction.SUCCEED, sub_type="Step")


async def _rig(service: LocalDurableService, config: CheckpointBatcherConfig) -> Rig:
    arn = await service.start_execution("fn", "{}")
    event = await service.begin_invocation(arn)
    recorder = RecordingService(service)
    state = ExecutionState(arn)
    checkpointer = Checkpointer(
        recorder, arn, event["CheckpointToken"], merge=state.merge, config=config
    )
    return Rig(recorder, state, checkpointer, arn)


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[LocalDurableService]:
    """The real local service on SQLite, answering after 5 ms like a nearby service would."""
    async with SqliteStore(tmp_path / "cp.sqlite3") as store:
        yield LocalDurableService(store, SkipClock(), checkpoint_latency=0.005)


async def test_concurrent_refreshes_share_one_call(service: LocalDurableService) -> None:
    """Ten operations asking for fresh state at once are answered by a single empty call."""
    rig = await _rig(service, CheckpointBatcherConfig())
    async with rig.checkpointer:
        await asyncio.gather(*(rig.checkpointer.refresh() for _ in range(10)))
    assert rig.recorder.calls == [[]]


async def test_one_request_in_flight_and_group_commit(service: LocalDurableService) -> None:
    """Updates arriving during a call wait for it and then share the next one, in FIFO order."""
    rig = await _rig(service, CheckpointBatcherConfig())
    checkpointer = rig.checkpointer

    async def start_and_finish(i: int) -> None:
        checkpointer.enqueue(_start(f"op-{i}"))
        await checkpointer.send(_succeed(f"op-{i}"))

    async with checkpointer:
        first = asyncio.ensure_future(start_and_finish(0))
        await asyncio.sleep(0.001)  # the first call is now in flight
        await asyncio.gather(*(start_and_finish(i) for i in range(1, 6)), first)
    assert rig.recorder.max_in_flight == 1
    assert [len(call) for call in rig.recorder.calls] == [2, 10]
    sent = [u["Id"] for call in rig.recorder.calls for u in call]
    assert sent == ["op-0", "op-0"] + [f"op-{i}" for i in range(1, 6) for _ in range(2)]


async def test_a_full_batch_leaves_without_waiting_for_the_linger(
    service: LocalDurableService,
) -> None:
    """With a 60 s linger, 250 queued non-blocking updates go out as soon as the batch is full."""
    rig = await _rig(service, CheckpointBatcherConfig(max_batch_time_seconds=60))
    async with rig.checkpointer:
        for i in range(250):
            rig.checkpointer.enqueue(_start(f"op-{i}"))
            await asyncio.sleep(0)  # arrivals trickle in while the flusher lingers
        async with asyncio.timeout(30):
            await rig.recorder.answered.wait()
        assert [len(call) for call in rig.recorder.calls] == [250]
    assert rig.checkpointer.stats.lingers_expired == 0


async def test_updates_of_a_completed_context_are_never_sent(
    service: LocalDurableService,
) -> None:
    """Queued updates of a context completed before the send are dropped; new ones are refused."""
    rig = await _rig(service, CheckpointBatcherConfig(max_batch_time_seconds=60))
    parent = Scope()
    child = Scope(parent)
    async with rig.checkpointer:
        rig.checkpointer.enqueue(_start("kept"))
        orphan = rig.checkpointer.enqueue(_start("orphan"), blocking=True, scope=child)
        parent.complete()
        with pytest.raises(Orphaned):
            rig.checkpointer.enqueue(_start("late"), scope=child)
        assert orphan is not None
        with pytest.raises(Orphaned):
            await orphan
    assert [[u["Id"] for u in call] for call in rig.recorder.calls] == [["kept"]]


async def test_response_without_token_ends_checkpointing(service: LocalDurableService) -> None:
    """After the execution's final update no token comes back; later operations are orphans."""
    rig = await _rig(service, CheckpointBatcherConfig())
    execution_id = rig.arn.rsplit("/", 1)[-1]
    final = make_update(
        execution_id, OperationType.EXECUTION, OperationAction.SUCCEED, payload='"done"'
    )
    async with rig.checkpointer:
        await rig.checkpointer.send(final)
        assert rig.checkpointer.token is None
        assert not rig.checkpointer.suspended
        with pytest.raises(Orphaned):
            rig.checkpointer.enqueue(_start("after"))
    assert len(rig.recorder.calls) == 1


async def test_state_is_merged_before_waiters_resume(service: LocalDurableService) -> None:
    """A blocked caller sees its operation in the state the moment its future resolves."""
    rig = await _rig(service, CheckpointBatcherConfig())
    async with rig.checkpointer:
        await rig.checkpointer.send(_start("op-1"))
        op = rig.state.get("op-1")
        assert op is not None
        assert op.status.value == "STARTED"


async def test_operations_the_invocation_ended_leave_its_state(
    service: LocalDurableService,
) -> None:
    """A step this invocation succeeded leaves the state as the service confirms it (nobody
    reads it again); one still running stays, as does one the service reports but did not end.
    """
    rig = await _rig(service, CheckpointBatcherConfig())
    async with rig.checkpointer:
        await rig.checkpointer.send(_start("ended"))
        await rig.checkpointer.send(_start("running"))
        assert rig.state.get("ended") is not None  # STARTED, merged from the response
        await rig.checkpointer.send(_succeed("ended"))
        await rig.checkpointer.refresh()
    assert rig.state.get("ended") is None
    running = rig.state.get("running")
    assert running is not None
    assert running.status.value == "STARTED"
    assert len(rig.recorder.calls) == 4


async def test_a_plugin_still_sees_every_operation_the_invocation_ended() -> None:
    """With instrumentation the state keeps ended operations: plugins compare before and after."""
    from durable_async import DurableContext, StepContext, durable_execution
    from durable_async.plugin import DurableInstrumentationPlugin, OperationChangeInfo
    from durable_async.testing import DurableTestRunner

    changes: list[tuple[str, str]] = []

    class Changes(DurableInstrumentationPlugin):
        def on_operation_change(self, info: OperationChangeInfo) -> None:
            for op in info.updated_operations.values():
                changes.append((op.name or "", op.status.value))

    class Factory:
        def create_plugin(self, info: object, /) -> Changes:
            return Changes()

    async def echo(step: StepContext) -> int:
        return 1

    @durable_execution(plugins=[Factory()])
    async def handler(event: object, ctx: DurableContext) -> int:
        return await ctx.step(echo, name="echo")

    async with DurableTestRunner(handler) as runner:
        result = await runner.run({})
    assert result.result == 1
    assert ("echo", "SUCCEEDED") in changes, changes
