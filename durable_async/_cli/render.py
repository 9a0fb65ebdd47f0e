"""Tables for people: operations as a tree, executions, history events; rich or plain text.

Every view is built once as a :class:`Grid` of text cells. On a terminal with rich installed it
is drawn as a rich table with coloured statuses; anywhere else (a pipe, a file, CI logs, no
rich) as aligned plain columns, so the same words reach a log as reach a screen.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO, Any

from durable_async._cli.common import clock_time, duration, seconds_text

__all__ = [
    "Grid",
    "event_line",
    "operation_grid",
    "payload_preview",
    "printable",
    "rich_console",
    "status_style",
]

PREVIEW_CHARS = 60
_ENVELOPE_KEYS = {"t", "v"}
_STATUS_STYLES = {
    "SUCCEEDED": "green",
    "FAILED": "bold red",
    "TIMED_OUT": "red",
    "STOPPED": "yellow",
    "CANCELLED": "yellow",
    "STARTED": "cyan",
    "RUNNING": "cyan",
    "PENDING": "magenta",
    "READY": "magenta",
}
_EVENT = re.compile(r"(Execution|Step|Wait|Callback|Context|ChainedInvoke|Invocation)(.*)")
# Control characters in names and payloads (a newline, an escape sequence) would break a row or
# drive the terminal: they are shown escaped as JSON escapes them, so a JSON preview stays JSON.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    """Return ``text`` with control characters escaped (``\\n``, ``\\u001b``)."""
    return _CONTROL.sub(lambda m: _SHORT.get(m.group(), f"\\u{ord(m.group()):04x}"), text)


def status_style(status: str) -> str:
    """Return the rich style of a status word."""
    return _STATUS_STYLES.get(status, "")


# Payloads.


def payload_preview(text: str | None, limit: int = PREVIEW_CHARS) -> str:
    """Return a one-line preview of a checkpointed payload, its type envelopes taken off."""
    if text is None:
        return ""
    try:
        value = json.loads(text)
    except ValueError:
        return _cut(text, limit)
    if _is_envelope(value):
        value = _unwrap(value)
    return _cut(json.dumps(value, ensure_ascii=False, default=str), limit)


def decoded(text: str | None) -> Any:
    """Return a checkpointed payload as plain JSON data (envelopes off), or the text itself."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return _unwrap(value) if _is_envelope(value) else value


def _is_envelope(value: object) -> bool:
    return isinstance(value, dict) and set(value) == _ENVELOPE_KEYS and isinstance(value["t"], str)


def _unwrap(value: Any) -> Any:
    """Take the ``{"t": tag, "v": value}`` envelopes of ExtendedTypesSerDes off, recursively."""
    if not _is_envelope(value):
        return value
    inner = value["v"]
    if isinstance(inner, dict):
        return {key: _unwrap(item) for key, item in inner.items()}
    if isinstance(inner, list):
        return [_unwrap(item) for item in inner]
    return inner


def error_preview(error: Any, limit: int = PREVIEW_CHARS) -> str:
    """Return ``ErrorType: ErrorMessage`` of an ErrorObject, cut to ``limit``."""
    if not isinstance(error, dict):
        return ""
    kind, message = error.get("ErrorType") or "Error", error.get("ErrorMessage") or ""
    return _cut(f"{kind}: {message}" if message else str(kind), limit)


def _cut(text: str, limit: int) -> str:
    text = printable(text)
    return text if len(text) <= limit else text[: max(1, limit - 1)] + "…"


# A grid of cells, drawn plain or with rich.


@dataclass
class Grid:
    """Rows of text cells under headers; the ``status`` column is coloured on a terminal."""

    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    title: str | None = None

    def add(self, cells: list[str]) -> None:
        """Add a row, its control characters escaped."""
        self.rows.append([printable(cell) for cell in cells])

    def plain(self) -> str:
        """Return the grid as aligned columns of plain text."""
        widths = [len(h) for h in self.headers]
        for row in self.rows:
            widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
        lines = [_line(self.headers, widths)] if self.headers else []
        lines += [_line(row, widths) for row in self.rows]
        return "\n".join(([self.title] if self.title else []) + lines)

    def rich(self) -> Any:
        """Return the grid as a rich Table."""
        from rich.table import Table
        from rich.text import Text

        table = Table(title=self.title, title_justify="left", expand=False, box=None)
        widths = [len(h) for h in self.headers]
        for row in self.rows:
            widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
        for index, header in enumerate(self.headers):
            # Every column keeps its width but the last, which gives way on a narrow terminal.
            last = index == len(self.headers) - 1
            minimum = None if last else widths[index]
            table.add_column(header, no_wrap=True, overflow="ellipsis", min_width=minimum)
        status = self.headers.index("STATUS") if "STATUS" in self.headers else -1
        for row in self.rows:
            cells = [
                Text(cell, style=status_style(cell)) if index == status else Text(cell)
                for index, cell in enumerate(row)
            ]
            table.add_row(*cells)
        return table


