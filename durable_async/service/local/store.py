"""Where the local service keeps executions, operations and history events.

:class:`Store` is what the engine needs. Every call that changes an execution is one
:meth:`Store.transact`: read a :class:`Snapshot`, run the engine's pure apply step on it, and
write the execution row, the changed operations and the new history events together or not
at all, so a process killed at any moment leaves either all or none of a call. Two stores
implement it: :class:`MemoryStore` (tests) and :class:`SqliteStore` (the default: one SQLite
file in WAL mode on its own thread, surviving restarts).

Several processes may share one SQLite store. The store keeps each execution's lease (who
drives it, see :mod:`._lease`), and :meth:`Store.data_version` lets a runner notice what other
processes wrote (a callback answered through another CLI or HTTP service).
"""

from __future__ import annotations

import json
import marshal
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

from durable_async.service.local._lease import Lease, holder_after
from durable_async.service.local._model import (
    Changes,
    ExecutionRecord,
    Json,
    OperationRow,
    Snapshot,
    dumps,
)
from durable_async.service.local._sqlite import SqliteStore

__all__ = ["Changes", "MemoryStore", "Snapshot", "SqliteStore", "Store"]

T = TypeVar("T")


class Store(Protocol):
    """Persistence for the local durable execution service."""

    async def open(self) -> None:
        """Prepare the store for use; idempotent."""
        ...

    async def close(self) -> None:
        """Release the store's resources; idempotent."""
        ...

    async def __aenter__(self) -> Self:
        """Open the store."""
        ...

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the store."""
        ...

    async def create(
        self, execution: ExecutionRecord, operation: OperationRow, events: Sequence[Json]
    ) -> None:
        """Insert a new execution with its EXECUTION operation and first events, atomically."""
        ...

    async def load(self, arn: str, ids: Collection[str], now_ms: int) -> Snapshot | None:
        """Read an execution with the operations ``ids`` and its due and unseen operations."""
        ...

    async def commit(
        self, execution: ExecutionRecord, operations: Sequence[OperationRow], events: Sequence[Json]
    ) -> None:
        """Write the execution row, upsert ``operations`` and append ``events``, atomically."""
        ...

    async def transact(
        self,
        arn: str,
        ids: Collection[str],
        now_ms: int,
        work: Callable[[Snapshot | None], tuple[T, Changes | None]],
    ) -> T:
        """Load like :meth:`load`, run ``work`` and commit the changes it returns, atomically.

        ``work`` is plain synchronous code and may run on the store's own thread; when it
        raises, nothing is written and the exception propagates.
        """
        ...

    async def get_execution(self, arn: str) -> ExecutionRecord | None:
        """Return the execution with this ARN, if any."""
        ...

    async def find_execution(self, function_name: str, name: str) -> str | None:
        """Return the ARN of the function's execution with this name, if any."""
        ...

    async def list_executions(self, function_name: str | None = None) -> list[ExecutionRecord]:
        """Return every execution (of one function, if given) in start order."""
        ...

    async def list_operations(
        self, arn: str, after: int = -1, limit: int | None = None
    ) -> list[OperationRow]:
        """Return operations with position greater than ``after``, in creation order."""
        ...

    async def waiting_operations(self, arn: str) -> list[OperationRow]:
        """Return the operations that wait on something other than the handler."""
        ...

    async def list_events(self, arn: str) -> list[Json]:
        """Return the execution's history events in order."""
        ...

    async def take_lease(self, lease: Lease) -> Lease:
        """Store ``lease`` unless another live lease holds its execution; return the holder.

        Taking a lease again under its own token renews it. Atomic across processes.
        """
        ...

    async def renew_leases(self, leases: Sequence[Lease]) -> None:
        """Extend each of ``leases`` that is still held under its token to its ``expires``."""
        ...

    async def release_lease(self, lease: Lease) -> None:
        """Free the execution's lease if ``lease`` still holds it."""
        ...

    async def data_version(self) -> int:
        """Return a number that changes when another connection or process writes the store."""
        ...


