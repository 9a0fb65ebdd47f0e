"""Group commit: the writes of concurrent callers share one SQLite transaction.

With ``synchronous=FULL`` every COMMIT waits for an fsync, a few milliseconds on a real disk,
while the writes themselves take tens of microseconds. So the SQLite store does not commit
each write on its own: a write is queued, and the store's thread runs every queued write in
one ``BEGIN IMMEDIATE`` ... ``COMMIT``, each in a savepoint of its own. What arrives while a
group commits forms the next group, as the SDK's checkpointer batches updates: there is no
timer, so a lone write pays one commit and nothing more, and a hundred executions
checkpointing at once pay a handful.

A write that raises is rolled back to its savepoint and fails alone; the others commit (a
group of one write needs no savepoint: its transaction rolls back). A
COMMIT that fails fails every write of its group: nothing is reported written that was not.
A client's write (a start, a callback answer: see :mod:`._lanes`) goes to the head of the
queue, so it waits for the commit in progress at most, not for the checkpoints queued.
No caller hears of its write before the COMMIT returned, so durability is that of a write
committed on its own. A caller cancelled before its group starts is dropped from the queue,
as a cancelled call to the store's thread never ran.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

__all__ = ["GroupCommit"]

T = TypeVar("T")

# Writes per transaction at most: bounds how long one group holds the file's write lock.
MAX_GROUP = 512


@dataclass(eq=False)
class _Write(Generic[T]):
    """One caller's write: the function to run in the transaction, and where its outcome goes."""

    fn: Callable[[], T]
    future: asyncio.Future[T]
    value: Any = None
    error: BaseException | None = field(default=None)


class GroupCommit:
    """Run writes on the store's thread, grouped into as few transactions as callers allow.

    ``connection`` returns the writing connection (used on ``executor``'s one thread only);
    ``mapped`` turns an exception raised on that thread into the one the caller should see.
    """

    def __init__(
        self,
        executor: Executor,
        connection: Callable[[], sqlite3.Connection],
        mapped: Callable[[Callable[[], Any]], Any],
        *,
        before_group: Callable[[sqlite3.Connection], None] | None = None,
        after_commit: Callable[[], None] | None = None,
    ) -> None:
        self._executor = executor
        self._connection = connection
        self._mapped = mapped
        self._before_group = before_group
        self._after_commit = after_commit
        self._queue: deque[_Write[Any]] = deque()
        self._group: asyncio.Future[None] | None = None
        #: Transactions committed so far that changed the file (each one fsync when FULL), and
        #: the writes they carried.
        self.commits = 0
        self.writes = 0

    async def write(self, fn: Callable[[], T], *, urgent: bool = False) -> T:
        """Run ``fn`` inside a transaction shared with other writes; return once committed.

        An ``urgent`` write goes into the next transaction ahead of the writes queued.
        """
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        job = _Write(fn, future)
        if urgent:
            self._queue.appendleft(job)
        else:
            self._queue.append(job)
        if self._group is None:
            self._start()
        try:
            return await job.future
        except asyncio.CancelledError:
            if job in self._queue:  # not started: it never runs
                self._queue.remove(job)
            raise

    async def drain(self) -> None:
        """Wait until every queued write has committed or failed."""
        while self._group is not None:
            await asyncio.wait([self._group])

    def _start(self) -> None:
        jobs = [self._queue.popleft() for _ in range(min(len(self._queue), MAX_GROUP))]
        loop = asyncio.get_running_loop()
        group: asyncio.Future[None] = loop.run_in_executor(
            self._executor, self._mapped, lambda: self._commit(jobs)
        )
        self._group = group
        group.add_done_callback(lambda done: self._settle(jobs, done))

    def _settle(self, jobs: list[_Write[Any]], done: asyncio.Future[None]) -> None:
        """Hand each caller its outcome (all of them the COMMIT's error if it failed)."""
        self._group = None
        failure = None if done.cancelled() else done.exception()
        for job in jobs:
            if job.future.done():
                continue  # its caller was cancelled meanwhile; the write stands
            error = failure or job.error
            if done.cancelled():
                job.future.cancel()
            elif error is not None:
                job.future.set_exception(error)
            else:
                job.future.set_result(job.value)
        if self._queue:
            self._start()

    # On the store's thread.

    def _commit(self, jobs: list[_Write[Any]]) -> None:
        db = self._connection()
        if self._before_group is not None:
            self._before_group(db)
        db.execute("BEGIN IMMEDIATE")
        try:
            wrote = self._run_all(db, jobs)
            if db.in_transaction:
                db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        if wrote:
            self.commits += 1
            self.writes += len(jobs)
            if self._after_commit is not None:
                self._after_commit()

    def _run_all(self, db: sqlite3.Connection, jobs: list[_Write[Any]]) -> bool:
        """Run each write in a savepoint of its own; return whether one that stands wrote.

        A group's only write needs no savepoint: if it fails, the transaction rolls back.
        """
        if len(jobs) == 1:
            return self._run(db, jobs[0], "ROLLBACK")
        wrote = False
        for job in jobs:
            db.execute("SAVEPOINT write")
            wrote = self._run(db, job, "ROLLBACK TO write") or wrote
            db.execute("RELEASE write")
        return wrote

    def _run(self, db: sqlite3.Connection, job: _Write[Any], undo: str) -> bool:
        """Run one write, undone by ``undo`` if it fails; return whether it changed a row."""
        changes = db.total_changes
        try:
            job.value = self._mapped(job.fn)
        except Exception as exc:
            job.error = exc
            db.execute(undo)
            return False
        return db.total_changes != changes
