"""The SQLite store: one file in WAL mode, written on one dedicated thread, read on another.

Each write (a checkpoint call's apply, a start, a lease) is one function run on the store's
writing thread inside a ``BEGIN IMMEDIATE`` ... ``COMMIT`` transaction, in a savepoint of its
own: a process killed at any moment leaves either all or none of the call. Writes that
arrive while a transaction commits share the next one (group commit, :mod:`._commit`), so
executions checkpointing at once share fsyncs. Reads run on a second connection and thread:
WAL lets them see the last commit without waiting behind the fsync of the next.

Durability is a setting. ``"full"`` (the default) is ``PRAGMA synchronous=FULL``: SQLite
fsyncs the write-ahead log at every commit, so a commit that returned survives a power cut
or an OS crash, as DBOS and Temporal promise. ``"normal"`` (``synchronous=NORMAL``) fsyncs
only when the log is checkpointed into the database: nothing is lost when the process dies,
but an OS crash or a power cut can roll back the last commits. The environment variable
``DURABLE_ASYNC_DURABILITY`` sets the default for every store that is not given one.

The file, its ``-wal`` and ``-shm`` companions and any folder the store creates for them are
readable by their owner only. A file that is not a usable SQLite database, or a store that
stays locked, raises :class:`ServiceError` with one sentence naming the file.
"""

from __future__ import annotations

import asyncio
import functools
import json
import operator
import os
import socket
import sqlite3
import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self, TypeVar

from durable_async.service import ServiceError
from durable_async.service.local._commit import GroupCommit
from durable_async.service.local._lanes import in_client_lane
from durable_async.service.local._lease import Lease, holder_after
from durable_async.service.local._model import (
    Changes,
    ExecutionRecord,
    Json,
    OperationRow,
    Snapshot,
    conflict,
    dumps,
)
from durable_async.service.local._wal import Checkpoints, WalKeeper

__all__ = ["DURABILITY_ENV", "Durability", "SqliteStore", "resolve_durability"]

T = TypeVar("T")

Durability = Literal["full", "normal"]
#: The environment variable that gives the durability of a store opened without one.
DURABILITY_ENV = "DURABLE_ASYNC_DURABILITY"
_DURABILITIES: dict[str, Durability] = {"full": "full", "normal": "normal"}
_SYNCHRONOUS: dict[Durability, str] = {"full": "FULL", "normal": "NORMAL"}