@dataclass
class _Entry:
    record: bytes
    ops: dict[str, tuple[int, int, bytes, str]] = field(default_factory=dict)
    # Ids ordered by when they last changed, so unseen changes are read from the end.
    by_seq: dict[str, int] = field(default_factory=dict)
    due: dict[str, int] = field(default_factory=dict)
    waiting: set[str] = field(default_factory=set)
    # The events of each commit, frozen together: one marshal call for a commit's events
    # costs about half of one call per event.
    events: list[bytes] = field(default_factory=list)


class MemoryStore:
    """A store that lives in this process; values are kept serialized so nothing is shared.

    What a caller reads is always a fresh copy, and what the engine wrote cannot change
    after the commit. Values are kept in :mod:`marshal` form (:func:`_freeze`): a third of the
    cost of JSON text to write and half to read, and like text not tracked by the cyclic GC.
    """

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._leases: dict[str, Lease] = {}

    async def open(self) -> None:
        """Do nothing: memory needs no preparation."""

    async def close(self) -> None:
        """Do nothing: the data lives as long as this object."""

    async def __aenter__(self) -> Self:
        """Return the store."""
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Do nothing."""

    async def create(
        self, execution: ExecutionRecord, operation: OperationRow, events: Sequence[Json]
    ) -> None:
        """Insert a new execution with its EXECUTION operation and first events."""
        if execution.arn in self._entries:
            raise ValueError(f"Execution {execution.arn!r} already exists; use a new ARN.")
        self._entries[execution.arn] = _Entry(record=_freeze_record(execution))
        await self.commit(execution, [operation], events)

    async def load(self, arn: str, ids: Collection[str], now_ms: int) -> Snapshot | None:
        """Read an execution with the operations ``ids`` and its due and unseen operations."""
        entry = self._entries.get(arn)
        if entry is None:
            return None
        execution = _record(entry.record)
        due = [i for i, t in entry.due.items() if t <= now_ms]
        unseen = _unseen(entry, execution.delivered_seq)
        wanted = {i for i in (*ids, *due, *unseen) if i in entry.ops}
        rows = {i: _row(i, entry.ops[i]) for i in wanted}
        by_position = sorted(wanted, key=lambda i: rows[i].position)
        due_set, unseen_set = set(due), set(unseen)
        return Snapshot(
            execution,
            {i: rows[i] for i in by_position},
            [i for i in by_position if i in due_set],
            [i for i in by_position if i in unseen_set],
        )

    async def commit(
        self, execution: ExecutionRecord, operations: Sequence[OperationRow], events: Sequence[Json]
    ) -> None:
        """Write the execution, upsert ``operations`` and append ``events`` in one step."""
        entry = self._entries[execution.arn]
        entry.record = _freeze_record(execution)
        for row in sorted(operations, key=lambda row: row.seq):
            _put(entry, row)
        if events:
            entry.events.append(_freeze(list(events)))

    async def transact(
        self,
        arn: str,
        ids: Collection[str],
        now_ms: int,
        work: Callable[[Snapshot | None], tuple[T, Changes | None]],
    ) -> T:
        """Load, run ``work`` and commit its changes with no await in between."""
        result, changes = work(await self.load(arn, ids, now_ms))
        if changes is not None:
            await self.commit(changes.execution, changes.operations, changes.events)
        return result

    async def get_execution(self, arn: str) -> ExecutionRecord | None:
        """Return the execution with this ARN, if any."""
        entry = self._entries.get(arn)
        return None if entry is None else _record(entry.record)

    async def find_execution(self, function_name: str, name: str) -> str | None:
        """Return the ARN of the function's execution with this name, if any."""
        for record in await self.list_executions(function_name):
            if record.name == name:
                return record.arn
        return None

    async def list_executions(self, function_name: str | None = None) -> list[ExecutionRecord]:
        """Return every execution (of one function, if given) in start order."""
        records = [_record(entry.record) for entry in self._entries.values()]
        if function_name is not None:
            records = [r for r in records if r.function_name == function_name]
        return records

    async def list_operations(
        self, arn: str, after: int = -1, limit: int | None = None
    ) -> list[OperationRow]:
        """Return operations with position greater than ``after``, in creation order."""
        entry = self._entries.get(arn)
        if entry is None:
            return []
        values = list(entry.ops.items())[after + 1 :]
        if limit is not None:
            values = values[:limit]
        return [_row(i, value) for i, value in values]

    async def waiting_operations(self, arn: str) -> list[OperationRow]:
        """Return the operations that wait on something other than the handler."""
        entry = self._entries.get(arn)
        if entry is None:
            return []
        rows = [_row(i, entry.ops[i]) for i in entry.waiting]
        return sorted(rows, key=lambda row: row.position)

    async def list_events(self, arn: str) -> list[Json]:
        """Return the execution's history events in order."""
        entry = self._entries.get(arn)
        if entry is None:
            return []
        return [event for frozen in entry.events for event in marshal.loads(frozen)]

    async def take_lease(self, lease: Lease) -> Lease:
        """Store ``lease`` unless another live lease holds its execution; return the holder."""
        holder = holder_after(self._leases.get(lease.arn), lease, time.time())
        self._leases[lease.arn] = holder
        return holder

    async def renew_leases(self, leases: Sequence[Lease]) -> None:
        """Extend each of ``leases`` that is still held under its token to its ``expires``."""
        for lease in leases:
            held = self._leases.get(lease.arn)
            if held is not None and held.token == lease.token:
                self._leases[lease.arn] = lease

    async def release_lease(self, lease: Lease) -> None:
        """Free the execution's lease if ``lease`` still holds it."""
        held = self._leases.get(lease.arn)
        if held is not None and held.token == lease.token:
            del self._leases[lease.arn]

    async def data_version(self) -> int:
        """Return 0: nothing outside this process writes a memory store."""
        return 0


