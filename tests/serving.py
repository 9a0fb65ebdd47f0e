"""Start ``durable-async serve`` as a real subprocess and drive it with aiobotocore."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiobotocore.session import get_session

ENTRY_POINT = str(Path(sys.executable).parent / "durable-async")
HANDLERS = Path(__file__).resolve().parent / "serve_handlers"
APP = HANDLERS / "app.py"
START_SECONDS = 120.0  # generous: the machine may be busy with other suites
STOP_SECONDS = 20.0
POLL_SECONDS = 0.05
WAIT_SECONDS = 60.0  # bound on waiting for an execution to reach a state


@dataclass
class Served:
    """A running ``serve`` process: its URL, and its stderr so far."""

    process: asyncio.subprocess.Process
    url: str
    stderr_path: Path

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


def function_args(*names: str) -> list[str]:
    """Return ``--function NAME=.../app.py:NAME`` for each function of the test app."""
    return [arg for name in names for arg in ("--function", f"{name}={APP}:{name}")]


@contextlib.asynccontextmanager
async def served(*args: str, cwd: Path, env: dict[str, str] | None = None) -> AsyncIterator[Served]:
    """Run ``durable-async serve --port 0 *args`` in ``cwd`` until the block ends (SIGTERM)."""
    stderr_path = cwd / f"serve-{os.getpid()}-{id(args)}.stderr"
    with stderr_path.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            ENTRY_POINT, "serve", "--port", "0", *args,
            cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=stderr,
        )  # fmt: skip
    try:
        assert process.stdout is not None
        async with asyncio.timeout(START_SECONDS):
            line = (await process.stdout.readline()).decode()
        assert line.startswith("serving http://127.0.0.1:"), stderr_path.read_text()
        yield Served(process, line.split()[1], stderr_path)
    finally:
        await stop(process)


async def stop(process: asyncio.subprocess.Process) -> int:
    """SIGTERM the process and return its exit status (SIGKILL if it does not end in time)."""
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(STOP_SECONDS):
                return await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()
            raise
    return process.returncode


async def run_serve(*args: str, cwd: Path) -> tuple[int, str, str]:
    """Run ``durable-async serve *args`` expecting it to exit by itself; return code, out, err."""
    process = await asyncio.create_subprocess_exec(
        ENTRY_POINT, "serve", *args, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        async with asyncio.timeout(START_SECONDS):
            out, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return int(process.returncode or 0), out.decode(), err.decode()


@contextlib.asynccontextmanager
async def lambda_client(url: str) -> AsyncIterator[Any]:
    """An aiobotocore ``lambda`` client for the service at ``url``."""
    session = get_session()
    async with session.create_client(
        "lambda",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    ) as client:
        yield client


async def invoke(client: Any, function: str, payload: Any, **extra: Any) -> dict[str, Any]:
    """Invoke ``function`` with ``payload``; return the response with its payload read."""
    response = await client.invoke(FunctionName=function, Payload=json.dumps(payload), **extra)
    body = await response["Payload"].read()
    response["Body"] = body
    return dict(response)


async def until(check: Callable[[], Awaitable[Any]], what: str) -> Any:
    """Poll ``check`` until it returns something truthy; return that."""
    async with asyncio.timeout(WAIT_SECONDS):
        # Another process changes what check reads: nothing here could set an asyncio.Event.
        while not (found := await check()):  # noqa: ASYNC110
            await asyncio.sleep(POLL_SECONDS)
    return found


async def history(client: Any, arn: str) -> list[dict[str, Any]]:
    """Return every history event of ``arn``, paging through."""
    events: list[dict[str, Any]] = []
    marker: str | None = None
    while True:
        page = await client.get_durable_execution_history(
            DurableExecutionArn=arn, **({"Marker": marker} if marker else {})
        )
        events += page["Events"]
        marker = page.get("NextMarker")
        if not marker:
            return events


async def ended(client: Any, arn: str) -> dict[str, Any]:
    """Wait until the execution ends; return GetDurableExecution's answer."""

    async def look() -> dict[str, Any] | None:
        described: dict[str, Any] = await client.get_durable_execution(DurableExecutionArn=arn)
        return described if described["Status"] != "RUNNING" else None

    found: dict[str, Any] = await until(look, f"{arn} ends")
    return found


async def callback_id(client: Any, arn: str) -> str:
    """Wait for the execution's callback to start; return its id."""

    async def look() -> str | None:
        for event in await history(client, arn):
            if event["EventType"] == "CallbackStarted":
                return str(event["CallbackStartedDetails"]["CallbackId"])
        return None

    found: str = await until(look, f"a callback of {arn}")
    return found
