"""Loggers for durable code: records carry the execution and operation; replays stay silent."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

__all__ = ["ReplayAwareLogger"]


class ReplayAwareLogger(logging.LoggerAdapter[logging.Logger]):
    """A LoggerAdapter that adds the durable fields to each record and logs nothing on replay.

    Records carry ``execution_arn`` and ``parent_id``, and inside an operation also
    ``operation_id``, ``operation_name`` and ``attempt`` (read them from the record, e.g.
    ``%(operation_id)s`` in a format). While ``is_replaying()`` is true, every level is off, so
    an execution's log lines appear once however often its code is replayed.
    """

    def __init__(
        self,
        logger: logging.Logger,
        extra: Mapping[str, object],
        is_replaying: Callable[[], bool] | None = None,
    ) -> None:
        super().__init__(logger, extra)
        self._is_replaying = is_replaying

    def isEnabledFor(self, level: int) -> bool:
        """Whether a record at ``level`` would be logged (never while replaying)."""
        if self._is_replaying is not None and self._is_replaying():
            return False
        return self.logger.isEnabledFor(level)

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        """Merge the durable fields under the caller's own ``extra``."""
        kwargs["extra"] = {**(self.extra or {}), **(kwargs.get("extra") or {})}
        return msg, kwargs

    def bind(self, *, live: bool = False, **fields: object) -> ReplayAwareLogger:
        """Return a logger with more fields; ``live`` ones (step bodies) never count as replay."""
        replaying = None if live else self._is_replaying
        return ReplayAwareLogger(self.logger, {**(self.extra or {}), **fields}, replaying)
