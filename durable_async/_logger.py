"""The name operations annotate their loggers with; the logger itself is ``logger.Logger``."""

from __future__ import annotations

from durable_async.logger import Logger

__all__ = ["ReplayAwareLogger"]

#: The replay-aware logger contexts and operations hand to user code.
ReplayAwareLogger = Logger
