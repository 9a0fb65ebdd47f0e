"""The models of map and parallel: BatchResult, its items, and the completion rules.

The reference SDK's ``concurrency.models``: BatchResult and BatchItem (what ``ctx.map`` and
``ctx.parallel`` return), CompletionReason, BatchCompletionError, CompletionPolicy (when a batch
is done and why) and CompletionRecord (the completion decision kept in a large result's
summary, so a replay rebuilds the result the first run returned).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, Generic, TypeVar

from durable_async._models import ErrorObject
from durable_async.config import (
    BatchItemStatus,
    CompletionConfig,
    CompletionDecision,
    CompletionItemStatus,
    CompletionOutcome,
    CompletionStatus,
)
from durable_async.exceptions import ChildContextError, DurableOperationError, ValidationError

__all__ = [
    "BatchCompletionError",
    "BatchItem",
    "BatchItemStatus",
    "BatchResult",
    "CompletionDecision",
    "CompletionItemStatus",
    "CompletionOutcome",
    "CompletionPolicy",
    "CompletionReason",
    "CompletionRecord",
    "CompletionStatus",
    "envelope_summary_generator",
]

R = TypeVar("R")


class CompletionReason(Enum):
    """Why a batch completed."""

    ALL_COMPLETED = "ALL_COMPLETED"
    MIN_SUCCESSFUL_REACHED = "MIN_SUCCESSFUL_REACHED"
    FAILURE_TOLERANCE_EXCEEDED = "FAILURE_TOLERANCE_EXCEEDED"
    CUSTOM_COMPLETION_SUCCEEDED = "CUSTOM_COMPLETION_SUCCEEDED"
    CUSTOM_COMPLETION_FAILED = "CUSTOM_COMPLETION_FAILED"


class BatchCompletionError(DurableOperationError):
    """``should_complete`` completed the batch as FAILED; raised by ``throw_if_error``.

    Raised even when no item failed (a quorum that can no longer be met, say);
    ``completion_reason`` is CUSTOM_COMPLETION_FAILED.
    """

    def __init__(
        self,
        completion_reason: CompletionReason = CompletionReason.CUSTOM_COMPLETION_FAILED,
        message: str | None = None,
        error_type: str | None = None,
        data: str | None = None,
        stack_trace: list[str] | None = None,
    ) -> None:
        text = (
            message or f"Batch completed as failed by should_complete ({completion_reason.value})"
        )
        super().__init__(text, error_type, data, stack_trace)
        self.completion_reason = completion_reason

    def __reduce__(self) -> tuple[object, ...]:
        fields = (self.completion_reason, self.message, self.error_type, self.data)
        return (type(self), (*fields, self.stack_trace))


@dataclass(frozen=True)
class CompletionPolicy:
    """When a batch of ``total`` branches is complete, and why.

    A ``should_complete`` predicate, when given, decides alone: failures then never end the
    batch early. Without any criterion the first failure does. Every batch completes once all
    its branches have ended.
    """

    total: int
    min_successful: int | None = None
    tolerated_failure_count: int | None = None
    tolerated_failure_percentage: int | float | None = None
    should_complete: Callable[[CompletionStatus], CompletionDecision] | None = None

    @classmethod
    def from_config(cls, total: int, config: CompletionConfig | None) -> CompletionPolicy:
        """Build the policy for ``total`` branches from ``config`` (None: fail fast)."""
        if config is None:
            return cls(total)
        return cls(
            total,
            config.min_successful,
            config.tolerated_failure_count,
            config.tolerated_failure_percentage,
            config.should_complete,
        )

    @property
    def has_criteria(self) -> bool:
        """Whether any threshold is configured."""
        thresholds = (
            self.min_successful,
            self.tolerated_failure_count,
            self.tolerated_failure_percentage,
        )
        return any(value is not None for value in thresholds)

    def is_tolerance_exceeded(self, failed: int) -> bool:
        """Whether ``failed`` failures are more than the policy tolerates."""
        if self.should_complete is not None:
            return False
        if not self.has_criteria:
            return failed > 0
        count = self.tolerated_failure_count
        if count is not None and failed > count:
            return True
        percentage = self.tolerated_failure_percentage
        return percentage is not None and self.total > 0 and failed * 100 / self.total > percentage

    def should_continue(self, failed: int) -> bool:
        """Whether more branches may start after ``failed`` failures."""
        return not self.is_tolerance_exceeded(failed)

    def evaluate(
        self, succeeded: int, failed: int, items: tuple[CompletionItemStatus, ...] = ()
    ) -> CompletionDecision | None:
        """Ask ``should_complete`` once about this progress; None when there is no predicate."""
        if self.should_complete is None:
            return None
        status = CompletionStatus(succeeded, failed, succeeded + failed, self.total, items)
        decision = self.should_complete(status)
        if not isinstance(decision, CompletionDecision):
            raise ValidationError(
                f"should_complete must return a CompletionDecision, got "
                f"{type(decision).__name__} {decision!r}; return complete_batch() or "
                "continue_batch()."
            )
        return decision

    def is_complete(
        self,
        succeeded: int,
        failed: int,
        items: tuple[CompletionItemStatus, ...] = (),
        decision: CompletionDecision | None = None,
    ) -> bool:
        """Whether the batch is done; ``decision`` is evaluate's answer (asked here if None)."""
        if self.should_complete is not None:
            decision = decision or self.evaluate(succeeded, failed, items)
            if decision is not None and decision.complete:
                return True
        if succeeded + failed >= self.total:
            return True
        return self.min_successful is not None and succeeded >= self.min_successful

    def reason(
        self,
        succeeded: int,
        failed: int,
        items: tuple[CompletionItemStatus, ...] = (),
        decision: CompletionDecision | None = None,
    ) -> CompletionReason:
        """Why the batch completed; ``decision`` is evaluate's answer (asked here if None)."""
        if self.is_tolerance_exceeded(failed):
            return CompletionReason.FAILURE_TOLERANCE_EXCEEDED
        if self.should_complete is not None:
            decision = decision or self.evaluate(succeeded, failed, items)
            if decision is not None and decision.complete:
                return _custom_reason(decision)
        if succeeded + failed >= self.total:
            return CompletionReason.ALL_COMPLETED
        if self.min_successful is not None and succeeded >= self.min_successful:
            return CompletionReason.MIN_SUCCESSFUL_REACHED
        return CompletionReason.ALL_COMPLETED


