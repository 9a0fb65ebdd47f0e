"""Fixtures for the local service: a skip clock, both stores, and an invocation session."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from durable_async.service.local import (
    LocalDurableService,
    MemoryStore,
    SkipClock,
    SqliteStore,
    Store,
)

from .helpers import START, Begin, Session


@pytest.fixture
def clock() -> SkipClock:
    """A virtual clock starting at a fixed instant."""
    return SkipClock(START)


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """Each test runs on the memory store and on a real SQLite file."""
    chosen: Store = (
        MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "local.sqlite3")
    )
    async with chosen:
        yield chosen


@pytest.fixture
def service(store: Store, clock: SkipClock) -> LocalDurableService:
    """The engine over the parametrized store and the skip clock."""
    return LocalDurableService(store, clock)


@pytest.fixture
def begin(service: LocalDurableService) -> Begin:
    """Start an execution and begin its first invocation."""

    async def begin(payload: str | None = '{"n": 1}', name: str | None = None) -> Session:
        arn = await service.start_execution("fn", payload, name=name)
        event = await service.begin_invocation(arn)
        return Session(service, arn, event["CheckpointToken"], event)

    return begin
