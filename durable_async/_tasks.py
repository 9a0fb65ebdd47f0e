"""The handler's tasks: which tasks belong to an invocation, and which of them are working.

Every task created while a handler runs (directly, or by a task it created) belongs to the
invocation: a task factory on the loop reads a context variable the invocation set on the
handler's first task. A task is *working* when it can make progress in this invocation: it is
ready to run, or awaits something outside the invocation (I/O, a sleep, a thread, a checkpoint
call). It is *waiting* when it awaits a parked durable operation, or only tasks and futures
that are themselves waiting or done (``await task``, ``gather``, ``asyncio.wait``, TaskGroup,
``wait_for``). Anything this module cannot see through counts as working, so an unknown await
can delay a suspension but never cause a wrong one.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
from collections.abc import Callable, Collection, Coroutine
from types import FrameType
from typing import Any, Protocol, TypeVar, cast

from durable_async._signals import ProcessExit

__all__ = ["TaskOwner", "WaitGraph", "install_tracking", "spawn_untracked"]

T = TypeVar("T")


class TaskOwner(Protocol):
    """Who adopts the tasks created under it (an invocation's Activity)."""

    def track(self, task: asyncio.Task[Any]) -> None:
        """Adopt ``task``."""
        ...


OWNER: contextvars.ContextVar[TaskOwner | None] = contextvars.ContextVar(
    "durable_async_owner", default=None
)


class _TrackingFactory:
    """A loop task factory that hands each new task to the owner of the context creating it."""

    def __init__(self, previous: Callable[..., asyncio.Task[Any]] | None) -> None:
        self.previous = previous

    def __call__(
        self, loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any], **kwargs: Any
    ) -> asyncio.Task[Any]:
        context: contextvars.Context | None = kwargs.get("context")
        owner = context.get(OWNER) if context is not None else OWNER.get()
        if owner is not None:
            coro = _exits_as_signal(coro)
        if self.previous is not None:
            task = self.previous(loop, coro, **kwargs)
        else:
            task = asyncio.Task(coro, loop=loop, **kwargs)
        if owner is not None:
            owner.track(task)
        return task


async def _exits_as_signal(coro: Coroutine[Any, Any, T]) -> T:
    # asyncio lets SystemExit escape the event loop from any task; as Lambda does for a process
    # that exits mid-invocation, the invocation fails instead (see _execution).
    try:
        return await coro
    except SystemExit as exc:
        raise ProcessExit(exc.code) from exc


def install_tracking(loop: asyncio.AbstractEventLoop) -> None:
    """Make ``loop`` hand new tasks to their context's owner (once per loop; keeps any factory)."""
    current: Any = loop.get_task_factory()
    if not isinstance(current, _TrackingFactory):
        loop.set_task_factory(cast(Any, _TrackingFactory(current)))


def spawn_untracked(coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
    """Start a task of our own (a timer) that belongs to no invocation's handler."""
    return asyncio.get_running_loop().create_task(coro, context=contextvars.Context())


class WaitGraph:
    """Tells working tasks from waiting ones, given the invocation's parked and joined futures."""

    def __init__(
        self,
        parked: Collection[asyncio.Future[Any]],
        joins: dict[asyncio.Future[Any], Collection[asyncio.Future[Any]]],
    ) -> None:
        self._parked = parked
        self._joins = joins

    def working(self, task: asyncio.Task[Any]) -> bool:
        """Whether ``task`` can make progress without the service."""
        return self._task_working(task, set())

    def _task_working(self, task: asyncio.Task[Any], seen: set[asyncio.Future[Any]]) -> bool:
        if task.done() or task in seen:
            return False
        seen.add(task)
        waiter: asyncio.Future[Any] | None = getattr(task, "_fut_waiter", None)
        if waiter is None or waiter.done():
            return True  # ready to run (or about to be)
        return self._awaits_work(waiter, task.get_coro(), seen)

    def _future_working(self, future: asyncio.Future[Any], seen: set[asyncio.Future[Any]]) -> bool:
        if isinstance(future, asyncio.Task):
            return self._task_working(future, seen)
        return not future.done() and self._awaits_work(future, None, seen)

    def _awaits_work(
        self, waiter: asyncio.Future[Any], coro: object, seen: set[asyncio.Future[Any]]
    ) -> bool:
        if waiter in self._parked:
            return False
        if isinstance(waiter, asyncio.Task):
            return self._task_working(waiter, seen)
        inner = self._joins.get(waiter)
        if inner is None:
            inner = getattr(waiter, "_children", None)  # asyncio.gather's outer future
        if inner is None and coro is not None:
            inner = _awaited_in_frames(coro)
        if inner is None:
            return True  # I/O, a sleep, a thread, an event: work outside the invocation
        return any(self._future_working(f, seen) for f in inner)


def _awaited_in_frames(coro: object) -> Collection[asyncio.Future[Any]] | None:
    """The futures the innermost asyncio.wait, wait_for or TaskGroup in ``coro``'s chain awaits."""
    found = None
    while coro is not None:
        frame: FrameType | None = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is not None:
            found = _recognise(frame) or found
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return found


def _recognise(frame: FrameType) -> Collection[asyncio.Future[Any]] | None:
    code = frame.f_code
    if code is _WAIT_CODE:
        fs = frame.f_locals.get("fs")
        return list(fs) if isinstance(fs, Collection) else None
    if code is _WAIT_FOR_CODE:  # Python 3.11 wraps the awaitable in a task
        fut = frame.f_locals.get("fut")
        return [fut] if isinstance(fut, asyncio.Future) else None
    if code.co_name in ("__aexit__", "_aexit"):
        group = frame.f_locals.get("self")
        if isinstance(group, asyncio.TaskGroup):
            tasks: Collection[asyncio.Future[Any]] = getattr(group, "_tasks", ())
            return list(tasks)
    return None


def _code_of(func: object) -> object:
    return getattr(func, "__code__", None)


_WAIT_CODE = _code_of(getattr(asyncio.tasks, "_wait", None))
_WAIT_FOR_CODE = _code_of(asyncio.wait_for) if sys.version_info < (3, 12) else None
