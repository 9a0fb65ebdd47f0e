"""The clock the SDK core reads time from; tests inject a skip-time clock."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

__all__ = ["Clock", "RealClock"]


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
        """Sleep on the event loop until ``t``."""
        delay = t - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
