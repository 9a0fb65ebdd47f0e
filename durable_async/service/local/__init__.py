"""The embedded local durable execution service.

It speaks the Lambda durable functions wire protocol as JSON-shaped dicts, like the real
service, and never imports the SDK core:

* :class:`LocalDurableService` - the engine: validates and applies checkpoints, completes
  timers, records history (``engine``);
* :class:`SqliteStore` (default, survives restarts) and :class:`MemoryStore` (``store``);
* :class:`LocalRunner` - invokes handlers until their executions end (``runner``);
* :class:`RealClock` and :class:`SkipClock`, which skips waiting (``clock``).
"""

from __future__ import annotations

from durable_async.service.local.clock import Clock, RealClock, SkipClock
from durable_async.service.local.engine import LocalDurableService
from durable_async.service.local.runner import Invoker, LocalRunner
from durable_async.service.local.store import MemoryStore, SqliteStore, Store

__all__ = [
    "Clock",
    "Invoker",
    "LocalDurableService",
    "LocalRunner",
    "MemoryStore",
    "RealClock",
    "SkipClock",
    "SqliteStore",
    "Store",
]
