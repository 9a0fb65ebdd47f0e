"""``durable-async serve --lambda-endpoint``: every invocation is a Lambda Invoke at an endpoint.

The endpoint here is a small aiohttp server on 127.0.0.1 shaped like Lambda's Invoke API (what
``sam local start-lambda`` serves): it runs durable_async handlers, which checkpoint back to
serve over the Lambda API, and plain functions.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from serving import ended, history, invoke, lambda_client, served

from durable_async import DurableContext, Duration, durable_execution
from durable_async.service.aws import AwsDurableService

pytestmark = pytest.mark.timeout(180)


@durable_execution
async def orders(event: dict[str, Any], ctx: DurableContext) -> dict[str, Any]:
    total = await ctx.step(lambda _: sum(event["items"]), name="total")
    await ctx.wait(Duration.from_seconds(30), name="settle")
    price = await ctx.invoke("pricing", {"total": total}, name="price")
    return {"total": total, "price": price}


def pricing(event: dict[str, Any]) -> int:
    return int(event["total"]) * 100


@dataclass
class Endpoint:
    """A Lambda Invoke endpoint on loopback that runs the functions above."""

    name: str
    service_url: str = ""
    calls: list[tuple[str, str]] = field(default_factory=list)  # (function, "durable"|"plain")
    url: str = ""

    async def invoke(self, request: web.Request) -> web.Response:
        function = request.match_info["function"]
        event = json.loads(await request.read())
        if function == "failing":  # the runtime cannot even load the handler
            self.calls.append((function, "durable"))
            error = {"errorType": "Runtime.ImportModuleError", "errorMessage": "no module 'app'"}
            return web.json_response(error, headers={"X-Amz-Function-Error": "Unhandled"})
        if function in ("orders", "unlisted"):
            self.calls.append((function, "durable"))
            service = AwsDurableService(endpoint_url=self.service_url, region_name="us-east-1")
            try:
                output = await orders.invoke(event, service=service)
            finally:
                await service.aclose()
            return web.json_response(output)
        if function == "pricing":
            self.calls.append((function, "plain"))
            return web.json_response(pricing(event))
        return web.json_response(
            {"Type": "User", "message": f"Function not found: {function}"},
            status=404,
            headers={"X-Amzn-ErrorType": "ResourceNotFoundException"},
        )


@contextlib.asynccontextmanager
async def endpoint(name: str) -> AsyncIterator[Endpoint]:
    served_endpoint = Endpoint(name)
    app = web.Application()
    app.router.add_post("/2015-03-31/functions/{function}/invocations", served_endpoint.invoke)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    served_endpoint.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield served_endpoint
    finally:
        await runner.cleanup()


CONFIGS = json.dumps(
    {
        "orders": {"DurableConfig": {"ExecutionTimeout": 600, "RetentionPeriodInDays": 1}},
        "failing": {"DurableConfig": {}},
        "pricing": {},
    }
)


@pytest.fixture
def creds(aws_env: None) -> None:
    """The endpoint's handlers sign their Lambda API calls with dummy credentials."""


async def test_durable_and_plain_functions_run_at_the_endpoint(tmp_path: Path, creds: None) -> None:
    """A durable function configured so runs as an execution at the endpoint, its chained
    invoke of a plain function is one Invoke there, and its ExecutionTimeout is recorded."""
    async with (
        endpoint("first") as lam, served(
            "--store", ":memory:", "--skip-time", "--lambda-endpoint", lam.url,
            "--function-configs", CONFIGS, cwd=tmp_path,
        ) as serve,
        lambda_client(serve.url) as client,
    ):  # fmt: skip
        lam.service_url = serve.url
        response = await invoke(client, "orders", {"items": [1, 2]})
        events = await history(client, response["DurableExecutionArn"])

    assert json.loads(response["Body"]) == {"total": 3, "price": 300}
    assert lam.calls == [
        ("orders", "durable"),
        ("orders", "durable"),
        ("pricing", "plain"),
        ("orders", "durable"),
    ]
    assert events[0]["ExecutionStartedDetails"]["ExecutionTimeout"] == 600
    [started] = [e for e in events if e["EventType"] == "ChainedInvokeStarted"]
    assert started["ChainedInvokeStartedDetails"]["ExecutedVersion"] == "$LATEST"


