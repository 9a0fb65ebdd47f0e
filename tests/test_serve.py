"""``durable-async serve``, run as a real subprocess on port 0 and driven with aiobotocore.

Functions run in serve's worker processes (tests/serve_handlers); the durable ones checkpoint
over HTTP to the service as they would on Lambda. Each test starts its own serve.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aws_durable_execution_sdk_python_testing.model import StartDurableExecutionInput
from botocore.exceptions import ClientError
from serving import (
    APP,
    HANDLERS,
    callback_id,
    ended,
    function_args,
    history,
    invoke,
    lambda_client,
    run_serve,
    served,
    until,
)

pytestmark = pytest.mark.timeout(180)

MEMORY = ("--store", ":memory:")


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [event["EventType"] for event in events]


async def test_invoke_starts_an_execution_and_every_read_route_answers(tmp_path: Path) -> None:
    """Invoke (RequestResponse) returns the result with the execution's ARN; describe, history
    (paged, reversed, without data) and both listings show it."""
    async with (
        served(*MEMORY, *function_args("greet"), cwd=tmp_path) as serve,
        lambda_client(serve.url) as client,
    ):
        response = await invoke(client, "greet", {"who": "ann"})
        second = await invoke(client, "greet", {"who": "bob"}, DurableExecutionName="bob-1")

        assert json.loads(response["Body"]) == {"greeting": "hello ann"}
        assert response["StatusCode"] == 200
        assert response["ExecutedVersion"] == "$LATEST"
        assert "FunctionError" not in response
        arn = response["DurableExecutionArn"]
        described = await client.get_durable_execution(DurableExecutionArn=arn)
        assert (described["Status"], json.loads(described["Result"])) == (
            "SUCCEEDED",
            {"greeting": "hello ann"},
        )
        assert json.loads(described["InputPayload"]) == {"who": "ann"}
        events = await history(client, arn)
        assert kinds(events) == [
            "ExecutionStarted",
            "StepStarted",
            "StepSucceeded",
            "InvocationCompleted",
            "ExecutionSucceeded",
        ]
        page = await client.get_durable_execution_history(DurableExecutionArn=arn, MaxItems=2)
        assert (len(page["Events"]), "NextMarker" in page) == (2, True)
        newest = await client.get_durable_execution_history(
            DurableExecutionArn=arn, ReverseOrder=True, IncludeExecutionData=False
        )
        assert newest["Events"][0]["EventType"] == "ExecutionSucceeded"
        assert newest["Events"][0]["ExecutionSucceededDetails"]["Result"] == {"Truncated": True}

        listed = await client.list_durable_executions_by_function(FunctionName="greet")
        arns = [e["DurableExecutionArn"] for e in listed["DurableExecutions"]]
        assert arns == [second["DurableExecutionArn"], arn]  # newest first
        named = await client.list_durable_executions_by_function(
            FunctionName="greet", DurableExecutionName="bob-1", Statuses=["SUCCEEDED"]
        )
        assert [e["DurableExecutionName"] for e in named["DurableExecutions"]] == ["bob-1"]
        async with aiohttp.ClientSession(serve.url) as http:
            async with http.get("/2025-12-01/durable-executions") as every:
                assert len((await every.json())["DurableExecutions"]) == 2
            async with http.get("/metrics") as metrics:
                assert (await metrics.json()) == {"metrics": {"Executions": {"SUCCEEDED": 2}}}


async def test_callbacks_from_the_api_complete_waiting_executions(tmp_path: Path) -> None:
    """An Event invoke returns 202 at once; heartbeat, success and failure reach the callbacks."""
    async with (
        served(*MEMORY, *function_args("approval"), cwd=tmp_path) as serve,
        lambda_client(serve.url) as client,
    ):
        yes = await invoke(client, "approval", {}, InvocationType="Event")
        no = await invoke(client, "approval", {}, InvocationType="Event")
        assert (yes["StatusCode"], yes["Body"]) == (202, b"")

        first = await callback_id(client, yes["DurableExecutionArn"])
        await client.send_durable_execution_callback_heartbeat(CallbackId=first)
        await client.send_durable_execution_callback_success(CallbackId=first, Result=b'"yes"')
        second = await callback_id(client, no["DurableExecutionArn"])
        await client.send_durable_execution_callback_failure(
            CallbackId=second, Error={"ErrorType": "Denied", "ErrorMessage": "no budget"}
        )

        approved = await ended(client, yes["DurableExecutionArn"])
        denied = await ended(client, no["DurableExecutionArn"])
        assert json.loads(approved["Result"]) == {"approved": '"yes"'}  # the callback's text
        assert denied["Status"] == "FAILED"
        assert denied["Error"]["ErrorMessage"] == "no budget"
        with pytest.raises(ClientError) as again:
            await client.send_durable_execution_callback_success(CallbackId=first, Result=b"1")
        refused = again.value.response
        assert refused["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert refused["Error"]["Code"] == "InvalidParameterValueException"


async def test_stop_ends_a_running_execution(tmp_path: Path) -> None:
    """StopDurableExecution stops an execution that waits an hour; it is STOPPED with the error."""
    async with (
        served(*MEMORY, *function_args("sleepy"), cwd=tmp_path) as serve,
        lambda_client(serve.url) as client,
    ):
        started = await invoke(client, "sleepy", {}, InvocationType="Event")
        arn = started["DurableExecutionArn"]
        await until(lambda: _has(client, arn, "WaitStarted"), "the wait starts")

        stopped = await client.stop_durable_execution(
            DurableExecutionArn=arn, Error={"ErrorMessage": "enough"}
        )

        assert "StopTimestamp" in stopped
        described = await client.get_durable_execution(DurableExecutionArn=arn)
        assert (described["Status"], described["Error"]["ErrorMessage"]) == ("STOPPED", "enough")
        assert kinds(await history(client, arn))[-1] == "ExecutionStopped"


async def _has(client: Any, arn: str, event_type: str) -> bool:
    return event_type in kinds(await history(client, arn))


async def test_checkpoint_and_state_routes_refuse_a_stale_token(tmp_path: Path) -> None:
    """The handlers' own routes answer a client too: a token not of the running invocation is
    an AWS-shaped 4xx, not a 500."""
    async with (
        served(*MEMORY, *function_args("greet"), cwd=tmp_path) as serve,
        lambda_client(serve.url) as client,
    ):
        arn = (await invoke(client, "greet", {}))["DurableExecutionArn"]
        with pytest.raises(ClientError) as state:
            await client.get_durable_execution_state(
                DurableExecutionArn=arn, CheckpointToken="stale"
            )
        with pytest.raises(ClientError) as checkpoint:
            await client.checkpoint_durable_execution(
                DurableExecutionArn=arn, CheckpointToken="stale", Updates=[]
            )
        with pytest.raises(ClientError) as missing:
            await client.get_durable_execution(DurableExecutionArn=arn + "x")

    for caught, status in ((state, 400), (checkpoint, 400), (missing, 404)):
        error = caught.value.response
        assert error["ResponseMetadata"]["HTTPStatusCode"] == status
        assert error["Error"]["Code"] in (
            "InvalidParameterValueException",
            "ResourceNotFoundException",
        )
        assert error["Error"]["Message"]


async def test_a_worker_that_exits_mid_invocation_is_an_exit_error(tmp_path: Path) -> None:
    """The worker dies inside a step: that invocation is Runtime.ExitError, a fresh worker runs
    the retry, and the service carries on serving."""
    marker = tmp_path / "crashed"
    async with (
        served(*MEMORY, *function_args("crasher", "greet"), cwd=tmp_path) as serve,
        lambda_client(serve.url) as client,
    ):
        response = await invoke(client, "crasher", {"marker": str(marker), "status": 7})
        after = await invoke(client, "greet", {"who": "still here"})
        events = await history(client, response["DurableExecutionArn"])

    assert json.loads(response["Body"]) == "survived"
    assert marker.exists()
    completed = [e for e in events if e["EventType"] == "InvocationCompleted"]
    error = completed[0]["InvocationCompletedDetails"]["Error"]["Payload"]
    assert error == {
        "ErrorType": "Runtime.ExitError",
        "ErrorMessage": "The function exited with status 7 during the invocation.",
    }
    assert "Error" not in completed[-1]["InvocationCompletedDetails"]
    assert json.loads(after["Body"]) == {"greeting": "hello still here"}


async def test_a_killed_worker_is_an_exit_error_naming_the_signal(tmp_path: Path) -> None:
    """SIGKILL of the worker running an invocation is recorded as Runtime.ExitError too."""
    async with (
        served(*MEMORY, *function_args("approval"), cwd=tmp_path) as serve,
        lambda_client(serve.url) as client,
    ):
        started = await invoke(client, "approval", {}, InvocationType="Event")
        arn = started["DurableExecutionArn"]
        await callback_id(client, arn)  # the first invocation has ended (PENDING)
        workers = _children(serve.process.pid)
        assert len(workers) == 1
        # The next invocation runs in the same worker: kill it while it runs.
        os.kill(workers[0], signal.SIGSTOP)
        await client.send_durable_execution_callback_success(
            CallbackId=await callback_id(client, arn), Result=b"1"
        )
        await until(lambda: _answered(client, arn), "the callback is answered")
        os.kill(workers[0], signal.SIGKILL)
        described = await ended(client, arn)
        events = await history(client, arn)

    assert described["Status"] == "SUCCEEDED"
    errors = [
        e["InvocationCompletedDetails"].get("Error", {}).get("Payload")
        for e in events
        if e["EventType"] == "InvocationCompleted"
    ]
    assert {
        "ErrorType": "Runtime.ExitError",
        "ErrorMessage": "The function's process was killed by SIGKILL during the invocation.",
    } in errors


async def test_workers_end_when_serve_is_killed(tmp_path: Path) -> None:
    """A worker outlives no serve: SIGKILL of serve (which cannot stop them) ends its workers."""
    async with served(*MEMORY, *function_args("greet", "price"), cwd=tmp_path) as serve:
        workers = _children(serve.process.pid)
        assert len(workers) == 2
        serve.process.kill()
        await serve.process.wait()

        async def gone() -> bool:
            return not any(map(_alive, workers))

        assert await until(gone, "the workers end")


async def _answered(client: Any, arn: str) -> bool:
    # A callback completion makes the runner invoke again at once; SIGSTOP holds that invocation.
    return kinds(await history(client, arn)).count("CallbackSucceeded") >= 1


def _alive(pid: int) -> bool:
    """Return True while ``pid`` runs (a zombie, ended but not yet reaped, counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _children(pid: int) -> list[int]:
    """Return the pids of ``pid``'s child processes (its workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


async def test_execution_timeout_ends_it_timed_out(tmp_path: Path) -> None:
    """A function configured with an ExecutionTimeout times out at it (skip-time: no waiting);
    a /start-durable-execution body's ExecutionTimeoutSeconds does the same."""
    configs = json.dumps({"sleepy": {"DurableConfig": {"ExecutionTimeout": 5}}})
    async with (
        served(
            *MEMORY, "--skip-time", *function_args("sleepy"), "--function-configs", configs,
            cwd=tmp_path,
        ) as serve,
        lambda_client(serve.url) as client,
    ):  # fmt: skip
        response = await invoke(client, "sleepy", {})
        arn = response["DurableExecutionArn"]
        events = await history(client, arn)
        async with (
            aiohttp.ClientSession(serve.url) as http,
            http.post(
                "/start-durable-execution",
                json={"FunctionName": "sleepy", "Input": "{}", "ExecutionTimeoutSeconds": 9},
            ) as started,
        ):
            other = (await started.json())["ExecutionArn"]
        other_described = await ended(client, other)
        other_events = await history(client, other)

    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Body"])["errorMessage"] == "Execution timed out after 5 seconds."
    assert events[0]["ExecutionStartedDetails"]["ExecutionTimeout"] == 5
    assert kinds(events)[-1] == "ExecutionTimedOut"
    started_ms = events[0]["EventTimestamp"]
    assert (events[-1]["EventTimestamp"] - started_ms).total_seconds() == 5
    assert other_described["Status"] == "TIMED_OUT"
    assert other_events[0]["ExecutionStartedDetails"]["ExecutionTimeout"] == 9


@pytest.mark.parametrize(
    ("target", "tenant", "version"),
    [
        pytest.param("price", None, "$LATEST", id="latest"),
        pytest.param("price:live", "tenant-7", "live", id="alias-and-tenant"),
    ],
)
async def test_chained_invoke_records_executed_version_and_tenant(
    tmp_path: Path, target: str, tenant: str | None, version: str
) -> None:
    """A durable handler invokes a plain function in another worker; ChainedInvokeStarted
    names the version run and the tenant, as the conformance suite checks."""
    payload = {"target": target, "tenant": tenant, "payload": {"items": [1, 2, 3]}}
    async with (
        served(*MEMORY, *function_args("caller", "price"), cwd=tmp_path) as serve,
        lambda_client(serve.url) as client,
    ):
        response = await invoke(client, "caller", payload)
        events = await history(client, response["DurableExecutionArn"])

    assert json.loads(response["Body"]) == {"cents": 600}
    [started] = [e for e in events if e["EventType"] == "ChainedInvokeStarted"]
    details = started["ChainedInvokeStartedDetails"]
    assert details["FunctionName"] == target
    assert details["ExecutedVersion"] == version
    assert details.get("TenantId") == tenant
    assert json.loads(details["Input"]["Payload"]) == {"items": [1, 2, 3]}
    assert "ChainedInvokeSucceeded" in kinds(events)


async def test_a_durable_target_of_a_chained_invoke_runs_as_its_own_execution(
    tmp_path: Path,
) -> None:
    """Invoking a durable function starts a durable execution of it; its result comes back."""
    payload = {"target": "greet", "payload": {"who": "chain"}}
    async with (
        served(*MEMORY, *function_args("caller", "greet"), cwd=tmp_path) as serve,
        lambda_client(serve.url) as client,
    ):
        response = await invoke(client, "caller", payload)
        events = await history(client, response["DurableExecutionArn"])
        child = events[1]["ChainedInvokeStartedDetails"]["DurableExecutionArn"]
        described = await client.get_durable_execution(DurableExecutionArn=child)

    assert json.loads(response["Body"]) == {"greeting": "hello chain"}
    assert described["Status"] == "SUCCEEDED"


async def test_plain_functions_answer_invoke_and_their_errors_are_function_errors(
    tmp_path: Path,
) -> None:
    """A plain function answers Invoke with its return value; a raise is FunctionError
    Unhandled with Lambda's error shape; an unknown function is a 404."""
    async with (
        served(*MEMORY, *function_args("price", "broken"), cwd=tmp_path) as serve,
        lambda_client(serve.url) as client,
    ):
        priced = await invoke(client, "price", {"items": [2]})
        failed = await invoke(client, "broken", {"x": 1})
        dry = await invoke(client, "price", {}, InvocationType="DryRun")
        with pytest.raises(ClientError) as unknown:
            await invoke(client, "nobody", {})

    assert json.loads(priced["Body"]) == {"cents": 200}
    assert failed["FunctionError"] == "Unhandled"
    error = json.loads(failed["Body"])
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "no price for {'x': 1} in broken"
    assert any("raise ValueError" in line for line in error["stackTrace"])
    assert dry["StatusCode"] == 204
    assert unknown.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert unknown.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


async def test_the_reference_sdk_handler_runs_on_serve(tmp_path: Path) -> None:
    """A handler written with aws-durable-execution-sdk-python 3.0.0 runs unchanged: it speaks
    the same protocol, and its wait is skipped like ours."""
    target = f"ref={HANDLERS / 'reference_app.py'}:handler"
    async with (
        served(*MEMORY, "--skip-time", "--function", target, cwd=tmp_path) as serve,
        lambda_client(serve.url) as client,
    ):
        response = await invoke(client, "ref", {"n": 21})
        events = await history(client, response["DurableExecutionArn"])

    assert json.loads(response["Body"]) == {"doubled": 42}
    assert kinds(events) == [
        "ExecutionStarted",
        "StepStarted",
        "StepSucceeded",
        "WaitStarted",
        "InvocationCompleted",
        "WaitSucceeded",
        "InvocationCompleted",
        "ExecutionSucceeded",
    ]


async def test_the_reference_tooling_starts_and_reads_executions(tmp_path: Path) -> None:
    """dex-local-runner's own client commands and its start body work against serve unchanged."""
    body = StartDurableExecutionInput(
        account_id="123456789012",
        function_name="greet",
        function_qualifier="$LATEST",
        execution_name="from-dex",
        execution_timeout_seconds=300,
        execution_retention_period_days=1,
        input=json.dumps({"who": "dex"}),
    ).to_dict()
    async with (
        served(*MEMORY, *function_args("greet"), cwd=tmp_path) as serve,
        lambda_client(serve.url) as client,
    ):
        async with (
            aiohttp.ClientSession(serve.url) as http,
            http.post("/start-durable-execution", json=body) as response,
        ):
            assert response.status == 201
            arn = (await response.json())["ExecutionArn"]
        described = await ended(client, arn)
        env = {
            **os.environ,
            "AWS_DEX_LOCAL_RUNNER_ENDPOINT": serve.url,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
        }
        dex = str(Path(sys.executable).parent / "dex-local-runner")
        code, out, err = await _run(
            env, dex, "invoke", "--function-name", "greet", "--input", '{"who": "cli"}'
        )
        assert code == 0, err
        invoked_arn = json.loads(out)["ExecutionArn"]
        await ended(client, invoked_arn)
        code, out, err = await _run(
            env, dex, "get-durable-execution-history", "--durable-execution-arn", invoked_arn
        )

    assert described["DurableExecutionName"] == "from-dex"
    assert json.loads(described["Result"]) == {"greeting": "hello dex"}
    assert code == 0, err
    assert "ExecutionSucceeded" in out


async def _run(env: dict[str, str], *command: str) -> tuple[int, str, str]:
    import asyncio

    process = await asyncio.create_subprocess_exec(
        *command, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    return int(process.returncode or 0), out.decode(), err.decode()


async def test_a_sqlite_store_outlives_serve_and_memory_leaves_nothing(tmp_path: Path) -> None:
    """The default store is .durable/durable.sqlite3, read again by the next serve; :memory:
    writes no file."""
    project = tmp_path / "project"
    project.mkdir()
    async with (
        served(*function_args("greet"), cwd=project) as serve,
        lambda_client(serve.url) as client,
    ):
        arn = (await invoke(client, "greet", {}))["DurableExecutionArn"]
    assert (project / ".durable" / "durable.sqlite3").is_file()
    async with served(cwd=project) as serve, lambda_client(serve.url) as client:
        described = await client.get_durable_execution(DurableExecutionArn=arn)
        assert described["Status"] == "SUCCEEDED"

    empty = tmp_path / "empty"
    empty.mkdir()
    async with served(*MEMORY, cwd=empty) as serve, lambda_client(serve.url) as client:
        listed = await client.list_durable_executions_by_function(FunctionName="greet")
        assert listed["DurableExecutions"] == []
    assert [p.name for p in empty.iterdir() if not p.name.endswith(".stderr")] == []


async def test_a_restarted_serve_drives_the_executions_it_left_running(tmp_path: Path) -> None:
    """serve stopped while an execution waits for its callback; the next serve on the same
    store drives it again, so answering the callback then finishes it."""
    store = ("--store", str(tmp_path / "s.sqlite3"))
    async with (
        served(*store, *function_args("approval"), cwd=tmp_path) as serve,
        lambda_client(serve.url) as client,
    ):
        arn = (await invoke(client, "approval", {}, InvocationType="Event"))["DurableExecutionArn"]
        callback = await callback_id(client, arn)
    async with (
        served(*store, *function_args("approval"), cwd=tmp_path) as serve,
        lambda_client(serve.url) as client,
    ):
        await client.send_durable_execution_callback_success(CallbackId=callback, Result=b"1")
        described = await ended(client, arn)

    assert json.loads(described["Result"]) == {"approved": "1"}


async def test_put_lambda_endpoint_needs_endpoint_mode(tmp_path: Path) -> None:
    """PUT /lambda-endpoint is refused with a 400 when serve runs its functions itself."""
    async with (
        served(*MEMORY, cwd=tmp_path) as serve,
        aiohttp.ClientSession(serve.url) as http,
        http.put("/lambda-endpoint", json={"EndpointUrl": "http://127.0.0.1:1"}) as response,
    ):
        assert response.status == 400
        assert response.headers["X-Amzn-ErrorType"] == "InvalidParameterValueException"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(("--port", "70000"), "--port must be from 0 to 65535", id="port"),
        pytest.param(("--function", "nameless"), "--function takes NAME=", id="spec"),
        pytest.param(("--function", "bad name=x.py:h"), "is not a valid name", id="name"),
        pytest.param(("--function", "x=missing.py:h"), "no such file: missing.py", id="file"),
        pytest.param(
            ("--function", f"x={APP}:nothing"), "has no attribute 'nothing'", id="attribute"
        ),
        pytest.param(
            ("--function", f"x={APP}:greet", "--function", f"x={APP}:price"),
            "names each function once",
            id="twice",
        ),
        pytest.param(
            ("--function", f"x={APP}:greet", "--lambda-endpoint", "http://127.0.0.1:1"),
            "exclude each other",
            id="both",
        ),
        pytest.param(("--lambda-endpoint", "ftp://x"), "is not an http:// URL", id="endpoint"),
        pytest.param(("--function-configs", "[1]"), "must be a JSON object", id="configs"),
        pytest.param(("--function-configs", "{"), "is not valid JSON", id="configs-json"),
        pytest.param(("--function-configs", "@nowhere.json"), "cannot read", id="configs-file"),
        pytest.param(
            ("--function-configs", '{"f": {"DurableConfig": {"ExecutionTimeout": 0}}}'),
            "ExecutionTimeout of 'f'",
            id="configs-timeout",
        ),
        pytest.param(("--store", "."), "", id="store-folder"),
        pytest.param(("--no-such-flag",), "unrecognized arguments", id="flag"),
    ],
)
async def test_bad_flags_exit_2(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    """A bad flag or function exits 2 before serving, naming the problem on stderr."""
    code, out, err = await run_serve("--port", "0", *args, cwd=tmp_path)

    assert code == 2, err
    assert message in err
    assert out == ""
