"""The local service over real loopback HTTP, driven by AwsDurableService and aiobotocore.

Every test serves a LocalDurableService on a SQLite file in tmp_path on a free 127.0.0.1 port.
The engine's clock is a skip clock at a time with a millisecond part, so exact equality of
timestamps proves the epoch-ms -> rest-json seconds -> botocore datetime -> epoch-ms round trip.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import botocore.session  # type: ignore[import-untyped]
import pytest
from aiobotocore.session import get_session  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from durable_async.service import ServiceError
from durable_async.service.aws import AwsDurableService
from durable_async.service.local import LocalDurableService, LocalRunner, SkipClock, SqliteStore
from durable_async.service.local.http import _TIMESTAMP_KEYS, LocalHttpServer, is_loopback

pytestmark = [pytest.mark.timeout(30), pytest.mark.usefixtures("aws_env")]

START_MS = 1_700_000_000_123
INPUT = json.dumps({"order": 42})
# One fast attempt: the tests that fail on purpose should not sit in retry backoff.
NO_RETRY = Config(
    retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=2, read_timeout=10
)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DURABLE_OPERATIONS = (
    "CheckpointDurableExecution",
    "GetDurableExecutionState",
    "GetDurableExecution",
    "GetDurableExecutionHistory",
    "ListDurableExecutionsByFunction",
    "StopDurableExecution",
)


@pytest.fixture
def clock() -> SkipClock:
    """A virtual clock at an instant with a millisecond part."""
    return SkipClock(START_MS / 1000)


@pytest.fixture
async def engine(tmp_path: Path, clock: SkipClock) -> AsyncIterator[LocalDurableService]:
    """The engine on a SQLite file, paging operations two at a time."""
    store = SqliteStore(tmp_path / "local.sqlite3")
    async with LocalDurableService(store, clock, page_size=2) as engine:
        yield engine


@pytest.fixture
async def server(engine: LocalDurableService) -> AsyncIterator[LocalHttpServer]:
    """The engine served on a free loopback port."""
    async with LocalHttpServer(engine) as server:
        yield server


@pytest.fixture
async def aws(server: LocalHttpServer) -> AsyncIterator[AwsDurableService]:
    """The SDK's AWS backend pointed at the local server."""
    async with AwsDurableService(endpoint_url=server.url, config=NO_RETRY) as aws:
        yield aws


@pytest.fixture
async def lambda_client(server: LocalHttpServer) -> AsyncIterator[Any]:
    """A plain aiobotocore lambda client pointed at the local server."""
    async with lambda_client_for(server.url) as client:
        yield client


@asynccontextmanager
async def lambda_client_for(url: str) -> AsyncIterator[Any]:
    async with get_session().create_client("lambda", endpoint_url=url, config=NO_RETRY) as client:
        yield client


async def begin(engine: LocalDurableService, name: str | None = None) -> tuple[str, str]:
    """Start an execution of ``orders`` and begin its first invocation; return ARN and token."""
    arn = await engine.start_execution("orders", INPUT, name=name)
    event = await engine.begin_invocation(arn)
    return arn, event["CheckpointToken"]


def step(step_id: str, action: str = "START", **extra: Any) -> dict[str, Any]:
    return {"Id": step_id, "Type": "STEP", "SubType": "Step", "Action": action, **extra}


def done_step(step_id: str) -> list[dict[str, Any]]:
    return [step(step_id, Name="charge"), step(step_id, "SUCCEED", Payload='"charged"')]


def wait(wait_id: str, seconds: int) -> dict[str, Any]:
    return {
        "Id": wait_id,
        "Type": "WAIT",
        "Action": "START",
        "WaitOptions": {"WaitSeconds": seconds},
    }


