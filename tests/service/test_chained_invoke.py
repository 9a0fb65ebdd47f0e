"""Chained invokes: the runner runs each target once and records its end on the caller."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from durable_async.service.local import LocalDurableService, LocalRunner, SkipClock, SqliteStore

from .helpers import START, update

Event = dict[str, Any]
ERROR = {"ErrorType": "OutOfStock", "ErrorMessage": "No more widgets."}


def operations_of(event: Event) -> dict[str, Event]:
    """Return the invocation's operations by id."""
    return {op["Id"]: op for op in event["InitialExecutionState"]["Operations"]}


def invoke(op_id: str, function_name: str, payload: str | None = None) -> Event:
    """Return a CHAINED_INVOKE START update named after its id."""
    options = {"FunctionName": function_name}
    extra = {} if payload is None else {"Payload": payload}
    return update(
        op_id, "CHAINED_INVOKE", "START", Name=op_id, ChainedInvokeOptions=options, **extra
    )


class Caller:
    """An invoker that starts the given chained invokes, then reports how each one ended."""

    def __init__(self, service: LocalDurableService, *starts: Event) -> None:
        self.service = service
        self.starts = starts
        self.calls = 0
        self.start_responses: list[Event] = []

    async def __call__(self, event: Event) -> Event:
        self.calls += 1
        ops = operations_of(event)
        new = [start for start in self.starts if start["Id"] not in ops]
        if new:
            arn, token = event["DurableExecutionArn"], event["CheckpointToken"]
            response = await self.service.checkpoint(arn, token, new)
            self.start_responses.append(response)
            ops.update({op["Id"]: op for op in response["NewExecutionState"]["Operations"]})
        mine = [ops[start["Id"]] for start in self.starts]
        if any(op["Status"] == "STARTED" for op in mine):
            return {"Status": "PENDING"}
        summary = {op["Id"]: [op["Status"], op.get("ChainedInvokeDetails", {})] for op in mine}
        return {"Status": "SUCCEEDED", "Result": json.dumps(summary)}


class Doubler:
    """A durable target: waits ``seconds``, then returns twice its input's ``n`` (or fails)."""

    def __init__(self, service: LocalDurableService, seconds: int = 5) -> None:
        self.service = service
        self.seconds = seconds
        self.calls = 0

    async def __call__(self, event: Event) -> Event:
        self.calls += 1
        ops = operations_of(event)
        [execution] = [op for op in ops.values() if op["Type"] == "EXECUTION"]
        n = json.loads(execution["ExecutionDetails"]["InputPayload"]).get("n")
        if "w" not in ops:
            arn, token = event["DurableExecutionArn"], event["CheckpointToken"]
            wait = update("w", "WAIT", "START", WaitOptions={"WaitSeconds": self.seconds})
            await self.service.checkpoint(arn, token, [wait])
            return {"Status": "PENDING"}
        if n is None:
            return {"Status": "FAILED", "Error": ERROR}
        return {"Status": "SUCCEEDED", "Result": json.dumps(2 * n)}


async def outcome(service: LocalDurableService, arn: str, op_id: str) -> Event:
    """Return the stored operation ``op_id`` of ``arn``."""
    return next(op for op in await service.list_operations(arn) if op["Id"] == op_id)


async def history(service: LocalDurableService, arn: str, prefix: str) -> list[Event]:
    """Return the execution's events whose type starts with ``prefix``."""
    return [
        e for e in (await service.get_history(arn))["Events"] if e["EventType"].startswith(prefix)
    ]


async def test_durable_target_runs_as_its_own_execution(
    service: LocalDurableService, clock: SkipClock
) -> None:
    """The target's result lands on the caller's operation; the target is its own execution."""
    caller, target = Caller(service, invoke("i1", "doubler", '{"n": 21}')), Doubler(service)
    runner = LocalRunner(service, clock=clock)
    runner.register("caller", caller)
    runner.register("doubler", target)

    described = await runner.run("caller", None, timeout=10)

    arn = described["DurableExecutionArn"]
    assert json.loads(described["Result"]) == {"i1": ["SUCCEEDED", {"Result": "42"}]}
    assert (caller.calls, target.calls) == (2, 2)
    assert clock.now() == START + 5
    [started] = await history(service, arn, "ChainedInvokeStarted")
    child_arn = started["ChainedInvokeStartedDetails"]["DurableExecutionArn"]
    assert started["ChainedInvokeStartedDetails"] == {
        "FunctionName": "doubler",
        "Input": {"Payload": '{"n": 21}', "Truncated": False},
        "ExecutedVersion": "$LATEST",
        "DurableExecutionArn": child_arn,
    }
    [succeeded] = await history(service, arn, "ChainedInvokeSucceeded")
    assert succeeded["ChainedInvokeSucceededDetails"] == {
        "Result": {"Payload": "42", "Truncated": False}
    }
    child = await service.describe_execution(child_arn)
    assert (child["Status"], child["Result"], child["InputPayload"]) == (
        "SUCCEEDED",
        "42",
        '{"n": 21}',
    )
    assert [e["DurableExecutionArn"] for e in await service.list_executions("doubler")] == [
        child_arn
    ]


