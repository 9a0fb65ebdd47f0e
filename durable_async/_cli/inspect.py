"""``list`` and ``show``: what the store holds, read while runs go on (SQLite allows it)."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any

from durable_async._cli.common import (
    EXIT_NOT_FOUND,
    CliError,
    duration,
    find_execution,
    function_of,
    open_service,
    print_json,
    timestamp,
)
from durable_async._cli.progress import CallbackHint, callback_name
from durable_async._cli.render import (
    Grid,
    decoded,
    error_preview,
    event_grid,
    operation_grid,
    payload_preview,
    printable,
    show,
)
from durable_async.service.local.engine import LocalDurableService

__all__ = ["ListOptions", "list_executions", "show_execution"]

STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED")


@dataclass
class ListOptions:
    """What ``list`` shows: which statuses and functions, how many, in which form."""

    store: str
    statuses: tuple[str, ...] = ()
    functions: tuple[str, ...] = ()
    limit: int = 50
    json: bool = False


async def list_executions(options: ListOptions) -> int:
    """Print the store's executions, newest first."""
    try:
        async with open_service(options.store) as service:
            executions = await service.list_executions()
    except CliError as exc:
        if exc.code != EXIT_NOT_FOUND:
            raise
        executions = []  # no store yet: nothing has run, which is an empty list
    chosen = [e for e in reversed(executions) if _wanted(e, options)]
    shown = chosen[: options.limit] if options.limit > 0 else chosen
    if options.json:
        print_json([_summary(e) for e in shown])
        return 0
    if not shown:
        print("no executions" + (" match" if executions else ""), file=sys.stderr)
        return 0
    grid = Grid(["NAME", "STATUS", "FUNCTION", "STARTED", "DURATION"])
    now = int(time.time() * 1000)
    for e in shown:
        start, end = e.get("StartTimestamp"), e.get("EndTimestamp")
        grid.add(
            [
                str(e["DurableExecutionName"]),
                str(e["Status"]),
                function_of(e["DurableExecutionArn"]),
                timestamp(start),
                duration(start, end, now),
            ]
        )
    show(grid)
    if len(shown) < len(chosen):
        print(f"showing {len(shown)} of {len(chosen)}; --limit 0 shows all", file=sys.stderr)
    return 0


def _wanted(execution: dict[str, Any], options: ListOptions) -> bool:
    if options.statuses and execution["Status"] not in options.statuses:
        return False
    if not options.functions:
        return True
    function = function_of(execution["DurableExecutionArn"])
    return any(function == f or function.rsplit("-", 1)[0] == f for f in options.functions)


def _summary(execution: dict[str, Any]) -> dict[str, Any]:
    start, end = execution.get("StartTimestamp"), execution.get("EndTimestamp")
    return {
        "DurableExecutionName": execution["DurableExecutionName"],
        "DurableExecutionArn": execution["DurableExecutionArn"],
        "FunctionName": function_of(execution["DurableExecutionArn"]),
        "Status": execution["Status"],
        "StartTimestamp": start,
        "EndTimestamp": end,
        "DurationMs": None if start is None or end is None else end - start,
    }


@dataclass
class ShowOptions:
    """Which execution ``show`` prints, and how."""

    store: str
    execution: str
    events: bool = False
    json: bool = False


async def show_execution(options: ShowOptions) -> int:
    """Print one execution: a header and its operations as a tree, or its raw history."""
    async with open_service(options.store) as service:
        found = await find_execution(service, options.execution)
        if options.events:
            events = await _all_events(service, found.arn)
            if options.json:
                print_json({"Events": events})
            else:
                show(event_grid(events))
            return 0
        operations = await service.list_operations(found.arn)
    execution = found.execution
    if options.json:
        print_json({**_shown(execution), "Operations": operations})
        return 0
    print(_header(execution))
    grid = operation_grid(operations)
    if grid.rows:
        print()
        show(grid)
    _print_callback_hints(execution, operations, options.store)
    return 0


def _shown(execution: dict[str, Any]) -> dict[str, Any]:
    """Return the execution with its input and result as JSON data rather than text."""
    shown = dict(execution)
    for key in ("InputPayload", "Result"):
        if key in shown:
            shown[key] = decoded(shown[key])
    return shown


async def _all_events(service: LocalDurableService, arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    marker: str | None = None
    while True:
        page = await service.get_history(arn, marker=marker)
        events += page["Events"]
        marker = page.get("NextMarker")
        if not marker:
            return events


def _header(execution: dict[str, Any]) -> str:
    start, end = execution.get("StartTimestamp"), execution.get("EndTimestamp")
    lines = [
        f"{execution['DurableExecutionName']}  {execution['Status']}  "
        f"{function_of(execution['DurableExecutionArn'])}",
        f"  arn:      {execution['DurableExecutionArn']}",
        f"  started:  {timestamp(start)}"
        + (f"   ended: {timestamp(end)}" if end else "")
        + f"   duration: {duration(start, end)}",
        f"  input:    {payload_preview(execution.get('InputPayload'), 100) or '-'}",
    ]
    if "Result" in execution:
        lines.append(f"  result:   {payload_preview(execution['Result'], 100)}")
    if execution.get("Error"):
        lines.append(f"  error:    {error_preview(execution['Error'], 200)}")
    return "\n".join(lines)


def _print_callback_hints(
    execution: dict[str, Any], operations: list[dict[str, Any]], store: str
) -> None:
    if execution.get("Status") != "RUNNING":
        return
    hint = CallbackHint(str(execution["DurableExecutionName"]), store)
    by_id = {str(op["Id"]): op for op in operations}
    waiting = [
        op for op in operations if op.get("Type") == "CALLBACK" and op["Status"] == "STARTED"
    ]
    if waiting:
        print()
    for op in waiting:
        name = callback_name(op, by_id)
        print(printable(f"waiting for callback {name}: {hint.command(name)}"))
