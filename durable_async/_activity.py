"""When an invocation may suspend, and parking the operations that wait for the service.

The rule (docs/concepts.md): the invocation suspends only when nothing is busy (no step body,
no checkpoint call somebody waits for), somebody is parked on a durable operation that cannot
finish in this invocation (a wait's end, a retry's time, a callback, a chained invoke), and every
live task of the handler is parked or waits only on parked or finished tasks. A task in a plain
``await`` (an HTTP read, ``asyncio.sleep``) is still working, so the invocation runs on.

A parked operation with a known resume time sleeps until then only while something else works;
then it asks for a refresh, which the checkpointer shares among all who ask. When everything is
parked, suspending beats sleeping in-process.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Collection, Coroutine
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass
from typing import Any, TypeVar

from durable_async._signals import Orphaned, Suspend, suspend
from durable_async._tasks import OWNER, WaitGraph, install_tracking, spawn_untracked
from durable_async.service.clock import Clock

__all__ = ["Activity"]

T = TypeVar("T")

_MAX_BACKOFF = 5.0
_CANCEL_GRACE_SECONDS = 5.0


class _Busy:
    """``with activity.busy():`` as a plain class: cheaper than a generator per use."""

    __slots__ = ("_activity",)

    def __init__(self, activity: Activity) -> None:
        self._activity = activity

    def __enter__(self) -> None:
        self._activity.hold()

    def __exit__(self, *exc_info: object) -> None:
        self._activity.release()


@dataclass(slots=True)
class _Parked:
    resume_at: float | None
    timed: bool


class Activity:
    """Owns the handler's tasks; decides when the invocation has nothing left but to wait."""

    def __init__(self, clock: Clock, refresh: Callable[[], Awaitable[None]]) -> None:
        self._clock = clock
        self._refresh = refresh
        self._busy = 0
        self._clock_hold: AbstractContextManager[None] | None = None
        self._parked: dict[asyncio.Future[bool], _Parked] = {}
        self._joins: dict[asyncio.Future[Any], Collection[asyncio.Future[Any]]] = {}
        self._graph = WaitGraph(self._parked, self._joins)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stragglers: set[asyncio.Task[Any]] = set()
        # The task last seen working while somebody was parked (checked first next time).
        self._witness: asyncio.Task[Any] | None = None
        self._change: asyncio.Future[None] | None = None
        self._main: asyncio.Task[Any] | None = None
        self.suspended = False

    # -- the handler's tasks --------------------------------------------------------------

    def start(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run the handler's coroutine as the invocation's first task; its tasks are ours."""
        loop = asyncio.get_running_loop()
        install_tracking(loop)
        context = contextvars.copy_context()
        context.run(OWNER.set, self)
        self._main = loop.create_task(coro, context=context)
        return self._main

    def handler_ended(self) -> bool:
        """Whether the handler has returned or raised (no operation may start any more)."""
        return self._main is not None and self._main.done()

    def track(self, task: asyncio.Task[Any]) -> None:
        """Adopt a task the handler created."""
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        straggler = task in self._stragglers
        self._stragglers.discard(task)
        # An abandoned branch's end, or a leftover task stopped by our own signal (it was
        # orphaned or suspended), is not news; a user task's own error still gets logged.
        # Peeking at the error without retrieving it takes asyncio's private attribute.
        if not task.cancelled():
            error = getattr(task, "_exception", None)
            if straggler or isinstance(error, Orphaned | Suspend):
                task.exception()
        if straggler or self._parked:
            self._signal()

    def adopt_straggler(self, task: asyncio.Task[Any]) -> None:
        """Let an abandoned branch run on; the invocation waits for it before it returns."""
        self._stragglers.add(task)

    def working(self, task: asyncio.Task[Any]) -> bool:
        """Whether ``task`` can progress in this invocation (not parked, not only waiting)."""
        return self._graph.working(task)

    async def finish(self) -> None:
        """Wait for working stragglers, then cancel every task the handler left behind."""
        while any(self.working(task) for task in self._stragglers):
            await asyncio.wait([self.next_change()])
        await self.cancel_all()

    async def cancel_all(self) -> None:
        """Cancel the handler's remaining tasks and wait (a bounded time) until they end."""
        tasks = [task for task in self._tasks if not task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=_CANCEL_GRACE_SECONDS)
        for task in tasks:
            if task.done() and not task.cancelled():
                task.exception()  # retrieved: a leftover's error is not news

    # -- busy and parked ------------------------------------------------------------------

    def busy(self) -> _Busy:
        """Count the enclosed work as progress: no suspension, and virtual time stands still."""
        return _Busy(self)

    def hold(self) -> None:
        """Count one unit of progress until ``release``."""
        self._busy += 1
        if self._busy == 1:
            hold = getattr(self._clock, "hold", None)
            if hold is not None:
                self._clock_hold = hold()
                self._clock_hold.__enter__()

    def release(self) -> None:
        """End one unit of progress started by ``hold``."""
        self._busy -= 1
        if self._busy == 0:
            held, self._clock_hold = self._clock_hold, None
            if held is not None:
                held.__exit__(None, None, None)
            if self._parked:  # with nobody parked the rule cannot newly hold
                self._signal()

    async def join(self, future: asyncio.Future[T], tasks: Collection[asyncio.Future[Any]]) -> T:
        """Await ``future``, which only ``tasks`` resolve (so it waits exactly when they do)."""
        self._joins[future] = tasks
        try:
            return await future
        finally:
            del self._joins[future]

    async def wait_until(
        self, ready: Callable[[], bool], resume_at: float | None, what: str
    ) -> None:
        """Return when ``ready()`` holds, refreshing at ``resume_at``; or raise Suspend."""
        backoff = 0.05
        while not ready():
            if self.suspended:
                raise suspend(what, resume_at)
            timed_out = await self._park(resume_at)
            if timed_out and not ready():
                with self.busy():
                    await self._refresh()
                if resume_at is not None and not ready() and self._clock.now() >= resume_at:
                    # The service's clock may trail ours a little: look again a bit later.
                    resume_at = self._clock.now() + backoff
                    backoff = min(backoff * 2, _MAX_BACKOFF)

    def wake(self) -> None:
        """Let parked operations look at the state again (it changed)."""
        for future in self._parked:
            if not future.done():
                future.set_result(False)

    async def _park(self, resume_at: float | None) -> bool:
        """Park until woken or until ``resume_at``; return whether the time came."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        # Sleep in-process only while something else works; else suspending is better.
        timed = resume_at is not None and (self._busy > 0 or self._witness is not None)
        self._parked[future] = _Parked(resume_at, timed)
        timer = spawn_untracked(self._ring(future, resume_at)) if timed else None
        self._signal()
        try:
            return await future
        finally:
            del self._parked[future]
            if timer is not None and not timer.done():
                timer.cancel()
                with suppress(asyncio.CancelledError):
                    await timer

    async def _ring(self, future: asyncio.Future[bool], resume_at: float | None) -> None:
        assert resume_at is not None
        await self._clock.sleep_until(resume_at)
        if not future.done():
            future.set_result(True)

    # -- the suspension rule --------------------------------------------------------------

    def may_suspend(self) -> bool:
        """Whether nothing is busy, somebody is parked and no task of the handler is working."""
        if self._busy or not self._parked:
            return False
        witness = self._witness
        if witness is not None and self.working(witness):
            return False
        for task in self._tasks:
            if self.working(task):
                self._witness = task
                if witness is None:
                    self._time_the_parked()
                return False
        self._witness = None
        return True

    def working_elsewhere(self) -> bool:
        """Whether the last look found a task working (so the supervisor should look again)."""
        return self._witness is not None

    def suspend_all(self) -> None:
        """End the invocation's waiting: every parked operation raises Suspend."""
        self.suspended = True
        times = [p.resume_at for p in self._parked.values() if p.resume_at is not None]
        signal = suspend("every operation is waiting", min(times) if times else None)
        for future in self._parked:
            if not future.done():
                future.set_exception(signal)

    def _time_the_parked(self) -> None:
        """Somebody works after all: parked operations with a time re-park with a timer."""
        for future, parked in self._parked.items():
            if parked.resume_at is not None and not parked.timed and not future.done():
                future.set_result(False)

    def next_change(self) -> asyncio.Future[None]:
        """A future resolved when the suspension rule may newly hold."""
        if self._change is None or self._change.done():
            self._change = asyncio.get_running_loop().create_future()
        return self._change

    def _signal(self) -> None:
        change = self._change
        if change is not None and not change.done():
            change.set_result(None)
