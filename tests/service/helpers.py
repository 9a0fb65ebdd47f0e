"""Wire helpers shared by the local service tests."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from durable_async.service.local import LocalDurableService

START = 1_700_000_000.0
START_MS = 1_700_000_000_000


@dataclass
class Session:
    """One running invocation of an execution; ``send`` checkpoints and keeps the token fresh."""

    service: LocalDurableService
    arn: str
    token: str
    event: dict[str, Any]

    @property
    def execution_id(self) -> str:
        """Return the EXECUTION operation's id."""
        return self.arn.rsplit("/", 1)[-1]

    async def send(self, *updates: dict[str, Any]) -> dict[str, Any]:
        """Checkpoint ``updates`` with the current token and keep the next one."""
        response = await self.service.checkpoint(self.arn, self.token, list(updates))
        self.token = response.get("CheckpointToken", "")
        return response

    async def operation(self, operation_id: str) -> dict[str, Any]:
        """Return the stored operation with this id."""
        operations = await self.service.list_operations(self.arn)
        return next(op for op in operations if op["Id"] == operation_id)


Begin = Callable[..., Awaitable[Session]]


def update(operation_id: str, kind: str, action: str, **extra: Any) -> dict[str, Any]:
    """Return an OperationUpdate dict."""
    return {"Id": operation_id, "Type": kind, "Action": action, **extra}


# Files a store must refuse with one clear sentence: each makes one at ``path`` and returns it.


def text_file(path: Path) -> Path:
    """A text file where a database should be."""
    path.write_text("not a database\n" * 100, encoding="utf-8")
    return path


def folder(path: Path) -> Path:
    """A folder where a database should be."""
    path.mkdir()
    return path


def truncated_store(path: Path) -> Path:
    """A real SQLite file cut in half, as a crashed copy would leave it."""
    database = sqlite3.connect(path)
    with database:
        database.execute("CREATE TABLE filler (x)")
        database.executemany("INSERT INTO filler VALUES (?)", [("x" * 500,)] * 100)
    database.close()
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2 + 100])
    return path