def millis(value: Any) -> Any:
    """Return ``value`` with every datetime as epoch ms and no ResponseMetadata."""
    if isinstance(value, datetime):
        return (value - EPOCH) // timedelta(milliseconds=1)
    if isinstance(value, dict):
        return {k: millis(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list):
        return [millis(item) for item in value]
    return value


# AwsDurableService: the two calls the SDK core makes.


async def test_checkpoint_rotates_token_and_returns_stored_operations(
    engine: LocalDurableService, aws: AwsDurableService
) -> None:
    """A checkpoint returns a new token and the changed operations exactly as stored."""
    arn, token = await begin(engine)
    retry = step(
        "s2", "RETRY", Error={"ErrorType": "Boom"}, StepOptions={"NextAttemptDelaySeconds": 5}
    )
    updates = [*done_step("s1"), step("s2", Name="flaky"), retry, wait("w1", 30)]

    response = await aws.checkpoint(arn, token, updates)

    assert response["CheckpointToken"] not in ("", token)
    returned = response["NewExecutionState"]["Operations"]
    stored = {op["Id"]: op for op in await engine.list_operations(arn)}
    assert sorted(op["Id"] for op in returned) == ["s1", "s2", "w1"]
    assert returned == [stored[op["Id"]] for op in returned]
    assert stored["s1"]["EndTimestamp"] == START_MS
    assert stored["s2"]["StepDetails"]["NextAttemptTimestamp"] == START_MS + 5_000
    assert stored["w1"]["WaitDetails"]["ScheduledEndTimestamp"] == START_MS + 30_000
    again = await aws.checkpoint(arn, response["CheckpointToken"], [])
    assert again["CheckpointToken"] not in ("", token, response["CheckpointToken"])


async def test_get_execution_state_pages_through_all_operations(
    engine: LocalDurableService, aws: AwsDurableService
) -> None:
    """Paging GetDurableExecutionState two at a time yields every stored operation in order."""
    arn, token = await begin(engine)
    updates = [update for n in range(1, 5) for update in done_step(f"s{n}")]
    token = (await aws.checkpoint(arn, token, updates))["CheckpointToken"]

    pages: list[dict[str, Any]] = []
    marker = ""
    while not pages or marker:
        pages.append(await aws.get_execution_state(arn, token, marker))
        marker = pages[-1].get("NextMarker") or ""

    assert [len(page["Operations"]) for page in pages] == [2, 2, 1]
    operations = [op for page in pages for op in page["Operations"]]
    assert operations == await engine.list_operations(arn)
    assert operations[0]["ExecutionDetails"]["InputPayload"] == INPUT
    assert operations[0]["StartTimestamp"] == START_MS


async def test_stale_token_is_retryable(
    engine: LocalDurableService, aws: AwsDurableService
) -> None:
    """Reusing a spent token raises a retryable InvalidParameterValueException."""
    arn, token = await begin(engine)
    await aws.checkpoint(arn, token, done_step("s1"))

    with pytest.raises(ServiceError) as caught:
        await aws.checkpoint(arn, token, [])

    assert caught.value.retryable is True
    assert caught.value.code == "InvalidParameterValueException"
    assert caught.value.status_code == 400
    assert "Invalid checkpoint token" in caught.value.message


async def test_invalid_update_is_not_retryable_and_keeps_engine_message(
    engine: LocalDurableService, aws: AwsDurableService
) -> None:
    """An update that contradicts the recorded operation is a final 400 with the engine's words."""
    arn, token = await begin(engine)
    token = (await aws.checkpoint(arn, token, done_step("s1")))["CheckpointToken"]

    with pytest.raises(ServiceError) as over_http:
        await aws.checkpoint(arn, token, [wait("s1", 5)])
    with pytest.raises(ServiceError) as direct:
        await engine.checkpoint(arn, token, [wait("s1", 5)])

    assert over_http.value.retryable is False
    assert over_http.value.code == direct.value.code == "InvalidParameterValueException"
    assert over_http.value.status_code == 400
    assert direct.value.message.rstrip(".") in over_http.value.message


async def test_unknown_execution_is_not_found(aws: AwsDurableService) -> None:
    """An ARN the service does not know is a final 404 ResourceNotFoundException."""
    arn = "arn:aws:lambda:us-east-1:123456789012:function:orders:$LATEST/durable-execution/x/y"

    with pytest.raises(ServiceError) as caught:
        await aws.get_execution_state(arn, "token", "")

    assert caught.value.retryable is False
    assert caught.value.code == "ResourceNotFoundException"
    assert caught.value.status_code == 404


@pytest.mark.parametrize(
    "start_ms",
    [
        pytest.param(1_700_000_000_001, id="one-ms"),
        pytest.param(1_700_000_000_999, id="999-ms"),
        pytest.param(1_234_567_890_500, id="half-second"),
        pytest.param(4_102_444_799_999, id="end-of-2099"),
    ],
)
async def test_timestamps_round_trip_to_the_millisecond(tmp_path: Path, start_ms: int) -> None:
    """Epoch-ms timestamps come back unchanged through rest-json seconds and botocore datetimes."""
    store = SqliteStore(tmp_path / "local.sqlite3")
    async with (
        LocalDurableService(store, SkipClock(start_ms / 1000)) as engine,
        LocalHttpServer(engine) as server,
        AwsDurableService(endpoint_url=server.url, config=NO_RETRY) as aws,
    ):
        arn, token = await begin(engine)
        page = await aws.get_execution_state(arn, token, "")

    assert page["Operations"][0]["StartTimestamp"] == start_ms


def test_timestamp_fields_match_botocore_model() -> None:
    """The server converts exactly the timestamp members of the durable API's responses."""
    model = botocore.session.get_session().get_service_model("lambda")
    found: set[str] = set()

    def walk(shape: Any, seen: set[str]) -> None:
        if shape.type_name == "structure" and shape.name not in seen:
            for name, member in shape.members.items():
                if member.type_name == "timestamp":
                    assert "timestampFormat" not in member.serialization
                    found.add(name)
                walk(member, seen | {shape.name})
        elif shape.type_name == "list":
            walk(shape.member, seen)

    for operation in DURABLE_OPERATIONS:
        walk(model.operation_model(operation).output_shape, set())

    assert found == _TIMESTAMP_KEYS


# A plain aiobotocore lambda client: the read and stop APIs.


async def test_get_durable_execution_matches_the_engine(
    engine: LocalDurableService, lambda_client: Any
) -> None:
    """GetDurableExecution returns the engine's execution; without data it omits the payload."""
    arn = await engine.start_execution("orders", INPUT, name="order-42")

    described = await lambda_client.get_durable_execution(DurableExecutionArn=arn)
    compact = await lambda_client.get_durable_execution(
        DurableExecutionArn=arn, IncludeExecutionData=False
    )

    assert described["StartTimestamp"] == datetime.fromtimestamp(START_MS / 1000, UTC)
    expected = {**await engine.describe_execution(arn), "ExecutionDataIncluded": True}
    assert millis(described) == expected
    assert compact["ExecutionDataIncluded"] is False
    assert "InputPayload" not in compact
    assert compact["Status"] == "RUNNING"


async def test_history_matches_the_engine_and_pages(
    engine: LocalDurableService, lambda_client: Any, clock: SkipClock
) -> None:
    """GetDurableExecutionHistory returns the engine's events, in pages and in reverse."""
    arn, token = await begin(engine)
    clock.advance(1.5)
    await engine.checkpoint(arn, token, done_step("s1"))
    events = (await engine.get_history(arn))["Events"]

    full = await lambda_client.get_durable_execution_history(DurableExecutionArn=arn)
    first = await lambda_client.get_durable_execution_history(DurableExecutionArn=arn, MaxItems=2)
    rest = await lambda_client.get_durable_execution_history(
        DurableExecutionArn=arn, Marker=first["NextMarker"]
    )
    newest = await lambda_client.get_durable_execution_history(
        DurableExecutionArn=arn, ReverseOrder=True, MaxItems=1
    )

    assert len(events) > 2
    assert millis(full["Events"]) == events
    assert "NextMarker" not in full
    assert millis(first["Events"] + rest["Events"]) == events
    assert millis(newest["Events"]) == events[-1:]
    assert events[-1]["EventTimestamp"] == START_MS + 1_500


async def test_list_by_function_filters_orders_and_pages(
    engine: LocalDurableService, lambda_client: Any, clock: SkipClock
) -> None:
    """ListDurableExecutionsByFunction lists newest first, filters, and pages with NextMarker."""
    arns = []
    for n in range(3):
        arns.append(await engine.start_execution("orders", INPUT, name=f"order-{n}"))
        clock.advance(1)
    await engine.start_execution("other", INPUT)
    await engine.stop_execution(arns[1])

    newest = await lambda_client.list_durable_executions_by_function(FunctionName="orders")
    oldest = await lambda_client.list_durable_executions_by_function(
        FunctionName="arn:aws:lambda:us-east-1:123456789012:function:orders", ReverseOrder=True
    )
    stopped = await lambda_client.list_durable_executions_by_function(
        FunctionName="orders", Statuses=["STOPPED"]
    )
    later = await lambda_client.list_durable_executions_by_function(
        FunctionName="orders", StartedAfter=datetime.fromtimestamp(START_MS / 1000 + 0.5, UTC)
    )
    first = await lambda_client.list_durable_executions_by_function(
        FunctionName="orders", MaxItems=2
    )
    second = await lambda_client.list_durable_executions_by_function(
        FunctionName="orders", MaxItems=2, Marker=first["NextMarker"]
    )

    listed = millis(newest["DurableExecutions"])
    assert [e["DurableExecutionArn"] for e in listed] == arns[::-1]
    assert listed == (await engine.list_executions("orders"))[::-1]
    assert [e["DurableExecutionArn"] for e in oldest["DurableExecutions"]] == arns
    assert [e["DurableExecutionArn"] for e in stopped["DurableExecutions"]] == [arns[1]]
    assert [e["DurableExecutionArn"] for e in later["DurableExecutions"]] == arns[:0:-1]
    pages = first["DurableExecutions"] + second["DurableExecutions"]
    assert [e["DurableExecutionArn"] for e in pages] == arns[::-1]
    assert "NextMarker" not in second


async def test_stop_records_the_error_and_returns_its_time(
    engine: LocalDurableService, lambda_client: Any, clock: SkipClock
) -> None:
    """StopDurableExecution stops with the given error; stopping again is a ClientError."""
    arn = await engine.start_execution("orders", INPUT)
    clock.advance(2)
    error = {"ErrorType": "Cancelled", "ErrorMessage": "The customer cancelled the order."}

    stopped = await lambda_client.stop_durable_execution(DurableExecutionArn=arn, Error=error)
    with pytest.raises(ClientError) as again:
        await lambda_client.stop_durable_execution(DurableExecutionArn=arn)

    assert millis(stopped["StopTimestamp"]) == START_MS + 2_000
    described = await engine.describe_execution(arn)
    assert described["Status"] == "STOPPED"
    assert described["Error"] == error
    assert described["EndTimestamp"] == START_MS + 2_000
    assert again.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert again.value.response["Error"]["Code"] == "ResourceConflictException"


async def test_callbacks_complete_over_http(
    engine: LocalDurableService, lambda_client: Any
) -> None:
    """botocore's callback calls complete callbacks; an unknown or finished one is refused."""
    arn, token = await begin(engine)
    starts = [{"Id": f"cb{i}", "Type": "CALLBACK", "Action": "START"} for i in (1, 2)]
    response = await engine.checkpoint(arn, token, starts)
    first, second = (
        op["CallbackDetails"]["CallbackId"] for op in response["NewExecutionState"]["Operations"]
    )
    await lambda_client.send_durable_execution_callback_heartbeat(CallbackId=first)
    await lambda_client.send_durable_execution_callback_success(CallbackId=first, Result=b'"ok"')
    error = {"ErrorType": "Declined", "ErrorMessage": "No."}
    await lambda_client.send_durable_execution_callback_failure(CallbackId=second, Error=error)
    with pytest.raises(ClientError) as again:
        await lambda_client.send_durable_execution_callback_success(CallbackId=first, Result=b"1")
    with pytest.raises(ClientError) as unknown:
        await lambda_client.send_durable_execution_callback_heartbeat(CallbackId="bm90LWFuLWlk")

    ops = {op["Id"]: op for op in await engine.list_operations(arn)}
    assert (ops["cb1"]["Status"], ops["cb1"]["CallbackDetails"]["Result"]) == ("SUCCEEDED", '"ok"')
    assert (ops["cb2"]["Status"], ops["cb2"]["CallbackDetails"]["Error"]) == ("FAILED", error)
    assert again.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert "already completed" in again.value.response["Error"]["Message"]
    assert unknown.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert unknown.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


class CallbackEngine(LocalDurableService):
    """The engine plus callback methods that record what the server passes them."""

    calls: list[tuple[Any, ...]]

    async def send_callback_success(self, callback_id: str, result: str | None) -> None:
        self.calls.append(("succeed", callback_id, result))

    async def send_callback_failure(self, callback_id: str, error: dict[str, Any] | None) -> None:
        self.calls.append(("fail", callback_id, error))

    async def send_callback_heartbeat(self, callback_id: str) -> None:
        self.calls.append(("heartbeat", callback_id))


async def test_callbacks_reach_the_engine_methods(tmp_path: Path) -> None:
    """Callback APIs pass the callback id, result text and error object to the engine."""
    engine = CallbackEngine(SqliteStore(tmp_path / "local.sqlite3"))
    engine.calls = []
    callback_id = "eyJhIjogMX0+/=="  # base64 characters that need escaping in a path
    error = {"ErrorType": "Declined", "ErrorMessage": "No."}
    async with engine, LocalHttpServer(engine) as server, lambda_client_for(server.url) as client:
        await client.send_durable_execution_callback_success(CallbackId=callback_id, Result=b'"ok"')
        await client.send_durable_execution_callback_failure(CallbackId=callback_id, Error=error)
        await client.send_durable_execution_callback_heartbeat(CallbackId=callback_id)

    assert engine.calls == [
        ("succeed", callback_id, '"ok"'),
        ("fail", callback_id, error),
        ("heartbeat", callback_id),
    ]


# Local-only routes.


async def test_start_durable_execution_and_health(
    engine: LocalDurableService, server: LocalHttpServer
) -> None:
    """POST /start-durable-execution creates (or finds) an execution; /health answers healthy."""
    body = {"FunctionName": "orders", "Input": INPUT, "ExecutionName": "order-1"}
    async with aiohttp.ClientSession(server.url) as http:
        async with http.post("/start-durable-execution", json=body) as response:
            assert response.status == 201
            arn = (await response.json())["ExecutionArn"]
        async with http.post("/start-durable-execution", json=body) as response:
            assert (await response.json())["ExecutionArn"] == arn
        async with http.post("/start-durable-execution", json={"Input": INPUT}) as response:
            assert response.status == 400
            assert response.headers["X-Amzn-ErrorType"] == "InvalidParameterValueException"
            assert await response.json() == {"Type": "User", "message": "FunctionName is required."}
        async with http.get("/health") as response:
            assert response.status == 200
            assert await response.json() == {"status": "healthy"}
        async with http.get("/no/such/route") as response:
            assert response.status == 404
            assert response.headers["X-Amzn-ErrorType"] == "UnknownOperationException"

    described = await engine.describe_execution(arn)
    assert described["DurableExecutionName"] == "order-1"
    assert described["InputPayload"] == INPUT
    assert described["Status"] == "RUNNING"


async def echo_input(event: dict[str, Any]) -> dict[str, Any]:
    """An invoker that succeeds with the execution's input."""
    execution = event["InitialExecutionState"]["Operations"][0]
    return {"Status": "SUCCEEDED", "Result": execution["ExecutionDetails"]["InputPayload"]}


async def test_start_with_runner_drives_the_execution(engine: LocalDurableService) -> None:
    """With a runner, a started execution is driven to its end in the background."""
    async with LocalRunner(engine) as runner, LocalHttpServer(engine, runner=runner) as server:
        runner.register("orders", echo_input)
        async with aiohttp.ClientSession(server.url) as http:
            body = {"FunctionName": "orders", "Input": INPUT}
            async with http.post("/start-durable-execution", json=body) as response:
                assert response.status == 201
                arn = (await response.json())["ExecutionArn"]
            async with http.post(
                "/start-durable-execution", json={"FunctionName": "x"}
            ) as response:
                assert response.status == 404
                assert response.headers["X-Amzn-ErrorType"] == "ResourceNotFoundException"
        described = await runner.wait_for_result(arn, timeout=10)

    assert described["Status"] == "SUCCEEDED"
    assert described["Result"] == INPUT
    assert await engine.list_executions("x") == []


async def test_invoke_runs_one_invocation_of_the_registered_invoker(
    engine: LocalDurableService,
) -> None:
    """Lambda Invoke runs the registered invoker once; it checkpoints over HTTP meanwhile."""
    async with (
        LocalRunner(engine) as runner,
        LocalHttpServer(engine, runner=runner) as server,
        AwsDurableService(endpoint_url=server.url, config=NO_RETRY) as aws,
        lambda_client_for(server.url) as client,
    ):

        async def charge(event: dict[str, Any]) -> dict[str, Any]:
            arn, token = event["DurableExecutionArn"], event["CheckpointToken"]
            await aws.checkpoint(arn, token, done_step("s1"))
            return {"Status": "SUCCEEDED", "Result": '"charged"'}

        async def crash(event: dict[str, Any]) -> dict[str, Any]:
            raise RuntimeError("The handler crashed.")

        runner.register("orders", charge)
        runner.register("crashy", crash)
        arn = await engine.start_execution("orders", INPUT)
        event = await engine.begin_invocation(arn)

        invoked = await client.invoke(FunctionName="orders", Payload=json.dumps(event))
        output = json.loads(await invoked["Payload"].read())
        crashed = await client.invoke(FunctionName="crashy", Payload=json.dumps(event))
        error = json.loads(await crashed["Payload"].read())
        with pytest.raises(ClientError) as missing:
            await client.invoke(FunctionName="nobody", Payload=b"{}")

    assert invoked["StatusCode"] == 200
    assert "FunctionError" not in invoked
    assert output == {"Status": "SUCCEEDED", "Result": '"charged"'}
    step_op = next(op for op in await engine.list_operations(arn) if op["Id"] == "s1")
    assert step_op["Status"] == "SUCCEEDED"
    assert crashed["FunctionError"] == "Unhandled"
    assert error["errorType"] == "RuntimeError"
    assert error["errorMessage"] == "The handler crashed."
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"


async def test_server_reports_its_url_only_while_running(engine: LocalDurableService) -> None:
    """The URL names the bound port while serving; after stopping, asking for it is an error."""
    server = LocalHttpServer(engine)
    async with server:
        assert server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}"
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.url


