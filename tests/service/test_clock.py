"""The clocks: virtual time skips in deadline order, the wall clock really waits, and waits."""

from __future__ import annotations

import asyncio
import threading
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


async def test_skip_clock_wakes_sleepers_in_deadline_order() -> None:
    """Sleepers registered with deadlines 5, 1, 3 wake in order 1, 3, 5, each at its deadline."""
    clock = SkipClock(START)
    woke: list[tuple[float, float]] = []

    async def sleeper(offset: float) -> None:
        await clock.sleep_until(START + offset)
        woke.append((offset, clock.now() - START))

    async with asyncio.TaskGroup() as group:
        for offset in (5, 1, 3):
            group.create_task(sleeper(offset))
    assert woke == [(1, 1), (3, 3), (5, 5)]


async def test_a_woken_task_can_arm_a_timer_before_later_sleepers_wake() -> None:
    """A task woken at 1 that sleeps until 2 wakes before a sleeper waiting for 3."""
    clock = SkipClock(START)
    woke: list[str] = []

    async def chain() -> None:
        await clock.sleep_until(START + 1)
        woke.append("first at 1")
        await asyncio.sleep(0)  # some work between the two sleeps
        await clock.sleep_until(START + 2)
        woke.append("then at 2")

    async def late() -> None:
        await clock.sleep_until(START + 3)
        woke.append("late at 3")

    async with asyncio.TaskGroup() as group:
        group.create_task(late())
        group.create_task(chain())
    assert woke == ["first at 1", "then at 2", "late at 3"]


async def test_sleepers_with_one_deadline_wake_in_registration_order() -> None:
    """Sleepers due at the same time all wake at that time, first registered first."""
    clock = SkipClock(START)
    woke: list[int] = []

    async def sleeper(index: int) -> None:
        await clock.sleep_until(START + 7)
        woke.append(index)

    async with asyncio.TaskGroup() as group:
        for index in range(4):
            group.create_task(sleeper(index))
    assert woke == [0, 1, 2, 3]
    assert clock.now() == START + 7


async def test_advance_wakes_due_sleepers_in_order() -> None:
    """advance moves time and wakes the sleepers it passed, earliest first; later ones wait."""
    clock = SkipClock(START)
    woke: list[float] = []
    gate = asyncio.Event()

    async def sleeper(offset: float) -> None:
        await clock.sleep_until(START + offset)
        woke.append(offset)

    async def hold_time_until_advanced() -> None:
        with clock.hold():
            await gate.wait()

    async with asyncio.TaskGroup() as group:
        group.create_task(hold_time_until_advanced())
        for offset in (30, 20, 10):
            group.create_task(sleeper(offset))
        for _ in range(5):
            await asyncio.sleep(0)
        clock.advance(25)
        for _ in range(5):
            await asyncio.sleep(0)
        assert woke == [10, 20]
        gate.set()
    assert woke == [10, 20, 30]
    assert clock.now() == START + 30


async def test_hold_keeps_time_still_until_released() -> None:
    """While a hold is open the clock does not move, however idle the loop is."""
    clock = SkipClock(START)
    released = asyncio.Event()

    async def held_work() -> None:
        with clock.hold():
            await released.wait()

    async with asyncio.TaskGroup() as group:
        group.create_task(held_work())
        sleeper = group.create_task(clock.sleep_until(START + 60))
        for _ in range(20):
            await asyncio.sleep(0)
        assert clock.now() == START
        assert not sleeper.done()
        released.set()
    assert clock.now() == START + 60


async def test_cancelled_sleeper_lets_the_next_one_lead() -> None:
    """Cancelling the earliest sleeper hands the lead to the next, which still wakes on time."""
    clock = SkipClock(START)
    async with asyncio.TaskGroup() as group:
        with clock.hold():
            early = group.create_task(clock.sleep_until(START + 1))
            later = group.create_task(clock.sleep_until(START + 2))
            await asyncio.sleep(0)
            early.cancel()
    assert early.cancelled()
    assert later.done()
    assert clock.now() == START + 2


async def test_skip_clock_moves_on_while_a_thread_works() -> None:
    """Work in a thread does not hold virtual time, so a sleeper beside it cannot deadlock."""
    clock = SkipClock(START)
    started = threading.Event()
    finish = threading.Event()

    def work() -> str:
        started.set()
        finish.wait(5)
        return "done"

    async with asyncio.TaskGroup() as group:
        worker = group.create_task(asyncio.to_thread(work))
        await asyncio.to_thread(started.wait, 5)
        await clock.sleep_until(START + 3600)
        assert clock.now() == START + 3600
        finish.set()
    assert worker.result() == "done"


async def test_skip_clock_moves_on_during_a_real_time_sleep() -> None:
    """A real-time asyncio.sleep in flight is not mistaken for work that holds time forever."""
    clock = SkipClock(START)
    async with asyncio.TaskGroup() as group:
        group.create_task(asyncio.sleep(0.05))
        await asyncio.wait_for(clock.sleep_until(START + 10), timeout=5)
    assert clock.now() == START + 10


async def test_two_skip_clocks_on_one_loop_both_move() -> None:
    """Leaders of two clocks yielding side by side do not mistake each other for work."""
    first, second = SkipClock(START), SkipClock(START)
    async with asyncio.timeout(5), asyncio.TaskGroup() as group:
        group.create_task(first.sleep_until(START + 1))
        group.create_task(second.sleep_until(START + 2))
    assert (first.now(), second.now()) == (START + 1, START + 2)
