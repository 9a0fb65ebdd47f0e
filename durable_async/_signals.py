"""Control-flow signals. They derive from BaseException so ``except Exception`` cannot eat them."""

from __future__ import annotations

__all__ = ["Orphaned", "Suspend", "find_suspend"]


class Suspend(BaseException):
    """End this invocation as PENDING; the service re-invokes at ``resume_at`` or on an event."""

    def __init__(self, reason: str, resume_at: float | None = None) -> None:
        super().__init__(reason)
        self.resume_at = resume_at


class Orphaned(BaseException):
    """The operation belongs to a context that has already completed; it must not checkpoint."""


def find_suspend(exc: BaseException) -> Suspend | None:
    """Return the Suspend in ``exc``, looking inside exception groups (the one place we unwrap)."""
    if isinstance(exc, Suspend):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = find_suspend(inner)
            if found is not None:
                return found
    return None
