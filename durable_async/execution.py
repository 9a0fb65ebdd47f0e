"""The reference SDK's ``execution`` module: ``durable_execution``, the handler it makes, and the
invocation input as typed objects."""

from durable_async._context import DurableContext
from durable_async._execution import DurableHandler, durable_execution
from durable_async._inputs import (
    DurableExecutionInvocationInput,
    DurableExecutionInvocationInputWithClient,
    InitialExecutionState,
)
from durable_async._models import ErrorObject
from durable_async.exceptions import (
    CheckpointError,
    ExecutionError,
    InvocationError,
    SuspendExecution,
)

__all__ = [
    "CheckpointError",
    "DurableContext",
    "DurableExecutionInvocationInput",
    "DurableExecutionInvocationInputWithClient",
    "DurableHandler",
    "ErrorObject",
    "ExecutionError",
    "InitialExecutionState",
    "InvocationError",
    "SuspendExecution",
    "durable_execution",
]
