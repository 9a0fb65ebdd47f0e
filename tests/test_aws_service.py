"""AwsDurableService against the reference emulator (`dex-local-runner`) on loopback.

The emulator accepts checkpoints only while it is invoking the execution's handler, so each test
starts an execution and runs its calls inside a tiny Lambda Invoke endpoint served by the test.
Every test runs on both paths: the thin path (the default) and aiobotocore (``thin=False``).
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp import web
from aws_durable_execution_sdk_python.exceptions import BotoClientError, DurableApiErrorCategory
from botocore.config import Config  # type: ignore[import-untyped]
from yarl import URL

from durable_async.service import DurableService, ServiceError
from durable_async.service.aws import AwsDurableService, default_service, is_retryable_response

# Dummy credentials and no real AWS configuration for every test here (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("aws_env")

DEX_LOCAL_RUNNER = Path(sys.executable).with_name("dex-local-runner")
HOST = "127.0.0.1"
READY_TIMEOUT_SECONDS = 15.0
STOP_TIMEOUT_SECONDS = 5.0
INVOCATION_TIMEOUT_SECONDS = 15.0
EXECUTION_INPUT = json.dumps({"order": 42})
# One fast attempt: the tests that fail on purpose should not sit in retry backoff.
NO_RETRY = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=2)

Scenario = Callable[[AwsDurableService, dict[str, Any]], Awaitable[Any]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def step_updates(step_id: str = "step-1", result: str = '"charged"') -> list[dict[str, Any]]:
    return [
        {"Id": step_id, "Type": "STEP", "SubType": "Step", "Name": "charge", "Action": "START"},
        {"Id": step_id, "Type": "STEP", "SubType": "Step", "Action": "SUCCEED", "Payload": result},
    ]


@pytest.fixture
def lambda_port() -> int:
    return free_port()


@pytest.fixture
def emulator(aws_env: None, lambda_port: int, tmp_path: Path) -> Iterator[str]:
    """Run `dex-local-runner start-server` on a free loopback port; yield its URL."""
    port = free_port()
    command = [
        str(DEX_LOCAL_RUNNER),
        "start-server",
        *("--host", HOST, "--port", str(port)),
        *("--lambda-endpoint", f"http://{HOST}:{lambda_port}"),
        *("--store-type", "memory", "--invocation-timeout", "30"),
        "--no-skip-time",
        *("--log-level", "WARNING"),
    ]
    url = f"http://{HOST}:{port}"
    with (tmp_path / "dex.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until_healthy(process, url, tmp_path / "dex.log")
            yield url
        finally:
            stop(process)


def wait_until_healthy(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"dex-local-runner exited early:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.05)
    pytest.fail(
        f"dex-local-runner was not healthy within {READY_TIMEOUT_SECONDS} s:\n{log.read_text()}"
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT_SECONDS)


@pytest.fixture(params=[True, False], ids=["thin", "aiobotocore"])
def thin(request: pytest.FixtureRequest) -> bool:
    """Whether AwsDurableService sends its calls by the thin path or through aiobotocore."""
    enabled: bool = request.param
    return enabled


class LambdaEndpoint:
    """A Lambda Invoke endpoint whose handler runs the current test's scenario."""

    def __init__(self, emulator_url: str, thin: bool) -> None:
        self.service = AwsDurableService(endpoint_url=emulator_url, config=NO_RETRY, thin=thin)
        self.scenario: Scenario | None = None
        self.outcome: asyncio.Future[Any] | None = None

    async def invoke(self, request: web.Request) -> web.Response:
        event: dict[str, Any] = await request.json()
        assert self.scenario is not None
        assert self.outcome is not None
        try:
            self.outcome.set_result(await self.scenario(self.service, event))
        except Exception as exc:
            self.outcome.set_exception(exc)
            error = {"ErrorType": type(exc).__name__, "ErrorMessage": str(exc)}
            return web.json_response({"Status": "FAILED", "Error": error})
        return web.json_response({"Status": "SUCCEEDED", "Result": '"done"'})


