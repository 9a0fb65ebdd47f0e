"""Operations lie in the SQLite file in the order they were created, found by id through an index.

Counted, not timed: the pages a checkpoint writes are read from the write-ahead log itself
(its frames), and the layout from ``sqlite_schema`` and the rows' ``rowid``. A file written
before this layout (operations keyed by ``(arn, id)``, ``WITHOUT ROWID``) is moved to it when
a store opens it, with every operation as it was.
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from durable_async.service.local import SqliteStore
from durable_async.service.local._model import Changes, ExecutionRecord, OperationRow, Snapshot
from durable_async.service.local._wal import log_frames
from durable_async.service.local._wire import new_execution

pytestmark = pytest.mark.timeout(120)

NOW_MS = 1_700_000_000_000
# The layout before: rows sorted by their (random) ids.
KEYED_BY_ID = """
CREATE TABLE operations (
    arn TEXT NOT NULL,
    id TEXT NOT NULL,
    position INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    due_ms INTEGER,
    waiting INTEGER NOT NULL,
    data TEXT NOT NULL,
    {meta}
    PRIMARY KEY (arn, id)
) WITHOUT ROWID;
CREATE INDEX operations_by_position ON operations (arn, position);
CREATE INDEX operations_due ON operations (arn, due_ms) WHERE due_ms IS NOT NULL;
CREATE INDEX operations_waiting ON operations (arn, position) WHERE waiting = 1;
"""


def hashed(n: int) -> str:
    """Return an operation id as the SDK makes them: a hash, so ids sort in no useful order."""
    return hashlib.sha256(str(n).encode()).hexdigest()


def step(n: int, position: int, seq: int, status: str = "STARTED") -> OperationRow:
    data = {"Id": hashed(n), "Type": "STEP", "Status": status, "ParentId": "map"}
    return OperationRow(hashed(n), position, seq, data)


async def execution_with_steps(store: SqliteStore, count: int) -> ExecutionRecord:
    """Create an execution and ``count`` started steps in one commit."""
    execution, operation = new_execution("fn", "big", None, NOW_MS)
    await store.create(execution, operation, [])
    rows = [step(n, n + 1, n + 1) for n in range(count)]
    grown = replace(execution, op_count=count + 1, op_seq=count, delivered_seq=count)
    await store.commit(grown, rows, [])
    return grown


def succeeding(first: int, count: int) -> object:
    """Return work that moves steps ``first`` .. ``first + count - 1`` to SUCCEEDED."""

    def work(snapshot: Snapshot | None) -> tuple[None, Changes]:
        assert snapshot is not None
        record, rows = snapshot.execution, []
        for n in range(first, first + count):
            record.op_seq += 1
            rows.append(step(n, n + 1, record.op_seq, "SUCCEEDED"))
        return None, Changes(record, rows, [])

    return work


def log_pages(path: Path) -> int:
    """Return the pages the write-ahead log holds (its WAL index's count)."""
    found = log_frames(Path(f"{path}-shm"))
    assert found is not None
    return found[0]


async def test_a_checkpoint_of_steps_created_together_rewrites_few_pages(tmp_path: Path) -> None:
    """Ending 200 of 2,000 steps that were created together (a map's batch) writes a few
    dozen pages, not one for nearly every step as rows sorted by their hashed ids did."""
    path = tmp_path / "durable.sqlite3"
    async with SqliteStore(path) as store:
        assert store._wal is not None
        store._wal.frames = store._wal.limit = 10**9  # keep every page in the log
        execution = await execution_with_steps(store, 2_000)
        before = log_pages(path)  # the log holds this many, and restarts at no checkpoint
        await store.transact(execution.arn, [], NOW_MS, succeeding(1_000, 200))  # type: ignore[arg-type]
        written = log_pages(path) - before
        ended = [r for r in await store.list_operations(execution.arn) if r.status == "SUCCEEDED"]
    assert [r.position for r in ended] == list(range(1_001, 1_201))
    assert written < 50, written


async def test_an_update_leaves_an_operation_where_it_was_created(tmp_path: Path) -> None:
    """Operations keep their creation order in the file when later calls change them."""
    path = tmp_path / "durable.sqlite3"
    async with SqliteStore(path) as store:
        execution = await execution_with_steps(store, 20)
        await store.transact(execution.arn, [], NOW_MS, succeeding(0, 20))  # type: ignore[arg-type]
    with sqlite3.connect(path) as db:
        ids = [row[0] for row in db.execute("SELECT id FROM operations ORDER BY rowid")]
    assert ids[1:] == [hashed(n) for n in range(20)]


@pytest.mark.parametrize(
    "meta",
    [
        pytest.param("meta TEXT,", id="keyed-by-id"),
        pytest.param("", id="keyed-by-id-before-meta"),
    ],
)
async def test_a_file_keyed_by_id_is_moved_to_the_creation_order_layout(
    tmp_path: Path, meta: str
) -> None:
    """Opening a file of the layout before keeps every operation and writes on in the new one."""
    path = tmp_path / "durable.sqlite3"
    async with SqliteStore(path) as store:
        execution = await execution_with_steps(store, 30)
        wanted = await store.list_operations(execution.arn)
    _rewrite_keyed_by_id(path, meta)
    async with SqliteStore(path) as store:
        found = await store.list_operations(execution.arn)
        await store.transact(execution.arn, [], NOW_MS, succeeding(25, 10))  # type: ignore[arg-type]
        after = await store.list_operations(execution.arn)
    with sqlite3.connect(path) as db:
        table = db.execute("SELECT sql FROM sqlite_schema WHERE name = 'operations'").fetchone()
        indexes = {row[1] for row in db.execute("PRAGMA index_list(operations)")}
    assert found == wanted
    assert "WITHOUT ROWID" not in table[0]
    assert {"operations_by_id", "operations_by_position"} <= indexes
    assert len(after) == 1 + 35
    assert [r.status for r in after[26:]] == ["SUCCEEDED"] * 10


def _rewrite_keyed_by_id(path: Path, meta: str) -> None:
    """Rewrite the file's operations in the layout before (and, without ``meta``, older still)."""
    with sqlite3.connect(path, isolation_level=None) as db:
        db.execute("ALTER TABLE operations RENAME TO current")
        for (index,) in db.execute("SELECT name FROM pragma_index_list('current')").fetchall():
            db.execute(f"DROP INDEX {index}")
        db.executescript(KEYED_BY_ID.format(meta=meta))
        fields = "arn, id, position, seq, due_ms, waiting, data" + (", meta" if meta else "")
        db.execute(f"INSERT INTO operations ({fields}) SELECT {fields} FROM current")
        db.execute("DROP TABLE current")
        table = db.execute("SELECT sql FROM sqlite_schema WHERE name = 'operations'").fetchone()
    assert "WITHOUT ROWID" in table[0]