async def test_module_serves_until_sigterm(tmp_path: Path) -> None:
    """`python -m durable_async.service.local.http` (serve's alias) prints `serving URL`, serves,
    and exits on SIGTERM."""
    store = tmp_path / "cli.sqlite3"
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "durable_async.service.local.http"),
        *("--port", "0", "--store", str(store)),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(15):
            url = (await process.stdout.readline()).decode().removeprefix("serving ").strip()
        async with aiohttp.ClientSession(url) as http, http.get("/health") as response:
            assert response.status == 200
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(10):
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    assert url.startswith("http://127.0.0.1:")
    assert store.exists()


# Bad requests: a 4xx in Lambda's error shape, never a 500, and nothing applied.


@dataclass
class Live:
    """An execution mid-invocation with a started callback, as raw requests aim at them."""

    arn: str
    token: str
    callback_id: str

    def path(self, tail: str = "") -> str:
        return f"/2025-12-01/durable-executions/{quote(self.arn, safe='')}{tail}"

    def callback(self, action: str) -> str:
        quoted = quote(self.callback_id, safe="")
        return f"/2025-12-01/durable-execution-callbacks/{quoted}/{action}"


@pytest.fixture
async def live(engine: LocalDurableService) -> Live:
    """An execution of ``orders`` with its current token and a started callback ``cb``."""
    arn, token = await begin(engine)
    start = {"Id": "cb", "Type": "CALLBACK", "Action": "START"}
    response = await engine.checkpoint(arn, token, [start])
    [op] = response["NewExecutionState"]["Operations"]
    return Live(arn, response["CheckpointToken"], op["CallbackDetails"]["CallbackId"])


