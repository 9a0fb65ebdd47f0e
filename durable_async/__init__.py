"""durable_async: asyncio-native durable functions, wire-compatible with AWS Lambda.

The public API mirrors the reference ``aws-durable-execution-sdk-python`` name for name; every
durable operation is a coroutine.
"""

from durable_async._context import DurableContext, StepContext
from durable_async._execution import DurableHandler, durable_execution
from durable_async.batch import BatchItem, BatchItemStatus, BatchResult, CompletionReason
from durable_async.config import (
    CheckpointBatcherConfig,
    ChildConfig,
    CompletionConfig,
    Duration,
    JitterStrategy,
    MapConfig,
    NestingType,
    ParallelBranch,
    ParallelConfig,
    StepConfig,
    StepSemantics,
)
from durable_async.operations.child import durable_with_child_context
from durable_async.operations.step import durable_step
from durable_async.retries import (
    RetryDecision,
    RetryPresets,
    RetryStrategyConfig,
)
from durable_async.serdes import ExtendedTypesSerDes, JsonSerDes, SerDes

__all__ = [
    "BatchItem",
    "BatchItemStatus",
    "BatchResult",
    "CheckpointBatcherConfig",
    "ChildConfig",
    "CompletionConfig",
    "CompletionReason",
    "DurableContext",
    "DurableHandler",
    "Duration",
    "ExtendedTypesSerDes",
    "JitterStrategy",
    "JsonSerDes",
    "MapConfig",
    "NestingType",
    "ParallelBranch",
    "ParallelConfig",
    "RetryDecision",
    "RetryPresets",
    "RetryStrategyConfig",
    "SerDes",
    "StepConfig",
    "StepContext",
    "StepSemantics",
    "durable_execution",
    "durable_step",
    "durable_with_child_context",
]
