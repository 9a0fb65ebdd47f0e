"""Group commit: concurrent writes to the SQLite store share transactions, counted not timed.

Transactions are counted twice: by the store (``SqliteStore.commits``) and, independently,
from the write-ahead log itself, where every committed transaction ends with one commit
frame (a frame whose header carries the database size). A read transaction held open on a
connection of the test's own keeps SQLite from restarting the log meanwhile, so no frame is
overwritten before it is counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from durable_async import DurableContext, StepContext, durable_execution, durable_step
from durable_async.service import ServiceError
from durable_async.service.local import LocalDurableService, LocalRunner, SqliteStore
from durable_async.service.local._admission import client_calls
from durable_async.service.local._model import Changes, ExecutionRecord, OperationRow, Snapshot
from durable_async.service.local._wire import new_execution

pytestmark = pytest.mark.timeout(120)

NOW_MS = 1_700_000_000_000


@durable_step
async def echo(step: StepContext, value: int) -> int:
    return value


@durable_execution
async def three_steps(event: dict[str, int], ctx: DurableContext) -> int:
    total = 0
    for i in range(3):
        total += await ctx.step(echo(event["n"] + i))
    return total


def wal_commit_frames(path: Path) -> int:
    """Count the commit frames in the database's write-ahead log (the SQLite WAL format)."""
    wal = Path(f"{path}-wal")
    data = wal.read_bytes() if wal.exists() else b""
    if len(data) < 32:
        return 0
    page_size = int.from_bytes(data[8:12], "big")
    salts = data[16:24]
    commits = 0
    for offset in range(32, len(data) - 24 - page_size + 1, 24 + page_size):
        header = data[offset : offset + 24]
        if header[8:16] != salts:  # a frame left from before the log restarted
            break
        commits += int.from_bytes(header[4:8], "big") != 0
    return commits


@contextlib.contextmanager
def log_kept(path: Path) -> Iterator[None]:
    """Hold a read transaction so SQLite cannot restart (overwrite) the log meanwhile."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("BEGIN")
        db.execute("SELECT count(*) FROM executions").fetchone()
        yield
    finally:
        db.execute("ROLLBACK")
        db.close()


def invoker(handler: Any, service: LocalDurableService) -> Any:
    async def invoke(event: dict[str, Any]) -> dict[str, Any]:
        return dict(await handler.invoke(event, service=service))

    return invoke


async def test_concurrent_executions_checkpoint_in_fewer_transactions_than_calls(
    tmp_path: Path,
) -> None:
    """40 three-step executions at once: 120 checkpoint calls, far fewer SQLite transactions."""
    path = tmp_path / "durable.sqlite3"
    async with SqliteStore(path) as store, LocalDurableService(store) as service:
        with log_kept(path):
            before, frames_before = store.commits, wal_commit_frames(path)
            async with LocalRunner(service) as runner:
                runner.register("fn", invoker(three_steps, service))
                arns = await asyncio.gather(
                    *(runner.start("fn", json.dumps({"n": n})) for n in range(40))
                )
                ended = await asyncio.gather(*(runner.wait_for_result(arn, 60) for arn in arns))
            commits = store.commits - before
            frames = wal_commit_frames(path) - frames_before
        calls = sum([await service.checkpoint_calls(arn) for arn in arns])
    assert [e["Result"] for e in ended] == [json.dumps(3 * n + 3) for n in range(40)]
    assert calls == 120  # one per step: START rides with SUCCEED
    # Every execution also writes its start, lease, invocation begin and end, lease release.
    writes = 120 + 40 * 5
    assert commits == frames  # the store's count is what the log holds
    assert commits < calls < writes
    assert commits <= writes // 4


class Blocker:
    """A write whose work holds the store's writing thread until released."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def work(self, snapshot: Snapshot | None) -> tuple[str, Changes | None]:
        self.entered.set()
        assert self.release.wait(30), "the test never released the store's thread"
        return "blocker", None


async def hold(store: SqliteStore, arn: str) -> tuple[Blocker, asyncio.Future[str]]:
    """Start a write that holds the store's writing thread; return it once it does."""
    blocker = Blocker()
    held = asyncio.ensure_future(store.transact(arn, [], NOW_MS, blocker.work))
    await asyncio.to_thread(blocker.entered.wait, 10)
    return blocker, held


