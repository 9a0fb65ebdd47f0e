"""Which lane a store call belongs to: a client's call, or the traffic of executions in flight.

The engine's gate (:mod:`._admission`) lets client calls in ahead of the drive lane, and the
SQLite store's group commit (:mod:`._commit`) puts their writes at the head of the next
transaction: a start or a callback answer never queues behind hundreds of checkpoints.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

__all__ = ["client_calls", "in_client_lane"]

_CLIENT: ContextVar[bool] = ContextVar("durable_async_client_call", default=False)


@contextlib.contextmanager
def client_calls() -> Iterator[None]:
    """Make the store calls made inside this block client calls.

    Tasks created inside inherit the lane, so keep work that drives executions out of it.
    """
    token = _CLIENT.set(True)
    try:
        yield
    finally:
        _CLIENT.reset(token)


def in_client_lane() -> bool:
    """Return True inside :func:`client_calls`."""
    return _CLIENT.get()
