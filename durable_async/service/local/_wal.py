"""WAL checkpoints off the commit path, with the write-ahead log kept bounded.

SQLite checkpoints by itself inside the COMMIT that takes the log past 1,000 pages: that
commit copies the log into the database and fsyncs the database file before its caller hears
of it. The store turns that off on its writing connection and checkpoints on a thread and a
connection of its own instead: after a commit leaves at least ``frames`` pages in the log that
the database does not have yet, a PASSIVE checkpoint runs beside the next writes. A PASSIVE
checkpoint never blocks a writer, but SQLite restarts the log from its beginning only at a
write that finds every page of it copied, and the writes made during the checkpoint are not.
So the writing thread finishes the job before its next transaction once few pages are left
(at most an eighth of ``frames``), and the log restarts. A writer that outruns the
checkpoints could still grow the log: once it holds ``limit`` pages, the writing thread waits
for the checkpoint in progress and copies the rest itself.

How many pages the log holds is read from the WAL index (the ``-shm`` file: its header's
``mxFrame`` and ``nBackfill``, in native byte order, as SQLite documents the format). Where
that cannot be read the store keeps SQLite's own checkpoints.

A checkpoint changes nothing a reader sees and loses nothing: it copies committed pages.
It fsyncs the log before and the database after (the store's ``synchronous``), so once the
log restarts the copied pages are on disk.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import struct
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

__all__ = ["CHECKPOINT_FRAMES", "LIMIT_FRAMES", "Checkpoints", "WalKeeper", "log_frames"]

#: Pages left in the log after a commit that start a checkpoint beside the writes (SQLite's
#: own autocheckpoint threshold).
CHECKPOINT_FRAMES = 1000
#: Pages in the log at which the writer checkpoints before its next transaction.
LIMIT_FRAMES = 8000

_log = logging.getLogger(__name__)
_WAL_INDEX_VERSION = 3007000
# Native byte order: iVersion at 0, isInit at 12, mxFrame at 16, nBackfill at 96 (after the
# header's two 48-byte copies).
_HEADER = struct.Struct("=I8xB3xI76xI")
_HEADER_BYTES = _HEADER.size


class Checkpoints(NamedTuple):
    """The log checkpoints a store ran, by where they ran."""

    beside: int  # on the keeper's thread, beside the writes
    finishing: int  # by the writer, for the few pages left after one beside (the log restarts)
    forced: int  # by the writer, because the log reached its bound


def log_frames(shm: Path) -> tuple[int, int] | None:
    """Return the log's pages and how many of them the database has (``mxFrame, nBackfill``).

    None when the WAL index cannot be read or is not in the format SQLite documents.
    """
    try:
        with open(shm, "rb") as file:
            header = file.read(_HEADER_BYTES)
    except OSError:
        return None
    return _parse(header)


def _parse(header: bytes) -> tuple[int, int] | None:
    if len(header) < _HEADER_BYTES:
        return None
    version, initialised, frames, copied = _HEADER.unpack_from(header)
    if version != _WAL_INDEX_VERSION or not initialised:
        return None
    return frames, copied


class WalKeeper:
    """Checkpoint a store's log on a thread of its own; bound it from the writing thread.

    ``connect`` opens the checkpointing connection (on the keeper's thread). ``after_commit``
    and ``before_write`` run on the store's writing thread.
    """

    def __init__(
        self,
        path: Path,
        connect: Callable[[], sqlite3.Connection],
        *,
        frames: int = CHECKPOINT_FRAMES,
        limit: int = LIMIT_FRAMES,
    ) -> None:
        self.shm = Path(f"{path}-shm")
        self.frames = frames
        self.limit = limit
        self.beside = self.finishing = self.forced = 0
        self._connect = connect
        self._db: sqlite3.Connection | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="durable-sqlite-checkpoint")
        self._running: Future[None] | None = None
        self._fd: int | None = None

    def usable(self) -> bool:
        """Open the WAL index; return False when it cannot be read (keep SQLite's checkpoints)."""
        if not hasattr(os, "pread"):  # not a POSIX system
            return False
        try:
            self._fd = os.open(self.shm, os.O_RDONLY)
        except OSError:
            return False
        return self._frames() is not None

    def after_commit(self) -> None:
        """Start a checkpoint beside the writes when the log holds enough new pages."""
        found = self._frames()
        if found is None or found[0] - found[1] < self.frames or self._busy():
            return
        self._running = self._thread.submit(self._checkpoint)

    @property
    def checkpoints(self) -> Checkpoints:
        """Return how many checkpoints ran, by where."""
        return Checkpoints(self.beside, self.finishing, self.forced)

    def before_write(self, db: sqlite3.Connection) -> None:
        """Copy what is left of the log on the writing connection, when little or too much is.

        Little: a checkpoint beside the writes copied the rest, so the log restarts at this
        write. Too much: the log reached ``limit`` pages.
        """
        found = self._frames()
        # Nothing left to copy: the log restarts at this write unless a reader holds it.
        if found is None or found[1] >= found[0]:
            return
        left = found[0] - found[1]
        if found[0] >= self.limit:
            if self._running is not None:
                self._running.exception()  # one checkpointer at a time: PASSIVE would give up
            self.forced += self._copy(db)
        elif found[1] and left <= self.frames // 8 and not self._busy():
            self.finishing += self._copy(db)

    def _copy(self, db: sqlite3.Connection) -> int:
        try:
            db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:
            # The next commit asks again; the writer's bound keeps the log short meanwhile.
            _log.warning("Checkpointing the SQLite store's log failed", exc_info=True)
            return 0
        return 1

    def close(self) -> None:
        """Wait for the checkpoint in progress; close the keeper's connection and file."""
        if self._running is not None:
            self._running.exception()
            self._running = None
        self._thread.submit(self._disconnect).result()
        self._thread.shutdown()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _busy(self) -> bool:
        return self._running is not None and not self._running.done()

    def _frames(self) -> tuple[int, int] | None:
        if self._fd is None:
            return None
        try:
            return _parse(os.pread(self._fd, _HEADER_BYTES, 0))
        except OSError:
            return None

    # On the keeper's thread.

    def _checkpoint(self) -> None:
        try:
            if self._db is None:
                self._db = self._connect()
        except sqlite3.Error:
            _log.warning("Opening a connection to checkpoint the log failed", exc_info=True)
            return
        self.beside += self._copy(self._db)

    def _disconnect(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