def _line(cells: list[str], widths: list[int]) -> str:
    return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()


def rich_console(stream: IO[str]) -> Any | None:
    """Return a rich Console on ``stream`` when it is a terminal and rich is installed."""
    if not stream.isatty():
        return None
    try:
        from rich.console import Console
    except ImportError:
        return None
    return Console(file=stream, highlight=False)


def show(grid: Grid, stream: IO[str] | None = None) -> None:
    """Print ``grid`` on ``stream`` (stdout): a rich table on a terminal, plain text elsewhere."""
    out = stream if stream is not None else sys.stdout
    console = rich_console(out)
    if console is None:
        print(grid.plain(), file=out)
    else:
        console.print(grid.rich())


# Operations.

OPERATION_HEADERS = ["OPERATION", "TYPE", "STATUS", "ATTEMPT", "DURATION", "DETAIL"]


def operation_grid(operations: list[dict[str, Any]], now_ms: int | None = None) -> Grid:
    """Return the operations (not the EXECUTION one) as a tree, children under their parent.

    Each operation is one row, once: one whose parent is missing, or that sits in a loop of
    parents (no service writes one, but a row must not vanish), is shown at the top level.
    """
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    ops = [op for op in operations if op.get("Type") != "EXECUTION"]
    known = {op.get("Id") for op in ops}
    children: dict[Any, list[dict[str, Any]]] = {}
    for op in ops:
        parent = op.get("ParentId")
        children.setdefault(
            parent if parent in known and parent != op.get("Id") else None, []
        ).append(op)
    grid = Grid(list(OPERATION_HEADERS))
    shown: set[int] = set()
    for op in children.get(None, []):
        _add(grid, children, op, "", "", now, shown)
    for op in ops:
        if id(op) not in shown:
            _add(grid, children, op, "", "", now, shown)
    return grid


def _add(
    grid: Grid,
    children: dict[Any, list[dict[str, Any]]],
    op: dict[str, Any],
    indent: str,
    branch: str,
    now: int,
    shown: set[int],
) -> None:
    shown.add(id(op))
    grid.add([indent + branch + operation_name(op), *operation_cells(op, now)])
    deeper = indent + {"": "", "└─ ": "   ", "├─ ": "│  "}[branch]
    below = [child for child in children.get(op.get("Id"), []) if id(child) not in shown]
    for index, child in enumerate(below):
        last = index == len(below) - 1
        _add(grid, children, child, deeper, "└─ " if last else "├─ ", now, shown)


def operation_name(op: dict[str, Any]) -> str:
    """Return the operation's name, or its type and id when it has none."""
    kind = str(op.get("Type", "?")).lower()
    return str(op.get("Name") or f"({kind} {str(op.get('Id', ''))[:8]})")


def operation_cells(op: dict[str, Any], now: int) -> list[str]:
    """Return the TYPE, STATUS, ATTEMPT, DURATION and DETAIL cells of one operation."""
    status = str(op.get("Status", ""))
    attempt = (op.get("StepDetails") or {}).get("Attempt")
    ends = op.get("EndTimestamp")
    return [
        str(op.get("SubType") or op.get("Type", "")),
        status,
        str(attempt) if attempt else "",
        duration(op.get("StartTimestamp"), ends, now),
        operation_detail(op, now),
    ]


def operation_detail(op: dict[str, Any], now: int) -> str:
    """Return what a person wants to know of an operation: result, error, due time, id."""
    details: dict[str, Any] = {}
    for key in ("StepDetails", "ContextDetails", "CallbackDetails", "ChainedInvokeDetails"):
        details.update(op.get(key) or {})
    if op.get("Status") in ("PENDING", "READY") and details.get("NextAttemptTimestamp"):
        after = error_preview(details.get("Error"))
        retry = f"retry in {_until(details['NextAttemptTimestamp'], now)}"
        return f"{retry} after {after}" if after else retry
    if details.get("Error"):
        return error_preview(details["Error"])
    if "Result" in details:
        return payload_preview(details["Result"])
    wait = op.get("WaitDetails") or {}
    if wait.get("ScheduledEndTimestamp") and op.get("Status") == "STARTED":
        return f"until {clock_time(wait['ScheduledEndTimestamp'])}"
    if details.get("CallbackId") and op.get("Status") == "STARTED":
        return f"callback id {_cut(details['CallbackId'], 24)}"
    return ""


