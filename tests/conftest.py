"""Shared fixtures: the real local service on a real SQLite file, with calls recorded."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from durable_async import DurableHandler
from durable_async.service import ServiceError
from durable_async.service.local.clock import Clock, SkipClock
from durable_async.service.local.engine import LocalDurableService
from durable_async.service.local.runner import LocalRunner
from durable_async.service.local.store import SqliteStore
from durable_async.testing import DurableTestRunner


@dataclass
class RecordingService:
    """The real local service; records each checkpoint call's updates and can fail chosen calls.

    Failures stand in for what we cannot run here: AWS throttling, 5xx and rejected requests.
    """

    inner: LocalDurableService
    calls: list[list[dict[str, Any]]] = field(default_factory=list)
    fail_calls: dict[int, ServiceError] = field(default_factory=dict)
    in_flight: int = 0
    max_in_flight: int = 0
    answered: asyncio.Event = field(default_factory=asyncio.Event)

    async def checkpoint(
        self,
        arn: str,
        token: str,
        updates: list[dict[str, Any]],
        client_token: str | None = None,
    ) -> dict[str, Any]:
        index = len(self.calls)
        self.calls.append(list(updates))
        if index in self.fail_calls:
            raise self.fail_calls[index]
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self.inner.checkpoint(arn, token, updates, client_token)
        finally:
            self.in_flight -= 1
            self.answered.set()

    async def get_execution_state(
        self, arn: str, token: str, marker: str, max_items: int = 1000
    ) -> dict[str, Any]:
        return await self.inner.get_execution_state(arn, token, marker, max_items)

    def actions(self, call: int) -> list[tuple[str, str]]:
        """Return ``(Name or Id, Action)`` for each update of call number ``call``."""
        return [(u.get("Name") or u["Id"], u["Action"]) for u in self.calls[call]]


@dataclass
class Harness:
    """A local service on SQLite, a runner, and the recording wrapper the handlers talk to."""

    service: LocalDurableService
    recorder: RecordingService
    runner: LocalRunner
    clock: Clock

    def register(self, name: str, handler: DurableHandler) -> None:
        async def invoke(event: dict[str, Any]) -> dict[str, Any]:
            return await handler.invoke(event, service=self.recorder, clock=self.clock)

        self.runner.register(name, invoke)

    async def run(
        self, handler: DurableHandler, input: Any = None, *, name: str = "fn"
    ) -> dict[str, Any]:
        self.register(name, handler)
        return await self.runner.run(name, json.dumps(input), timeout=60)


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    """The real local service on a SQLite file in tmp_path, with a skip-time clock."""
    clock = SkipClock()
    async with SqliteStore(tmp_path / "durable.sqlite3") as store:
        service = LocalDurableService(store, clock)
        async with LocalRunner(service, clock=clock) as runner:
            yield Harness(service, RecordingService(service), runner, clock)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Dummy credentials and a region, isolated from any real AWS configuration."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_LAMBDA", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    """A fresh SQLite file path for DurableTestRunner(store=...)."""
    return tmp_path / "runner.sqlite3"


__all__ = ["DurableTestRunner", "Harness", "RecordingService"]
