"""BatchResult: what ``ctx.map`` and ``ctx.parallel`` return (the reference SDK's model)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Generic, TypeVar, cast

from durable_async._models import ErrorObject
from durable_async.exceptions import ChildContextError

__all__ = ["BatchItem", "BatchItemStatus", "BatchResult", "CompletionReason"]

R = TypeVar("R")


class BatchItemStatus(Enum):
    """Where one item or branch ended up."""

    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    STARTED = "STARTED"


class CompletionReason(Enum):
    """Why a batch completed."""

    ALL_COMPLETED = "ALL_COMPLETED"
    MIN_SUCCESSFUL_REACHED = "MIN_SUCCESSFUL_REACHED"
    FAILURE_TOLERANCE_EXCEEDED = "FAILURE_TOLERANCE_EXCEEDED"


@dataclass(frozen=True)
class BatchItem(Generic[R]):
    """One item or branch: its index, status, and result or error."""

    index: int
    status: BatchItemStatus
    result: R | None = None
    error: ErrorObject | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the reference SDK's dict form."""
        return {
            "index": self.index,
            "status": self.status.value,
            "result": self.result,
            "error": _error_to_dict(self.error),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BatchItem[Any]:
        """Rebuild an item from its dict form."""
        error = data.get("error")
        return cls(
            index=data["index"],
            status=BatchItemStatus(data["status"]),
            result=data.get("result"),
            error=_error_from_dict(error) if error else None,
        )


@dataclass(frozen=True)
class BatchResult(Generic[R]):
    """The items of a map or parallel (never-started ones left out) and why it completed."""

    all: list[BatchItem[R]]
    completion_reason: CompletionReason

    def succeeded(self) -> list[BatchItem[R]]:
        """Return the items that succeeded."""
        return [item for item in self.all if item.status is BatchItemStatus.SUCCEEDED]

    def failed(self) -> list[BatchItem[R]]:
        """Return the items that failed."""
        return [item for item in self.all if item.status is BatchItemStatus.FAILED]

    def started(self) -> list[BatchItem[R]]:
        """Return the items that started but had not finished when the batch completed."""
        return [item for item in self.all if item.status is BatchItemStatus.STARTED]

    def get_results(self) -> list[R]:
        """Return the results of the successful items, in index order."""
        return [cast(R, item.result) for item in self.succeeded()]

    def get_errors(self) -> list[ErrorObject | None]:
        """Return the errors of the failed items, in index order."""
        return [item.error for item in self.failed()]

    def throw_if_error(self) -> None:
        """Raise ChildContextError carrying the first failed item's error, if any failed."""
        first = next(iter(self.failed()), None)
        if first is None:
            return
        error = first.error or ErrorObject(None, f"Item {first.index} failed without an error.")
        raise ChildContextError(
            error.error_message, error.error_type, error.error_data, error.stack_trace
        )

    @property
    def status(self) -> BatchItemStatus:
        """FAILED when any item failed, else SUCCEEDED."""
        return BatchItemStatus.FAILED if self.has_failure else BatchItemStatus.SUCCEEDED

    @property
    def has_failure(self) -> bool:
        """Whether any item failed."""
        return any(item.status is BatchItemStatus.FAILED for item in self.all)

    @property
    def success_count(self) -> int:
        """How many items succeeded."""
        return len(self.succeeded())

    @property
    def failure_count(self) -> int:
        """How many items failed."""
        return len(self.failed())

    @property
    def started_count(self) -> int:
        """How many items were still running when the batch completed."""
        return len(self.started())

    @property
    def total_count(self) -> int:
        """How many items the result holds."""
        return len(self.all)

    def to_dict(self) -> dict[str, Any]:
        """Return the reference SDK's dict form (tagged ``"br"`` by the extended SerDes)."""
        return {
            "all": [item.to_dict() for item in self.all],
            "completionReason": self.completion_reason.value,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BatchResult[Any]:
        """Rebuild a result from its dict form."""
        items = [BatchItem[Any].from_dict(item) for item in data["all"]]
        return cls(items, CompletionReason(data["completionReason"]))


def _error_to_dict(error: ErrorObject | None) -> dict[str, Any] | None:
    """Return the reference SDK's dict (its key order, None fields left out)."""
    if error is None:
        return None
    fields = {
        "ErrorMessage": error.error_message,
        "ErrorType": error.error_type,
        "ErrorData": error.error_data,
        "StackTrace": error.stack_trace,
    }
    return {key: value for key, value in fields.items() if value is not None}


def _error_from_dict(data: dict[str, Any]) -> ErrorObject:
    return ErrorObject(
        data.get("ErrorType"),
        data.get("ErrorMessage"),
        data.get("ErrorData"),
        data.get("StackTrace"),
    )
