"""The working set of one call that changes an execution, and checks its handlers share."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal

from durable_async.service.local._history import error_block, make_event, result_block
from durable_async.service.local._model import Changes, Json, OperationRow, Snapshot, invalid

__all__ = [
    "Batch",
    "Handler",
    "TargetKind",
    "TargetResolver",
    "outcome",
    "require",
    "require_new",
    "set_field",
]

# What an operation keeps of the update that created it, besides its Id and Type.
_CREATED_KEYS = ("ParentId", "Name", "SubType")
# How a chained invoke's target runs: as its own durable execution, or as one plain call.
TargetKind = Literal["durable", "function"]
# Says how a function name can be invoked; None when nothing by that name can be.
TargetResolver = Callable[[str], TargetKind | None]


class Batch:
    """The operations one call reads and changes, the events it adds, and the time it runs at."""

    def __init__(
        self, snapshot: Snapshot, now_ms: int, targets: TargetResolver | None = None
    ) -> None:
        self.execution = snapshot.execution
        # The EXECUTION operation's Id, which every update naming a ParentId is compared with.
        self.execution_id = snapshot.execution.execution_id
        self.ops = snapshot.operations
        self.now_ms = now_ms
        self.targets = targets
        self.changed: dict[str, OperationRow] = {}
        self.events: list[Json] = []
        # Set when a chained invoke started, so its target can be dispatched after the commit.
        self.invokes_started = False

    def create(self, update: Json, status: str) -> OperationRow:
        """Record a new operation from ``update`` with ``status``."""
        data: Json = {"Id": update["Id"], "Type": update["Type"]}
        for key in _CREATED_KEYS:
            if value := update.get(key):
                data[key] = value
        data["Status"] = status
        data["StartTimestamp"] = self.now_ms
        row = OperationRow(update["Id"], self.execution.op_count, 0, data)
        self.execution.op_count += 1
        self.ops[row.id] = row
        self.touch(row)
        return row

    def touch(self, row: OperationRow) -> None:
        """Mark ``row`` changed by this call."""
        self.execution.op_seq += 1
        row.seq = self.execution.op_seq
        self.changed[row.id] = row

    def save(self, row: OperationRow) -> None:
        """Write ``row`` with this call without showing the handler a change (meta only)."""
        self.changed.setdefault(row.id, row)

    def end(self, row: OperationRow, status: str) -> None:
        """Move ``row`` to a terminal ``status`` now."""
        row.data["Status"] = status
        row.data["EndTimestamp"] = self.now_ms
        self.touch(row)

    def event(self, event_type: str, row: OperationRow | None, details: Json | None) -> None:
        """Append a history event about ``row``."""
        self.events.append(make_event(self.execution, event_type, self.now_ms, row, details))

    def changes(self) -> Changes:
        """Return what the store must write for this call."""
        return Changes(self.execution, list(self.changed.values()), self.events)


Handler = Callable[[Batch, Json, OperationRow | None], None]


def require(row: OperationRow | None, allowed: Iterable[str], update: Json) -> OperationRow:
    """Return ``row`` if its status is one of ``allowed``; refuse the update otherwise."""
    if row is None or row.status not in allowed:
        state = "does not exist" if row is None else f"is {row.status}"
        raise invalid(
            f"{update['Type']} {update['Id']!r} {state}, so it cannot {update['Action']}; "
            f"that needs status {' or '.join(allowed)}."
        )
    return row


def require_new(row: OperationRow | None, update: Json) -> None:
    """Refuse ``update`` when its operation already exists."""
    if row is not None:
        raise invalid(
            f"{update['Type']} {update['Id']!r} already exists ({row.status}); an operation is "
            "started once, so use a new id for a new operation."
        )


def outcome(update: Json) -> Json:
    """Return the Result and Error blocks of an event about ``update`` (a new dict)."""
    payload, error = update.get("Payload"), update.get("Error")
    if payload is None and error is None:
        return {}
    return {**result_block(payload), **error_block(error)}


def set_field(details: Json, key: str, value: object) -> None:
    """Set ``details[key]``, or remove it when ``value`` is None."""
    if value is None:
        details.pop(key, None)
    else:
        details[key] = value