# A request as it goes on the wire: method, path, query, body bytes.
Wire = tuple[str, str, dict[str, str], bytes | None]
LIST = "/2025-12-01/functions/orders/durable-executions"


def spliced(value: Any, **raw: str) -> bytes:
    """``value`` as JSON with each string "<name>" replaced by the JSON text ``raw[name]``."""
    text = json.dumps(value)
    for name, fragment in raw.items():
        text = text.replace(f'"<{name}>"', fragment)
    return text.encode()


def update_with(live: Live, update: dict[str, Any], **raw: str) -> Wire:
    """A checkpoint of one update, with ``raw`` JSON text spliced in where it says so."""
    body = spliced({"CheckpointToken": live.token, "Updates": [update]}, **raw)
    return "POST", live.path("/checkpoint"), {}, body


def wait_of(seconds: str) -> Callable[[Live], Wire]:
    options = {"WaitSeconds": "<n>"}
    return lambda live: update_with(live, wait("w9", 0) | {"WaitOptions": options}, n=seconds)


def retry_of(delay: str) -> Callable[[Live], Wire]:
    options = {"NextAttemptDelaySeconds": "<n>"}
    update = step("s9", "RETRY", Error={"ErrorType": "E"}, StepOptions=options)
    return lambda live: update_with(live, update, n=delay)


