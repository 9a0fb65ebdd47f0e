"""BatchResult and its models under their older path; they live in ``concurrency.models``."""

from durable_async.concurrency.models import (
    BatchCompletionError,
    BatchItem,
    BatchItemStatus,
    BatchResult,
    CompletionReason,
)

__all__ = [
    "BatchCompletionError",
    "BatchItem",
    "BatchItemStatus",
    "BatchResult",
    "CompletionReason",
]
