"""The reference SDK's ``execution`` module: ``durable_execution`` and the handler it makes."""

from durable_async._context import DurableContext
from durable_async._execution import DurableHandler, durable_execution
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
    "DurableHandler",
    "ErrorObject",
    "ExecutionError",
    "InvocationError",
    "SuspendExecution",
    "durable_execution",
]
