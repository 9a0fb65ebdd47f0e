"""What one invocation knows: every operation the service has reported, by id.

The state is merged from the invocation event, its pages and every checkpoint response.
"""

from __future__ import annotations

from collections.abc import Callable
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

    def merge(self, wire_operations: list[dict[str, Any]]) -> None:
        """Record operations as the service returned them (newer replaces older)."""
        if not wire_operations:
            return
        operations = self.operations
        for wire in wire_operations:
            op = Operation.from_wire(wire)
            operations[op.id] = op
        if self.on_change is not None:
            self.on_change()