async def test_failed_target_fails_the_operation(
    service: LocalDurableService, clock: SkipClock
) -> None:
    """A target execution that fails records its error on the caller's operation."""
    runner = LocalRunner(service, clock=clock)
    runner.register("caller", Caller(service, invoke("i1", "doubler", "{}")))
    runner.register("doubler", Doubler(service))
    described = await runner.run("caller", None, timeout=10)
    assert json.loads(described["Result"]) == {"i1": ["FAILED", {"Error": ERROR}]}
    [failed] = await history(service, described["DurableExecutionArn"], "ChainedInvokeFailed")
    assert failed["ChainedInvokeFailedDetails"] == {"Error": {"Payload": ERROR, "Truncated": False}}


async def test_stopped_target_stops_the_operation(
    service: LocalDurableService, clock: SkipClock
) -> None:
    """A target execution stopped from outside ends the caller's operation STOPPED."""
    runner = LocalRunner(service, clock=clock)
    runner.register("caller", Caller(service, invoke("i1", "doubler", '{"n": 1}')))
    runner.register("doubler", Doubler(service, seconds=3600))
    async with runner:
        arn = await runner.start("caller", None)
        started = service.watch_chained_invokes(arn)
        await started.wait()
        [pending] = await service.pending_chained_invokes(arn)
        child_arn = pending["ChildArn"]
        await service.start_chained_execution(arn, "i1")  # idempotent: the runner's call finds it
        await service.stop_execution(child_arn, {"ErrorType": "Stopped", "ErrorMessage": "enough"})
        described = await runner.wait_for_result(arn, timeout=10)
    stopped = {"ErrorType": "Stopped", "ErrorMessage": "enough"}
    assert json.loads(described["Result"]) == {"i1": ["STOPPED", {"Error": stopped}]}
    assert [e["EventType"] for e in await history(service, arn, "ChainedInvoke")] == [
        "ChainedInvokeStarted",
        "ChainedInvokeStopped",
    ]


def sync_total(payload: Any) -> Any:
    """A plain sync target: the sum of the payload's items."""
    return {"total": sum(payload["items"])}


async def async_total(payload: Any) -> Any:
    """A plain async target: the sum of the payload's items."""
    return {"total": sum(payload["items"])}


def exploding(payload: Any) -> Any:
    """A plain target that always raises."""
    raise ValueError(f"cannot price {payload!r}")


@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        pytest.param(sync_total, ["SUCCEEDED", {"Result": '{"total": 6}'}], id="sync"),
        pytest.param(async_total, ["SUCCEEDED", {"Result": '{"total": 6}'}], id="async"),
    ],
)
async def test_plain_function_runs_once_and_returns_json(
    service: LocalDurableService, clock: SkipClock, fn: Callable[[Any], Any], expected: list[Any]
) -> None:
    """A registered plain function gets the decoded payload; its JSON result is the outcome."""
    runner = LocalRunner(service, clock=clock)
    runner.register("caller", Caller(service, invoke("i1", "pricing", '{"items": [1, 2, 3]}')))
    runner.register_function("pricing", fn)
    described = await runner.run("caller", None, timeout=10)
    assert json.loads(described["Result"]) == {"i1": expected}
    [started] = await history(service, described["DurableExecutionArn"], "ChainedInvokeStarted")
    assert "DurableExecutionArn" not in started["ChainedInvokeStartedDetails"]
    assert await service.list_executions("pricing") == []