def callback_of(key: str, seconds: str) -> Callable[[Live], Wire]:
    update = {"Id": "c9", "Type": "CALLBACK", "Action": "START", "CallbackOptions": {key: "<n>"}}
    return lambda live: update_with(live, update, n=seconds)


def get(path: Callable[[Live], str], **query: str) -> Callable[[Live], Wire]:
    return lambda live: ("GET", path(live), query, None)


BAD_REQUESTS = [
    pytest.param(
        lambda live: ("POST", live.path("/checkpoint"), {}, b"[" * 100_000),
        "nests too deeply",
        id="100000-brackets",
    ),
    pytest.param(
        lambda live: update_with(
            live, step("s9", "FAIL", Error="<deep>"), deep="[" * 200 + "]" * 200
        ),
        "more than 100 levels",
        id="deep-error",
    ),
    pytest.param(wait_of("1e30"), "WaitSeconds 1e+30", id="wait-1e30"),
    pytest.param(wait_of("1" + "0" * 30), "WaitSeconds 1000000000", id="wait-10**30"),
    pytest.param(wait_of("31622401"), "from 1 to 31,622,400", id="wait-366-days-and-1-s"),
    pytest.param(wait_of("-1"), "WaitSeconds -1", id="wait-negative"),
    pytest.param(wait_of("NaN"), "NaN is not a JSON number", id="wait-nan"),
    pytest.param(wait_of("1e400"), "1e400 is too large", id="wait-1e400"),
    pytest.param(wait_of("1" + "0" * 5000), "not valid JSON", id="wait-5000-digits"),
    pytest.param(retry_of("1e30"), "NextAttemptDelaySeconds", id="retry-delay-1e30"),
    pytest.param(retry_of("0"), "NextAttemptDelaySeconds 0", id="retry-delay-0"),
    pytest.param(callback_of("TimeoutSeconds", "1e30"), "TimeoutSeconds", id="timeout-1e30"),
    pytest.param(
        callback_of("HeartbeatTimeoutSeconds", str(10**30)),
        "HeartbeatTimeoutSeconds",
        id="heartbeat-10**30",
    ),
    pytest.param(
        callback_of("TimeoutSeconds", "100000000"), "up to 99,999,999", id="timeout-over-max"
    ),
    pytest.param(
        lambda live: update_with(live, wait("w9", 5) | {"WaitOptions": []}),
        "WaitOptions that are not an object",
        id="options-not-an-object",
    ),
    pytest.param(
        lambda live: update_with(live, {"Id": "s9", "Type": ["STEP"], "Action": "START"}),
        "Type ['STEP']",
        id="type-is-a-list",
    ),
    pytest.param(
        lambda live: update_with(live, step("s9", "FAIL", Error={"ErrorMessage": 5})),
        "ErrorMessage must be a string",
        id="error-message-number",
    ),
    pytest.param(
        lambda live: (
            "POST",
            live.path("/checkpoint"),
            {},
            spliced({"CheckpointToken": live.token, "Updates": [], "ClientToken": "a b"}),
        ),
        "ClientToken 'a b'",
        id="client-token-with-space",
    ),
    pytest.param(
        lambda live: (
            "GET",
            live.path("/state"),
            {"CheckpointToken": live.token, "Marker": "²"},
            None,
        ),
        "Marker '²'",
        id="state-marker-superscript-2",
    ),
    pytest.param(
        get(lambda live: live.path("/history"), Marker="²"), "Marker", id="history-marker"
    ),
    pytest.param(
        get(lambda live: live.path("/history"), MaxItems="²"), "MaxItems", id="history-max-items"
    ),
    pytest.param(get(lambda live: LIST, MaxItems="²"), "MaxItems", id="list-max-items-2"),
    pytest.param(get(lambda live: LIST, MaxItems="1001"), "0 to 1000", id="list-max-items-1001"),
    pytest.param(get(lambda live: LIST, StartedAfter="1e400"), "StartedAfter", id="after-1e400"),
    pytest.param(get(lambda live: LIST, StartedBefore="nan"), "StartedBefore", id="before-nan"),
    pytest.param(get(lambda live: LIST, Qualifier="a/b"), "Qualifier", id="list-qualifier"),
    pytest.param(get(lambda live: LIST, Statuses="DONE"), "Statuses", id="list-status"),
    pytest.param(
        get(lambda live: LIST, DurableExecutionName="é"), "DurableExecutionName", id="list-name"
    ),
    pytest.param(
        get(lambda live: "/2025-12-01/functions/f%C3%A9/durable-executions"),
        "FunctionName",
        id="list-function-name",
    ),
    pytest.param(
        lambda live: ("POST", live.callback("fail"), {}, spliced({"StackTrace": "one line"})),
        "StackTrace must be a list of strings",
        id="callback-error-stack-trace",
    ),
    pytest.param(
        lambda live: ("POST", live.path("/stop"), {}, spliced({"ErrorType": ["x"]})),
        "ErrorType must be a string",
        id="stop-error-type",
    ),
    pytest.param(
        lambda live: ("POST", live.callback("succeed"), {}, b"ok \xed\xb3\xbf"),
        "not UTF-8",
        id="callback-result-not-utf8",
    ),
    pytest.param(
        lambda live: ("POST", live.callback("succeed"), {}, b"x" * (9 * 1024 * 1024)),
        "the request body is over 8 MB",
        id="body-over-8-mb",
    ),
]


