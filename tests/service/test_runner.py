"""LocalRunner drives hand-written invokers that speak the wire protocol to the engine."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from durable_async.service.local import LocalDurableService, LocalRunner, SkipClock, SqliteStore
from durable_async.service.local._lease import Lease
from durable_async.service.local.runner import ExecutionLeasedError

from .helpers import START, update

Event = dict[str, Any]


class StepThenWait:
    """An invoker: one step, then a 10 s wait, then success; it counts its invocations."""

    def __init__(self, service: LocalDurableService) -> None:
        self.service = service
        self.calls = 0
        self.step_runs = 0

    async def __call__(self, event: Event) -> Event:
        self.calls += 1
        arn, token = event["DurableExecutionArn"], event["CheckpointToken"]
        ops = {op["Id"]: op for op in event["InitialExecutionState"]["Operations"]}
        if "s1" not in ops:
            self.step_runs += 1
            start = update("s1", "STEP", "START", Name="one")
            done = update("s1", "STEP", "SUCCEED", Name="one", Payload="1")
            token = (await self.service.checkpoint(arn, token, [start, done]))["CheckpointToken"]
        if "w1" not in ops:
            wait = update("w1", "WAIT", "START", WaitOptions={"WaitSeconds": 10})
            await self.service.checkpoint(arn, token, [wait])
            return {"Status": "PENDING"}
        if ops["w1"]["Status"] != "SUCCEEDED":
            return {"Status": "PENDING"}
        return {"Status": "SUCCEEDED", "Result": ops["s1"]["StepDetails"]["Result"]}


@pytest.fixture
def runner(service: LocalDurableService, clock: SkipClock) -> LocalRunner:
    """A runner on the engine, sharing its skip clock, with no retry delay to speak of."""
    return LocalRunner(service, clock=clock)


async def test_runner_drives_step_and_wait_to_success(
    service: LocalDurableService, runner: LocalRunner, clock: SkipClock
) -> None:
    """The runner re-invokes after the wait, skipping its 10 s, and returns the final state."""
    invoker = StepThenWait(service)
    runner.register("fn", invoker)
    described = await runner.run("fn", "{}", timeout=10)
    assert described["Status"] == "SUCCEEDED"
    assert described["Result"] == "1"
    assert invoker.calls == 2
    assert invoker.step_runs == 1
    assert clock.now() == START + 10
    arn = described["DurableExecutionArn"]
    assert await service.invocations(arn) == 2
    assert await service.checkpoint_calls(arn) == 2


async def test_invoker_exceptions_are_retried_then_fail(
    service: LocalDurableService, runner: LocalRunner
) -> None:
    """An invoker that always raises is retried max_invocation_attempts times, then FAILED."""
    calls = 0

    async def broken(event: Event) -> Event:
        nonlocal calls
        calls += 1
        raise RuntimeError("handler exploded")

    runner.register("fn", broken)
    described = await runner.run("fn", None, timeout=10)
    assert calls == 3
    assert described["Status"] == "FAILED"
    assert described["Error"]["ErrorType"] == "RuntimeError"
    assert described["Error"]["ErrorMessage"] == "handler exploded"
    events = (await service.get_history(described["DurableExecutionArn"]))["Events"]
    failed_invocations = [e for e in events if "Error" in e.get("InvocationCompletedDetails", {})]
    assert len(failed_invocations) == 3
    assert events[-1]["EventType"] == "ExecutionFailed"


async def test_a_failed_invocation_is_retried_and_can_succeed(
    service: LocalDurableService, runner: LocalRunner
) -> None:
    """One crash is followed by a retry that finishes the execution."""
    calls = 0

    async def flaky(event: Event) -> Event:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("lost the network")
        return {"Status": "SUCCEEDED", "Result": '"second time"'}

    runner.register("fn", flaky)
    described = await runner.run("fn", None, timeout=10)
    assert (described["Status"], described["Result"]) == ("SUCCEEDED", '"second time"')
    assert await service.invocations(described["DurableExecutionArn"]) == 2


async def test_invalid_pending_output_is_retried_then_fails(runner: LocalRunner) -> None:
    """PENDING with nothing pending counts as a failed invocation, and repeated it fails."""

    async def confused(event: Event) -> Event:
        return {"Status": "PENDING"}

    runner.register("fn", confused)
    described = await runner.run("fn", None, timeout=10)
    assert described["Status"] == "FAILED"
    assert described["Error"]["ErrorType"] == "InvalidInvocationOutput"


async def test_run_with_an_existing_name_resumes_it(
    service: LocalDurableService, runner: LocalRunner
) -> None:
    """Running the name of an execution a crashed process left RUNNING resumes it."""
    invoker = StepThenWait(service)
    arn = await service.start_execution("fn", "{}", name="order-1")
    event = await service.begin_invocation(arn)
    await invoker(event)  # the process dies here: the invocation never reports its end
    runner.register("fn", invoker)
    described = await runner.run("fn", "{}", name="order-1", timeout=10)
    assert described["DurableExecutionArn"] == arn
    assert described["Status"] == "SUCCEEDED"
    assert invoker.step_runs == 1
    events = (await service.get_history(arn))["Events"]
    interrupted = [
        e["InvocationCompletedDetails"]["Error"]["Payload"]["ErrorType"]
        for e in events
        if "Error" in e.get("InvocationCompletedDetails", {})
    ]
    assert interrupted == ["InvocationInterrupted"]


async def test_run_of_a_finished_name_does_not_invoke_again(
    service: LocalDurableService, runner: LocalRunner
) -> None:
    """Running a name whose execution already ended returns it without invoking the handler."""
    invoker = StepThenWait(service)
    runner.register("fn", invoker)
    first = await runner.run("fn", "{}", name="once", timeout=10)
    second = await runner.run("fn", "{}", name="once", timeout=10)
    assert second == first
    assert invoker.calls == 2


async def test_start_and_wait_for_result_in_the_background(
    service: LocalDurableService, clock: SkipClock
) -> None:
    """start returns at once; wait_for_result returns the ended execution."""
    async with LocalRunner(service, clock=clock) as runner:
        runner.register("fn", StepThenWait(service))
        arns = [await runner.start("fn", "{}") for _ in range(3)]
        results = [await runner.wait_for_result(arn, timeout=10) for arn in arns]
    assert [r["Status"] for r in results] == ["SUCCEEDED"] * 3
    assert len(set(arns)) == 3


async def test_waiting_runner_wakes_on_an_outside_change(
    service: LocalDurableService, clock: SkipClock
) -> None:
    """A runner waiting on a callback with no timer returns when the execution is stopped."""
    invoked = asyncio.Event()

    async def waits_for_callback(event: Event) -> Event:
        arn, token = event["DurableExecutionArn"], event["CheckpointToken"]
        await service.checkpoint(arn, token, [update("cb", "CALLBACK", "START")])
        invoked.set()
        return {"Status": "PENDING"}

    async with LocalRunner(service, clock=clock) as runner:
        runner.register("fn", waits_for_callback)
        arn = await runner.start("fn", None)
        await invoked.wait()
        await service.stop_execution(arn, "no longer needed")
        described = await runner.wait_for_result(arn, timeout=10)
    assert described["Status"] == "STOPPED"


async def test_drive_times_out_with_a_clear_error(
    service: LocalDurableService, runner: LocalRunner
) -> None:
    """An execution that waits on nothing that can happen raises TimeoutError naming it."""

    async def waits_forever(event: Event) -> Event:
        arn, token = event["DurableExecutionArn"], event["CheckpointToken"]
        await service.checkpoint(arn, token, [update("cb", "CALLBACK", "START")])
        return {"Status": "PENDING"}

    runner.register("fn", waits_forever)
    with pytest.raises(TimeoutError, match="did not end within"):
        await runner.run("fn", None, timeout=0.01)


async def test_unregistered_function_is_refused(runner: LocalRunner) -> None:
    """Running a function with no invoker says how to register one, before starting anything."""
    with pytest.raises(LookupError, match="register"):
        await runner.run("nobody", None)
    assert await runner.service.list_executions() == []


async def test_start_needs_the_runner_open(runner: LocalRunner) -> None:
    """start outside `async with` explains that the runner must own its background tasks."""
    runner.register("fn", StepThenWait(runner.service))
    with pytest.raises(RuntimeError, match="async with LocalRunner"):
        await runner.start("fn", None)


async def test_an_invoker_that_exits_fails_the_invocation_as_runtime_exit_error(
    service: LocalDurableService, runner: LocalRunner
) -> None:
    """SystemExit(7) from an invoker is a failed invocation, retried, then FAILED: ExitError."""
    calls = 0

    async def exits(event: Event) -> Event:
        nonlocal calls
        calls += 1
        raise SystemExit(7)

    runner.register("fn", exits)
    described = await runner.run("fn", None, timeout=10)
    assert calls == 3
    assert described["Status"] == "FAILED"
    assert described["Error"] == {
        "ErrorType": "Runtime.ExitError",
        "ErrorMessage": "The function exited with status 7 during the invocation.",
    }
    events = (await service.get_history(described["DurableExecutionArn"]))["Events"]
    failed = [e for e in events if "Error" in e.get("InvocationCompletedDetails", {})]
    types = [e["InvocationCompletedDetails"]["Error"]["Payload"]["ErrorType"] for e in failed]
    assert types == ["Runtime.ExitError"] * 3


class NamedError(Exception):
    """An error that names its own wire type, as the SDK's InvocationError for an exit does."""

    error_type = "Runtime.ExitError"