async def test_config_file_and_an_unlisted_function_and_a_new_endpoint(
    tmp_path: Path, creds: None
) -> None:
    """--function-configs @file works; a function not in the configs still starts (as
    dex-local-runner allows); PUT /lambda-endpoint moves later invocations to another endpoint."""
    config_file = tmp_path / "functions.json"
    config_file.write_text(CONFIGS)
    async with (
        endpoint("first") as first, endpoint("second") as second, served(
            "--store", ":memory:", "--skip-time", "--lambda-endpoint", first.url,
            "--function-configs", f"@{config_file}", cwd=tmp_path,
        ) as serve,
        lambda_client(serve.url) as client,
        aiohttp.ClientSession(serve.url) as http,
    ):  # fmt: skip
        first.service_url = second.service_url = serve.url
        body = {"FunctionName": "unlisted", "Input": json.dumps({"items": [5]})}
        async with http.post("/start-durable-execution", json=body) as response:
            unlisted = (await response.json())["ExecutionArn"]
        assert json.loads((await ended(client, unlisted))["Result"])["total"] == 5

        async with http.put("/lambda-endpoint", json={"EndpointUrl": second.url}) as moved:
            assert moved.status == 200
        moved_response = await invoke(client, "orders", {"items": [4]})

    assert json.loads(moved_response["Body"])["price"] == 400
    assert {call[0] for call in first.calls} == {"unlisted", "pricing"}
    assert {call[0] for call in second.calls} == {"orders", "pricing"}


async def test_a_handler_error_at_the_endpoint_fails_the_invocation(
    tmp_path: Path, creds: None
) -> None:
    """An Invoke answered with X-Amz-Function-Error is a failed invocation with the function's
    error type; after the runner's attempts the execution fails with it."""
    async with (
        endpoint("first") as lam, served(
            "--store", ":memory:", "--skip-time", "--lambda-endpoint", lam.url,
            "--function-configs", CONFIGS, cwd=tmp_path,
        ) as serve,
        lambda_client(serve.url) as client,
    ):  # fmt: skip
        lam.service_url = serve.url
        response = await invoke(client, "failing", {})
        events = await history(client, response["DurableExecutionArn"])

    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Body"])["errorType"] == "Runtime.ImportModuleError"
    failures = [
        e["InvocationCompletedDetails"]["Error"]["Payload"]
        for e in events
        if e["EventType"] == "InvocationCompleted"
    ]
    assert [f["ErrorType"] for f in failures] == ["Runtime.ImportModuleError"] * 3
    assert failures[0]["ErrorMessage"] == "no module 'app'"
    assert events[-1]["EventType"] == "ExecutionFailed"


async def test_a_chained_invoke_of_an_unconfigured_function_fails(
    tmp_path: Path, creds: None
) -> None:
    """Chained invokes need the target configured, as with dex-local-runner; the invoke fails
    with ResourceNotFoundException and the handler's error surfaces."""
    configs = json.dumps({"orders": {"DurableConfig": {}}})
    async with (
        endpoint("first") as lam, served(
            "--store", ":memory:", "--skip-time", "--lambda-endpoint", lam.url,
            "--function-configs", configs, cwd=tmp_path,
        ) as serve,
        lambda_client(serve.url) as client,
    ):  # fmt: skip
        lam.service_url = serve.url
        response = await invoke(client, "orders", {"items": [1]})
        events = await history(client, response["DurableExecutionArn"])

    [failed] = [e for e in events if e["EventType"] == "ChainedInvokeFailed"]
    error = failed["ChainedInvokeFailedDetails"]["Error"]["Payload"]
    assert error["ErrorType"] == "ResourceNotFoundException"
    assert response["FunctionError"] == "Unhandled"
    assert ("pricing", "plain") not in lam.calls
