"""The reference SDK's ``context`` module: ``DurableContext`` and the operation decorators.

The code lives in ``durable_async._context`` and ``durable_async.operations``; this module is
the path a port of a reference handler imports from, so it also hands on the names the
reference's ``context`` module makes importable (configs, contexts, errors).
"""

from durable_async._context import DurableContext, ExecutionContext, StepContext
from durable_async.config import (
    CallbackConfig,
    ChildConfig,
    Duration,
    InvokeConfig,
    MapConfig,
    ParallelBranch,
    ParallelConfig,
    StepConfig,
    WaitForCallbackConfig,
)
from durable_async.exceptions import (
    CallbackError,
    CallbackExternalError,
    CallbackSubmitterError,
    CallbackTimeoutError,
    ChildContextError,
    StepError,
    SuspendExecution,
    ValidationError,
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
from durable_async.serdes import PASS_THROUGH_SERDES, PassThroughSerDes, SerDes, deserialize

__all__ = [
    "PASS_THROUGH_SERDES",
    "Callback",
    "CallbackConfig",
    "CallbackError",
    "CallbackExternalError",
    "CallbackSubmitterError",
    "CallbackTimeoutError",
    "ChildConfig",
    "ChildContextError",
    "DurableContext",
    "Duration",
    "ExecutionContext",
    "InvokeConfig",
    "MapConfig",
    "ParallelBranch",
    "ParallelConfig",
    "PassThroughSerDes",
    "SerDes",
    "StepConfig",
    "StepContext",
    "StepError",
    "SuspendExecution",
    "ValidationError",
    "WaitForCallbackConfig",
    "WaitForCallbackContext",
    "WaitForConditionCheckContext",
    "deserialize",
    "durable_parallel_branch",
    "durable_step",
    "durable_wait_for_callback",
    "durable_with_child_context",
]
