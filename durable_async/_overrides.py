"""Test seams the testing tools set, read by the operations (cheap when unset: one lookup).

``step_override`` holds a function that, given the step about to run, returns the function to
run in its place (a test double), or None to run the step's own. The testing runner sets it
around an invocation; user code never does.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from durable_async._context import OperationRef

__all__ = ["StepOverride", "step_override"]

#: Given a step's operation, the function to run instead of its own, or None.
StepOverride = Callable[["OperationRef"], Callable[..., Any] | None]

step_override: ContextVar[StepOverride | None] = ContextVar("step_override", default=None)