@pytest.mark.parametrize(("make", "message"), BAD_REQUESTS)
async def test_bad_request_is_a_4xx_and_applies_nothing(
    engine: LocalDurableService, server: LocalHttpServer, live: Live, make: Any, message: str
) -> None:
    """Each input that once got a 500 (and its kin) gets a 4xx naming the problem, no change."""
    method, path, query, body = make(live)
    before = await engine.list_operations(live.arn)
    async with (
        aiohttp.ClientSession(server.url) as http,
        http.request(
            method, path, params=query, data=None if body is None else io.BytesIO(body)
        ) as response,
    ):
        status, reply = response.status, await response.json()
        kind = response.headers.get("X-Amzn-ErrorType")

    assert 400 <= status < 500, reply
    assert kind is not None
    assert reply["Type"] == "User"
    assert message in reply["message"]
    assert await engine.list_operations(live.arn) == before
    assert (await engine.describe_execution(live.arn))["Status"] == "RUNNING"
    await engine.checkpoint(live.arn, live.token, [])  # the token was not spent


async def test_numbers_at_the_models_bounds_are_accepted(
    engine: LocalDurableService, aws: AwsDurableService
) -> None:
    """The longest wait, retry delay and callback timeouts Lambda allows are accepted exactly."""
    arn, token = await begin(engine)
    longest = 31_622_400
    updates = [
        wait("w1", longest),
        step("s1", Name="flaky"),
        step("s1", "RETRY", Error={"ErrorType": "E"}, StepOptions={"NextAttemptDelaySeconds": 1}),
        {
            "Id": "c1",
            "Type": "CALLBACK",
            "Action": "START",
            "CallbackOptions": {
                "TimeoutSeconds": 99_999_999,
                "HeartbeatTimeoutSeconds": 99_999_999,
            },
        },
    ]
    await aws.checkpoint(arn, token, updates)

    ops = {op["Id"]: op for op in await engine.list_operations(arn)}
    assert ops["w1"]["WaitDetails"]["ScheduledEndTimestamp"] == START_MS + longest * 1000
    assert ops["s1"]["Status"] == "PENDING"
    assert ops["c1"]["Status"] == "STARTED"