def _custom_reason(decision: CompletionDecision) -> CompletionReason:
    if decision.outcome is CompletionOutcome.FAILED:
        return CompletionReason.CUSTOM_COMPLETION_FAILED
    return CompletionReason.CUSTOM_COMPLETION_SUCCEEDED


@dataclass(frozen=True)
class CompletionRecord:
    """The completion decision a large batch result's summary keeps for replay.

    Branches start in index order, so the started ones are ``range(started_total)``;
    ``started_indexes`` are those still running (STARTED) when the batch completed.
    """

    completion_reason: CompletionReason
    started_total: int
    started_indexes: frozenset[int]

    @classmethod
    def from_summary_payload(cls, payload: str | None) -> CompletionRecord | None:
        """Parse the record from a summary; None when it holds none (never raises)."""
        try:
            data = json.loads(payload or "")
            reason = CompletionReason(data["completionReason"])
            total = data["totalCount"]
        except (ValueError, KeyError, TypeError):
            return None
        if isinstance(total, bool) or not isinstance(total, int) or total < 0:
            return None
        started = _indexes(data.get("startedIndexes"), total)
        if started is None:
            completed = _indexes(data.get("completedIndexes"), total)
            if completed is None:
                return None
            started = frozenset(range(total)) - completed
        return cls(reason, total, started)

    @staticmethod
    def summary_index_fields(items: list[BatchItem[Any]]) -> dict[str, list[int]]:
        """Return the started indexes or the completed ones, whichever list is shorter."""
        started = [item.index for item in items if item.status is BatchItemStatus.STARTED]
        completed = [item.index for item in items if item.status is not BatchItemStatus.STARTED]
        if len(started) <= len(completed):
            return {"startedIndexes": started}
        return {"completedIndexes": completed}

    @staticmethod
    def summary_envelope(result: BatchResult[Any], result_type: str, summary: str | None) -> str:
        """Return the reference SDK's summary JSON: the record, counts and ``summary``."""
        fields: dict[str, object] = {
            "type": result_type,
            "totalCount": result.total_count,
            "completionReason": result.completion_reason.value,
            **CompletionRecord.summary_index_fields(result.all),
            "startedCount": result.started_count,
            "successCount": result.success_count,
            "failureCount": result.failure_count,
            "status": result.status.value,
        }
        if summary is not None:
            fields["summary"] = summary if isinstance(summary, str) else str(summary)
        return json.dumps(fields)


