"""Drive executions on any local durable service, and compare their histories SDK-neutrally.

Shared by test_serve_parity.py and test_cross_resume.py:

* :class:`ServeProcess` runs ``durable-async serve`` as a real subprocess on loopback.
* :class:`Driver` starts executions with the emulator's ``POST /start-durable-execution`` body
  (``serve`` and ``dex-local-runner`` both take it), answers callbacks and reads histories with a
  real aiobotocore ``lambda`` client, the same calls on either service.
* :func:`normalize` turns a history into what every service and SDK must agree on: event types,
  operation ids, names, subtypes, parent ids, payloads, errors and attempt numbers; it drops
  timestamps, random ids (event ids, execution ids and names, ARNs, callback and request ids)
  and ``InvocationCompleted`` events (where an invocation ends depends on the clock: a wait that
  ends while the handler still runs moves the boundary).
* :class:`Gap` names a field ``dex-local-runner`` records differently from ``serve``; the
  comparison checks the gap still shows, then leaves that field out on both sides.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import difflib
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiobotocore.session import get_session  # type: ignore[import-untyped]

from .conftest import ACCOUNT_ID, REGION, TERMINAL, full_history

ENTRY_POINT = str(Path(sys.executable).parent / "durable-async")
HANDLERS = Path(__file__).resolve().parents[1] / "serve_handlers"
REFERENCE_OPS = HANDLERS / "reference_ops.py"
PORTED_OPS = HANDLERS / "ported_ops.py"
START_SECONDS = 120.0  # serve starts a worker per function: slow on a busy machine
STOP_SECONDS = 20.0
POLL_SECONDS = 0.05
EXECUTION_SECONDS = 60.0  # the longest any execution here may take, on a busy machine

Event = dict[str, Any]
Json = dict[str, Any]

# Keys whose values are times or ids a service makes up: never equal between two runs.
_RANDOM_KEYS = frozenset(
    {
        "EventId",
        "EventTimestamp",
        "StartTimestamp",
        "EndTimestamp",
        "ScheduledEndTimestamp",
        "CallbackId",
        "RequestId",
        "DurableExecutionArn",
    }
)
# Each SDK records its own exceptions as "<its package>.exceptions.<Class>", in error types and
# in the errors a map or parallel keeps in its result.
_SDK_EXCEPTIONS = re.compile(r"\b(aws_durable_execution_sdk_python|durable_async)\.exceptions\.")


class ServeProcess:
    """``durable-async serve --port 0 ARGS`` as a subprocess; its stderr goes to ``log``."""

    def __init__(self, args: Sequence[str], log: Path, env: dict[str, str]) -> None:
        self.log = log
        with log.open("ab") as stderr:
            self.popen = subprocess.Popen(
                [ENTRY_POINT, "serve", "--port", "0", *args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=env,
            )
        self.url = ""

    def wait_ready(self) -> str:
        """Return serve's URL once it printed ``serving URL`` (every function's worker is up)."""
        assert self.popen.stdout is not None
        fd, line, deadline = self.popen.stdout.fileno(), b"", time.monotonic() + START_SECONDS
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise AssertionError(f"serve did not start in {START_SECONDS} s:\n{self.tail()}")
            chunk = os.read(fd, 1)
            if not chunk:
                raise AssertionError(f"serve exited before it served:\n{self.tail()}")
            line += chunk
        text = line.decode().strip()
        assert text.startswith("serving http://127.0.0.1:"), text
        self.url = text.split()[1]
        return self.url

    def stop(self) -> int:
        """SIGTERM serve (it stops its workers) and return its exit status."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=STOP_SECONDS)
        if self.popen.stdout is not None:
            self.popen.stdout.close()
        return self.popen.returncode

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@contextlib.contextmanager
def serving(args: Sequence[str], log: Path, env: dict[str, str]) -> Iterator[ServeProcess]:
    """Run serve until the block ends."""
    process = ServeProcess(args, log, env)
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


def function_args(path: Path, names: Sequence[str]) -> list[str]:
    """``--function NAME=PATH:ATTR`` for each function name of reference_ops/ported_ops."""
    return [arg for name in names for arg in ("--function", f"{name}={path}:{attribute(name)}")]


