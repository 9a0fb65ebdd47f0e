"""Clocks for the local service (shared with the SDK), and waiting on an event or a time."""

from __future__ import annotations

import asyncio

from durable_async.service.clock import Clock, RealClock, SkipClock

__all__ = ["Clock", "RealClock", "SkipClock", "wait_event_or_time"]


async def wait_event_or_time(event: asyncio.Event, clock: Clock, deadline: float | None) -> bool:
    """Wait until ``event`` is set or ``clock`` reaches ``deadline``; return ``event.is_set()``."""
    if deadline is None:
        await event.wait()
        return True
    waiter = asyncio.ensure_future(event.wait())
    sleeper = asyncio.ensure_future(clock.sleep_until(deadline))
    try:
        await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        sleeper.cancel()
        await asyncio.gather(waiter, sleeper, return_exceptions=True)
    return event.is_set()
