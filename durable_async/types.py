"""The reference SDK's ``types`` module: the types a handler's annotations name.

Where the reference declares a Protocol that its own classes implement (``DurableContext``,
``BatchResult``, ``Callback``, ``StepContext``), this module names durable_async's class, so an
annotation ported from the reference means the object the handler actually receives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol, TypeVar

from durable_async._context import DurableContext, StepContext
from durable_async._protocols import LambdaContext, LoggerInterface
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
    "OperationContext",
    "StepContext",
    "SummaryGenerator",
    "WaitForCallbackContext",
    "WaitForConditionCheckContext",
]

C_contra = TypeVar("C_contra", contravariant=True)


class SummaryGenerator(Protocol[C_contra]):
    """Turns a result too large to checkpoint into the compact text stored instead."""

    def __call__(self, result: C_contra) -> str: ...


@dataclass(frozen=True)
class OperationContext:
    """What an operation's own code is given: a logger."""

    logger: LoggerInterface


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
