"""The reference SDK's ``context`` module: ``DurableContext`` and the operation decorators.

The code lives in ``durable_async._context`` and ``durable_async.operations``; this module is
the path a port of a reference handler imports from.
"""

from durable_async._context import DurableContext
from durable_async.operations.callback import Callback, durable_wait_for_callback
from durable_async.operations.child import durable_with_child_context
from durable_async.operations.step import durable_step

__all__ = [
    "Callback",
    "DurableContext",
    "durable_step",
    "durable_wait_for_callback",
    "durable_with_child_context",
]