async def started_execution(store: SqliteStore, name: str) -> ExecutionRecord:
    execution, operation = new_execution("fn", name, None, NOW_MS)
    await store.create(execution, operation, [])
    return execution


def noting(order: list[str], name: str, execution: ExecutionRecord) -> Callable[..., Any]:
    """Return work that notes ``name`` in ``order`` and writes one operation of ``execution``."""

    def work(snapshot: Snapshot | None) -> tuple[str, Changes | None]:
        assert snapshot is not None
        order.append(name)
        record = snapshot.execution
        record.op_seq += 1
        data = {"Id": name, "Type": "STEP", "Status": "SUCCEEDED"}
        row = OperationRow(name, record.op_count, record.op_seq, data)
        record.op_count += 1
        return name, Changes(record, [row], [])

    return work


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_writes_queued_behind_a_commit_share_the_next_transaction(tmp_path: Path) -> None:
    """While one write holds the thread, ten more queue and commit in one transaction, in order."""
    path = tmp_path / "durable.sqlite3"
    async with SqliteStore(path) as store:
        execution = await started_execution(store, "x")
        blocker, held = await hold(store, execution.arn)
        order: list[str] = []
        before = store.commits
        writes = [
            asyncio.ensure_future(
                store.transact(execution.arn, [], NOW_MS, noting(order, f"w{n}", execution))
            )
            for n in range(10)
        ]
        await settle()
        assert order == []  # queued, not run
        blocker.release.set()
        assert await held == "blocker"
        assert await asyncio.gather(*writes) == [f"w{n}" for n in range(10)]
        assert store.commits - before == 1  # the ten together (the blocker wrote nothing)
        rows = await store.list_operations(execution.arn)
    assert order == [f"w{n}" for n in range(10)]
    assert [row.id for row in rows][1:] == [f"w{n}" for n in range(10)]


async def test_a_failing_write_rolls_back_alone_and_the_others_commit(tmp_path: Path) -> None:
    """A write that fails halfway leaves nothing; the writes around it in its group stand."""
    path = tmp_path / "durable.sqlite3"
    async with SqliteStore(path) as store:
        first = await started_execution(store, "first")
        second = await started_execution(store, "second")
        blocker, held = await hold(store, first.arn)
        before = store.commits
        event = {"EventId": 1, "EventType": "Duplicate"}
        changed = ExecutionRecord(**{**second.__dict__, "status": "FAILED", "event_count": 9})
        row = OperationRow("half", 1, 2, {"Id": "half", "Type": "STEP", "Status": "STARTED"})
        ok_before = asyncio.ensure_future(store.commit(first, [], [event]))
        # Updates the execution row and an operation, then fails on the duplicate event id.
        failing = asyncio.ensure_future(store.commit(changed, [row], [event, event]))
        ok_after = asyncio.ensure_future(
            store.transact(second.arn, [], NOW_MS, noting([], "after", second))
        )
        await settle()
        blocker.release.set()
        await held
        await ok_before
        with pytest.raises(sqlite3.IntegrityError):
            await failing
        assert await ok_after == "after"
        assert store.commits - before == 1  # the three together (the blocker wrote nothing)
        kept = await store.get_execution(second.arn)
        operations = [r.id for r in await store.list_operations(second.arn)]
        first_events = await store.list_events(first.arn)
        second_events = await store.list_events(second.arn)
    assert kept is not None
    assert kept.status == "RUNNING"
    assert "half" not in operations
    assert "after" in operations
    assert first_events == [event]
    assert second_events == []


async def test_a_write_cancelled_before_its_group_starts_never_runs(tmp_path: Path) -> None:
    """Cancelling a caller whose write still waits in the queue drops the write."""
    path = tmp_path / "durable.sqlite3"
    async with SqliteStore(path) as store:
        execution = await started_execution(store, "x")
        blocker, held = await hold(store, execution.arn)
        order: list[str] = []
        dropped = asyncio.ensure_future(
            store.transact(execution.arn, [], NOW_MS, noting(order, "dropped", execution))
        )
        kept = asyncio.ensure_future(
            store.transact(execution.arn, [], NOW_MS, noting(order, "kept", execution))
        )
        await settle()
        dropped.cancel()
        await settle()
        blocker.release.set()
        await held
        assert await kept == "kept"
        with pytest.raises(asyncio.CancelledError):
            await dropped
        rows = await store.list_operations(execution.arn)
    assert order == ["kept"]
    assert [row.id for row in rows][1:] == ["kept"]