_COLUMNS = [f.name for f in fields(ExecutionRecord)]
_JSON_COLUMNS = frozenset({"error", "last_call"})
# Rows are read and written by position: a name look-up per column was a tenth of a load.
_SELECT_EXECUTIONS = f"SELECT {', '.join(_COLUMNS)} FROM executions"
_JSON_AT = [i for i, name in enumerate(_COLUMNS) if name in _JSON_COLUMNS]
_ALL_OF = operator.attrgetter(*_COLUMNS)
# Operations lie in the order they were created (a rowid table), found by id through an index.
# Keyed by (arn, id) instead, as files before this layout are, each row sat where its random
# id sorts: a checkpoint of 250 map updates rewrote a page for nearly every one of them.
_OPERATIONS = """
CREATE TABLE IF NOT EXISTS operations (
    arn TEXT NOT NULL,
    id TEXT NOT NULL,
    position INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    due_ms INTEGER,
    waiting INTEGER NOT NULL,
    data TEXT NOT NULL,
    meta TEXT
)"""
_OPERATION_INDEXES = [
    "CREATE UNIQUE INDEX IF NOT EXISTS operations_by_id ON operations (arn, id)",
    "CREATE INDEX IF NOT EXISTS operations_by_position ON operations (arn, position)",
    "CREATE INDEX IF NOT EXISTS operations_due ON operations (arn, due_ms) "
    "WHERE due_ms IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS operations_waiting ON operations (arn, position) WHERE waiting = 1",
]
_INDEXES = ";\n".join(_OPERATION_INDEXES)
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS executions (
    {", ".join(_COLUMNS)},
    PRIMARY KEY (arn)
);
CREATE UNIQUE INDEX IF NOT EXISTS executions_by_name ON executions (function_name, name);
{_OPERATIONS};
{_INDEXES};
CREATE TABLE IF NOT EXISTS events (
    arn TEXT NOT NULL,
    event_id INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (arn, event_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS openers (
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    durability TEXT NOT NULL,
    journal_mode TEXT NOT NULL,
    synchronous TEXT NOT NULL,
    opened REAL NOT NULL,
    PRIMARY KEY (host, pid)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS leases (
    arn TEXT NOT NULL PRIMARY KEY,
    token TEXT NOT NULL,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    expires REAL NOT NULL
) WITHOUT ROWID;
"""
_INSERT_EXECUTION = (
    f"INSERT INTO executions ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)})"
)
# The ARN, function name and execution name never change; leaving them out spares the indexes.
_IMMUTABLE = ("arn", "function_name", "name")
_MUTABLE = [c for c in _COLUMNS if c not in _IMMUTABLE]
_UPDATE_EXECUTION = f"UPDATE executions SET {', '.join(f'{c} = ?' for c in _MUTABLE)} WHERE arn = ?"
_MUTABLE_AT = [i for i, name in enumerate(_COLUMNS) if name not in _IMMUTABLE]
# An update in place: the row keeps its place, and indexes on columns it keeps stay as they are.
_UPSERT_OPERATION = (
    "INSERT INTO operations (arn, id, position, seq, due_ms, waiting, data, meta) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (arn, id) DO UPDATE SET "
    "position = excluded.position, seq = excluded.seq, due_ms = excluded.due_ms, "
    "waiting = excluded.waiting, data = excluded.data, meta = excluded.meta"
)
_OPERATION_FIELDS = "arn, id, position, seq, due_ms, waiting, data, meta"
_INSERT_EVENT = "INSERT INTO events VALUES (?, ?, ?)"
_OPERATION_COLUMNS = "id, position, seq, data, meta"
_BUSY_TIMEOUT_MS = 5000
# Processes that opened the file, and the durability each got, kept for this many.
_OPENERS_KEPT = 100
_SYNCHRONOUS_NAMES = {0: "off", 1: "normal", 2: "full", 3: "extra"}
# data_version is read at most this often (seconds), however many drives wait on it.
_VERSION_MAX_AGE = 0.2
_HOST = socket.gethostname()


class SqliteStore:
    """A store in one SQLite file that every later process opening the same path sees."""

    def __init__(
        self,
        path: str | os.PathLike[str] = ".durable/durable.sqlite3",
        *,
        durability: Durability | None = None,
    ) -> None:
        """Keep executions in the SQLite file ``path``, created with its folders when missing.

        ``durability`` is ``"full"`` (fsync at every commit) or ``"normal"`` (fsync at WAL
        checkpoints); None takes ``$DURABLE_ASYNC_DURABILITY``, else ``"full"``.
        """
        self.path = Path(path)
        self.durability: Durability = resolve_durability(durability)
        self._thread: ThreadPoolExecutor | None = None
        self._reader: ThreadPoolExecutor | None = None
        self._db: sqlite3.Connection | None = None
        self._rdb: sqlite3.Connection | None = None
        self._writes: GroupCommit | None = None
        self._wal: WalKeeper | None = None
        self._version = 0
        self._version_read_at = -_VERSION_MAX_AGE

    @property
    def commits(self) -> int:
        """Return how many transactions that changed the file this store object committed."""
        return 0 if self._writes is None else self._writes.commits

    async def open(self) -> None:
        """Create the file and its parent folders if needed and prepare the schema."""
        if self._thread is not None:
            return
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="durable-sqlite")
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="durable-sqlite-read")
        try:
            await self._run(self._connect)
        except BaseException:
            self._shutdown()
            raise
        wal = self._wal
        self._writes = GroupCommit(
            self._thread,
            lambda: self._conn,
            self._mapped,
            before_group=None if wal is None else wal.before_write,
            after_commit=None if wal is None else wal.after_commit,
        )

    async def close(self) -> None:
        """Let queued writes commit, close the database and let the store's threads end."""
        if self._thread is None:
            return
        try:
            if self._writes is not None:
                await self._writes.drain()
            await self._run(self._disconnect)
        finally:
            self._shutdown()

    @property
    def wal_checkpoints(self) -> Checkpoints:
        """Return how many checkpoints of the write-ahead log this store ran, by where."""
        return Checkpoints(0, 0, 0) if self._wal is None else self._wal.checkpoints

    async def pragmas(self) -> dict[str, str]:
        """Return the writing connection's ``journal_mode`` and ``synchronous``, read back."""
        return await self._run(self._read_pragmas)

    async def openers(self) -> list[dict[str, Any]]:
        """Return the latest processes that opened this file and the settings each got.

        Each is ``{"host", "pid", "durability", "journal_mode", "synchronous", "opened"}``
        (epoch seconds), newest first; the values were read back from the opener's connection.
        """
        rows = await self._query("SELECT * FROM openers ORDER BY opened DESC")
        return [dict(row) for row in rows]

    async def __aenter__(self) -> Self:
        """Open the store."""
        await self.open()
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the store."""
        await self.close()

    async def create(
        self, execution: ExecutionRecord, operation: OperationRow, events: Sequence[Json]
    ) -> None:
        """Insert a new execution with its EXECUTION operation and first events, atomically.

        Raises ResourceConflictException when another process took the execution's name first.
        """
        await self._write(self._insert, execution, operation, events)

    async def load(self, arn: str, ids: Collection[str], now_ms: int) -> Snapshot | None:
        """Read an execution with the operations ``ids`` and its due and unseen operations."""
        return await self._run(self._load, arn, list(ids), now_ms)

    async def commit(
        self, execution: ExecutionRecord, operations: Sequence[OperationRow], events: Sequence[Json]
    ) -> None:
        """Write the execution row, upsert ``operations`` and append ``events``, atomically."""
        await self._write(self._write_rows, execution, operations, events, False)

    async def transact(
        self,
        arn: str,
        ids: Collection[str],
        now_ms: int,
        work: Callable[[Snapshot | None], tuple[T, Changes | None]],
    ) -> T:
        """Load, run ``work`` and commit its changes on the store's thread, atomically.

        Several calls at once share one transaction; each one's work sees the writes of those
        before it, and one that raises leaves no trace.
        """
        return await self._write(self._transact, arn, list(ids), now_ms, work)

    async def get_execution(self, arn: str) -> ExecutionRecord | None:
        """Return the execution with this ARN, if any."""
        rows = await self._query(f"{_SELECT_EXECUTIONS} WHERE arn = ?", arn)
        return _record(rows[0]) if rows else None

    async def find_execution(self, function_name: str, name: str) -> str | None:
        """Return the ARN of the function's execution with this name, if any."""
        sql = "SELECT arn FROM executions WHERE function_name = ? AND name = ?"
        rows = await self._query(sql, function_name, name)
        return str(rows[0]["arn"]) if rows else None

    async def list_executions(self, function_name: str | None = None) -> list[ExecutionRecord]:
        """Return every execution (of one function, if given) in start order."""
        if function_name is None:
            rows = await self._query(f"{_SELECT_EXECUTIONS} ORDER BY start_ms, arn")
        else:
            sql = f"{_SELECT_EXECUTIONS} WHERE function_name = ? ORDER BY start_ms, arn"
            rows = await self._query(sql, function_name)
        return [_record(row) for row in rows]

    async def list_operations(
        self, arn: str, after: int = -1, limit: int | None = None
    ) -> list[OperationRow]:
        """Return operations with position greater than ``after``, in creation order."""
        sql = (
            f"SELECT {_OPERATION_COLUMNS} FROM operations WHERE arn = ? AND position > ? "
            "ORDER BY position LIMIT ?"
        )
        rows = await self._query(sql, arn, after, -1 if limit is None else limit)
        return [_operation(row) for row in rows]

    async def waiting_operations(self, arn: str) -> list[OperationRow]:
        """Return the operations that wait on something other than the handler."""
        sql = (
            f"SELECT {_OPERATION_COLUMNS} FROM operations WHERE arn = ? AND waiting = 1 "
            "ORDER BY position"
        )
        return [_operation(row) for row in await self._query(sql, arn)]

    async def list_events(self, arn: str) -> list[Json]:
        """Return the execution's history events in order."""
        sql = "SELECT data FROM events WHERE arn = ? ORDER BY event_id"
        return [json.loads(row["data"]) for row in await self._query(sql, arn)]

    async def take_lease(self, lease: Lease) -> Lease:
        """Store ``lease`` unless another live lease holds its execution; return the holder.

        Taking a lease again under its own token renews it. One ``BEGIN IMMEDIATE``
        transaction, so two processes asking at once never both get it.
        """
        return await self._write(self._take_lease, lease)

    async def renew_leases(self, leases: Sequence[Lease]) -> None:
        """Extend each of ``leases`` that is still held under its token to its ``expires``."""
        if leases:
            await self._write(self._renew_leases, leases)

    async def release_lease(self, lease: Lease) -> None:
        """Free the execution's lease if ``lease`` still holds it."""
        await self._write(self._release_lease, lease)

    async def data_version(self) -> int:
        """Return SQLite's ``data_version``: it changes when another connection commits.

        Read at most every 0.2 s; callers in between get the last value read.
        """
        now = time.monotonic()
        if now - self._version_read_at >= _VERSION_MAX_AGE:
            self._version = await self._run(self._read_version)
            self._version_read_at = now
        return self._version

    async def _query(self, sql: str, *args: object) -> list[sqlite3.Row]:
        def read() -> list[sqlite3.Row]:
            assert self._rdb is not None
            return self._rdb.execute(sql, args).fetchall()

        return await self._run(read, executor=self._reader)

    async def _write(self, fn: Callable[..., T], *args: Any) -> T:
        if self._writes is None:
            raise _not_open()
        return await self._writes.write(functools.partial(fn, *args), urgent=in_client_lane())

    async def _run(
        self, fn: Callable[..., T], *args: Any, executor: ThreadPoolExecutor | None = None
    ) -> T:
        executor = executor or self._thread
        if executor is None:
            raise _not_open()
        return await asyncio.get_running_loop().run_in_executor(executor, self._mapped, fn, *args)

    def _shutdown(self) -> None:
        for executor in (self._thread, self._reader):
            if executor is not None:
                executor.shutdown(wait=False)
        self._thread = self._reader = None
        self._writes = None

    @property
    def _conn(self) -> sqlite3.Connection:
        assert self._db is not None
        return self._db

    # Everything below runs on the store's thread.

    def _mapped(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn``; turn SQLite's errors about the file itself into one clear ServiceError."""
        try:
            return fn(*args)
        except (sqlite3.IntegrityError, sqlite3.ProgrammingError):
            raise  # a bug in a caller, not a problem with the file
        except sqlite3.DatabaseError as exc:
            raise _store_error(self.path, exc) from exc

    def _connect(self) -> None:
        _make_private_folders(self.path.parent)
        _create_private_file(self.path)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        reader: sqlite3.Connection | None = None
        try:
            _prepare(db, self.durability)
            self._record_opener(db)
            # The reader runs on its own thread only; it never writes.
            reader = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            reader.row_factory = sqlite3.Row
            reader.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
            reader.execute("PRAGMA query_only=1")
            self._wal = self._keep_wal(db)
        except BaseException:
            db.close()
            if reader is not None:
                reader.close()
            raise
        self._db, self._rdb = db, reader

    def _keep_wal(self, db: sqlite3.Connection) -> WalKeeper | None:
        """Move the log's checkpoints off the commit path, if its WAL index can be read."""
        wal = WalKeeper(self.path, self._checkpointing_connection)
        try:
            usable = wal.usable()
            if usable:
                db.execute("PRAGMA wal_autocheckpoint=0")
        except BaseException:
            wal.close()
            raise
        if not usable:
            wal.close()
            return None  # SQLite checkpoints inside the commits, as by default
        return wal

    def _checkpointing_connection(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        # A checkpoint fsyncs the database before the log may restart over what it copied.
        db.execute(f"PRAGMA synchronous={_SYNCHRONOUS[self.durability]}")
        return db

    def _record_opener(self, db: sqlite3.Connection) -> None:
        """Note this process and the settings its connection reports, for anyone to read back."""
        found = self._read_pragmas(db)
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(
                "INSERT OR REPLACE INTO openers VALUES (?, ?, ?, ?, ?, ?)",
                (
                    _HOST,
                    os.getpid(),
                    self.durability,
                    found["journal_mode"],
                    found["synchronous"],
                    time.time(),
                ),
            )
            keep = f"SELECT opened FROM openers ORDER BY opened DESC LIMIT 1 OFFSET {_OPENERS_KEPT}"
            db.execute(f"DELETE FROM openers WHERE opened <= ({keep})")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _read_pragmas(self, db: sqlite3.Connection | None = None) -> dict[str, str]:
        db = db or self._conn
        journal = str(db.execute("PRAGMA journal_mode").fetchone()[0])
        synchronous = int(db.execute("PRAGMA synchronous").fetchone()[0])
        return {"journal_mode": journal, "synchronous": _SYNCHRONOUS_NAMES[synchronous]}

    def _disconnect(self) -> None:
        wal, self._wal = self._wal, None
        if wal is not None:
            wal.close()
        for db in (self._db, self._rdb):
            if db is not None:
                db.close()
        self._db = self._rdb = None

    # The writes: each runs inside the group's transaction (see _commit.GroupCommit).

    def _insert(
        self, execution: ExecutionRecord, operation: OperationRow, events: Sequence[Json]
    ) -> None:
        try:
            self._write_rows(execution, [operation], events, True)
        except sqlite3.IntegrityError as exc:
            sql = "SELECT 1 FROM executions WHERE function_name = ? AND name = ?"
            if not self._conn.execute(sql, (execution.function_name, execution.name)).fetchall():
                raise
            raise conflict(
                f"An execution named {execution.name!r} of function "
                f"{execution.function_name!r} already exists: another process started it at "
                "the same moment. Look it up by name instead of starting it."
            ) from exc

    def _take_lease(self, lease: Lease) -> Lease:
        db = self._conn
        row = db.execute("SELECT * FROM leases WHERE arn = ?", (lease.arn,)).fetchone()
        holder = holder_after(_lease(row) if row else None, lease, time.time())
        if holder is lease:
            db.execute("INSERT OR REPLACE INTO leases VALUES (?, ?, ?, ?, ?)", _values(lease))
        return holder

    def _renew_leases(self, leases: Sequence[Lease]) -> None:
        sql = "UPDATE leases SET expires = ? WHERE arn = ? AND token = ?"
        self._conn.executemany(sql, [(lease.expires, lease.arn, lease.token) for lease in leases])

    def _release_lease(self, lease: Lease) -> None:
        sql = "DELETE FROM leases WHERE arn = ? AND token = ?"
        self._conn.execute(sql, (lease.arn, lease.token))

    def _read_version(self) -> int:
        # The writing connection: its data_version moves only for other connections' commits.
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def _transact(
        self,
        arn: str,
        ids: list[str],
        now_ms: int,
        work: Callable[[Snapshot | None], tuple[T, Changes | None]],
    ) -> T:
        result, changes = work(self._load(arn, ids, now_ms))
        if changes is not None:
            self._write_rows(changes.execution, changes.operations, changes.events, False)
        return result

    def _write_rows(
        self,
        execution: ExecutionRecord,
        operations: Sequence[OperationRow],
        events: Sequence[Json],
        new: bool,
    ) -> None:
        db, values = self._conn, _columns(execution)
        if new:
            db.execute(_INSERT_EXECUTION, values)
        else:
            db.execute(_UPDATE_EXECUTION, [*(values[i] for i in _MUTABLE_AT), execution.arn])
        db.executemany(_UPSERT_OPERATION, [_operation_values(execution.arn, r) for r in operations])
        db.executemany(_INSERT_EVENT, [(execution.arn, e["EventId"], dumps(e)) for e in events])

    def _load(self, arn: str, ids: list[str], now_ms: int) -> Snapshot | None:
        db = self._conn
        found = db.execute(f"{_SELECT_EXECUTIONS} WHERE arn = ?", (arn,)).fetchall()
        if not found:
            return None
        execution = _record(found[0])
        rows = {row.id: row for row in self._select_ids(arn, ids)}
        due = _by_position(self._select(arn, "due_ms IS NOT NULL AND due_ms <= ?", now_ms))
        unseen: list[OperationRow] = []
        # Only a change from outside the running invocation (a callback) leaves anything unseen.
        if execution.op_seq > execution.delivered_seq:
            unseen = _by_position(self._select(arn, "seq > ?", execution.delivered_seq))
        rows.update({row.id: row for row in (*due, *unseen)})
        ordered = dict(sorted(rows.items(), key=lambda item: item[1].position))
        return Snapshot(execution, ordered, [r.id for r in due], [r.id for r in unseen])

    def _select_ids(self, arn: str, ids: list[str]) -> list[OperationRow]:
        found: list[OperationRow] = []
        # Stay well under SQLite's bound-parameter limit.
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            found += self._select(arn, f"id IN ({marks})", *chunk)
        return found

    def _select(self, arn: str, where: str, *args: object) -> list[OperationRow]:
        # No ORDER BY: with one, SQLite walks the execution's whole position index to find a
        # few ids by primary key, so a checkpoint cost grew with the execution's size.
        sql = f"SELECT {_OPERATION_COLUMNS} FROM operations WHERE arn = ? AND {where}"
        return [_operation(row) for row in self._conn.execute(sql, (arn, *args))]


def _by_position(rows: list[OperationRow]) -> list[OperationRow]:
    return sorted(rows, key=lambda row: row.position)


def _not_open() -> RuntimeError:
    return RuntimeError(
        "The SqliteStore is not open; use `async with store:` or `await store.open()`."
    )


def resolve_durability(durability: str | None) -> Durability:
    """Return ``durability``, or the environment's default, checked; ValueError if unknown."""
    source = "durability"
    if durability is None:
        durability = os.environ.get(DURABILITY_ENV) or "full"
        source = f"${DURABILITY_ENV}"
    found = _DURABILITIES.get(durability.strip().lower()) if isinstance(durability, str) else None
    if found is not None:
        return found
    raise ValueError(
        f"The SQLite store's {source} must be 'full' (fsync at every commit) or 'normal' "
        f"(fsync at WAL checkpoints), not {durability!r}."
    )


def _prepare(db: sqlite3.Connection, durability: Durability) -> None:
    db.row_factory = sqlite3.Row
    db.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={_SYNCHRONOUS[durability]}")
    _relayout_operations(db)
    db.executescript(_SCHEMA)
    # Files written before operations kept service bookkeeping lack the column.
    columns = {row["name"] for row in db.execute("PRAGMA table_info(operations)")}
    if "meta" not in columns:
        db.execute("ALTER TABLE operations ADD COLUMN meta TEXT")


def _relayout_operations(db: sqlite3.Connection) -> None:
    """Move the operations of a file written keyed by (arn, id) into the creation-order table.

    One transaction: a process killed meanwhile leaves the file as it was, and of two processes
    opening it at once the second finds the work done.
    """
    if not _keyed_by_id(db):
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        if _keyed_by_id(db):
            columns = {row["name"] for row in db.execute("PRAGMA table_info(operations)")}
            meta = "meta" if "meta" in columns else "NULL"
            db.execute("ALTER TABLE operations RENAME TO operations_keyed_by_id")
            db.execute(_OPERATIONS)
            db.execute(
                f"INSERT INTO operations ({_OPERATION_FIELDS}) "
                f"SELECT arn, id, position, seq, due_ms, waiting, data, {meta} "
                "FROM operations_keyed_by_id ORDER BY arn, position"
            )
            db.execute("DROP TABLE operations_keyed_by_id")  # and its indexes
            for index in _OPERATION_INDEXES:
                db.execute(index)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _keyed_by_id(db: sqlite3.Connection) -> bool:
    sql = "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'operations'"
    found = db.execute(sql).fetchone()
    return found is not None and "WITHOUT ROWID" in str(found[0]).upper()


def _make_private_folders(folder: Path) -> None:
    """Create ``folder`` and its missing parents readable by their owner only (0700).

    Folders that exist already are left as they are: the user chose their mode.
    """
    missing: list[Path] = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        path.mkdir(mode=0o700, exist_ok=True)


def _create_private_file(path: Path) -> None:
    """Create the database file 0600 if it is new; SQLite gives its -wal and -shm the same mode."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(descriptor)


def _store_error(path: Path, exc: sqlite3.DatabaseError) -> ServiceError:
    text = str(exc)
    if "locked" in text or "busy" in text:
        message = (
            f"The SQLite store {str(path)!r} stayed locked by another process for more than "
            f"{_BUSY_TIMEOUT_MS // 1000} s ({text}); try again once that process is done."
        )
        return ServiceError(message, code="ServiceException", retryable=True, status_code=503)
    reason = "it is a folder" if path.is_dir() else text
    message = (
        f"The SQLite store {str(path)!r} cannot be used: {reason}. Give the path of a store "
        "durable_async created, or of a new file."
    )
    return ServiceError(message, code="ServiceException", retryable=True, status_code=500)


def _lease(row: sqlite3.Row) -> Lease:
    return Lease(row["arn"], row["token"], row["pid"], row["host"], row["expires"])


def _values(lease: Lease) -> tuple[object, ...]:
    return (lease.arn, lease.token, lease.pid, lease.host, lease.expires)


def _columns(execution: ExecutionRecord) -> list[object]:
    """Return the execution's values in ``_COLUMNS`` order, its JSON ones encoded."""
    values: list[object] = list(_ALL_OF(execution))
    for i in _JSON_AT:
        if values[i] is not None:
            values[i] = dumps(values[i])
    return values


def _record(row: sqlite3.Row) -> ExecutionRecord:
    """Return the execution of a row selected with ``_SELECT_EXECUTIONS``."""
    values = list(row)
    for i in _JSON_AT:
        if values[i] is not None:
            values[i] = json.loads(values[i])
    return ExecutionRecord(*values)


def _operation(row: sqlite3.Row) -> OperationRow:
    """Return the operation of a row selected as ``_OPERATION_COLUMNS``."""
    operation_id, position, seq, data, meta = row
    thawed = json.loads(meta) if meta else {}
    return OperationRow(operation_id, position, seq, json.loads(data), thawed)


def _operation_values(arn: str, row: OperationRow) -> tuple[object, ...]:
    meta = dumps(row.meta) if row.meta else None
    data = dumps(row.data)
    return (arn, row.id, row.position, row.seq, row.due_ms, int(row.waiting), data, meta)
