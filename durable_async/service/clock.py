"""Time for the SDK and the local service: the wall clock, and a virtual clock that skips waiting.

Time reaches replayed code and the service only through a ``Clock``, so tests can skip it: the
SDK and the embedded service share one ``SkipClock`` in ``DurableTestRunner(skip_time=True)``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

__all__ = ["Clock", "RealClock", "SkipClock"]


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


class SkipClock:
    """Virtual time: sleeping jumps the clock forward instead of waiting."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start

    def now(self) -> float:
        """Return the virtual time in epoch seconds."""
        return self._now

    async def sleep_until(self, t: float) -> None:
        """Let other ready tasks run once, then jump the clock to ``t`` if it is later."""
        await asyncio.sleep(0)
        self._now = max(self._now, t)

    def advance(self, seconds: float) -> None:
        """Move the virtual time forward by ``seconds``."""
        if seconds < 0:
            raise ValueError(f"SkipClock cannot go backwards; got {seconds} s, pass 0 or more.")
        self._now += seconds
