"""Starts do not queue behind the checkpoints of executions in flight.

A start used to wait for one global start lock and then, on the SQLite store's one thread, for
every store call queued before it: with 280 executions in flight that was hundreds of calls
per start. These tests pin the order the engine admits calls in, never wall-clock speed
(``benchmarks/start_latency.py`` measures that).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import pytest

from durable_async.service.local import LocalDurableService, SkipClock, SqliteStore
from durable_async.service.local._admission import Gate, client_calls

from .helpers import START, update

pytestmark = pytest.mark.timeout(30)


async def enter(gate: Gate, name: str, order: list[str], release: asyncio.Event) -> None:
    """Pass the gate, note the order, hold the place until ``release`` is set."""
    async with gate:
        order.append(name)
        await release.wait()


async def settle() -> None:
    """Let every ready task run until it blocks."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_the_gate_lets_in_at_most_its_limit() -> None:
    """With a limit of 3, the fourth and later callers wait until a place is free."""
    gate, order, release = Gate(3), [], asyncio.Event()
    async with asyncio.TaskGroup() as group:
        for n in range(6):
            group.create_task(enter(gate, f"d{n}", order, release))
        await settle()
        assert order == ["d0", "d1", "d2"]
        assert gate.inside == 3
        assert gate.waiting == (0, 3)
        release.set()
    assert order == [f"d{n}" for n in range(6)]
    assert gate.inside == 0


async def test_client_calls_go_ahead_of_waiting_drive_calls_and_lanes_take_turns() -> None:
    """Waiting client calls are let in ahead of earlier drive calls, alternating while both wait."""
    gate, order = Gate(1), []
    holds = {name: asyncio.Event() for name in ("first", "d1", "d2", "d3", "c1", "c2")}

    async def client(name: str) -> None:
        with client_calls():
            await enter(gate, name, order, holds[name])

    async with asyncio.TaskGroup() as group:
        group.create_task(enter(gate, "first", order, holds["first"]))
        await settle()
        for name in ("d1", "d2", "d3"):
            group.create_task(enter(gate, name, order, holds[name]))
        await settle()
        for name in ("c1", "c2"):
            group.create_task(client(name))
        await settle()
        assert gate.waiting == (2, 3)
        for hold in holds.values():
            hold.set()
    assert order == ["first", "c1", "d1", "c2", "d2", "d3"]


async def test_a_cancelled_waiter_takes_no_place() -> None:
    """A caller cancelled while waiting leaves the gate as if it never came."""
    gate, order, release = Gate(1), [], asyncio.Event()
    async with asyncio.TaskGroup() as group:
        group.create_task(enter(gate, "holder", order, release))
        await settle()
        cancelled = group.create_task(enter(gate, "cancelled", order, release))
        group.create_task(enter(gate, "next", order, release))
        await settle()
        cancelled.cancel()
        await settle()
        release.set()
    assert order == ["holder", "next"]
    assert gate.inside == 0
    assert gate.waiting == (0, 0)


async def test_a_waiter_cancelled_after_being_let_in_passes_its_place_on() -> None:
    """A place handed to a caller that is cancelled before it runs goes to the next caller."""
    gate, order, release = Gate(1), [], asyncio.Event()
    async with asyncio.TaskGroup() as group:
        holder_release = asyncio.Event()
        group.create_task(enter(gate, "holder", order, holder_release))
        await settle()
        unlucky = group.create_task(enter(gate, "unlucky", order, release))
        group.create_task(enter(gate, "next", order, release))
        await settle()
        holder_release.set()
        await asyncio.sleep(0)  # the holder leaves and hands its place to "unlucky"...
        unlucky.cancel()  # ...which is cancelled before it could run
        await settle()
        release.set()
    assert order == ["holder", "next"]
    assert gate.inside == 0


async def test_a_start_is_not_queued_behind_checkpoints_already_waiting(tmp_path: Path) -> None:
    """With 60 checkpoints waiting for the SQLite store, a start issued after them ends early."""
    finished: list[str] = []

    async def noted(name: str, call: Awaitable[Any]) -> None:
        await call
        finished.append(name)

    store = SqliteStore(tmp_path / "durable.sqlite3")
    async with LocalDurableService(store, SkipClock(START)) as service:
        sessions = []
        for _ in range(60):
            arn = await service.start_execution("busy", None)
            sessions.append((arn, (await service.begin_invocation(arn))["CheckpointToken"]))
        async with asyncio.TaskGroup() as group:
            for n, (arn, token) in enumerate(sessions):
                step = update("s1", "STEP", "START")
                group.create_task(noted(f"checkpoint {n}", service.checkpoint(arn, token, [step])))
            group.create_task(noted("start", service.start_execution("new", None)))

    assert len(finished) == 61
    # Before, the start ended last: every checkpoint's store call was queued ahead of it.
    assert finished.index("start") < 20
    assert set(finished[finished.index("start") + 1 :]) >= {"checkpoint 59", "checkpoint 40"}