# os.fsdecode(b"report-\xff.csv"): the byte that is not UTF-8 becomes a lone surrogate.
UNDECODABLE = "report-\udcff.csv"
LONE = "report-\\udcff.csv"  # how it is stored: the surrogate escaped


async def test_lone_surrogates_over_http_are_stored_escaped_and_read_back(
    engine: LocalDurableService, server: LocalHttpServer, lambda_client: Any, live: Live
) -> None:
    """Text with a lone surrogate, sent as a JSON escape, is recorded escaped and readable."""
    error = {
        "ErrorType": "FileNotFoundError",
        "ErrorMessage": UNDECODABLE,
        "StackTrace": [UNDECODABLE],
    }
    step_error = {"ErrorType": UNDECODABLE}
    async with aiohttp.ClientSession(server.url) as http:
        async with http.post(live.callback("fail"), data=json.dumps(error)) as response:
            assert response.status == 200, await response.text()
        body = {
            "CheckpointToken": live.token,
            "Updates": [step("s1", Name=UNDECODABLE), step("s1", "FAIL", Error=step_error)],
        }
        async with http.post(live.path("/checkpoint"), data=json.dumps(body)) as response:
            assert response.status == 200, await response.text()
            changed = (await response.json())["NewExecutionState"]["Operations"]
            [returned] = [op for op in changed if op["Id"] == "s1"]
        start = {"FunctionName": "orders", "Input": UNDECODABLE}
        async with http.post("/start-durable-execution", data=json.dumps(start)) as response:
            assert response.status == 201, await response.text()
            other = (await response.json())["ExecutionArn"]
        stop = {"ErrorType": "Cancelled", "ErrorMessage": UNDECODABLE}
        async with http.post(
            f"/2025-12-01/durable-executions/{quote(other, safe='')}/stop", data=json.dumps(stop)
        ) as response:
            assert response.status == 200, await response.text()

    ops = {op["Id"]: op for op in await engine.list_operations(live.arn)}
    assert ops["cb"]["CallbackDetails"]["Error"] == {
        "ErrorType": "FileNotFoundError",
        "ErrorMessage": LONE,
        "StackTrace": [LONE],
    }
    assert returned["Name"] == ops["s1"]["Name"] == LONE
    assert ops["s1"]["StepDetails"]["Error"] == {"ErrorType": LONE}
    history = await lambda_client.get_durable_execution_history(DurableExecutionArn=live.arn)
    failed = [e for e in history["Events"] if e["EventType"] == "CallbackFailed"]
    assert failed[0]["CallbackFailedDetails"]["Error"]["Payload"]["ErrorMessage"] == LONE
    stopped = await lambda_client.get_durable_execution(DurableExecutionArn=other)
    assert stopped["InputPayload"] == json.dumps(LONE)
    assert stopped["Error"]["ErrorMessage"] == LONE