def attribute(name: str) -> str:
    """The module attribute that holds function ``name`` (the FUNCTIONS table's key)."""
    return {"map": "map_items"}.get(name, name.replace("-", "_"))


class Driver:
    """Start executions on one service and read them back, through its Lambda API."""

    def __init__(self, label: str, url: str, client: Any, http: aiohttp.ClientSession) -> None:
        self.label = label
        self.url = url
        self.client = client
        self.http = http

    async def start(
        self,
        function: str,
        payload: Any,
        *,
        name: str | None = None,
        timeout: int | None = int(EXECUTION_SECONDS),
    ) -> str:
        """Start ``function`` with dex-local-runner's body; return the execution's ARN.

        ``timeout`` is the ExecutionTimeout; under skip-time an execution that waits for a
        callback times out at once, so skip-time runs start theirs without one.
        """
        body: Json = {
            "AccountId": ACCOUNT_ID,
            "FunctionName": function,
            "FunctionQualifier": "$LATEST",
            "ExecutionName": name or f"{function}-{time.monotonic_ns()}",
            "ExecutionRetentionPeriodDays": 1,
            "Input": json.dumps(payload),
        }
        if timeout is not None:
            body["ExecutionTimeoutSeconds"] = timeout
        async with self.http.post(f"{self.url}/start-durable-execution", json=body) as response:
            text = await response.text()
            assert response.status == 201, f"{self.label}: {response.status} {text}"
        arn: str = json.loads(text)["ExecutionArn"]
        return arn

    async def history(self, arn: str) -> list[Event]:
        """Every history event of the execution, payloads included, oldest first."""
        return await full_history(self.client, arn)

    async def ended(self, arn: str) -> Json:
        """GetDurableExecution once the execution is terminal."""
        async with asyncio.timeout(EXECUTION_SECONDS):
            while True:
                execution: Json = await self.client.get_durable_execution(DurableExecutionArn=arn)
                if execution["Status"] in TERMINAL:
                    return execution
                await asyncio.sleep(POLL_SECONDS)

    async def event(self, arn: str, event_type: str, name: str) -> Event:
        """The execution's first ``event_type`` event of operation ``name``, once recorded."""
        async with asyncio.timeout(EXECUTION_SECONDS):
            while True:
                for event in await self.history(arn):
                    if event["EventType"] == event_type and event.get("Name") == name:
                        return event
                await asyncio.sleep(POLL_SECONDS)

    async def callback_id(self, arn: str, name: str) -> str:
        """The id of the execution's callback ``name``, once it started."""
        event = await self.event(arn, "CallbackStarted", name)
        return str(event["CallbackStartedDetails"]["CallbackId"])

    async def succeed_callback(self, arn: str, name: str, result: Any) -> None:
        callback_id = await self.callback_id(arn, name)
        await self.client.send_durable_execution_callback_success(
            CallbackId=callback_id, Result=json.dumps(result).encode()
        )

    async def fail_callback(self, arn: str, name: str, error_type: str, message: str) -> None:
        callback_id = await self.callback_id(arn, name)
        await self.client.send_durable_execution_callback_failure(
            CallbackId=callback_id, Error={"ErrorType": error_type, "ErrorMessage": message}
        )


