"""DurableTestRunner: the public way to run handlers on the embedded service in tests."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from durable_async import DurableContext, Duration, durable_execution
from durable_async._execution import DurableHandler
from durable_async._models import ErrorObject
from durable_async.service.local.engine import LocalDurableService
from durable_async.service.local.store import SqliteStore
from durable_async.testing import DurableTestRunner, ExecutionStatus


@durable_execution
async def order(event: dict[str, Any], ctx: DurableContext) -> dict[str, Any]:
    total = await ctx.step(lambda _: sum(event["lines"]), name="total")
    await ctx.wait(Duration.from_hours(24), name="cool-off")
    receipt = await ctx.step(lambda _: f"r-{event['id']}", name="receipt")
    return {"total": total, "receipt": receipt}


@durable_execution
async def broken(event: Any, ctx: DurableContext) -> None:
    await ctx.step(lambda _: 1, name="ok")
    raise LookupError("no such order")


async def test_run_reports_result_operations_and_counts(sqlite_path: Path) -> None:
    """run() returns the result, each operation, two invocations and one call per operation."""
    async with DurableTestRunner(order, skip_time=True, store=sqlite_path) as runner:
        result = await runner.run(input={"id": "o-1", "lines": [1, 2]}, timeout=30)
    assert result.status is ExecutionStatus.SUCCEEDED
    assert result.result == {"total": 3, "receipt": "r-o-1"}
    assert result.error is None
    assert result.get_step("total").result == "3"
    assert result.get_wait("cool-off").status.value == "SUCCEEDED"
    assert result.invocations == 2
    assert result.checkpoint_calls == 3
    async with LocalDurableService(SqliteStore(sqlite_path)) as reopened:
        recorded = await reopened.describe_execution(result.arn)
    assert recorded["Status"] == "SUCCEEDED"  # the file outlives the runner


async def test_start_returns_at_once_and_wait_for_result_finishes(sqlite_path: Path) -> None:
    """start() hands back the ARN before the run ends; wait_for_result() waits for the end."""
    async with DurableTestRunner(order, store=sqlite_path) as runner:
        arn = await runner.start(input={"id": "o-2", "lines": [5]})
        assert arn.startswith("arn:aws:lambda:")
        result = await runner.wait_for_result(arn, timeout=30)
    assert result.arn == arn
    assert result.result == {"total": 5, "receipt": "r-o-2"}


async def test_failed_execution_carries_the_error() -> None:
    """A handler error ends FAILED with an ErrorObject naming the exception's type and message."""
    async with DurableTestRunner(broken) as runner:
        result = await runner.run(timeout=30)
    assert result.status is ExecutionStatus.FAILED
    assert result.result is None
    assert result.error is not None
    assert result.error.error_type == "LookupError"
    assert result.error.error_message == "no such order"
    assert result.get_step("ok").status.value == "SUCCEEDED"


async def test_missing_operation_lookup_names_what_exists() -> None:
    """get_step for an unknown name raises KeyError listing the steps that do exist."""
    async with DurableTestRunner(broken) as runner:
        result = await runner.run(timeout=30)
    with pytest.raises(KeyError, match="'ok'"):
        result.get_step("missing")


async def test_real_clock_waits_really_pass() -> None:
    """With skip_time=False a one-second wait takes at least a second of wall time."""

    @durable_execution
    async def pause(event: Any, ctx: DurableContext) -> str:
        await ctx.wait(Duration.from_seconds(1))
        return "after"

    started = time.monotonic()
    async with DurableTestRunner(pause, skip_time=False) as runner:
        result = await runner.run(timeout=30)
    assert result.result == "after"
    assert time.monotonic() - started >= 1.0


async def test_run_times_out_with_a_clear_error() -> None:
    """An execution that cannot end in time raises TimeoutError naming the execution."""

    @durable_execution
    async def long_wait(event: Any, ctx: DurableContext) -> str:
        await ctx.wait(Duration.from_hours(1))
        return "late"

    async with DurableTestRunner(long_wait, skip_time=False) as runner:
        with pytest.raises(TimeoutError, match="did not end within"):
            await runner.run(timeout=0.5)


# Callbacks and chained invokes, driven by handlers that speak the wire protocol themselves.

Wire = dict[str, Any]
RawBody = Callable[[Wire, LocalDurableService], Awaitable[Wire]]


class RawHandler(DurableHandler):
    """A durable handler whose invocations are hand-written checkpoints, not SDK operations."""

    def __init__(self, name: str, body: RawBody) -> None:
        async def placeholder(event: Any, ctx: DurableContext) -> None:
            """Never runs: invoke is replaced."""

        placeholder.__name__ = name
        super().__init__(placeholder)
        self.body = body

    async def invoke(self, event: Wire, *, service: Any = None, clock: Any = None) -> Wire:
        return await self.body(event, service)


