"""What every command shares: exit codes, the store, finding an execution, time and JSON output."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from durable_async.service import ServiceError
from durable_async.service.local._sqlite import Durability
from durable_async.service.local.engine import LocalDurableService
from durable_async.service.local.store import MemoryStore, SqliteStore, Store

__all__ = [
    "DEFAULT_STORE",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_LEASED",
    "EXIT_NOT_FOUND",
    "EXIT_STOPPED",
    "EXIT_TERMINATED",
    "EXIT_TIMED_OUT",
    "EXIT_TIMEOUT",
    "EXIT_USAGE",
    "MEMORY",
    "CliError",
    "duration",
    "exit_code_of",
    "find_execution",
    "json_argument",
    "open_service",
    "open_store",
    "print_json",
    "read_argument",
    "timestamp",
]

DEFAULT_STORE = ".durable/durable.sqlite3"
MEMORY = ("memory", ":memory:")

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_TIMEOUT = 3
EXIT_LEASED = 4
EXIT_TIMED_OUT = 5
EXIT_STOPPED = 6
EXIT_NOT_FOUND = 7
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143

_STATUS_EXIT = {"SUCCEEDED": 0, "FAILED": EXIT_FAILED, "TIMED_OUT": EXIT_TIMED_OUT}
_STATUS_EXIT["STOPPED"] = EXIT_STOPPED


class CliError(Exception):
    """A command cannot go on: print the message as one line and exit with ``code``."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def exit_code_of(status: str | None) -> int:
    """Return the exit code that reports an execution ending with ``status``."""
    return _STATUS_EXIT.get(status or "", EXIT_FAILED)


def open_store(spec: str, durability: Durability | None = None) -> Store:
    """Return the store ``--store`` names: a SQLite file, or process memory.

    ``durability`` is ``--durability``; None leaves it to ``$DURABLE_ASYNC_DURABILITY``, else full.
    """
    if spec in MEMORY:
        return MemoryStore()
    # The store creates its folder and file readable by their owner only.
    return SqliteStore(Path(spec), durability=durability)


@asynccontextmanager
async def open_service(
    spec: str, durability: Durability | None = None
) -> AsyncIterator[LocalDurableService]:
    """Open the existing store ``spec`` for a command that inspects or answers executions."""
    if spec in MEMORY:
        raise CliError(
            f"--store {spec} holds nothing once its run ends; name the SQLite file the run used."
        )
    if not Path(spec).exists():  # noqa: ASYNC240 - one stat before the store opens
        raise CliError(
            f"no store at {spec}: nothing has run here yet. Run this command in the folder where "
            "`durable-async run` ran, or pass --store PATH.",
            EXIT_NOT_FOUND,
        )
    try:
        async with open_store(spec, durability) as store:
            yield LocalDurableService(store)
    except (ServiceError, OSError) as exc:
        raise CliError(str(exc)) from exc


@dataclass(frozen=True)
class Found:
    """An execution a command was pointed at by name or ARN."""

    arn: str
    execution: dict[str, Any]


async def find_execution(service: LocalDurableService, ref: str) -> Found:
    """Return the execution ``ref`` names: its ARN, or a name that exactly one execution has."""
    if ref.startswith("arn:"):
        try:
            return Found(ref, await service.describe_execution(ref))
        except ServiceError as exc:
            raise CliError(f"no execution {ref} in this store.", EXIT_NOT_FOUND) from exc
    matches = [e for e in await service.list_executions() if e["DurableExecutionName"] == ref]
    if not matches:
        raise CliError(
            f"no execution named {ref!r} in this store; `durable-async list` shows them.",
            EXIT_NOT_FOUND,
        )
    if len(matches) > 1:
        arns = "\n  ".join(e["DurableExecutionArn"] for e in matches)
        raise CliError(
            f"{len(matches)} executions are named {ref!r} (one per function); "
            f"pass the ARN of one:\n  {arns}"
        )
    arn = matches[0]["DurableExecutionArn"]
    return Found(arn, await service.describe_execution(arn))


def function_of(arn: str) -> str:
    """Return the function name inside an execution or function ARN."""
    return arn.split(":function:", 1)[-1].split(":", 1)[0]


def timestamp(ms: int | None) -> str:
    """Return epoch milliseconds as local ``YYYY-MM-DD HH:MM:SS``, or '-'."""
    if ms is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000))


def clock_time(ms: int) -> str:
    """Return epoch milliseconds as local ``HH:MM:SS.mmm``."""
    return time.strftime("%H:%M:%S", time.localtime(ms / 1000)) + f".{ms % 1000:03d}"


def duration(start_ms: int | None, end_ms: int | None, now_ms: int | None = None) -> str:
    """Return the time from ``start_ms`` to ``end_ms`` (or to now, still running) for people."""
    if start_ms is None:
        return "-"
    end = end_ms if end_ms is not None else (now_ms if now_ms is not None else _now_ms())
    return seconds_text(max(0, end - start_ms) / 1000)


def seconds_text(seconds: float) -> str:
    """Return ``seconds`` as ``850ms``, ``4.2s``, ``3m07s`` or ``2h05m``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes:02d}m"
    return f"{hours // 24}d{hours % 24:02d}h"


def _now_ms() -> int:
    return int(time.time() * 1000)


def print_json(value: Any) -> None:
    """Print ``value`` as indented JSON on stdout."""
    print(json.dumps(value, indent=2, ensure_ascii=False))


def read_argument(value: str, option: str) -> str:
    """Return ``value``, or the text of the file ``@PATH`` names (``@-`` is stdin)."""
    if not value.startswith("@"):
        return value
    path = value[1:]
    try:
        if path == "-":
            return sys.stdin.read()
        with open(path, encoding="utf-8") as file:
            return file.read()
    except OSError as exc:
        raise CliError(f"{option}: cannot read {path}: {exc.strerror or exc}") from exc


def json_argument(value: str, option: str) -> Any:
    """Parse ``value`` (JSON, or ``@FILE`` holding JSON); a usage error names the option."""
    text = read_argument(value, option)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"{option} is not valid JSON: {exc}") from exc


def fail(message: str, code: int) -> NoReturn:
    """Print ``durable-async: message`` on stderr and exit with ``code``."""
    print(f"durable-async: {message}", file=sys.stderr)
    raise SystemExit(code)
