"""What one invocation knows and does: operations by id, and when it may suspend.

``ExecutionState`` holds every operation the service has reported (the event, its pages and
every checkpoint response). ``Activity`` counts operations that are doing work (running a step
body, awaiting a checkpoint) and parks operations that wait for the service (a wait's end, a
retry's time). A parked operation sleeps until its known time and then asks for a refresh, which
the checkpointer shares among all who ask; when nothing is doing work and somebody is parked, the
invocation suspends with the earliest known resume time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

from durable_async._models import Operation
from durable_async._signals import Suspend
from durable_async.service.clock import Clock

__all__ = ["Activity", "ExecutionState"]

_MAX_BACKOFF = 5.0


class ExecutionState:
    """Operations of one execution by id, merged from every service response."""

    def __init__(self, arn: str) -> None:
        self.arn = arn
        self.operations: dict[str, Operation] = {}
        self.on_change: Callable[[], None] | None = None

    def get(self, op_id: str) -> Operation | None:
        """Return the recorded operation with ``op_id``, if any."""
        return self.operations.get(op_id)

    def merge(self, wire_operations: list[dict[str, Any]]) -> None:
        """Record operations as the service returned them (newer replaces older)."""
        if not wire_operations:
            return
        operations = self.operations
        for wire in wire_operations:
            op = Operation.from_wire(wire)
            operations[op.id] = op
        if self.on_change is not None:
            self.on_change()


class _Busy:
    """``with activity.busy():`` as a plain class: cheaper than a generator per use."""

    __slots__ = ("_activity",)

    def __init__(self, activity: Activity) -> None:
        self._activity = activity

    def __enter__(self) -> None:
        self._activity.hold()

    def __exit__(self, *exc_info: object) -> None:
        self._activity.release()


class Activity:
    """Decides when the invocation has nothing left to do but wait, and parks the waiters."""

    def __init__(self, clock: Clock, refresh: Callable[[], Awaitable[None]]) -> None:
        self._clock = clock
        self._refresh = refresh
        self._active = 0
        self._parked: dict[asyncio.Future[None], float | None] = {}
        self._idle: asyncio.Future[None] | None = None
        self.suspended = False

    def busy(self) -> _Busy:
        """Count the enclosed work as progress, so the invocation does not suspend under it."""
        return _Busy(self)

    def hold(self) -> None:
        """Count one unit of progress until ``release`` (for work that spans tasks)."""
        self._active += 1

    def release(self) -> None:
        """End one unit of progress started by ``hold``."""
        self._active -= 1
        self._check_idle()

    def arm(self) -> asyncio.Future[None]:
        """Return a future that resolves when nothing is busy and somebody is parked."""
        self._idle = asyncio.get_running_loop().create_future()
        self._check_idle()
        return self._idle

    def is_idle(self) -> bool:
        """Whether every live operation is parked."""
        return self._active == 0 and bool(self._parked)

    def suspend_all(self) -> None:
        """End the invocation's waiting: every parked operation raises Suspend."""
        self.suspended = True
        times = [t for t in self._parked.values() if t is not None]
        signal = Suspend("every operation is waiting", min(times) if times else None)
        for future in self._parked:
            if not future.done():
                future.set_exception(signal)

    def wake(self) -> None:
        """Let parked operations look at the state again (it changed)."""
        for future in self._parked:
            if not future.done():
                future.set_result(None)

    async def wait_until(
        self, ready: Callable[[], bool], resume_at: float | None, what: str
    ) -> None:
        """Return when ``ready()`` holds, refreshing at ``resume_at``; or raise Suspend."""
        backoff = 0.05
        while not ready():
            if self.suspended:
                raise Suspend(what, resume_at)
            timed_out = await self._park(resume_at)
            if timed_out and not ready():
                with self.busy():
                    await self._refresh()
                if resume_at is not None and not ready() and self._clock.now() >= resume_at:
                    # The service's clock may trail ours a little: look again a bit later.
                    resume_at = self._clock.now() + backoff
                    backoff = min(backoff * 2, _MAX_BACKOFF)

    async def _park(self, resume_at: float | None) -> bool:
        """Park until woken or until ``resume_at``; return whether the time came."""
        future = asyncio.get_running_loop().create_future()
        self._parked[future] = resume_at
        timer = None
        try:
            self._check_idle()
            if resume_at is None or self._active == 0:
                # Nothing else is working: suspending beats sleeping in-process, so no timer.
                await future
                return False
            timer = asyncio.ensure_future(self._clock.sleep_until(resume_at))
            await asyncio.wait((future, timer), return_when=asyncio.FIRST_COMPLETED)
            if future.done():
                future.result()  # raises Suspend when the invocation is suspending
                return False
            return True
        finally:
            del self._parked[future]
            if timer is not None and not timer.done():
                timer.cancel()
                with suppress(asyncio.CancelledError):
                    await timer

    def _check_idle(self) -> None:
        idle = self._idle
        if idle is not None and not idle.done() and self.is_idle():
            idle.set_result(None)