@pytest.fixture
async def lambda_endpoint(
    emulator: str, lambda_port: int, thin: bool
) -> AsyncIterator[LambdaEndpoint]:
    """Serve Lambda Invoke on the port the emulator invokes; its handler uses AwsDurableService."""
    endpoint = LambdaEndpoint(emulator, thin)
    app = web.Application()
    app.router.add_post("/2015-03-31/functions/{name}/invocations", endpoint.invoke)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, HOST, lambda_port).start()
    try:
        yield endpoint
    finally:
        await endpoint.service.aclose()
        await runner.cleanup()


async def start_execution(emulator_url: str) -> str:
    body = {
        "AccountId": "123456789012",
        "FunctionName": "orders",
        "FunctionQualifier": "$LATEST",
        "ExecutionName": f"order-{time.monotonic_ns()}",
        "ExecutionTimeoutSeconds": 60,
        "ExecutionRetentionPeriodDays": 1,
        "Input": EXECUTION_INPUT,
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{emulator_url}/start-durable-execution", json=body) as response,
    ):
        assert response.status == 201, await response.text()
        arn: str = (await response.json())["ExecutionArn"]
        return arn


async def run_in_invocation(emulator_url: str, endpoint: LambdaEndpoint, scenario: Scenario) -> Any:
    """Start an execution and return what ``scenario`` returned inside its first invocation."""
    endpoint.scenario = scenario
    endpoint.outcome = asyncio.get_running_loop().create_future()
    await start_execution(emulator_url)
    async with asyncio.timeout(INVOCATION_TIMEOUT_SECONDS):
        return await endpoint.outcome


async def execution_status(emulator_url: str, arn: str) -> dict[str, Any]:
    url = URL(f"{emulator_url}/2025-12-01/durable-executions/{quote(arn, safe='')}", encoded=True)
    async with aiohttp.ClientSession() as http:
        async with asyncio.timeout(INVOCATION_TIMEOUT_SECONDS):
            while True:
                async with http.get(url) as response:
                    execution: dict[str, Any] = await response.json()
                if execution.get("Status") != "RUNNING":
                    return execution
                await asyncio.sleep(0.02)


def assert_epoch_millis(value: Any) -> None:
    now_ms = time.time() * 1000
    assert type(value) is int
    assert now_ms - 60_000 < value <= now_ms + 1_000


async def test_checkpoint_returns_new_token_and_operations_with_epoch_millis(
    emulator: str, lambda_endpoint: LambdaEndpoint
) -> None:
    """A checkpoint returns the next token and the changed step with integer epoch-ms times."""

    async def scenario(service: AwsDurableService, event: dict[str, Any]) -> Any:
        arn, token = event["DurableExecutionArn"], event["CheckpointToken"]
        return arn, token, await service.checkpoint(arn, token, step_updates())

    arn, token, response = await run_in_invocation(emulator, lambda_endpoint, scenario)

    assert set(response) == {"CheckpointToken", "NewExecutionState"}
    assert response["CheckpointToken"] not in ("", token)
    [step] = response["NewExecutionState"]["Operations"]
    assert step["Id"] == "step-1"
    assert step["Status"] == "SUCCEEDED"
    assert step["StepDetails"]["Result"] == '"charged"'
    assert_epoch_millis(step["StartTimestamp"])
    assert_epoch_millis(step["EndTimestamp"])
    assert (await execution_status(emulator, arn))["Status"] == "SUCCEEDED"


