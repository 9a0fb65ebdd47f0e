"""The invocation event as typed objects (the reference SDK's ``execution`` names).

A handler accepts a ``DurableExecutionInvocationInput`` in place of the event dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from durable_async.service import DurableService

__all__ = [
    "DurableExecutionInvocationInput",
    "DurableExecutionInvocationInputWithClient",
    "InitialExecutionState",
]


@dataclass(frozen=True)
class InitialExecutionState:
    """The first page of an execution's operations, as the invocation event carries it.

    ``operations`` are the wire ``Operation`` dicts (PROTOCOL.md), kept as sent.
    """

    operations: list[dict[str, Any]]
    next_marker: str

    @staticmethod
    def from_dict(input_dict: Mapping[str, Any]) -> InitialExecutionState:
        """Read the event's ``InitialExecutionState``."""
        return InitialExecutionState(
            operations=list(input_dict.get("Operations") or []),
            next_marker=input_dict.get("NextMarker") or "",
        )

    @staticmethod
    def from_json_dict(input_dict: Mapping[str, Any]) -> InitialExecutionState:
        """Read it from JSON (the same shape: durable_async keeps wire dicts)."""
        return InitialExecutionState.from_dict(input_dict)

    def to_dict(self) -> dict[str, Any]:
        """The event's ``InitialExecutionState``."""
        return {"Operations": list(self.operations), "NextMarker": self.next_marker}

    def to_json_dict(self) -> dict[str, Any]:
        """The same, for JSON."""
        return self.to_dict()


@dataclass(frozen=True)
class DurableExecutionInvocationInput:
    """A durable invocation event as an object; a handler accepts it in place of the dict."""

    durable_execution_arn: str
    checkpoint_token: str
    initial_execution_state: InitialExecutionState
    updated_operation_ids: list[str] = field(default_factory=list, kw_only=True)

    @staticmethod
    def from_dict(input_dict: Mapping[str, Any]) -> DurableExecutionInvocationInput:
        """Read an invocation event."""
        return DurableExecutionInvocationInput(
            durable_execution_arn=input_dict["DurableExecutionArn"],
            checkpoint_token=input_dict["CheckpointToken"],
            initial_execution_state=InitialExecutionState.from_dict(
                input_dict.get("InitialExecutionState") or {}
            ),
            updated_operation_ids=list(input_dict.get("UpdatedOperationIds") or []),
        )

    @staticmethod
    def from_json_dict(input_dict: Mapping[str, Any]) -> DurableExecutionInvocationInput:
        """Read an invocation event from JSON (the same shape)."""
        return DurableExecutionInvocationInput.from_dict(input_dict)

    def to_dict(self) -> dict[str, Any]:
        """The invocation event."""
        return {
            "DurableExecutionArn": self.durable_execution_arn,
            "CheckpointToken": self.checkpoint_token,
            "InitialExecutionState": self.initial_execution_state.to_dict(),
            "UpdatedOperationIds": list(self.updated_operation_ids),
        }

    def to_json_dict(self) -> dict[str, Any]:
        """The invocation event, for JSON."""
        return self.to_dict()


@dataclass(frozen=True)
class DurableExecutionInvocationInputWithClient(DurableExecutionInvocationInput):
    """An invocation input that also names the service to checkpoint through (for tests)."""

    service_client: DurableService

    @staticmethod
    def from_durable_execution_invocation_input(
        invocation_input: DurableExecutionInvocationInput, service_client: DurableService
    ) -> DurableExecutionInvocationInputWithClient:
        """``invocation_input`` with ``service_client``."""
        return DurableExecutionInvocationInputWithClient(
            durable_execution_arn=invocation_input.durable_execution_arn,
            checkpoint_token=invocation_input.checkpoint_token,
            initial_execution_state=invocation_input.initial_execution_state,
            updated_operation_ids=invocation_input.updated_operation_ids,
            service_client=service_client,
        )
