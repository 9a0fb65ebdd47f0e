"""The reference emulator and a Lambda-like process on loopback, shared by one test module.

``dex-local-runner start-server`` plays the durable execution service; it invokes handlers
through Lambda Invoke on ``lambda_process.py``, whose handlers checkpoint back to the emulator
with durable_async's aiobotocore backend. Tests drive both through :class:`Interop`.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiobotocore.session import get_session  # type: ignore[import-untyped]

HOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEX_LOCAL_RUNNER = Path(sys.executable).with_name("dex-local-runner")
READY_TIMEOUT_SECONDS = 15.0
STOP_TIMEOUT_SECONDS = 5.0
EXECUTION_TIMEOUT_SECONDS = 30.0
POLL_INTERVAL_SECONDS = 0.05
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED"})

Json = dict[str, Any]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def isolated_aws_environment(config_dir: Path) -> dict[str, str]:
    """This process's environment with dummy credentials and no real AWS configuration."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    env.update(DUMMY_CREDENTIALS)
    env.update(
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=str(config_dir / "no-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(config_dir / "no-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


async def full_history(client: Any, arn: str) -> list[Json]:
    """Every GetDurableExecutionHistory event of the execution, payloads included, oldest
    first, through the aiobotocore ``client`` page by page."""
    events: list[Json] = []
    params: Json = {"DurableExecutionArn": arn, "IncludeExecutionData": True}
    while True:
        page = await client.get_durable_execution_history(**params)
        events.extend(page.get("Events") or [])
        if not page.get("NextMarker"):
            return events
        params["Marker"] = page["NextMarker"]


@dataclass
class Process:
    """A subprocess on a loopback port, with its combined output in a log file."""

    name: str
    url: str
    popen: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(
        cls, name: str, command: list[str], port: int, env: dict[str, str], log: Path
    ) -> Process:
        with log.open("wb") as out:
            popen = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT
            )
        process = cls(name, f"http://{HOST}:{port}", popen, log)
        try:
            process.wait_until_healthy()
        except BaseException:
            process.stop()
            raise
        return process

    def wait_until_healthy(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                pytest.fail(f"{self.name} exited early:\n{self.log.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(POLL_INTERVAL_SECONDS)
        pytest.fail(
            f"{self.name} was not healthy within {READY_TIMEOUT_SECONDS} s:\n{self.log.read_text()}"
        )

    def stop(self) -> None:
        self.popen.terminate()
        try:
            self.popen.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=STOP_TIMEOUT_SECONDS)

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Processes:
    emulator: Process
    lambda_process: Process


@pytest.fixture(scope="module")
def processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Processes]:
    """Start the Lambda-like process, then the emulator that invokes it; stop both afterwards."""
    workdir = tmp_path_factory.mktemp("interop")
    emulator_port, lambda_port = free_port(), free_port()
    emulator_url = f"http://{HOST}:{emulator_port}"
    lambda_env = isolated_aws_environment(workdir)
    lambda_env["AWS_ENDPOINT_URL_LAMBDA"] = emulator_url
    lambda_env["PYTHONUNBUFFERED"] = "1"
    lambda_process = Process.start(
        "lambda process",
        [sys.executable, "-m", "tests.interop.lambda_process", "--port", str(lambda_port)],
        lambda_port,
        lambda_env,
        workdir / "lambda.log",
    )
    try:
        emulator = Process.start(
            "dex-local-runner",
            [
                str(DEX_LOCAL_RUNNER),
                "start-server",
                *("--host", HOST, "--port", str(emulator_port)),
                *("--lambda-endpoint", lambda_process.url),
                *("--store-type", "memory", "--invocation-timeout", "30"),
                "--no-skip-time",
                *("--log-level", "WARNING"),
            ],
            emulator_port,
            isolated_aws_environment(workdir),
            workdir / "dex.log",
        )
        try:
            yield Processes(emulator, lambda_process)
        finally:
            emulator.stop()
    finally:
        lambda_process.stop()


class Interop:
    """Start executions on the emulator and read back their outcome, history and invocations."""

    def __init__(self, processes: Processes, client: Any, http: aiohttp.ClientSession) -> None:
        self.processes = processes
        self.client = client
        self.http = http

    async def start(self, function: str, payload: Any = None) -> str:
        """Start an execution of ``function`` with ``payload`` as input; return its ARN."""
        body = {
            "AccountId": ACCOUNT_ID,
            "FunctionName": function,
            "FunctionQualifier": "$LATEST",
            "ExecutionName": f"{function}-{time.monotonic_ns()}",
            "ExecutionTimeoutSeconds": int(EXECUTION_TIMEOUT_SECONDS),
            "ExecutionRetentionPeriodDays": 1,
            "Input": json.dumps(payload if payload is not None else {}),
        }
        url = f"{self.processes.emulator.url}/start-durable-execution"
        async with self.http.post(url, json=body) as response:
            text = await response.text()
            assert response.status == 201, text
        arn: str = json.loads(text)["ExecutionArn"]
        return arn

    async def wait_for_execution(self, arn: str) -> Json:
        """Poll GetDurableExecution until the execution is terminal; bounded."""
        try:
            async with asyncio.timeout(EXECUTION_TIMEOUT_SECONDS):
                while True:
                    execution: Json = await self.client.get_durable_execution(
                        DurableExecutionArn=arn
                    )
                    if execution["Status"] in TERMINAL:
                        return execution
                    await asyncio.sleep(POLL_INTERVAL_SECONDS)
        except TimeoutError:
            pytest.fail(
                f"{arn} was not terminal within {EXECUTION_TIMEOUT_SECONDS} s.\n"
                f"dex-local-runner:\n{self.processes.emulator.tail()}\n"
                f"lambda process:\n{self.processes.lambda_process.tail()}"
            )

    async def run(self, function: str, payload: Any = None) -> tuple[str, Json]:
        """Start an execution and wait for its terminal GetDurableExecution."""
        arn = await self.start(function, payload)
        return arn, await self.wait_for_execution(arn)

    async def history(self, arn: str) -> list[Json]:
        """Every GetDurableExecutionHistory event of the execution, oldest first."""
        return await full_history(self.client, arn)

    async def invocations(self, arn: str) -> list[Json]:
        """What the Lambda-like process recorded for each invocation of the execution."""
        url = f"{self.processes.lambda_process.url}/invocations"
        async with self.http.get(url) as response:
            records: list[Json] = (await response.json())["invocations"]
        return [record for record in records if record["arn"] == arn]


@pytest.fixture
async def interop(
    processes: Processes, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[Interop]:
    """An :class:`Interop` with a botocore ``lambda`` client pointed at the emulator."""
    for name in [name for name in os.environ if name.startswith("AWS_")]:
        monkeypatch.delenv(name)
    for name, value in isolated_aws_environment(tmp_path).items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)
    creator = get_session().create_client(
        "lambda", region_name=REGION, endpoint_url=processes.emulator.url
    )
    async with creator as client, aiohttp.ClientSession() as http:
        yield Interop(processes, client, http)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "interop: runs handlers on the reference emulator (dex-local-runner)"
    )
