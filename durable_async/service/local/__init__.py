"""The embedded local durable execution service.

It speaks the Lambda durable functions wire protocol as JSON-shaped dicts, like the real
service, and never imports the SDK core:

* :class:`LocalDurableService` - the engine: validates and applies checkpoints, completes
  timers and callbacks, records chained invokes and history (``engine``);
* :class:`SqliteStore` (default, survives restarts) and :class:`MemoryStore` (``store``);
* :class:`LocalRunner` - invokes handlers until their executions end, and runs the targets
  of their chained invokes (``runner``);
* :class:`RealClock` and :class:`SkipClock`, which skips waiting in deadline order (``clock``).
"""

from __future__ import annotations

from durable_async.service.local.clock import Clock, RealClock, SkipClock
from durable_async.service.local.engine import LocalDurableService
from durable_async.service.local.runner import Invoker, LocalRunner, PlainFunction
from durable_async.service.local.store import MemoryStore, SqliteStore, Store

__all__ = [
    "Clock",
    "Invoker",
    "LocalDurableService",
    "LocalRunner",
    "MemoryStore",
    "PlainFunction",
    "RealClock",
    "SkipClock",
    "SqliteStore",
    "Store",
]
