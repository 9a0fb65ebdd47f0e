"""Control-flow signals. They derive from BaseException so ``except Exception`` cannot eat them."""

from __future__ import annotations

from typing import TypeVar

__all__ = ["Orphaned", "ProcessExit", "Suspend", "find_signal", "find_suspend"]


class Suspend(BaseException):
    """End this invocation as PENDING; the service re-invokes at ``resume_at`` or on an event."""

    def __init__(self, reason: str, resume_at: float | None = None) -> None:
        super().__init__(reason)
        self.resume_at = resume_at


class Orphaned(BaseException):
    """The operation belongs to a context that has already completed; it must not checkpoint."""


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
