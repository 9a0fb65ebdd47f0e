"""Live progress of ``run``: a rich table of operations on a terminal, plain lines elsewhere.

Both views follow the execution through the service while the runner drives it: they look again
at each change the service announces, and at least every half second (another process may
answer a callback, and running operations' durations grow). Plain lines come from the history,
so every event appears exactly once, in order, even when time is skipped and several happen
between two looks. Progress goes to stderr; stdout keeps only the result.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
from collections.abc import AsyncIterator
from typing import IO, Any, Protocol

from durable_async._cli.common import DEFAULT_STORE, duration
from durable_async._cli.render import (
    EventNames,
    event_line,
    operation_grid,
    printable,
    status_style,
)
from durable_async.service import ServiceError
from durable_async.service.local.engine import LocalDurableService

__all__ = ["Lines", "Progress", "Table", "follow", "make_progress"]

_LOOK_SECONDS = 0.5


class Progress(Protocol):
    """A view of one execution that is brought up to date from the service."""

    async def update(self, service: LocalDurableService, arn: str) -> None:
        """Show what changed since the last update."""

    def close(self) -> None:
        """Leave the final state on screen."""


def make_progress(mode: str, stream: IO[str], hint: CallbackHint) -> Progress | None:
    """Return the view ``--progress`` asks for: table, lines, or None for off.

    ``auto`` is the table on a terminal when rich is installed, and lines anywhere else.
    """
    if mode == "off":
        return None
    if mode in ("auto", "table") and (mode == "table" or stream.isatty()):
        try:
            return Table(stream, hint)
        except ImportError:
            if mode == "table":
                print(
                    "durable-async: --progress table needs rich: pip install 'durable-async[cli]'"
                    "; showing lines instead",
                    file=stream,
                )
    return Lines(stream, hint)


@contextlib.asynccontextmanager
async def follow(
    progress: Progress | None, service: LocalDurableService, arn: str
) -> AsyncIterator[None]:
    """Keep ``progress`` up to date while the block runs, and once more after it ends."""
    if progress is None:
        yield
        return
    task = asyncio.create_task(_follow(progress, service, arn), name=f"progress {arn}")
    ended = False
    try:
        yield
        ended = True
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        try:
            # Only a block that ended normally gets the last look: after an interrupt the
            # view shows what it last saw.
            if ended:
                with contextlib.suppress(ServiceError, OSError):
                    await progress.update(service, arn)
        finally:
            progress.close()


async def _follow(progress: Progress, service: LocalDurableService, arn: str) -> None:
    while True:
        changed = service.watch(arn)
        try:
            await progress.update(service, arn)
        except (ServiceError, OSError):
            return  # the view is a convenience: the run goes on without it
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_LOOK_SECONDS):
                await changed.wait()


class CallbackHint:
    """The command that answers a started callback, as ``run`` should print it."""

    def __init__(self, execution_name: str | None, store: str) -> None:
        self.execution_name = execution_name
        self.store = store

    def command(self, callback_name: str) -> str:
        """Return ``durable-async callback succeed ...`` for the callback ``callback_name``."""
        words = ["durable-async", "callback", "succeed"]
        words += ["--execution", self.execution_name or "NAME", "--name", callback_name]
        if self.store != DEFAULT_STORE:
            words += ["--store", self.store]
        return shlex.join(words) + " --payload JSON"


def callback_name(op: dict[str, Any], parents: dict[str, dict[str, Any]]) -> str:
    """Return the name that addresses a CALLBACK: its wait_for_callback's name, else its own."""
    parent = parents.get(str(op.get("ParentId")))
    if parent is not None and parent.get("SubType") == "WaitForCallback" and parent.get("Name"):
        return str(parent["Name"])
    return str(op.get("Name") or op["Id"])


class Lines:
    """One line per history event, as it happens; the callbacks' answer command once each."""

    def __init__(self, stream: IO[str], hint: CallbackHint) -> None:
        self.stream = stream
        self.hint = hint
        self.seen = 0
        self.names = EventNames()
        self.operations: dict[str, dict[str, Any]] = {}

    async def update(self, service: LocalDurableService, arn: str) -> None:
        """Print the events recorded since the last update."""
        marker = str(self.seen - 1) if self.seen else None
        events = (await service.get_history(arn, marker=marker))["Events"]
        for event in events:
            self.seen += 1
            self._remember(event)
            print(event_line(event, self.names), file=self.stream, flush=True)
            if event.get("EventType") == "CallbackStarted":
                name = callback_name(event, self.operations)
                answer = printable(self.hint.command(name))
                print(f"  answer it: {answer}", file=self.stream, flush=True)

    def _remember(self, event: dict[str, Any]) -> None:
        op_id = event.get("Id")
        if op_id is not None and op_id not in self.operations:
            self.operations[str(op_id)] = {k: event.get(k) for k in ("Name", "SubType", "ParentId")}

    def close(self) -> None:
        """Nothing to leave: every line is printed already."""


class Table:
    """A rich table of the operations, redrawn in place at each update."""

    def __init__(self, stream: IO[str], hint: CallbackHint) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = Console(file=stream, highlight=False)
        self.hint = hint
        self.live = Live(console=self.console, auto_refresh=False, transient=False)
        self.started = False

    async def update(self, service: LocalDurableService, arn: str) -> None:
        """Draw the execution's operations as they are now."""
        execution = await service.describe_execution(arn)
        operations = await service.list_operations(arn)
        if not self.started:
            self.live.start()
            self.started = True
        self.live.update(self._render(execution, operations), refresh=True)

    def _render(self, execution: dict[str, Any], operations: list[dict[str, Any]]) -> Any:
        from rich.console import Group
        from rich.text import Text

        status = str(execution.get("Status"))
        head = Text.assemble(
            (str(execution.get("DurableExecutionName")), "bold"),
            "  ",
            (status, status_style(status)),
            "  ",
            duration(execution.get("StartTimestamp"), execution.get("EndTimestamp")),
        )
        parts: list[Any] = [head, operation_grid(operations).rich()]
        by_id = {str(op["Id"]): op for op in operations}
        for op in operations:
            if op.get("Type") == "CALLBACK" and op.get("Status") == "STARTED":
                command = self.hint.command(callback_name(op, by_id))
                parts.append(Text(f"answer it: {printable(command)}", style="dim"))
        return Group(*parts)

    def close(self) -> None:
        """Stop redrawing, leaving the last table on screen."""
        if self.started:
            self.live.stop()
            if not self.console.is_terminal:
                self.console.line()  # off a terminal the last table ends without one
