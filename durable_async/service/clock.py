"""Time for the SDK and the local service: the wall clock, and a virtual clock that skips waiting.

Time reaches replayed code and the service only through a ``Clock``, so tests can skip it: the
SDK and the embedded service share one ``SkipClock`` in ``DurableTestRunner(skip_time=True)``.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["Clock", "RealClock", "SkipClock"]

# Loop iterations in a row with nothing else ready before virtual time moves on. Where the
# loop's ready queue cannot be seen (not an asyncio base loop), only these rounds tell.
_QUIET_ROUNDS = 3
_BLIND_QUIET_ROUNDS = 20


class Clock(Protocol):
    """Epoch time in seconds, and a way to sleep until a point in it."""

    def now(self) -> float:
        """Return the current time in epoch seconds."""
        ...

    async def sleep_until(self, t: float) -> None:
        """Return once ``now() >= t``."""
        ...


class RealClock:
    """The wall clock."""

    def now(self) -> float:
        """Return ``time.time()``."""
        return time.time()

    async def sleep_until(self, t: float) -> None:
        """Sleep on the event loop until the wall clock reaches ``t``."""
        delay = t - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        # The loop's monotonic clock can run slightly ahead of the wall clock; cover the rest.
        rest = t - time.time()
        if rest > 0:
            await asyncio.sleep(rest + 0.001)


@dataclass(order=True)
class _Sleeper:
    deadline: float
    seq: int
    nudged: asyncio.Future[None] | None = field(default=None, compare=False)

    def nudge(self) -> None:
        if self.nudged is not None and not self.nudged.done():
            self.nudged.set_result(None)

    def arm(self) -> asyncio.Future[None]:
        self.nudged = asyncio.get_running_loop().create_future()
        return self.nudged


class SkipClock:
    """Virtual time that moves to the next sleeper's deadline whenever the loop is idle.

    Sleepers wake in deadline order, as on the wall clock, however many executions share the
    clock: the earliest sleeper leads, and moves time to its deadline only once nothing else
    on the loop is ready to run, no sleeper came or went meanwhile, and no :meth:`hold` is
    open. Work in a thread or behind a real-time ``asyncio.sleep`` does not look ready, so
    time may move on while it runs; code that must see time stand still meanwhile (the local
    service around its store calls) wraps it in :meth:`hold`.
    """

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start
        self._sleepers: list[_Sleeper] = []
        self._seq = itertools.count()
        # Bumped whenever a sleeper comes or goes or time moves, so a leader sees any of them.
        self._version = 0
        self._holds = 0
        self._released: list[asyncio.Future[None]] = []

    def now(self) -> float:
        """Return the virtual time in epoch seconds."""
        return self._now

    async def sleep_until(self, t: float) -> None:
        """Return once virtual time reaches ``t``, after every earlier sleeper woke."""
        if t <= self._now:
            await asyncio.sleep(0)
            return
        sleeper = _Sleeper(t, next(self._seq))
        bisect.insort(self._sleepers, sleeper)
        self._version += 1
        try:
            while self._now < t:
                if self._sleepers[0] is sleeper:
                    await self._lead(sleeper)
                else:
                    await sleeper.arm()
        finally:
            self._remove(sleeper)

    def advance(self, seconds: float) -> None:
        """Move the virtual time forward by ``seconds``, waking every sleeper now due."""
        if seconds < 0:
            raise ValueError(f"SkipClock cannot go backwards; got {seconds} s, pass 0 or more.")
        self._set_time(self._now + seconds)

    def hold(self) -> _Hold:
        """Keep virtual time still while the enclosed real work runs (``with clock.hold():``).

        The work must end on its own (a store call, a real-time delay): waiting on this
        clock inside a hold would wait forever.
        """
        return _Hold(self)

    def _release(self) -> None:
        self._holds -= 1
        if not self._holds:
            for released in self._released:
                if not released.done():
                    released.set_result(None)
            self._released.clear()

    async def _lead(self, sleeper: _Sleeper) -> None:
        """Move time to ``sleeper``'s deadline once the loop is idle, if it is still first."""
        version = await self._idle(sleeper)
        if version == self._version and self._sleepers[0] is sleeper:
            # The leader wakes like the rest, first, in the same loop iteration as everyone
            # due with it, so their work (refreshes) can share that iteration.
            woken = sleeper.arm()
            self._set_time(sleeper.deadline)
            await woken

    async def _idle(self, sleeper: _Sleeper) -> int | None:
        """Return the version once the loop stayed idle; None once ``sleeper`` is not first."""
        loop = asyncio.get_running_loop()
        rounds = _QUIET_ROUNDS if hasattr(loop, "_ready") else _BLIND_QUIET_ROUNDS
        quiet, version = 0, self._version
        while quiet < rounds:
            if self._sleepers[0] is not sleeper or self._now >= sleeper.deadline:
                return None
            if self._holds:
                # Released or nudged (time moved past the deadline), look again.
                released = sleeper.arm()
                self._released.append(released)
                await released
                quiet, version = 0, self._version
                continue
            with _spinning(loop):
                await asyncio.sleep(0)
                busy = _others_ready(loop)
            if busy or version != self._version:
                quiet, version = 0, self._version
            else:
                quiet += 1
        return version

    def _set_time(self, t: float) -> None:
        self._now = max(self._now, t)
        self._version += 1
        for sleeper in self._sleepers:
            if sleeper.deadline > self._now:
                break
            sleeper.nudge()

    def _remove(self, sleeper: _Sleeper) -> None:
        was_first = self._sleepers[0] is sleeper
        self._sleepers.remove(sleeper)
        self._version += 1
        if was_first and self._sleepers:
            self._sleepers[0].nudge()


class _Hold:
    """``with clock.hold():`` as a plain class: the SDK holds the clock around every step."""

    __slots__ = ("_clock",)

    def __init__(self, clock: SkipClock) -> None:
        self._clock = clock

    def __enter__(self) -> None:
        self._clock._holds += 1

    def __exit__(self, *exc_info: object) -> None:
        self._clock._release()


# Leaders of every SkipClock that are yielding to the loop right now, by loop: each one's own
# wake-up sits in the ready queue, which must not count as work for the others.
_SPINNERS: dict[asyncio.AbstractEventLoop, int] = {}


@contextmanager
def _spinning(loop: asyncio.AbstractEventLoop) -> Iterator[None]:
    _SPINNERS[loop] = _SPINNERS.get(loop, 0) + 1
    try:
        yield
    finally:
        _SPINNERS[loop] -= 1
        if not _SPINNERS[loop]:
            del _SPINNERS[loop]  # no entry outlives its leaders, so no loop is kept alive


def _others_ready(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether callbacks other than spinning leaders' are ready to run on ``loop``."""
    # asyncio's base loop keeps ready callbacks in ``_ready``; no public API tells whether the
    # loop is idle, and sleeping a real-time grace period instead would make every skip slow.
    ready = getattr(loop, "_ready", None)
    if ready is None:
        return False
    return len(ready) > _SPINNERS.get(loop, 1) - 1