async def test_forged_callback_id_is_refused_like_an_unknown_one(
    engine: LocalDurableService, lambda_client: Any, live: Live
) -> None:
    """base64 of [ARN, operation id], the old id format, does not complete the callback."""
    forged = base64.b64encode(json.dumps([live.arn, "cb"]).encode()).decode()
    unknown = base64.b64encode(json.dumps([live.arn, "nope", "0" * 32]).encode()).decode()
    answers = []
    for callback_id in (forged, unknown):
        with pytest.raises(ClientError) as caught:
            await lambda_client.send_durable_execution_callback_success(
                CallbackId=callback_id, Result=b'"forged"'
            )
        answers.append(caught.value.response)

    assert [a["ResponseMetadata"]["HTTPStatusCode"] for a in answers] == [404, 404]
    assert [a["Error"]["Code"] for a in answers] == ["ResourceNotFoundException"] * 2
    assert all("does not exist" in a["Error"]["Message"] for a in answers)
    [op] = [op for op in await engine.list_operations(live.arn) if op["Id"] == "cb"]
    assert op["Status"] == "STARTED"
    await lambda_client.send_durable_execution_callback_success(
        CallbackId=live.callback_id, Result=b'"real"'
    )


async def test_issued_callback_ids_fit_the_model_and_work_through_botocore(
    engine: LocalDurableService, lambda_client: Any
) -> None:
    """Issued ids are distinct, standard base64 of at most 1024 characters, and complete."""
    arn, token = await begin(engine)
    starts = [{"Id": f"cb{i}", "Type": "CALLBACK", "Action": "START"} for i in range(40)]
    response = await engine.checkpoint(arn, token, starts)
    ids = [
        op["CallbackDetails"]["CallbackId"] for op in response["NewExecutionState"]["Operations"]
    ]
    for callback_id in ids:
        await lambda_client.send_durable_execution_callback_success(
            CallbackId=callback_id, Result=b"1"
        )

    assert len(set(ids)) == len(ids)
    pattern = re.compile(r"[A-Za-z0-9+/]+={0,2}")
    assert all(pattern.fullmatch(i) and len(i) <= 1024 for i in ids)
    statuses = {
        op["Status"] for op in await engine.list_operations(arn) if op["Type"] == "CALLBACK"
    }
    assert statuses == {"SUCCEEDED"}


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        pytest.param("127.0.0.1", True, id="ipv4-loopback"),
        pytest.param("127.8.9.10", True, id="ipv4-loopback-range"),
        pytest.param("::1", True, id="ipv6-loopback"),
        pytest.param("[::1]", True, id="ipv6-bracketed"),
        pytest.param("localhost", True, id="localhost"),
        pytest.param("0.0.0.0", False, id="all-ipv4"),
        pytest.param("::", False, id="all-ipv6"),
        pytest.param("192.168.1.5", False, id="lan"),
        pytest.param("example.com", False, id="hostname"),
        pytest.param("", False, id="empty-means-all"),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    """Only localhost and loopback addresses count as loopback; the rest get the warning."""
    assert is_loopback(host) is loopback


async def serve_module(*args: str) -> tuple[str, bytes]:
    """Run the HTTP module with ``args`` until it answers /health; return its URL and stderr."""
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "durable_async.service.local.http", "--port", "0", *args),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        assert process.stderr is not None
        async with asyncio.timeout(15):
            url = (await process.stdout.readline()).decode().removeprefix("serving ").strip()
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(10):
            stderr = await process.stderr.read()
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return url, stderr


async def test_module_warns_when_serving_beyond_loopback() -> None:
    """--host 0.0.0.0 prints a warning that the API has no authentication; loopback does not."""
    _, exposed = await serve_module("--host", "0.0.0.0")
    _, private = await serve_module()

    assert b"WARNING" in exposed
    assert b"no authentication" in exposed
    assert b"'0.0.0.0'" in exposed
    assert private == b""
