"""Control-flow signals. They derive from BaseException so ``except Exception`` cannot eat them."""

from __future__ import annotations

from typing import TypeVar

from durable_async.exceptions import (
    OrphanedChildException,
    SuspendExecution,
    TimedSuspendExecution,
)

__all__ = ["Orphaned", "ProcessExit", "Suspend", "find_signal", "find_suspend", "suspend"]


Suspend = SuspendExecution
Orphaned = OrphanedChildException


def suspend(reason: str, resume_at: float | None = None) -> SuspendExecution:
    """Return the signal that ends the invocation as PENDING (timed when ``resume_at`` is known)."""
    if resume_at is None:
        return SuspendExecution(reason)
    return TimedSuspendExecution(reason, resume_at)


class ProcessExit(BaseException):
    """User code called ``sys.exit``: the invocation fails as Lambda fails an exited process."""

    def __init__(self, code: object) -> None:
        super().__init__(code)
        self.code = code


S = TypeVar("S", bound=BaseException)


def find_signal(exc: BaseException, kind: type[S]) -> S | None:
    """Return the ``kind`` signal in ``exc``, looking inside exception groups (the one place)."""
    if isinstance(exc, kind):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = find_signal(inner, kind)
            if found is not None:
                return found
    return None


def find_suspend(exc: BaseException) -> Suspend | None:
    """Return the Suspend in ``exc``, looking inside exception groups."""
    return find_signal(exc, Suspend)