def _indexes(raw: object, total: int) -> frozenset[int] | None:
    """Return ``raw`` as a set of indexes below ``total``, or None when it is not one."""
    if not isinstance(raw, list):
        return None
    valid = all(type(i) is int and 0 <= i < total for i in raw)
    return frozenset(raw) if valid else None


def envelope_summary_generator(
    result_type: str, custom_generator: Callable[[Any], str] | None
) -> Callable[[BatchResult[Any]], str]:
    """Return the summary generator of a batch: the envelope around the custom summary."""

    def generate(result: BatchResult[Any]) -> str:
        summary = custom_generator(result) if custom_generator is not None else None
        return CompletionRecord.summary_envelope(result, result_type, summary)

    return generate


@dataclass(frozen=True, slots=True)
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

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], completion_config: CompletionConfig | None = None
    ) -> BatchResult[Any]:
        """Rebuild a result from its dict form; a missing reason is inferred from the items."""
        items = [BatchItem[Any].from_dict(item) for item in data["all"]]
        reason = data.get("completionReason")
        if reason is None:
            return cls.from_items(items, completion_config)
        return cls(items, CompletionReason(reason))

    @classmethod
    def from_items(
        cls, items: list[BatchItem[Any]], completion_config: CompletionConfig | None = None
    ) -> BatchResult[Any]:
        """Infer the completion reason from ``items``, taken to be the whole batch."""
        succeeded = sum(item.status is BatchItemStatus.SUCCEEDED for item in items)
        failed = sum(item.status is BatchItemStatus.FAILED for item in items)
        snapshot = tuple(CompletionItemStatus(item.index, status=item.status) for item in items)
        policy = CompletionPolicy.from_config(len(items), completion_config)
        return cls(items, policy.reason(succeeded, failed, snapshot))

    def succeeded(self) -> list[BatchItem[R]]:
        """Return the items that succeeded."""
        succeeded = BatchItemStatus.SUCCEEDED
        return [item for item in self.all if item.status is succeeded]

    def failed(self) -> list[BatchItem[R]]:
        """Return the items that failed."""
        failed = BatchItemStatus.FAILED
        return [item for item in self.all if item.status is failed]

    def started(self) -> list[BatchItem[R]]:
        """Return the items that started but had not finished when the batch completed."""
        started = BatchItemStatus.STARTED
        return [item for item in self.all if item.status is started]

    def get_results(self) -> list[R]:
        """Return the results of the successful items, in index order."""
        succeeded = BatchItemStatus.SUCCEEDED
        # One pass, no call per item: a map's handler reads 100,000 results right after it.
        results: list[Any] = [item.result for item in self.all if item.status is succeeded]
        return results

    def get_errors(self) -> list[ErrorObject | None]:
        """Return the errors of the failed items, in index order."""
        return [item.error for item in self.failed()]

    def throw_if_error(self) -> None:
        """Raise the first failed item's error, or BatchCompletionError for a FAILED outcome.

        The item's error comes as ChildContextError; a batch that ``should_complete`` completed
        as FAILED with no failed item raises BatchCompletionError.
        """
        first = next(iter(self.failed()), None)
        if first is not None:
            error = first.error or ErrorObject.from_message(
                f"Batch item {first.index} failed without an ErrorObject."
            )
            raise ChildContextError(
                error.error_message, error.error_type, error.error_data, error.stack_trace
            )
        if self.completion_reason is CompletionReason.CUSTOM_COMPLETION_FAILED:
            raise BatchCompletionError(self.completion_reason)

    @property
    def status(self) -> BatchItemStatus:
        """The custom outcome when ``should_complete`` decided, else FAILED if any item failed."""
        if self.completion_reason is CompletionReason.CUSTOM_COMPLETION_FAILED:
            return BatchItemStatus.FAILED
        if self.completion_reason is CompletionReason.CUSTOM_COMPLETION_SUCCEEDED:
            return BatchItemStatus.SUCCEEDED
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
    return ErrorObject.from_dict(data)