async def test_a_client_write_goes_ahead_of_the_queued_drive_writes(tmp_path: Path) -> None:
    """A start (client lane) queued after three checkpoints runs first in the next transaction."""
    path = tmp_path / "durable.sqlite3"
    async with SqliteStore(path) as store:
        execution = await started_execution(store, "x")
        blocker, held = await hold(store, execution.arn)
        order: list[str] = []
        drives = [
            asyncio.ensure_future(
                store.transact(execution.arn, [], NOW_MS, noting(order, f"d{n}", execution))
            )
            for n in range(3)
        ]
        with client_calls():
            client = asyncio.ensure_future(
                store.transact(execution.arn, [], NOW_MS, noting(order, "client", execution))
            )
        await settle()
        blocker.release.set()
        await asyncio.gather(held, client, *drives)
    assert order == ["client", "d0", "d1", "d2"]


async def test_a_group_that_cannot_begin_fails_every_write_and_writes_nothing(
    tmp_path: Path,
) -> None:
    """When another process keeps the file locked, every write of the group gets the error."""
    path = tmp_path / "durable.sqlite3"
    async with SqliteStore(path) as store:
        execution = await started_execution(store, "x")
        order: list[str] = []
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # the write lock, held by "another process"
            writes = [
                asyncio.ensure_future(
                    store.transact(execution.arn, [], NOW_MS, noting(order, f"w{n}", execution))
                )
                for n in range(3)
            ]
            results = await asyncio.gather(*writes, return_exceptions=True)
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert all(isinstance(r, ServiceError) and r.retryable for r in results), results
        assert "locked" in str(results[0])
        assert order == []
        assert await store.transact(execution.arn, [], NOW_MS, noting(order, "later", execution))
        rows = await store.list_operations(execution.arn)
    assert [row.id for row in rows][1:] == ["later"]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    plan=st.lists(
        st.tuples(st.booleans(), st.booleans()),  # (fails, client lane)
        min_size=1,
        max_size=30,
    )
)
def test_any_mix_of_concurrent_writes_commits_exactly_the_ones_that_succeed(
    plan: list[tuple[bool, bool]],
) -> None:
    """Concurrent writes, some failing, some in the client lane: each succeeds or leaves nothing,
    all in at most two transactions, as many as the log holds."""
    with tempfile.TemporaryDirectory() as folder:
        results, rows, commits, frames = asyncio.run(
            _mixed_writes(Path(folder) / "durable.sqlite3", plan)
        )
    succeeded = {f"w{n}" for n, (fails, _) in enumerate(plan) if not fails}
    for n, (fails, _) in enumerate(plan):
        if fails:
            assert isinstance(results[n], LookupError)
        else:
            assert results[n] == f"w{n}"
    assert rows == succeeded
    assert commits == frames
    # All queued in one loop turn: the first alone, the rest in one more transaction.
    assert (1 if succeeded else 0) <= commits <= min(2, len(succeeded))


async def _mixed_writes(
    path: Path, plan: list[tuple[bool, bool]]
) -> tuple[list[object], set[str], int, int]:
    """Run the plan's writes at once; return their results, the rows left, commits and frames."""
    async with SqliteStore(path) as store:
        execution = await started_execution(store, "x")
        with log_kept(path):
            before, frames_before = store.commits, wal_commit_frames(path)

            async def write(n: int, fails: bool, client: bool) -> str:
                work = noting([], f"w{n}", execution)

                def maybe_failing(snapshot: Snapshot | None) -> tuple[str, Changes | None]:
                    result, changes = work(snapshot)
                    if fails:
                        raise LookupError(f"w{n} fails")
                    return result, changes

                lane = client_calls() if client else contextlib.nullcontext()
                with lane:
                    return await store.transact(execution.arn, [], NOW_MS, maybe_failing)

            results = await asyncio.gather(
                *(write(n, fails, client) for n, (fails, client) in enumerate(plan)),
                return_exceptions=True,
            )
            commits = store.commits - before
            frames = wal_commit_frames(path) - frames_before
        rows = {row.id for row in await store.list_operations(execution.arn)}
    return list(results), rows - {execution.execution_id}, commits, frames
