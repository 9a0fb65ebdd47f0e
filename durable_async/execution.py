"""The reference SDK's ``execution`` module: ``durable_execution`` and the handler it makes."""

from durable_async._execution import DurableHandler, durable_execution

__all__ = ["DurableHandler", "durable_execution"]
