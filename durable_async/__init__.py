"""durable_async: asyncio-native durable functions, wire-compatible with AWS Lambda.

The public API mirrors the reference ``aws-durable-execution-sdk-python`` name for name; every
durable operation is a coroutine.
"""

from importlib.metadata import version as _version

from durable_async._context import DurableContext, StepContext
from durable_async._execution import DurableHandler, durable_execution
from durable_async._models import ErrorObject
from durable_async.batch import BatchItem, BatchItemStatus, BatchResult, CompletionReason
from durable_async.concurrency.models import BatchCompletionError
from durable_async.config import (
    CallbackConfig,
    CheckpointBatcherConfig,
    ChildConfig,
    CompletionConfig,
    CompletionDecision,
    CompletionItemStatus,
    CompletionOutcome,
    CompletionStatus,
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
    complete_batch,
    continue_batch,
)
from durable_async.exceptions import (
    CallbackError,
    CallbackExternalError,
    CallbackSubmitterError,
    CallbackTimeoutError,
    ChildContextError,
    DurableExecutionsError,
    DurableOperationError,
    ExecutionError,
    InvocationError,
    InvokeError,
    PluginLoadError,
    RetryableSerDesError,
    SerDesError,
    StepError,
    ValidationError,
    WaitForConditionError,
)
from durable_async.operations.branch import durable_parallel_branch
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
    WithRetryConfig,
    with_retry,
)
from durable_async.serdes import ExtendedTypesSerDes, JsonSerDes, SerDes
from durable_async.typed_serdes import TypedSerDes
from durable_async.waits import (
    WaitForConditionConfig,
    WaitForConditionDecision,
    WaitStrategyConfig,
)

__version__ = _version("durable-async")

__all__ = [
    "BatchCompletionError",
    "BatchItem",
    "BatchItemStatus",
    "BatchResult",
    "Callback",
    "CallbackConfig",
    "CallbackError",
    "CallbackExternalError",
    "CallbackSubmitterError",
    "CallbackTimeoutError",
    "CheckpointBatcherConfig",
    "ChildConfig",
    "ChildContextError",
    "CompletionConfig",
    "CompletionDecision",
    "CompletionItemStatus",
    "CompletionOutcome",
    "CompletionReason",
    "CompletionStatus",
    "DurableContext",
    "DurableExecutionsError",
    "DurableHandler",
    "DurableOperationError",
    "Duration",
    "ErrorObject",
    "ExecutionError",
    "ExtendedTypesSerDes",
    "InvocationError",
    "InvokeConfig",
    "InvokeError",
    "JitterStrategy",
    "JsonSerDes",
    "MapConfig",
    "NestingType",
    "ParallelBranch",
    "ParallelConfig",
    "PluginLoadError",
    "RetryDecision",
    "RetryPresets",
    "RetryStrategyConfig",
    "RetryableSerDesError",
    "SerDes",
    "SerDesError",
    "StepConfig",
    "StepContext",
    "StepError",
    "StepSemantics",
    "TypedSerDes",
    "ValidationError",
    "WaitForCallbackConfig",
    "WaitForCallbackContext",
    "WaitForConditionCheckContext",
    "WaitForConditionConfig",
    "WaitForConditionDecision",
    "WaitForConditionError",
    "WaitStrategyConfig",
    "WithRetryConfig",
    "__version__",
    "complete_batch",
    "continue_batch",
    "durable_execution",
    "durable_parallel_branch",
    "durable_step",
    "durable_wait_for_callback",
    "durable_with_child_context",
    "with_retry",
]