# Version 2 writes no back-references, so an object met twice reads back as two copies, as
# it would from JSON text.
_MARSHAL_VERSION = 2
_NO_META = "{}"


def _freeze(value: Any) -> bytes:
    """Return ``value`` serialized so that thawing it gives what its JSON text would read back.

    The engine builds data, events and the execution record from dicts, lists, str, int,
    bool and None, putting in only values it checked, and marshal reads those back equal to
    a JSON round trip. What marshal refuses (a subclass of str or int that passed a check) is
    taken through JSON text first, which turns it into the plain type.
    """
    try:
        return marshal.dumps(value, _MARSHAL_VERSION)
    except ValueError:
        return marshal.dumps(json.loads(dumps(value)), _MARSHAL_VERSION)


def _freeze_record(execution: ExecutionRecord) -> bytes:
    return _freeze(vars(execution))


def _record(frozen: bytes) -> ExecutionRecord:
    return ExecutionRecord(**marshal.loads(frozen))


def _row(operation_id: str, value: tuple[int, int, bytes, str]) -> OperationRow:
    position, seq, data, meta = value
    # meta may carry a caller's value unchecked (a chained invoke's trace id), so it stays
    # JSON text; most operations have none.
    thawed = {} if meta == _NO_META else json.loads(meta)
    return OperationRow(operation_id, position, seq, marshal.loads(data), thawed)


def _unseen(entry: _Entry, delivered_seq: int) -> list[str]:
    unseen: list[str] = []
    for operation_id in reversed(entry.by_seq):
        if entry.by_seq[operation_id] <= delivered_seq:
            break
        unseen.append(operation_id)
    return unseen


def _put(entry: _Entry, row: OperationRow) -> None:
    operation_id, seq = row.id, row.seq
    meta = dumps(row.meta) if row.meta else _NO_META
    entry.ops[operation_id] = (row.position, seq, _freeze(row.data), meta)
    # A write that changed only meta keeps its seq, and so its place in the change order.
    by_seq = entry.by_seq
    if by_seq.get(operation_id) != seq:
        by_seq.pop(operation_id, None)
        by_seq[operation_id] = seq
    due = row.due_ms
    if due is None:
        entry.due.pop(operation_id, None)
    else:
        entry.due[operation_id] = due
    if row.waiting:
        entry.waiting.add(operation_id)
    else:
        entry.waiting.discard(operation_id)