def ops_of(event: Wire) -> dict[str, Wire]:
    """Return the invocation's operations by id."""
    return {op["Id"]: op for op in event["InitialExecutionState"]["Operations"]}


async def approval(event: Wire, service: LocalDurableService) -> Wire:
    """A wait_for_callback named "approval" by hand: a context holding one callback."""
    return await approval_within(
        event, service, {"TimeoutSeconds": 3600, "HeartbeatTimeoutSeconds": 600}
    )


async def approval_forever(event: Wire, service: LocalDurableService) -> Wire:
    """The same wait_for_callback with no timeouts, so skipping time cannot end it."""
    return await approval_within(event, service, {})


async def approval_within(event: Wire, service: LocalDurableService, options: Wire) -> Wire:
    """A wait_for_callback named "approval" whose callback has these CallbackOptions."""
    ops = ops_of(event)
    if "wfc" not in ops:
        updates = [
            {"Id": "wfc", "Type": "CONTEXT", "SubType": "WaitForCallback", "Action": "START"}
            | {"Name": "approval"},
            {"Id": "cb", "Type": "CALLBACK", "Action": "START", "ParentId": "wfc"}
            | {"Name": "approval create callback id", "CallbackOptions": options},
        ]
        await service.checkpoint(event["DurableExecutionArn"], event["CheckpointToken"], updates)
        return {"Status": "PENDING"}
    callback = ops["cb"]
    if callback["Status"] == "STARTED":
        return {"Status": "PENDING"}
    if callback["Status"] == "SUCCEEDED":
        return {"Status": "SUCCEEDED", "Result": callback["CallbackDetails"].get("Result")}
    return {"Status": "FAILED", "Error": callback["CallbackDetails"]["Error"]}


@pytest.mark.parametrize("name", [None, "approval", "approval create callback id"])
async def test_wait_for_callback_finds_it_by_its_name_or_its_waits(name: str | None) -> None:
    """The callback is found by its own name, its wait_for_callback's name, or any name."""
    async with DurableTestRunner(RawHandler("approve", approval)) as runner:
        arn = await runner.start(input={"order": 1})
        callback_id = await runner.wait_for_callback(arn, name=name, timeout=10)
        await runner.send_callback_success(callback_id, {"ok": True})
        result = await runner.wait_for_result(arn, timeout=10)
    assert result.status is ExecutionStatus.SUCCEEDED
    assert result.result == {"ok": True}
    assert result.get_callback("approval create callback id").callback_id == callback_id


@pytest.mark.parametrize(
    ("payload", "recorded"),
    [
        pytest.param(b'"as bytes"', '"as bytes"', id="bytes"),
        pytest.param('{"a": 1}', '{"a": 1}', id="str"),
        pytest.param([1, "two"], '[1, "two"]', id="json"),
        pytest.param(None, "null", id="none"),
    ],
)
async def test_send_callback_success_sends_text_as_is_and_encodes_the_rest(
    payload: Any, recorded: str
) -> None:
    """bytes and str go as they are; any other value is JSON-encoded."""
    async with DurableTestRunner(RawHandler("approve", approval)) as runner:
        arn = await runner.start()
        await runner.send_callback_success(await runner.wait_for_callback(arn), payload)
        result = await runner.wait_for_result(arn, timeout=10)
    assert result.get_callback("approval create callback id").result == recorded


@pytest.mark.parametrize(
    ("error", "recorded"),
    [
        pytest.param(
            ErrorObject("No budget.", "Declined"), ErrorObject("No budget.", "Declined"), id="obj"
        ),
        pytest.param(
            {"ErrorType": "Declined", "ErrorMessage": "No."},
            ErrorObject("No.", "Declined"),
            id="dict",
        ),
        pytest.param("Not today.", ErrorObject("Not today."), id="str"),
        pytest.param(PermissionError("denied"), ErrorObject("denied", "PermissionError"), id="exc"),
        pytest.param(None, None, id="none"),
    ],
)
async def test_send_callback_failure_accepts_every_error_form(
    error: Any, recorded: ErrorObject | None
) -> None:
    """An ErrorObject, its dict, a message or an exception becomes the callback's error."""
    async with DurableTestRunner(RawHandler("approve", approval)) as runner:
        arn = await runner.start()
        await runner.send_callback_failure(await runner.wait_for_callback(arn), error)
        result = await runner.wait_for_result(arn, timeout=10)
    callback = result.get_callback("approval create callback id")
    assert callback.status.value == "FAILED"
    assert callback.error == recorded


