"""Protocols for what the Lambda runtime and the user hand the SDK: a context and a logger.

They live apart from ``types`` (which names the SDK's own classes), so the core can use them
without importing the modules built on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

__all__ = ["LambdaContext", "LoggerInterface"]


class LoggerInterface(Protocol):
    """What a logger given to ``DurableContext`` must offer (``logging.Logger`` does)."""

    def debug(
        self, msg: object, *args: object, extra: Mapping[str, object] | None = None
    ) -> None: ...

    def info(
        self, msg: object, *args: object, extra: Mapping[str, object] | None = None
    ) -> None: ...

    def warning(
        self, msg: object, *args: object, extra: Mapping[str, object] | None = None
    ) -> None: ...

    def error(
        self, msg: object, *args: object, extra: Mapping[str, object] | None = None
    ) -> None: ...

    def exception(
        self, msg: object, *args: object, extra: Mapping[str, object] | None = None
    ) -> None: ...


class LambdaContext(Protocol):
    """The Lambda runtime's context object, as a handler receives it."""

    aws_request_id: str
    function_name: str | None
    invoked_function_arn: str | None

    def get_remaining_time_in_millis(self) -> int: ...
