"""Admission to the store: a few calls at once, and client calls ahead of the queue.

The SQLite store runs every call on its one thread, first come first served. With hundreds of
executions in flight, their checkpoints and invocations keep hundreds of calls queued there,
and a start request queued behind them all (at 280 in flight, a start waited about 150 ms per
store call, and starts also queued behind one lock). So the engine lets at most ``limit``
store calls in at once and queues the rest itself, in two lanes:

* the client lane: calls made for a client of the service, that is every start, and whatever
  runs inside :func:`client_calls` (the HTTP routes a client calls: callbacks, stop,
  describe, list, history);
* the drive lane: everything else, the traffic of executions being driven (checkpoints,
  invocations, a runner's polling).

When both lanes wait, they take turns, so a client call waits for at most ``limit`` store
calls and its own lane, and driving is never starved. The store thread stays as busy as
before: ``limit`` calls are enough to have the next one ready when one ends, and for the
SQLite store to commit the writes of many executions together (:mod:`._commit`), where a
client's write goes to the head of the next transaction.

:class:`AdmittedStore` wraps a :class:`Store` so every call the engine makes is admitted.
Text that cannot be stored (a lone surrogate in an ARN or a name) cannot name anything
stored either, so such a look-up answers "nothing" without reaching the store.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Collection, Sequence
from types import TracebackType
from typing import TypeVar

from durable_async.service.local._lanes import client_calls, in_client_lane
from durable_async.service.local._model import (
    Changes,
    ExecutionRecord,
    Json,
    OperationRow,
    Snapshot,
)
from durable_async.service.local.store import Store

__all__ = ["AdmittedStore", "Gate", "client_calls"]

T = TypeVar("T")


class Gate:
    """Let at most ``limit`` holders in at once; waiters of the two lanes take turns."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"The gate's limit must be at least 1, got {limit}.")
        self.limit = limit
        self._inside = 0
        self._client: deque[asyncio.Future[None]] = deque()
        self._drive: deque[asyncio.Future[None]] = deque()
        self._client_turn = True

    @property
    def inside(self) -> int:
        """Return how many holders are inside now."""
        return self._inside

    @property
    def waiting(self) -> tuple[int, int]:
        """Return how many wait in the client lane and in the drive lane."""
        return len(self._client), len(self._drive)

    async def __aenter__(self) -> None:
        """Wait for a place, in the lane of the current context."""
        if self._inside < self.limit and not self._client and not self._drive:
            self._inside += 1
            return
        lane = self._client if in_client_lane() else self._drive
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        lane.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._leave()  # given a place, then cancelled before taking it
            else:
                with contextlib.suppress(ValueError):
                    lane.remove(waiter)
            raise

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Give the place to the next waiter."""
        self._leave()

    def _leave(self) -> None:
        self._inside -= 1
        while self._inside < self.limit:
            waiter = self._next()
            if waiter is None:
                return
            if not waiter.done():
                self._inside += 1
                waiter.set_result(None)

    def _next(self) -> asyncio.Future[None] | None:
        if self._client and self._drive:
            self._client_turn = not self._client_turn
            return (self._drive if self._client_turn else self._client).popleft()
        lane = self._client or self._drive
        return lane.popleft() if lane else None


class AdmittedStore:
    """The engine's view of a :class:`Store`: every call passes the :class:`Gate`."""

    def __init__(self, store: Store, gate: Gate) -> None:
        self._store = store
        self._gate = gate

    async def create(
        self, execution: ExecutionRecord, operation: OperationRow, events: Sequence[Json]
    ) -> None:
        """Insert a new execution (see :meth:`Store.create`)."""
        async with self._gate:
            await self._store.create(execution, operation, events)

    async def transact(
        self,
        arn: str,
        ids: Collection[str],
        now_ms: int,
        work: Callable[[Snapshot | None], tuple[T, Changes | None]],
    ) -> T:
        """Load, run ``work`` and commit atomically (see :meth:`Store.transact`)."""
        if not _storable(arn):
            return work(None)[0]
        stored_ids = [i for i in ids if _storable(i)]  # the others name nothing stored
        async with self._gate:
            return await self._store.transact(arn, stored_ids, now_ms, work)

    async def get_execution(self, arn: str) -> ExecutionRecord | None:
        """Return the execution with this ARN, if any."""
        if not _storable(arn):
            return None
        async with self._gate:
            return await self._store.get_execution(arn)

    async def find_execution(self, function_name: str, name: str) -> str | None:
        """Return the ARN of the function's execution with this name, if any."""
        if not _storable(function_name, name):
            return None
        async with self._gate:
            return await self._store.find_execution(function_name, name)

    async def list_executions(self, function_name: str | None = None) -> list[ExecutionRecord]:
        """Return every execution (of one function, if given) in start order."""
        if function_name is not None and not _storable(function_name):
            return []
        async with self._gate:
            return await self._store.list_executions(function_name)

    async def list_operations(
        self, arn: str, after: int = -1, limit: int | None = None
    ) -> list[OperationRow]:
        """Return operations with position greater than ``after``, in creation order."""
        if not _storable(arn):
            return []
        async with self._gate:
            return await self._store.list_operations(arn, after, limit)

    async def waiting_operations(self, arn: str) -> list[OperationRow]:
        """Return the operations that wait on something other than the handler."""
        if not _storable(arn):
            return []
        async with self._gate:
            return await self._store.waiting_operations(arn)

    async def list_events(self, arn: str) -> list[Json]:
        """Return the execution's history events in order."""
        if not _storable(arn):
            return []
        async with self._gate:
            return await self._store.list_events(arn)


def _storable(*texts: str) -> bool:
    """Return True when every text can be written to (and so found in) the store."""
    for text in texts:
        if not isinstance(text, str):
            return False
        if not text.isascii():
            try:
                text.encode()
            except UnicodeEncodeError:
                return False
    return True