async def test_get_execution_state_pages_include_execution_input(
    emulator: str, lambda_endpoint: LambdaEndpoint
) -> None:
    """Paging the state one item at a time yields the EXECUTION input, then the step."""

    async def scenario(service: AwsDurableService, event: dict[str, Any]) -> Any:
        arn = event["DurableExecutionArn"]
        token = (await service.checkpoint(arn, event["CheckpointToken"], step_updates()))[
            "CheckpointToken"
        ]
        pages: list[dict[str, Any]] = []
        marker = ""
        while not pages or marker:
            page = await service.get_execution_state(arn, token, marker, max_items=1)
            pages.append(page)
            marker = page.get("NextMarker") or ""
        return arn, pages

    arn, pages = await run_in_invocation(emulator, lambda_endpoint, scenario)

    operations = [operation for page in pages for operation in page["Operations"]]
    assert len(pages) == 2
    assert [operation["Type"] for operation in operations] == ["EXECUTION", "STEP"]
    execution = operations[0]
    assert execution["Id"] == arn.rsplit("/", 1)[-1]
    assert execution["ExecutionDetails"]["InputPayload"] == EXECUTION_INPUT
    assert_epoch_millis(execution["StartTimestamp"])
    assert all("ResponseMetadata" not in page for page in pages)


async def test_stale_checkpoint_token_is_retryable(
    emulator: str, lambda_endpoint: LambdaEndpoint
) -> None:
    """Reusing a spent checkpoint token raises a retryable InvalidParameterValueException."""

    async def scenario(service: AwsDurableService, event: dict[str, Any]) -> Any:
        arn, token = event["DurableExecutionArn"], event["CheckpointToken"]
        await service.checkpoint(arn, token, step_updates())
        with pytest.raises(ServiceError) as caught:
            await service.checkpoint(arn, token, [])
        return caught.value

    error = await run_in_invocation(emulator, lambda_endpoint, scenario)

    assert error.retryable is True
    assert error.code == "InvalidParameterValueException"
    assert error.status_code == 400
    assert "CheckpointDurableExecution" in error.message
    assert "Invalid checkpoint token" in error.message


async def test_client_token_makes_a_checkpoint_idempotent(
    emulator: str, lambda_endpoint: LambdaEndpoint
) -> None:
    """Resending a checkpoint with the same client token replays the first response."""

    async def scenario(service: AwsDurableService, event: dict[str, Any]) -> Any:
        arn, token = event["DurableExecutionArn"], event["CheckpointToken"]
        first = await service.checkpoint(arn, token, step_updates(), client_token="attempt-1")
        again = await service.checkpoint(arn, token, step_updates(), client_token="attempt-1")
        return first, again

    first, again = await run_in_invocation(emulator, lambda_endpoint, scenario)

    assert again["CheckpointToken"] == first["CheckpointToken"]


async def test_update_inconsistent_with_recorded_operation_is_not_retryable(
    emulator: str, lambda_endpoint: LambdaEndpoint
) -> None:
    """An update whose Type differs from the recorded operation is a final 4xx."""

    async def scenario(service: AwsDurableService, event: dict[str, Any]) -> Any:
        arn = event["DurableExecutionArn"]
        response = await service.checkpoint(arn, event["CheckpointToken"], step_updates())
        wait = {
            "Id": "step-1",
            "Type": "WAIT",
            "Action": "START",
            "WaitOptions": {"WaitSeconds": 1},
        }
        with pytest.raises(ServiceError) as caught:
            await service.checkpoint(arn, response["CheckpointToken"], [wait])
        return caught.value

    error = await run_in_invocation(emulator, lambda_endpoint, scenario)

    assert error.retryable is False
    assert error.code == "InvalidParameterValueException"
    assert error.status_code == 400
    assert "Inconsistent operation type" in error.message


async def test_environment_endpoint_and_region_are_used(
    emulator: str, thin: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Endpoint and region come from the environment; an unknown ARN is a final 404."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", emulator)
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")

    async with AwsDurableService(config=NO_RETRY, thin=thin) as service:
        with pytest.raises(ServiceError) as caught:
            await service.get_execution_state("missing/execution", "dG9rZW4=", "")

    assert caught.value.retryable is False
    assert caught.value.code == "ResourceNotFoundException"
    assert caught.value.status_code == 404
    assert "GetDurableExecutionState" in caught.value.message