def _until(when_ms: int, now: int) -> str:
    return seconds_text(max(0, when_ms - now) / 1000)


# History events, one line each.


@dataclass
class EventNames:
    """The name path of each operation seen in a history so far (``approval/submitter``)."""

    paths: dict[str, str] = field(default_factory=dict)

    def path(self, event: dict[str, Any]) -> str:
        """Return the event's operation path, remembering it for the operation's children."""
        op_id = event.get("Id")
        if op_id is None:
            return ""
        if op_id not in self.paths:
            parent = self.paths.get(str(event.get("ParentId")), "")
            name = str(event.get("Name") or str(op_id)[:8])
            self.paths[str(op_id)] = f"{parent}/{name}" if parent else name
        return self.paths[str(op_id)]


def event_kind(event: dict[str, Any]) -> tuple[str, str]:
    """Split ``StepFailed`` into ``("step", "failed")``; the SubType names the kind if given."""
    match = _EVENT.fullmatch(str(event.get("EventType", "")))
    if match is None:
        return str(event.get("EventType", "")), ""
    noun, verb = match.groups()
    kind = str(event.get("SubType") or noun)
    return _words(kind), _words(verb)


def _words(camel: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", " ", camel).lower().replace("chained invoke", "invoke")


def event_detail(event: dict[str, Any]) -> str:
    """Return the one-line detail of a history event: error, attempt, due time, id, result."""
    details = event.get(f"{event.get('EventType')}Details") or {}
    parts: list[str] = []
    error = (details.get("Error") or {}).get("Payload")
    if error:
        parts.append(error_preview(error))
    retry = details.get("RetryDetails") or {}
    if retry.get("CurrentAttempt"):
        parts.append(f"attempt {retry['CurrentAttempt']}")
    if retry.get("NextAttemptDelaySeconds") is not None:
        parts.append(f"next in {retry['NextAttemptDelaySeconds']}s")
    if "Duration" in details and "ScheduledEndTimestamp" in details:
        until = clock_time(details["ScheduledEndTimestamp"])
        parts.append(f"{details['Duration']}s, until {until}")
    if details.get("FunctionName"):
        parts.append(f"function {details['FunctionName']}")
    if details.get("CallbackId"):
        parts.append(f"id {details['CallbackId']}")
    given = (details.get("Input") or {}).get("Payload")
    if given is not None and event.get("EventType") == "ExecutionStarted":
        parts.append(f"input {payload_preview(given)}")
    result = (details.get("Result") or {}).get("Payload")
    if result is not None:
        parts.append(f"→ {payload_preview(result)}")
    return ", ".join(parts)


_KIND_WIDTH = 17
_VERB_WIDTH = 9


def event_line(event: dict[str, Any], names: EventNames) -> str:
    """Return one history event as a line for people: time, kind, what happened, name, detail."""
    when = clock_time(int(event.get("EventTimestamp", 0)))
    if event.get("EventType") == "InvocationCompleted":
        return f"{when}  {'invocation':<{_KIND_WIDTH}}  ended"
    kind, verb = event_kind(event)
    name = names.path(event)
    if str(event.get("EventType", "")).startswith("Execution"):
        name, kind = "", "execution"
    line = f"{when}  {kind:<{_KIND_WIDTH}}  {verb:<{_VERB_WIDTH}}  {printable(name)}"
    detail = printable(event_detail(event))
    return f"{line}  {detail}".rstrip() if detail else line.rstrip()


def event_grid(events: Iterable[dict[str, Any]]) -> Grid:
    """Return history events as a grid: id, time, type, operation path, detail."""
    names = EventNames()
    grid = Grid(["ID", "TIME", "EVENT", "OPERATION", "DETAIL"])
    for event in events:
        path = "" if str(event.get("EventType", "")).startswith("Execution") else names.path(event)
        grid.add(
            [
                str(event.get("EventId", "")),
                clock_time(int(event.get("EventTimestamp", 0))),
                str(event.get("EventType", "")),
                path,
                event_detail(event),
            ]
        )
    return grid
