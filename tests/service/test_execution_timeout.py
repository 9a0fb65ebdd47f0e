"""ExecutionTimeout: an execution still running when it passes ends TIMED_OUT, as on Lambda."""

from __future__ import annotations

from typing import Any

import pytest

from durable_async.service import ServiceError
from durable_async.service.local import LocalDurableService, LocalRunner, SkipClock, Store

from .helpers import START, update

Event = dict[str, Any]


class Waiter:
    """A handler that starts one wait of ``seconds`` and returns once it has ended."""

    def __init__(self, service: LocalDurableService, seconds: int) -> None:
        self.service = service
        self.seconds = seconds

    async def __call__(self, event: Event) -> Event:
        ops = {op["Id"]: op for op in event["InitialExecutionState"]["Operations"]}
        if "w" not in ops:
            arn, token = event["DurableExecutionArn"], event["CheckpointToken"]
            wait = update("w", "WAIT", "START", WaitOptions={"WaitSeconds": self.seconds})
            await self.service.checkpoint(arn, token, [wait])
            return {"Status": "PENDING"}
        return {"Status": "SUCCEEDED", "Result": '"done"'}


async def events(service: LocalDurableService, arn: str) -> list[Event]:
    return list((await service.get_history(arn))["Events"])


async def test_an_execution_past_its_timeout_ends_timed_out(
    service: LocalDurableService, clock: SkipClock
) -> None:
    """A wait longer than the timeout never completes: the execution times out at the deadline."""
    runner = LocalRunner(service, clock=clock)
    runner.register("fn", Waiter(service, seconds=60))
    arn = await service.start_execution("fn", "{}", timeout_seconds=5)

    described = await runner.drive(arn, timeout=10)

    assert described["Status"] == "TIMED_OUT"
    assert described["EndTimestamp"] == (START + 5) * 1000
    assert described["Error"] == {"ErrorMessage": "Execution timed out after 5 seconds."}
    history = await events(service, arn)
    assert history[0]["ExecutionStartedDetails"]["ExecutionTimeout"] == 5
    assert [e["EventType"] for e in history] == [
        "ExecutionStarted",
        "WaitStarted",
        "InvocationCompleted",
        "ExecutionTimedOut",
    ]
    assert history[-1]["ExecutionTimedOutDetails"] == {
        "Error": {
            "Payload": {"ErrorMessage": "Execution timed out after 5 seconds."},
            "Truncated": False,
        }
    }


async def test_a_wait_that_ends_before_the_timeout_completes_first(
    service: LocalDurableService, clock: SkipClock
) -> None:
    """A wait due before the deadline succeeds, and the execution finishes in time."""
    runner = LocalRunner(service, clock=clock)
    runner.register("fn", Waiter(service, seconds=3))
    arn = await service.start_execution("fn", "{}", timeout_seconds=5)

    described = await runner.drive(arn, timeout=10)

    assert described["Status"] == "SUCCEEDED"
    assert "ExecutionTimedOut" not in [e["EventType"] for e in await events(service, arn)]


async def test_the_timeout_passing_during_an_invocation_ends_it(
    service: LocalDurableService, clock: SkipClock
) -> None:
    """An invocation still running at the deadline finds its next checkpoint refused."""
    refused: list[ServiceError] = []

    async def slow(event: Event) -> Event:
        await clock.sleep_until(START + 10)  # virtual time moves while the handler "works"
        try:
            await service.checkpoint(event["DurableExecutionArn"], event["CheckpointToken"], [])
        except ServiceError as exc:
            refused.append(exc)
        return {"Status": "SUCCEEDED", "Result": "1"}

    runner = LocalRunner(service, clock=clock)
    runner.register("fn", slow)
    arn = await service.start_execution("fn", "{}", timeout_seconds=2)

    described = await runner.drive(arn, timeout=10)

    assert described["Status"] == "TIMED_OUT"
    assert described["EndTimestamp"] == (START + 2) * 1000
    assert [exc.code for exc in refused] == ["InvalidParameterValueException"]
    kinds = [e["EventType"] for e in await events(service, arn)]
    assert kinds == ["ExecutionStarted", "ExecutionTimedOut", "InvocationCompleted"]


@pytest.mark.parametrize("seconds", [0, -1, 31_622_401, 1.5, True, "5"])
async def test_a_bad_timeout_is_refused(service: LocalDurableService, seconds: Any) -> None:
    """ExecutionTimeout is whole seconds from 1 to 366 days; anything else is a 4xx."""
    with pytest.raises(ServiceError) as caught:
        await service.start_execution("fn", "{}", timeout_seconds=seconds)
    assert caught.value.status_code == 400
    assert await service.list_executions() == []


async def test_no_timeout_records_none(service: LocalDurableService) -> None:
    """Without a timeout the start records no ExecutionTimeout and no deadline."""
    arn = await service.start_execution("fn", "{}")
    [started] = await events(service, arn)
    assert "ExecutionTimeout" not in started["ExecutionStartedDetails"]
    assert await service.execution_deadline(arn) is None


async def test_a_chained_invoke_target_gets_its_functions_timeout(
    store: Store, clock: SkipClock
) -> None:
    """A durable target started by a chained invoke has the ExecutionTimeout its function is
    configured with (``serve --function-configs``), and times out by it like any execution."""
    service = LocalDurableService(store, clock, execution_timeout={"slow": 5}.get)
    runner = LocalRunner(service, clock=clock)

    async def caller(event: Event) -> Event:
        ops = {op["Id"]: op for op in event["InitialExecutionState"]["Operations"]}
        if "call" not in ops:
            arn, token = event["DurableExecutionArn"], event["CheckpointToken"]
            options = {"FunctionName": "slow"}
            start = update("call", "CHAINED_INVOKE", "START", ChainedInvokeOptions=options)
            await service.checkpoint(arn, token, [start])
            return {"Status": "PENDING"}
        return {"Status": "SUCCEEDED", "Result": f'"{ops["call"]["Status"]}"'}

    runner.register("caller", caller)
    runner.register("slow", Waiter(service, seconds=60))
    arn = await service.start_execution("caller", "{}")

    described = await runner.drive(arn, timeout=10)

    assert described["Result"] == '"TIMED_OUT"'
    [target] = await service.list_executions("slow")
    history = await events(service, target["DurableExecutionArn"])
    assert history[0]["ExecutionStartedDetails"]["ExecutionTimeout"] == 5
    assert history[-1]["EventType"] == "ExecutionTimedOut"
