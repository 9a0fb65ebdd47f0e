"""The SQLite store's write-ahead log: checkpointed beside the commits, never past its bound.

Counted, not timed: the store counts the checkpoints its own thread ran and those its writing
thread had to run; the log's pages are read back from SQLite (``PRAGMA wal_checkpoint`` on a
connection of the test's own, the WAL index, the ``-wal`` file's size).
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from durable_async.service.local import SqliteStore
from durable_async.service.local._model import Changes, ExecutionRecord, OperationRow, Snapshot
from durable_async.service.local._wal import WalKeeper, log_frames
from durable_async.service.local._wire import new_execution

pytestmark = pytest.mark.timeout(120)

NOW_MS = 1_700_000_000_000
# A frame of the log: its 24-byte header and a 4 KiB page.
FRAME_BYTES = 24 + 4096


async def started(store: SqliteStore, name: str) -> ExecutionRecord:
    execution, operation = new_execution("fn", name, None, NOW_MS)
    await store.create(execution, operation, [])
    return execution


def adding(count: int, size: int) -> object:
    """Return work that adds ``count`` operations of ``size`` bytes of payload each."""

    def work(snapshot: Snapshot | None) -> tuple[None, Changes]:
        assert snapshot is not None
        record, rows = snapshot.execution, []
        for _ in range(count):
            record.op_seq += 1
            data = {
                "Id": f"op{record.op_count}",
                "Type": "STEP",
                "Status": "SUCCEEDED",
                "P": "x" * size,
            }
            rows.append(OperationRow(f"op{record.op_count}", record.op_count, record.op_seq, data))
            record.op_count += 1
        return None, Changes(record, rows, [])

    return work


async def write_pages(store: SqliteStore, arn: str, commits: int) -> None:
    """Commit ``commits`` transactions one after the other, each a few dozen pages."""
    for _ in range(commits):
        await store.transact(arn, [], NOW_MS, adding(20, 3000))  # type: ignore[arg-type]


def frames_in_log(path: Path) -> int:
    """Return the pages the log holds, as SQLite reports them to a checkpoint of our own."""
    with sqlite3.connect(path) as db:
        _, log, _ = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return int(log)


def log_bytes(path: Path) -> int:
    """Return the size of the database's ``-wal`` file."""
    return Path(f"{path}-wal").stat().st_size


async def test_the_log_is_checkpointed_beside_the_commits(tmp_path: Path) -> None:
    """Past 1,000 pages the store's own thread checkpoints; no commit runs one, the log restarts."""
    path = tmp_path / "durable.sqlite3"
    async with SqliteStore(path) as store:
        execution = await started(store, "x")
        await write_pages(store, execution.arn, 150)  # over 5,000 pages in all
        written = store.commits
        checkpoints = store.wal_checkpoints
        with sqlite3.connect(path) as db:
            rows = db.execute("SELECT count(*) FROM operations").fetchone()[0]
    assert rows == 1 + 150 * 20
    assert written == 151
    assert checkpoints.beside >= 1
    assert checkpoints.finishing >= 1  # the log restarted
    assert checkpoints.forced == 0
    # Restarted from its beginning after the checkpoints, the log never held all the pages.
    assert log_bytes(path) < 3000 * FRAME_BYTES


async def test_a_writer_that_outruns_the_checkpoints_checkpoints_at_the_bound(
    tmp_path: Path,
) -> None:
    """With no checkpoint beside it, the writer copies the log once it holds the bound's pages."""
    path = tmp_path / "durable.sqlite3"
    async with SqliteStore(path) as store:
        assert store._wal is not None
        store._wal.frames, store._wal.limit = 10**9, 200  # nothing beside; a bound of 200
        execution = await started(store, "x")
        await write_pages(store, execution.arn, 60)
        checkpoints = store.wal_checkpoints
        size = log_bytes(path)
    assert checkpoints == (0, 0, checkpoints.forced)
    assert checkpoints.forced >= 3
    # At most the bound and one transaction's pages before the log restarts.
    assert size <= (200 + 40) * FRAME_BYTES + 32


async def test_the_wal_index_reads_as_sqlite_reports_the_log(tmp_path: Path) -> None:
    """The log's pages read from the WAL index are those SQLite reports to a checkpoint."""
    path = tmp_path / "durable.sqlite3"
    async with SqliteStore(path) as store:
        assert store._wal is not None
        store._wal.frames = store._wal.limit = 10**9  # keep every page in the log
        execution = await started(store, "x")
        await write_pages(store, execution.arn, 5)
        found = log_frames(Path(f"{path}-shm"))
        assert found is not None
        assert found[0] == frames_in_log(path) > 0
        assert found[1] == 0  # nothing was copied before the test's checkpoint


def test_a_file_that_is_no_wal_index_reads_as_none(tmp_path: Path) -> None:
    """A missing or foreign -shm file gives no page counts: SQLite keeps checkpointing."""
    shm = tmp_path / "durable.sqlite3-shm"
    assert log_frames(shm) is None
    keeper = WalKeeper(tmp_path / "durable.sqlite3", lambda: sqlite3.connect(":memory:"))
    assert not keeper.usable()
    shm.write_bytes(b"\x00" * 200)
    assert log_frames(shm) is None
    assert not keeper.usable()
    keeper.close()


async def test_a_lone_write_that_fails_leaves_nothing_and_the_next_commits(
    tmp_path: Path,
) -> None:
    """A write alone in its transaction that fails halfway rolls it all back; the store goes on."""
    path = tmp_path / "durable.sqlite3"
    async with SqliteStore(path) as store:
        execution = await started(store, "x")
        before = store.commits
        event = {"EventId": 1, "EventType": "Duplicate"}
        changed = ExecutionRecord(**{**execution.__dict__, "status": "FAILED"})
        row = OperationRow("half", 1, 2, {"Id": "half", "Type": "STEP", "Status": "STARTED"})
        with pytest.raises(sqlite3.IntegrityError):
            await store.commit(changed, [row], [event, event])
        assert store.commits == before
        await store.transact(execution.arn, [], NOW_MS, adding(1, 10))  # type: ignore[arg-type]
        assert store.commits == before + 1
        kept = await store.get_execution(execution.arn)
        operations = [r.id for r in await store.list_operations(execution.arn)]
        events = await store.list_events(execution.arn)
    assert kept is not None
    assert kept.status == "RUNNING"
    assert "half" not in operations
    assert operations[-1] == "op1"
    assert events == []


async def test_closing_waits_for_the_checkpoint_and_leaves_every_write(tmp_path: Path) -> None:
    """A store closed while its log is being checkpointed reopens with every write in it."""
    path = tmp_path / "durable.sqlite3"
    async with SqliteStore(path) as store:
        execution = await started(store, "x")
        await asyncio.gather(*(write_pages(store, execution.arn, 20) for _ in range(4)))
    async with SqliteStore(path) as store:
        operations = await store.list_operations(execution.arn)
    assert len(operations) == 1 + 4 * 20 * 20