@contextlib.asynccontextmanager
async def driver(label: str, url: str) -> AsyncIterator[Driver]:
    """A :class:`Driver` for the service at ``url``, with dummy credentials."""
    creator = get_session().create_client(
        "lambda",
        region_name=REGION,
        endpoint_url=url,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    async with creator as client, aiohttp.ClientSession() as http:
        yield Driver(label, url, client, http)


# Normalized histories.


def _without_random(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_random(v) for k, v in value.items() if k not in _RANDOM_KEYS}
    if isinstance(value, list):
        return [_without_random(item) for item in value]
    return value


def sdk_neutral(value: Any) -> Any:
    """``value`` with each SDK's exceptions module written ``<sdk>.exceptions`` in every text."""
    if isinstance(value, dict):
        return {k: sdk_neutral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [sdk_neutral(item) for item in value]
    if isinstance(value, str):
        return _SDK_EXCEPTIONS.sub("<sdk>.exceptions.", value)
    return value


def normalize(events: list[Event], *, neutral: bool = False) -> list[Event]:
    """The events every service must agree on, in order, ``InvocationCompleted`` left out.

    ``neutral`` also writes each SDK's exceptions module as ``<sdk>.exceptions``, the one
    difference a port cannot avoid: each SDK names its own classes in the errors it records.
    """
    normalized = []
    for event in events:
        if event["EventType"] == "InvocationCompleted":
            continue
        kept = _without_random(event)
        if event["EventType"].startswith("Execution"):
            # The execution's own id and name are made up by whoever started it.
            kept.pop("Id", None)
            kept.pop("Name", None)
        normalized.append(sdk_neutral(kept) if neutral else kept)
    return normalized


def by_operation(events: list[Event]) -> dict[str, list[Event]]:
    """Each operation's events in order, by operation id (the execution's under "execution").

    Concurrent branches (map, parallel) interleave differently from run to run; each
    operation's own events do not.
    """
    grouped: dict[str, list[Event]] = {}
    for event in events:
        grouped.setdefault(event.get("Id", "execution"), []).append(event)
    return grouped


def difference(ours: list[Event], theirs: list[Event], *, ordered: bool) -> str:
    """A unified diff of two normalized histories, empty when they agree.

    ``ordered=False`` compares each operation's events alone (see :func:`by_operation`).
    """

    def lines(events: list[Event]) -> list[str]:
        if ordered:
            return [json.dumps(event, sort_keys=True, default=str) for event in events]
        grouped = by_operation(events)
        return [
            f"{op}: {json.dumps(event, sort_keys=True, default=str)}"
            for op in sorted(grouped)
            for event in grouped[op]
        ]

    return "\n".join(difflib.unified_diff(lines(ours), lines(theirs), "ours", "theirs", n=1))


def invocations(events: list[Event]) -> list[Event]:
    """The ``InvocationCompleted`` events."""
    return [event for event in events if event["EventType"] == "InvocationCompleted"]


# Named dex-local-runner gaps.

_MISSING = object()


@dataclass(frozen=True)
class Gap:
    """Fields of some event types that ``dex-local-runner`` records unlike serve (and Lambda).

    Each path leads from an event to a field; ``applies`` picks the events concerned.
    """

    name: str
    event_types: frozenset[str]
    paths: tuple[tuple[str, ...], ...]
    applies: Callable[[Event], bool] = lambda event: True

    def values(self, events: list[Event]) -> list[Any]:
        """The fields' values in each event concerned (a marker where one is absent)."""
        return [[_get(e, path) for path in self.paths] for e in self._concerned(events)]

    def strip(self, events: list[Event]) -> list[Event]:
        """A copy of ``events`` without the fields."""
        stripped = copy.deepcopy(events)
        for event in self._concerned(stripped):
            for path in self.paths:
                _pop(event, path)
        return stripped

    def shows(self, ours: list[Event], theirs: list[Event]) -> bool:
        """Whether serve's and dex-local-runner's values of the fields differ in these runs."""
        return self.values(ours) != self.values(theirs)

    def _concerned(self, events: list[Event]) -> list[Event]:
        return [e for e in events if e["EventType"] in self.event_types and self.applies(e)]


def _get(event: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(event, dict) or key not in event:
            return _MISSING
        event = event[key]
    return event


def _pop(event: Any, path: tuple[str, ...]) -> None:
    for key in path[:-1]:
        event = event.get(key) if isinstance(event, dict) else None
    if isinstance(event, dict):
        event.pop(path[-1], None)


def is_wait_for_condition(event: Event) -> bool:
    return event.get("SubType") == "WaitForCondition"


def retries_next(event: Event) -> bool:
    """A wait_for_condition check that polls again (its StepSucceeded carries a delay)."""
    details = event.get("StepSucceededDetails", {}).get("RetryDetails", {})
    return is_wait_for_condition(event) and "NextAttemptDelaySeconds" in details


def final_attempt(event: Event) -> bool:
    """A StepFailed after which no attempt follows."""
    retry = event.get("StepFailedDetails", {}).get("RetryDetails", {})
    return not retry.get("NextAttemptDelaySeconds")
