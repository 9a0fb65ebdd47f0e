"""The clocks: virtual time jumps, the wall clock really waits, and event-or-deadline waits."""

from __future__ import annotations

import asyncio
import time

import pytest

from durable_async.service.local import RealClock, SkipClock
from durable_async.service.local.clock import wait_event_or_time

from .helpers import START


async def test_skip_clock_jumps_to_the_deadline() -> None:
    """sleep_until moves virtual time to the deadline at once and never backwards."""
    clock = SkipClock(START)
    await clock.sleep_until(START + 3600)
    assert clock.now() == START + 3600
    await clock.sleep_until(START)
    assert clock.now() == START + 3600


async def test_skip_clock_lets_ready_tasks_run_first() -> None:
    """sleep_until yields once, so a task that is ready runs before the jump."""
    clock = SkipClock(START)
    seen: list[float] = []

    async def observer() -> None:
        seen.append(clock.now())

    async with asyncio.TaskGroup() as group:
        group.create_task(observer())
        await clock.sleep_until(START + 5)
    assert seen == [START]


def test_skip_clock_advances_and_refuses_to_go_back() -> None:
    """advance adds seconds; a negative step is refused with a clear error."""
    clock = SkipClock(START)
    clock.advance(1.5)
    assert clock.now() == START + 1.5
    with pytest.raises(ValueError, match="cannot go backwards"):
        clock.advance(-1)


def test_skip_clock_defaults_to_the_wall_clock() -> None:
    """A SkipClock without a start begins at the current time."""
    before = time.time()
    assert before <= SkipClock().now() <= time.time()


async def test_real_clock_waits_until_the_deadline() -> None:
    """RealClock.sleep_until returns only once the wall clock passed the deadline."""
    clock = RealClock()
    deadline = clock.now() + 0.02
    await clock.sleep_until(deadline)
    assert time.time() >= deadline
    await clock.sleep_until(deadline - 10)  # a past deadline returns at once


async def test_wait_event_or_time_returns_on_the_event() -> None:
    """The event wins over a far deadline, and the clock does not jump."""
    clock = SkipClock(START)
    event = asyncio.Event()
    event.set()
    assert await wait_event_or_time(event, RealClock(), time.time() + 3600) is True
    assert await wait_event_or_time(event, clock, None) is True


async def test_wait_event_or_time_returns_at_the_deadline() -> None:
    """With no event, the deadline ends the wait and reports no change."""
    clock = SkipClock(START)
    assert await wait_event_or_time(asyncio.Event(), clock, START + 60) is False
    assert clock.now() == START + 60
