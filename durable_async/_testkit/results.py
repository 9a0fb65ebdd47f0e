"""What a test reads back: an execution's operations as a tree, found by name or name path."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from durable_async._ids import operation_id
from durable_async._models import ErrorObject, Operation, OperationType
from durable_async._testkit import paths
from durable_async.serdes import (
    DEFAULT_JSON_SERDES,
    EXTENDED_TYPES_SERDES,
    PASS_THROUGH_SERDES,
    SerDes,
    deserialize,
)

__all__ = ["DurableTestResult", "ExecutionStatus", "RecordedOperation", "build_operations"]

_ITEM_SUB_TYPES = frozenset({"MapIteration", "ParallelBranch"})
# What each type's operations are written with when the handler names no SerDes.
_DEFAULT_SERDES: dict[OperationType, SerDes[Any]] = {
    OperationType.STEP: EXTENDED_TYPES_SERDES,
    OperationType.CONTEXT: EXTENDED_TYPES_SERDES,
    OperationType.CALLBACK: PASS_THROUGH_SERDES,
    OperationType.CHAINED_INVOKE: DEFAULT_JSON_SERDES,
    OperationType.EXECUTION: DEFAULT_JSON_SERDES,
}


class ExecutionStatus(StrEnum):
    """How an execution ended (RUNNING while it has not)."""

    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"
    STOPPED = "STOPPED"


class _Lookups:
    """Finding operations by name path, for a result and for an operation's children alike.

    ``get_operation(path, op_type)`` is the one search; the rest name a type.
    """

    __slots__ = ()

    def get_operation(self, path: str, op_type: OperationType | None = None) -> RecordedOperation:
        raise NotImplementedError

    def get_operation_by_name(self, name: str) -> RecordedOperation:
        """Return the first operation named ``name`` (the reference's name)."""
        return self.get_operation(paths.escape(name))

    def get_step(self, path: str) -> RecordedOperation:
        """Return the step at ``path`` (or the first step named ``path`` at any depth)."""
        return self.get_operation(path, OperationType.STEP)

    def get_wait(self, path: str) -> RecordedOperation:
        """Return the wait at ``path``."""
        return self.get_operation(path, OperationType.WAIT)

    def get_callback(self, path: str) -> RecordedOperation:
        """Return the callback at ``path``."""
        return self.get_operation(path, OperationType.CALLBACK)

    def get_context(self, path: str) -> RecordedOperation:
        """Return the CONTEXT operation at ``path`` (child context, map, item, branch...)."""
        return self.get_operation(path, OperationType.CONTEXT)

    def get_invoke(self, path: str) -> RecordedOperation:
        """Return the chained invoke at ``path``."""
        return self.get_operation(path, OperationType.CHAINED_INVOKE)


@dataclass(slots=True)
class RecordedOperation(_Lookups, Operation):
    """A recorded operation with its place in the tree: its path, index and children.

    ``path`` names it from the root (``"price-lines/1/price"``), ``index`` is its position in
    its map or parallel (None elsewhere), ``child_operations`` the operations it contains, in
    the order they were created.
    """

    path: str = ""
    index: int | None = None
    child_operations: list[RecordedOperation] = field(
        default_factory=list, repr=False, compare=False
    )

    @property
    def segment(self) -> paths.Segment:
        """This operation as one level of a path."""
        return paths.Segment(self.name, self.id, self.index)

    def value(self, serdes: SerDes[Any] | None = None) -> Any:
        """Decode ``result`` with ``serdes``, by default the one the SDK writes this type with.

        Steps and contexts: ``ExtendedTypesSerDes``; callbacks: the text as sent; chained
        invokes: JSON. Pass the operation's own SerDes when its config names one.
        """
        chosen = serdes or _DEFAULT_SERDES.get(self.type, DEFAULT_JSON_SERDES)
        return deserialize(chosen, self.result, self.id, "", label=self.path)

    def get_all_operations(self) -> list[RecordedOperation]:
        """Return every operation below this one, parents before children."""
        return list(_walk(self.child_operations))

    def get_operation(self, path: str, op_type: OperationType | None = None) -> RecordedOperation:
        """Return the operation at ``path`` below this one (a bare name: the first anywhere)."""
        return _find_one(self.child_operations, path, op_type, where=f"in {self.path!r}")

    def get_operations(self, path: str) -> list[RecordedOperation]:
        """Return every operation below this one that ``path`` matches, in creation order."""
        return _find(self.child_operations, path, None)


@dataclass
class DurableTestResult(_Lookups):
    """An execution as the service recorded it.

    ``result`` is the handler's return value decoded from JSON; ``operations`` every operation
    in creation order (the EXECUTION operation first); ``checkpoint_calls`` is None where the
    service does not report it (the cloud runner).
    """

    arn: str
    status: ExecutionStatus
    result: Any
    error: ErrorObject | None
    operations: list[RecordedOperation]
    invocations: int
    checkpoint_calls: int | None

    @property
    def root_operations(self) -> list[RecordedOperation]:
        """The operations the handler itself started (each with its ``child_operations``)."""
        return _roots(self.operations)

    def get_all_operations(self) -> list[RecordedOperation]:
        """Every operation but the EXECUTION one, parents before children."""
        return list(_walk(self.root_operations))

    def get_operation(self, path: str, op_type: OperationType | None = None) -> RecordedOperation:
        """Return the operation at ``path``, of ``op_type`` when given.

        A path with ``/`` starts at the handler (``"price-lines/1/price"``: step ``price`` of
        item 1 of the map ``price-lines``); a bare name finds the first operation of that name
        at any depth, in creation order. KeyError names what exists where the path stops.
        """
        return _find_one(self.root_operations, path, op_type, where="in this execution")

    def get_operations(self, path: str) -> list[RecordedOperation]:
        """Return every operation ``path`` matches (``"items/*/price"``), in creation order."""
        return _find(self.root_operations, path, None)


def build_operations(wire: Iterable[dict[str, Any]]) -> list[RecordedOperation]:
    """Parse ``Operation`` dicts (creation order) into linked RecordedOperations."""
    flat = [_recorded(Operation.from_wire(data)) for data in wire]
    by_id = {op.id: op for op in flat}
    for op in flat:
        parent = by_id.get(op.parent_id or "")
        if parent is not None:
            parent.child_operations.append(op)
    for parent in flat:
        if parent.sub_type in ("Map", "Parallel"):
            _number_items(parent)
    for root in _roots(flat):
        _set_paths([root], "")
    return flat


def decode_result(result: str | None) -> Any:
    """Decode an execution's JSON result; an empty or absent one is None."""
    return json.loads(result) if result else None


def _recorded(op: Operation) -> RecordedOperation:
    fields = {name: getattr(op, name) for name in Operation.__dataclass_fields__}
    return RecordedOperation(**fields)


def _roots(flat: list[RecordedOperation]) -> list[RecordedOperation]:
    ids = {op.id for op in flat}
    return [
        op
        for op in flat
        if op.type is not OperationType.EXECUTION and (op.parent_id or "") not in ids
    ]


def _number_items(parent: RecordedOperation) -> None:
    """Give each item or branch its 0-based index, which its id is derived from."""
    wanted = {op.id: op for op in parent.child_operations if op.sub_type in _ITEM_SUB_TYPES}
    # Items start in index order, so the indexes found are nearly always 0..len-1.
    limit = len(wanted) + 1024
    index = 0
    while wanted and index < limit:
        found = wanted.pop(operation_id(parent.id, index), None)
        if found is not None:
            found.index = index
        index += 1


def _set_paths(level: list[RecordedOperation], prefix: str) -> None:
    for op in level:
        op.path = f"{prefix}{op.segment.text}"
        _set_paths(op.child_operations, f"{op.path}/")


def _walk(level: list[RecordedOperation]) -> Iterator[RecordedOperation]:
    for op in level:
        yield op
        yield from _walk(op.child_operations)


def _find(
    roots: list[RecordedOperation], path: str, op_type: OperationType | None
) -> list[RecordedOperation]:
    patterns = paths.split(path)
    if len(patterns) == 1:
        found = [op for op in _walk(roots) if paths.matches(patterns[0], op.segment)]
    else:
        found = roots
        for depth, pattern in enumerate(patterns):
            if depth:
                found = [child for op in found for child in op.child_operations]
            found = [op for op in found if paths.matches(pattern, op.segment)]
    return [op for op in found if op_type is None or op.type is op_type]


def _find_one(
    roots: list[RecordedOperation], path: str, op_type: OperationType | None, where: str
) -> RecordedOperation:
    try:
        found = _find(roots, path, op_type)
    except ValueError:
        found = []
    if not found:  # a name that holds a '/' also finds its operation as it is written
        found = [op for op in _walk(roots) if op.name == path]
        found = [op for op in found if op_type is None or op.type is op_type]
    if found:
        return found[0]
    kind = "operation" if op_type is None else f"{op_type.value} operation"
    raise KeyError(f"No {kind} at {path!r} {where}; {_what_exists(roots, path, op_type)}")


def _what_exists(roots: list[RecordedOperation], path: str, op_type: OperationType | None) -> str:
    """Say what the path could have named: the names at the level where it stopped matching."""
    patterns = paths.split(path)
    if len(patterns) == 1:
        names = sorted(
            {op.segment.text for op in _walk(roots) if op_type is None or op.type is op_type}
        )
        return f"it has {names}."
    level, walked = roots, []
    for pattern in patterns[:-1]:
        matched = [op for op in level if paths.matches(pattern, op.segment)]
        if not matched:
            break
        walked.append(pattern)
        level = [child for op in matched for child in op.child_operations]
    under = "/".join(walked) or "the top level"
    names = [f"{op.segment.text} ({op.type.value})" for op in level]
    return f"under {under} there are {names}."
