"""What one invocation knows: every operation the service has reported, by id.

The state is merged from the invocation event, its pages and every checkpoint response.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from durable_async._models import Operation

__all__ = ["ExecutionState"]


class ExecutionState:
    """Operations of one execution by id, merged from every service response."""

    def __init__(self, arn: str) -> None:
        self.arn = arn
        self.operations: dict[str, Operation] = {}
        self.on_change: Callable[[], None] | None = None

    def get(self, op_id: str) -> Operation | None:
        """Return the recorded operation with ``op_id``, if any."""
        return self.operations.get(op_id)

    def merge(self, wire_operations: list[dict[str, Any]], settled: Collection[str] = ()) -> None:
        """Record operations as the service returned them (newer replaces older).

        ``settled`` names the operations this invocation has just ended (SUCCEED or FAIL): as
        the service confirms them, they leave the state, because the code that ended them has
        its result and no later operation has their id. A map of 100,000 items would otherwise
        keep 200,000 operations nobody reads, for the garbage collector to walk again and again.
        """
        if not wire_operations:
            return
        operations = self.operations
        for wire in wire_operations:
            if wire["Id"] in settled and wire.get("Status") in _ENDED:
                operations.pop(wire["Id"], None)
                continue
            op = Operation.from_wire(wire)
            operations[op.id] = op
        if self.on_change is not None:
            self.on_change()


_ENDED = frozenset({"SUCCEEDED", "FAILED"})