async def test_unreachable_endpoint_is_retryable(thin: bool) -> None:
    """A connection refused on a closed port raises a retryable network error."""
    closed = f"http://{HOST}:{free_port()}"
    async with AwsDurableService(endpoint_url=closed, config=NO_RETRY, thin=thin) as service:
        with pytest.raises(ServiceError) as caught:
            await service.checkpoint("arn", "dG9rZW4=", [])

    assert caught.value.retryable is True
    assert caught.value.code == "EndpointConnectionError"
    assert caught.value.status_code is None
    assert closed in caught.value.message
    assert isinstance(caught.value.__cause__, Exception)


async def test_invalid_parameters_are_not_retryable(thin: bool) -> None:
    """An update botocore rejects before sending fails without retry."""
    closed = f"http://{HOST}:{free_port()}"
    async with AwsDurableService(endpoint_url=closed, config=NO_RETRY, thin=thin) as service:
        with pytest.raises(ServiceError) as caught:
            await service.checkpoint("arn", "dG9rZW4=", [{"Id": "step-1"}])

    assert caught.value.retryable is False
    assert caught.value.code == "ParamValidationError"


async def test_missing_checkpoint_token_is_retryable() -> None:
    """An empty checkpoint token is refused locally as retryable, as the reference SDK does."""
    async with AwsDurableService(endpoint_url=f"http://{HOST}:1") as service:
        with pytest.raises(ServiceError) as caught:
            await service.get_execution_state("arn", "", "")

    assert caught.value.retryable is True
    assert caught.value.code == "MissingCheckpointToken"


def test_default_service_is_one_shared_durable_service() -> None:
    """default_service returns the same DurableService every time."""
    service = default_service()

    assert service is default_service()
    assert isinstance(service, DurableService)


def client_error(code: str | None, status: int | None, message: str = "") -> dict[str, Any]:
    return {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }


@pytest.mark.parametrize(
    ("response", "retryable"),
    [
        pytest.param(client_error("KMSAccessDeniedException", 502), False, id="kms-502"),
        pytest.param(client_error("KMSNotFoundException", 400), False, id="kms-400"),
        pytest.param(client_error("KMSDisabledException", None), False, id="kms-no-status"),
        pytest.param(client_error("ValidationException", 400), False, id="validation-400"),
        pytest.param(client_error("ResourceNotFoundException", 404), False, id="not-found-404"),
        pytest.param(client_error("AccessDeniedException", 403), False, id="access-denied-403"),
        pytest.param(client_error("TooManyRequestsException", 429), True, id="throttled-429"),
        pytest.param(
            client_error("InvalidParameterValueException", 400, "Invalid checkpoint token"),
            True,
            id="stale-token",
        ),
        pytest.param(
            client_error("InvalidParameterValueException", 400, "Invalid checkpoint token: spent"),
            True,
            id="stale-token-prefix",
        ),
        pytest.param(
            client_error("InvalidParameterValueException", 400, "invalid checkpoint token"),
            False,
            id="stale-token-wrong-case",
        ),
        pytest.param(
            client_error("InvalidParameterValueException", 400, "Inconsistent operation type."),
            False,
            id="invalid-parameter",
        ),
        pytest.param(
            client_error("400", 400, "Invalid checkpoint token"), False, id="unnamed-stale-token"
        ),
        pytest.param(client_error("ServiceException", 500), True, id="service-500"),
        pytest.param(client_error("ServiceUnavailable", 503), True, id="unavailable-503"),
        pytest.param(client_error("Whatever", None), True, id="no-status"),
        pytest.param({"ResponseMetadata": {"HTTPStatusCode": 400}}, True, id="4xx-without-error"),
        pytest.param({}, True, id="empty"),
    ],
)
def test_classification_matches_reference_sdk(response: dict[str, Any], retryable: bool) -> None:
    """Errors are retryable exactly when the reference SDK classifies them as INVOCATION errors."""
    reference = BotoClientError._classify_error_category(
        response.get("Error"), response.get("ResponseMetadata")
    )

    assert is_retryable_response(response) is retryable
    assert (reference is DurableApiErrorCategory.INVOCATION) is retryable