@pytest.mark.parametrize(
    ("function_name", "tenant", "version"),
    [
        pytest.param("pricing", None, "$LATEST", id="bare"),
        pytest.param("pricing:7", None, "7", id="version"),
        pytest.param("pricing:live", "t-1", "live", id="alias-and-tenant"),
        pytest.param(
            "arn:aws:lambda:us-east-1:123456789012:function:pricing:$LATEST.PUBLISHED",
            "acme corp/eu=1",
            "$LATEST.PUBLISHED",
            id="arn",
        ),
    ],
)
async def test_chained_invoke_started_records_executed_version_and_tenant(
    service: LocalDurableService,
    clock: SkipClock,
    function_name: str,
    tenant: str | None,
    version: str,
) -> None:
    """ChainedInvokeStarted names the version the qualifier picks ($LATEST without one) and the
    TenantId the SDK sent, as Lambda records them."""
    start = invoke("i1", function_name, "{}")
    if tenant is not None:
        start["ChainedInvokeOptions"]["TenantId"] = tenant
    runner = LocalRunner(service, clock=clock)
    runner.register("caller", Caller(service, start))
    runner.register_function("pricing", lambda payload: 1)
    described = await runner.run("caller", None, timeout=10)

    [started] = await history(service, described["DurableExecutionArn"], "ChainedInvokeStarted")
    details = started["ChainedInvokeStartedDetails"]
    assert details["ExecutedVersion"] == version
    assert details["FunctionName"] == function_name
    assert details.get("TenantId") == tenant


async def test_plain_function_error_fails_the_invoke(
    service: LocalDurableService, clock: SkipClock
) -> None:
    """An exception from a plain function fails the invoke with its type and message."""
    runner = LocalRunner(service, clock=clock)
    runner.register("caller", Caller(service, invoke("i1", "pricing")))
    runner.register_function("pricing", exploding)
    described = await runner.run("caller", None, timeout=10)
    [[status, details]] = json.loads(described["Result"]).values()
    assert status == "FAILED"
    assert details["Error"]["ErrorType"] == "ValueError"
    assert details["Error"]["ErrorMessage"] == "cannot price {}"  # no payload delivers {}


async def test_unknown_target_fails_in_the_checkpoint_response(
    service: LocalDurableService, clock: SkipClock
) -> None:
    """Invoking an unregistered function fails the operation at once, saying to register it."""
    caller = Caller(service, invoke("i1", "nobody", '{"n": 1}'))
    runner = LocalRunner(service, clock=clock)
    runner.register("caller", caller)
    described = await runner.run("caller", None, timeout=10)
    [op] = caller.start_responses[0]["NewExecutionState"]["Operations"]
    assert op["Status"] == "FAILED"
    error = op["ChainedInvokeDetails"]["Error"]
    assert error["ErrorType"] == "ResourceNotFoundException"
    assert "'nobody'" in error["ErrorMessage"]
    assert "register_function('nobody'" in error["ErrorMessage"]
    assert caller.calls == 1
    assert described["Status"] == "SUCCEEDED"
    events = await history(service, described["DurableExecutionArn"], "ChainedInvoke")
    assert [e["EventType"] for e in events] == ["ChainedInvokeStarted", "ChainedInvokeFailed"]
    assert events[0]["ChainedInvokeStartedDetails"] == {"FunctionName": "nobody"}


async def test_unknown_target_found_at_dispatch_fails_the_invoke(
    service: LocalDurableService, clock: SkipClock
) -> None:
    """A START recorded without a resolver whose target is not registered fails when dispatched."""
    runner = LocalRunner(service, clock=clock)
    runner.register("caller", Caller(service, invoke("i1", "nobody")))
    service.set_target_resolver(None)  # as when no runner was around at checkpoint time
    described = await runner.run("caller", None, timeout=10)
    [[status, details]] = json.loads(described["Result"]).values()
    assert status == "FAILED"
    assert "register" in details["Error"]["ErrorMessage"]


async def test_two_invokes_in_one_call_both_run(
    service: LocalDurableService, clock: SkipClock
) -> None:
    """Chained invokes started together run concurrently, each recorded on its own operation."""
    runner = LocalRunner(service, clock=clock)
    starts = (invoke("a", "doubler", '{"n": 1}'), invoke("b", "pricing", '{"items": [4]}'))
    runner.register("caller", Caller(service, *starts))
    runner.register("doubler", Doubler(service))
    runner.register_function("pricing", sync_total)
    async with runner:
        arn = await runner.start("caller", None)
        described = await runner.wait_for_result(arn, timeout=10)
    assert json.loads(described["Result"]) == {
        "a": ["SUCCEEDED", {"Result": "2"}],
        "b": ["SUCCEEDED", {"Result": '{"total": 4}'}],
    }


