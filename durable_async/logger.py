"""The reference SDK's ``logger`` module: a replay-aware logger over any LoggerInterface.

``DurableContext.logger`` is a ``Logger``. It adds the execution's fields to each record's
``extra`` under the reference's keys (``executionArn``, ``parentId``, ``operationName``,
``attempt``, ``operationId``) and logs nothing while its context replays, so a line appears once
per execution however often the code runs. It wraps a ``logging.Logger`` by default and any object
with ``debug``/``info``/``warning``/``error``/``exception(msg, *args, extra=...)`` (a Powertools
logger, say) after ``DurableContext.set_logger``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from durable_async._protocols import LoggerInterface

__all__ = ["LogInfo", "Logger"]

_LogFunc = Callable[..., object]


class _HasExecutionArn(Protocol):
    """What names the execution a record belongs to (an ``ExecutionContext`` does)."""

    @property
    def durable_execution_arn(self) -> str: ...


class _OperationIdentity(Protocol):
    """What identifies an operation for its records."""

    @property
    def operation_id(self) -> str: ...

    @property
    def parent_id(self) -> str | None: ...

    @property
    def name(self) -> str | None: ...


def _never_replaying() -> bool:
    return False


@dataclass(frozen=True)
class LogInfo:
    """The durable fields of a logger's records: execution, parent context and operation."""

    execution_state: _HasExecutionArn
    parent_id: str | None = None
    operation_id: str | None = None
    name: str | None = None
    attempt: int | None = None

    @classmethod
    def from_operation_identifier(
        cls,
        execution_state: _HasExecutionArn,
        op_id: _OperationIdentity,
        attempt: int | None = None,
    ) -> LogInfo:
        """Return the fields of operation ``op_id`` at ``attempt``."""
        return cls(execution_state, op_id.parent_id, op_id.operation_id, op_id.name, attempt)

    def with_parent_id(self, parent_id: str) -> LogInfo:
        """Return these fields with another parent context."""
        return LogInfo(self.execution_state, parent_id, self.operation_id, self.name, self.attempt)

    def extra(self) -> dict[str, object]:
        """The record fields under the reference's keys; unset ones are left out."""
        fields: dict[str, object] = {"executionArn": self.execution_state.durable_execution_arn}
        optional = (
            ("parentId", self.parent_id),
            # Not "name": logging.LogRecord reserves it.
            ("operationName", self.name),
            ("attempt", self.attempt),
            ("operationId", self.operation_id),
        )
        fields.update((key, value) for key, value in optional if value not in (None, ""))
        return fields


class Logger:
    """Log through ``logger`` with ``default_extra`` on every record; silent while replaying.

    ``is_replaying`` is the owning context's replay status, read at each call; the default (never
    replaying) suits a logger without a context.
    """

    def __init__(
        self,
        logger: LoggerInterface,
        default_extra: Mapping[str, object],
        is_replaying: Callable[[], bool] = _never_replaying,
    ) -> None:
        self._logger = logger
        self._default_extra = default_extra
        self._is_replaying = is_replaying

    @classmethod
    def from_log_info(
        cls,
        logger: LoggerInterface,
        info: LogInfo,
        is_replaying: Callable[[], bool] = _never_replaying,
    ) -> Logger:
        """Return a logger over ``logger`` whose records carry ``info``'s fields."""
        return cls(logger, info.extra(), is_replaying)

    def with_log_info(self, info: LogInfo) -> Logger:
        """Return this logger with ``info``'s fields instead, keeping its replay status."""
        return Logger.from_log_info(self._logger, info, self._is_replaying)

    def with_is_replaying(self, is_replaying: Callable[[], bool]) -> Logger:
        """Return this logger bound to another replay status (a child context's own)."""
        return Logger(self._logger, self._default_extra, is_replaying)

    def get_logger(self) -> LoggerInterface:
        """Return the logger this one writes through."""
        return self._logger

    def debug(self, msg: object, *args: object, extra: Mapping[str, object] | None = None) -> None:
        """Log ``msg % args`` at DEBUG, unless replaying."""
        self._log(self._logger.debug, msg, args, extra)

    def info(self, msg: object, *args: object, extra: Mapping[str, object] | None = None) -> None:
        """Log ``msg % args`` at INFO, unless replaying."""
        self._log(self._logger.info, msg, args, extra)

    def warning(
        self, msg: object, *args: object, extra: Mapping[str, object] | None = None
    ) -> None:
        """Log ``msg % args`` at WARNING, unless replaying."""
        self._log(self._logger.warning, msg, args, extra)

    def error(self, msg: object, *args: object, extra: Mapping[str, object] | None = None) -> None:
        """Log ``msg % args`` at ERROR, unless replaying."""
        self._log(self._logger.error, msg, args, extra)

    def exception(
        self, msg: object, *args: object, extra: Mapping[str, object] | None = None
    ) -> None:
        """Log ``msg % args`` at ERROR with the exception being handled, unless replaying."""
        self._log(self._logger.exception, msg, args, extra)

    def _log(
        self,
        log: _LogFunc,
        msg: object,
        args: tuple[object, ...],
        extra: Mapping[str, object] | None,
    ) -> None:
        if self._is_replaying():
            return
        log(msg, *args, extra={**self._default_extra, **(extra or {})})
