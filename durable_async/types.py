"""The reference SDK's ``types`` module: the types a handler's annotations name.

Where the reference declares a Protocol that its own classes implement (``DurableContext``,
``BatchResult``, ``Callback``, ``StepContext``), this module names durable_async's class, so an
annotation ported from the reference means the object the handler actually receives.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar

from durable_async._context import DurableContext, StepContext
from durable_async.batch import BatchResult
from durable_async.operations.callback import Callback, WaitForCallbackContext
from durable_async.operations.condition import WaitForConditionCheckContext

__all__ = [
    "BatchResult",
    "Callback",
    "DurableContext",
    "DurableExecutionArn",
    "LambdaContext",
    "LoggerInterface",
    "StepContext",
    "SummaryGenerator",
    "WaitForCallbackContext",
    "WaitForConditionCheckContext",
]

C_contra = TypeVar("C_contra", contravariant=True)


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


class SummaryGenerator(Protocol[C_contra]):
    """Turns a result too large to checkpoint into the compact text stored instead."""

    def __call__(self, result: C_contra) -> str: ...


_ARN = re.compile(
    r"^arn:[^:]*:lambda:[^:]*:[^:]*:function:([^:/]+):[^:/]+/durable-execution/([^/]+)/([^/]+)$"
)


@dataclass(frozen=True)
class DurableExecutionArn:
    """The parts of a durable execution ARN: function, execution name and invocation id."""

    function_name: str
    execution_name: str
    invocation_id: str

    @classmethod
    def from_arn(cls, arn: str) -> DurableExecutionArn | None:
        """Parse ``arn``; None when it is not a durable execution ARN."""
        match = _ARN.match(arn)
        if match is None:
            return None
        return cls(*match.groups())