async def test_open_runner_exposes_the_target_drive(
    service: LocalDurableService, clock: SkipClock
) -> None:
    """With the runner open, wait_for_result on the target's ARN waits for the same drive."""
    target = Doubler(service)
    runner = LocalRunner(service, clock=clock)
    runner.register("caller", Caller(service, invoke("i1", "doubler", '{"n": 2}')))
    runner.register("doubler", target)
    async with runner:
        arn = await runner.start("caller", None)
        await service.watch_chained_invokes(arn).wait()
        child_arn = await service.start_chained_execution(arn, "i1")  # idempotent
        child = await runner.wait_for_result(child_arn, timeout=10)
        caller = await runner.wait_for_result(arn, timeout=10)
    assert (child["Status"], child["Result"]) == ("SUCCEEDED", "4")
    assert json.loads(caller["Result"]) == {"i1": ["SUCCEEDED", {"Result": "4"}]}
    assert target.calls == 2  # one drive, not two


async def test_a_recorded_start_never_launches_a_second_target(tmp_path: Path) -> None:
    """After a crash between START and the target's end, a new process finishes the same target."""
    path, clock = tmp_path / "durable.sqlite3", SkipClock(START)
    async with LocalDurableService(SqliteStore(path), clock) as service:
        LocalRunner(service, clock=clock).register("doubler", Doubler(service))
        arn = await service.start_execution("caller", None, name="order-1")
        event = await service.begin_invocation(arn)
        await service.checkpoint(
            arn, event["CheckpointToken"], [invoke("i1", "doubler", '{"n": 5}')]
        )
        child_arn = await service.start_chained_execution(arn, "i1")
        child_event = await service.begin_invocation(child_arn)
        await Doubler(service)(child_event)  # the process dies with the target mid-way
    async with LocalDurableService(SqliteStore(path), clock) as service:
        runner = LocalRunner(service, clock=clock)
        runner.register("caller", Caller(service, invoke("i1", "doubler", '{"n": 5}')))
        runner.register("doubler", Doubler(service))
        described = await runner.run("caller", None, name="order-1", timeout=10)
        assert [e["DurableExecutionArn"] for e in await service.list_executions("doubler")] == [
            child_arn
        ]
        assert await service.pending_chained_invokes(arn) == []
    assert json.loads(described["Result"]) == {"i1": ["SUCCEEDED", {"Result": "10"}]}


async def test_a_claimed_plain_function_is_not_called_again(tmp_path: Path) -> None:
    """A plain function that was running when the process died fails instead of running twice."""
    path, clock = tmp_path / "durable.sqlite3", SkipClock(START)
    calls: list[Any] = []
    async with LocalDurableService(SqliteStore(path), clock) as service:
        LocalRunner(service, clock=clock).register_function("pricing", calls.append)
        arn = await service.start_execution("caller", None, name="order-2")
        event = await service.begin_invocation(arn)
        await service.checkpoint(arn, event["CheckpointToken"], [invoke("i1", "pricing")])
        assert await service.claim_chained_invoke(arn, "i1") is True
        assert await service.claim_chained_invoke(arn, "i1") is False
    async with LocalDurableService(SqliteStore(path), clock) as service:
        runner = LocalRunner(service, clock=clock)
        runner.register("caller", Caller(service, invoke("i1", "pricing")))
        runner.register_function("pricing", calls.append)
        described = await runner.run("caller", None, name="order-2", timeout=10)
    [[status, details]] = json.loads(described["Result"]).values()
    assert status == "FAILED"
    assert details["Error"]["ErrorType"] == "ChainedInvokeInterrupted"
    assert calls == []


async def test_completing_an_ended_invoke_records_nothing(
    service: LocalDurableService, clock: SkipClock
) -> None:
    """A second outcome for the same chained invoke is ignored and reported as not recorded."""
    runner = LocalRunner(service, clock=clock)
    runner.register_function("pricing", sync_total)
    arn = await service.start_execution("caller", None)
    event = await service.begin_invocation(arn)
    await service.checkpoint(arn, event["CheckpointToken"], [invoke("i1", "pricing")])
    assert await service.complete_chained_invoke(arn, "i1", "SUCCEEDED", result="1") is True
    assert await service.complete_chained_invoke(arn, "i1", "FAILED", error=ERROR) is False
    op = await outcome(service, arn, "i1")
    assert (op["Status"], op["ChainedInvokeDetails"]) == ("SUCCEEDED", {"Result": "1"})