async def test_an_error_that_names_its_type_is_recorded_with_that_type(
    runner: LocalRunner,
) -> None:
    """A failed invocation's ErrorType is the exception's error_type when it has one."""

    async def exits(event: Event) -> Event:
        raise NamedError("The function exited with status 3 during the invocation.")

    runner.register("fn", exits)
    described = await runner.run("fn", None, timeout=10)
    assert described["Error"] == {
        "ErrorType": "Runtime.ExitError",
        "ErrorMessage": "The function exited with status 3 during the invocation.",
    }


async def test_a_plain_function_that_exits_fails_its_invoke(
    service: LocalDurableService, runner: LocalRunner
) -> None:
    """sys.exit in a chained invoke's plain function fails that invoke, not the runner."""

    async def caller(event: Event) -> Event:
        ops = {op["Id"]: op for op in event["InitialExecutionState"]["Operations"]}
        if "i1" not in ops:
            options = {"FunctionName": "quits"}
            start = update("i1", "CHAINED_INVOKE", "START", ChainedInvokeOptions=options)
            await service.checkpoint(
                event["DurableExecutionArn"], event["CheckpointToken"], [start]
            )
            return {"Status": "PENDING"}
        if ops["i1"]["Status"] == "STARTED":
            return {"Status": "PENDING"}
        return {"Status": "SUCCEEDED", "Result": json.dumps(ops["i1"]["ChainedInvokeDetails"])}

    def quits(payload: object) -> None:
        sys.exit(2)

    runner.register("fn", caller)
    runner.register_function("quits", quits)
    described = await runner.run("fn", None, timeout=10)
    assert json.loads(described["Result"])["Error"] == {
        "ErrorType": "Runtime.ExitError",
        "ErrorMessage": "The function exited with status 2 during the invocation.",
    }


