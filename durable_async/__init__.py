"""durable_async: asyncio-native durable functions, wire-compatible with AWS Lambda.

The public API mirrors the reference ``aws-durable-execution-sdk-python`` name for name; every
durable operation is a coroutine.
"""

from durable_async._context import DurableContext, StepContext
from durable_async._execution import DurableHandler, durable_execution
from durable_async._models import ErrorObject
from durable_async.batch import BatchItem, BatchItemStatus, BatchResult, CompletionReason
from durable_async.config import (
    CallbackConfig,
    CheckpointBatcherConfig,
    ChildConfig,
    CompletionConfig,
    Duration,
    InvokeConfig,
    JitterStrategy,
    MapConfig,
    NestingType,
    ParallelBranch,
    ParallelConfig,
    StepConfig,
    StepSemantics,
    WaitForCallbackConfig,
)
from durable_async.operations.callback import (
    Callback,
    WaitForCallbackContext,
    durable_wait_for_callback,
)
from durable_async.operations.child import durable_with_child_context
from durable_async.operations.condition import WaitForConditionCheckContext
from durable_async.operations.step import durable_step
from durable_async.retries import (
    RetryDecision,
    RetryPresets,
    RetryStrategyConfig,
)
from durable_async.serdes import ExtendedTypesSerDes, JsonSerDes, SerDes
from durable_async.waits import (
    WaitForConditionConfig,
    WaitForConditionDecision,
    WaitStrategyConfig,
)

__all__ = [
    "BatchItem",
    "BatchItemStatus",
    "BatchResult",
    "Callback",
    "CallbackConfig",
    "CheckpointBatcherConfig",
    "ChildConfig",
    "CompletionConfig",
    "CompletionReason",
    "DurableContext",
    "DurableHandler",
    "Duration",
    "ErrorObject",
    "ExtendedTypesSerDes",
    "InvokeConfig",
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
    "WaitForCallbackConfig",
    "WaitForCallbackContext",
    "WaitForConditionCheckContext",
    "WaitForConditionConfig",
    "WaitForConditionDecision",
    "WaitStrategyConfig",
    "durable_execution",
    "durable_step",
    "durable_wait_for_callback",
    "durable_with_child_context",
]