async def test_send_callback_heartbeat_pushes_the_deadline() -> None:
    """A heartbeat moves the callback's heartbeat deadline a full heartbeat timeout on."""
    async with DurableTestRunner(RawHandler("approve", approval)) as runner:
        arn = await runner.start()
        callback_id = await runner.wait_for_callback(arn)
        sent_at = runner.service.clock.now()
        await runner.send_callback_heartbeat(callback_id)
        after = await runner.service.next_wakeup(arn)
        await runner.send_callback_success(callback_id, "1")
        result = await runner.wait_for_result(arn, timeout=10)
    assert after == pytest.approx(sent_at + 600, abs=0.001)
    assert result.result == 1


async def test_wait_for_callback_reports_an_execution_that_ended_without_one() -> None:
    """Waiting for a callback of an execution that ended without one raises LookupError."""

    async def no_callback(event: Wire, service: LocalDurableService) -> Wire:
        return {"Status": "SUCCEEDED", "Result": "1"}

    async with DurableTestRunner(RawHandler("plain", no_callback)) as runner:
        arn = await runner.start()
        with pytest.raises(LookupError, match="ended without a waiting callback"):
            await runner.wait_for_callback(arn, timeout=10)


async def test_wait_for_callback_is_bounded() -> None:
    """A callback that never appears under that name raises TimeoutError naming it."""
    async with DurableTestRunner(RawHandler("approve", approval_forever)) as runner:
        arn = await runner.start()
        await runner.wait_for_callback(arn)
        with pytest.raises(TimeoutError, match=r"a callback named 'refund' within 0\.1 s"):
            await runner.wait_for_callback(arn, name="refund", timeout=0.1)


@durable_execution
async def pricing(event: dict[str, Any], ctx: DurableContext) -> dict[str, Any]:
    total = await ctx.step(lambda _: sum(event["lines"]), name="sum")
    await ctx.wait(Duration.from_seconds(5), name="settle")
    return {"total": total}


def invoking(*starts: Wire) -> RawBody:
    """Return a raw handler body that starts these chained invokes and returns their details."""

    async def body(event: Wire, service: LocalDurableService) -> Wire:
        ops = ops_of(event)
        new = [start for start in starts if start["Id"] not in ops]
        if new:
            arn, token = event["DurableExecutionArn"], event["CheckpointToken"]
            response = await service.checkpoint(arn, token, new)
            ops.update({op["Id"]: op for op in response["NewExecutionState"]["Operations"]})
        mine = [ops[start["Id"]] for start in starts]
        if any(op["Status"] == "STARTED" for op in mine):
            return {"Status": "PENDING"}
        details = {op["Name"]: op["ChainedInvokeDetails"] for op in mine}
        return {"Status": "SUCCEEDED", "Result": json.dumps(details)}

    return body


def chained(op_id: str, function_name: str, payload: Any) -> Wire:
    """Return a CHAINED_INVOKE START update named after its id."""
    return {
        "Id": op_id,
        "Type": "CHAINED_INVOKE",
        "Action": "START",
        "Name": op_id,
        "Payload": json.dumps(payload),
        "ChainedInvokeOptions": {"FunctionName": function_name},
    }


async def test_chained_invokes_of_registered_functions() -> None:
    """A durable target runs as its own execution and a plain one runs once; both results land."""
    starts = (chained("quote", "pricing", {"lines": [2, 3]}), chained("tax", "tax", {"net": 10}))
    taxed: list[Any] = []

    def tax(payload: Any) -> Any:
        taxed.append(payload)
        return payload["net"] // 10

    async with DurableTestRunner(RawHandler("checkout", invoking(*starts))) as runner:
        runner.register_durable_function("pricing", pricing)
        runner.register_function("tax", tax)
        result = await runner.run(timeout=10)
        child_arn = await runner.get_invoked_execution_arn(result, "quote")
        child = await runner.describe(child_arn)
    assert result.result == {"quote": {"Result": '{"total": 5}'}, "tax": {"Result": "1"}}
    assert result.get_invoke("quote").result == '{"total": 5}'
    assert result.get_invoke("tax").status.value == "SUCCEEDED"
    assert (child.status, child.result) == (ExecutionStatus.SUCCEEDED, {"total": 5})
    assert child.get_wait("settle").status.value == "SUCCEEDED"
    assert taxed == [{"net": 10}]
    with pytest.raises(KeyError, match="plain function"):
        await runner.get_invoked_execution_arn(result, "tax")