class WaitsForCallback:
    """An invoker: starts callback ``cb`` and suspends; returns the callback's result once done."""

    def __init__(self, service: LocalDurableService) -> None:
        self.service = service
        self.calls = 0
        self.callback_id: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def __call__(self, event: Event) -> Event:
        self.calls += 1
        ops = {op["Id"]: op for op in event["InitialExecutionState"]["Operations"]}
        if "cb" not in ops:
            start = update("cb", "CALLBACK", "START")
            response = await self.service.checkpoint(
                event["DurableExecutionArn"], event["CheckpointToken"], [start]
            )
            [op] = response["NewExecutionState"]["Operations"]
            self.callback_id.set_result(op["CallbackDetails"]["CallbackId"])
            return {"Status": "PENDING"}
        if ops["cb"]["Status"] == "STARTED":
            return {"Status": "PENDING"}
        return {"Status": "SUCCEEDED", "Result": ops["cb"]["CallbackDetails"]["Result"]}


async def test_a_second_runner_is_refused_while_one_drives_and_named(
    service: LocalDurableService, clock: SkipClock
) -> None:
    """run of an execution another runner drives raises naming its pid; nothing is invoked."""
    holder = WaitsForCallback(service)
    second = StepThenWait(service)
    async with LocalRunner(service, clock=clock) as first:
        first.register("fn", holder)
        arn = await first.start("fn", None, name="one")
        callback_id = await holder.callback_id
        other = LocalRunner(service, clock=clock)
        other.register("fn", second)
        with pytest.raises(ExecutionLeasedError) as raised:
            await other.run("fn", None, name="one", timeout=10)
        assert raised.value.holder.pid == os.getpid()
        assert f"is being run by process {os.getpid()} on " in str(raised.value)
        await service.send_callback_success(callback_id, '"approved"')
        assert (await first.wait_for_result(arn, timeout=10))["Result"] == '"approved"'
    again = await other.run("fn", None, name="one", timeout=10)
    assert again["Result"] == '"approved"'
    assert second.calls == 0
    assert holder.calls == 2


async def test_a_background_drive_waits_for_the_holder_to_let_go(
    service: LocalDurableService, clock: SkipClock
) -> None:
    """start of an execution another runner drives waits, and sees its end without invoking."""
    holder = WaitsForCallback(service)
    second = StepThenWait(service)
    first = LocalRunner(service, clock=clock)
    first.register("fn", holder)
    driving = asyncio.create_task(first.run("fn", None, name="one", timeout=10))
    callback_id = await holder.callback_id
    async with LocalRunner(service, clock=clock) as other:
        other.register("fn", second)
        arn = await other.start("fn", None, name="one")
        await service.send_callback_success(callback_id, '"approved"')
        waited = await other.wait_for_result(arn, timeout=10)
    assert waited == await driving
    assert waited["Result"] == '"approved"'
    assert second.calls == 0


async def test_a_runner_whose_lease_was_taken_over_stops_driving(
    service: LocalDurableService, runner: LocalRunner
) -> None:
    """A runner that finds another holding its lease before an invocation stops, naming it."""
    usurper = dataclasses.replace(Lease.for_this_process(""), pid=os.getppid())
    calls = 0

    async def loses_its_lease(event: Event) -> Event:
        nonlocal calls
        calls += 1
        arn = event["DurableExecutionArn"]
        theirs = dataclasses.replace(usurper, arn=arn)
        # As if this process had stalled past its lease's expiry and another took it over:
        # asking for the lease while it is held returns the runner's own, to free it with.
        await service.store.release_lease(await service.store.take_lease(theirs))
        assert await service.store.take_lease(theirs) == theirs
        wait = update("w1", "WAIT", "START", WaitOptions={"WaitSeconds": 10})
        await service.checkpoint(arn, event["CheckpointToken"], [wait])
        return {"Status": "PENDING"}

    runner.register("fn", loses_its_lease)
    with pytest.raises(ExecutionLeasedError, match="was taken over by process") as raised:
        await runner.run("fn", None, timeout=10)
    assert raised.value.lost
    assert raised.value.holder.pid == os.getppid()
    assert calls == 1


async def test_a_callback_answered_through_another_connection_wakes_the_runner(
    tmp_path: Path,
) -> None:
    """A runner waiting on a callback resumes when another store connection answers it."""
    path = tmp_path / "durable.sqlite3"
    async with SqliteStore(path) as store, SqliteStore(path) as elsewhere:
        service = LocalDurableService(store)
        invoker = WaitsForCallback(service)
        runner = LocalRunner(service)
        runner.register("fn", invoker)
        driving = asyncio.create_task(runner.run("fn", None, timeout=10))
        callback_id = await invoker.callback_id
        await LocalDurableService(elsewhere).send_callback_success(callback_id, '"from afar"')
        described = await driving
    assert described["Result"] == '"from afar"'
    assert invoker.calls == 2
