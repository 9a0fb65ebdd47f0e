"""Skipped time keeps the wall clock's order across executions driven at once on one clock."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from durable_async.service.local import LocalDurableService, LocalRunner, SkipClock

from .helpers import START, update

Event = dict[str, Any]
Log = list[tuple[str, float]]


def operations_of(event: Event) -> dict[str, Event]:
    """Return the invocation's operations by id."""
    return {op["Id"]: op for op in event["InitialExecutionState"]["Operations"]}


class Waits:
    """An invoker that logs each invocation's time, then waits each of ``seconds`` in turn."""

    def __init__(
        self,
        service: LocalDurableService,
        clock: SkipClock,
        name: str,
        seconds: list[int],
        log: Log,
    ) -> None:
        self.service, self.clock, self.name, self.seconds, self.log = (
            service,
            clock,
            name,
            seconds,
            log,
        )

    async def __call__(self, event: Event) -> Event:
        self.log.append((self.name, self.clock.now() - START))
        ops = operations_of(event)
        done = sum(1 for op in ops.values() if op["Type"] == "WAIT" and op["Status"] == "SUCCEEDED")
        if done == len(self.seconds):
            return {"Status": "SUCCEEDED", "Result": json.dumps(self.name)}
        if f"w{done}" in ops:
            return {"Status": "PENDING"}
        wait = update(f"w{done}", "WAIT", "START", WaitOptions={"WaitSeconds": self.seconds[done]})
        await self.service.checkpoint(
            event["DurableExecutionArn"], event["CheckpointToken"], [wait]
        )
        return {"Status": "PENDING"}


class Retries:
    """An invoker whose one step fails and retries after each of ``delays``, then succeeds."""

    def __init__(
        self, service: LocalDurableService, clock: SkipClock, name: str, delays: list[int], log: Log
    ) -> None:
        self.service, self.clock, self.name, self.delays, self.log = (
            service,
            clock,
            name,
            delays,
            log,
        )

    async def __call__(self, event: Event) -> Event:
        self.log.append((self.name, self.clock.now() - START))
        step = operations_of(event).get("s")
        attempts = 0 if step is None else step["StepDetails"]["Attempt"]
        if attempts == len(self.delays):
            return {"Status": "SUCCEEDED", "Result": json.dumps(self.name)}
        options = {"NextAttemptDelaySeconds": self.delays[attempts]}
        error = {"ErrorType": "Busy", "ErrorMessage": "try later"}
        retry = update("s", "STEP", "RETRY", Error=error, StepOptions=options)
        await self.service.checkpoint(
            event["DurableExecutionArn"], event["CheckpointToken"], [retry]
        )
        return {"Status": "PENDING"}


async def run_all(runner: LocalRunner, *names: str) -> list[Event]:
    """Start one execution of each function at once and wait until all ended."""
    async with runner:
        arns = [await runner.start(name, None) for name in names]
        return [await runner.wait_for_result(arn, timeout=10) for arn in arns]


async def test_two_executions_interleave_their_timers_in_clock_order(
    service: LocalDurableService, clock: SkipClock
) -> None:
    """Waits of 10 s x3 and 15 s x2 run side by side; every invocation happens in time order."""
    log: Log = []
    runner = LocalRunner(service, clock=clock)
    runner.register("a", Waits(service, clock, "a", [10, 10, 10], log))
    runner.register("b", Waits(service, clock, "b", [15, 15], log))
    results = await run_all(runner, "a", "b")
    assert [r["Status"] for r in results] == ["SUCCEEDED", "SUCCEEDED"]
    assert [t for _, t in log] == sorted(t for _, t in log)
    assert [t for name, t in log if name == "a"] == [0, 10, 20, 30]
    assert [t for name, t in log if name == "b"] == [0, 15, 30]
    assert clock.now() == START + 30


async def test_retry_delays_and_waits_interleave(
    service: LocalDurableService, clock: SkipClock
) -> None:
    """A step retried after 3 s then 3 s and a 4 s wait wake at 3, 4 and 6, in that order."""
    log: Log = []
    runner = LocalRunner(service, clock=clock)
    runner.register("retry", Retries(service, clock, "retry", [3, 3], log))
    runner.register("wait", Waits(service, clock, "wait", [4], log))
    await run_all(runner, "retry", "wait")
    assert log[2:] == [("retry", 3), ("wait", 4), ("retry", 6)]


async def test_a_caller_and_its_chained_target_keep_clock_order(
    service: LocalDurableService, clock: SkipClock
) -> None:
    """A caller waiting 7 s beside a target waiting 5 s twice is woken at 7 between them."""
    log: Log = []

    async def caller(event: Event) -> Event:
        log.append(("caller", clock.now() - START))
        ops = operations_of(event)
        if "i1" not in ops:
            starts = [
                update("i1", "CHAINED_INVOKE", "START", ChainedInvokeOptions={"FunctionName": "t"}),
                update("w", "WAIT", "START", WaitOptions={"WaitSeconds": 7}),
            ]
            await service.checkpoint(event["DurableExecutionArn"], event["CheckpointToken"], starts)
            return {"Status": "PENDING"}
        if ops["i1"]["Status"] == "STARTED":
            return {"Status": "PENDING"}
        return {"Status": "SUCCEEDED", "Result": ops["i1"]["ChainedInvokeDetails"]["Result"]}

    runner = LocalRunner(service, clock=clock)
    runner.register("caller", caller)
    runner.register("t", Waits(service, clock, "target", [5, 5], log))
    [described] = await run_all(runner, "caller")
    assert described["Result"] == '"target"'
    assert log == [
        ("caller", 0),
        ("target", 0),
        ("target", 5),
        ("caller", 7),
        ("target", 10),
        ("caller", 10),
    ]


async def test_heartbeat_timeout_before_the_timeout_times_the_callback_out(
    service: LocalDurableService, clock: SkipClock
) -> None:
    """Driven by the runner, a callback with a 10 s heartbeat and a 60 s timeout ends at 10 s."""
    seen: list[tuple[float, Event]] = []

    async def waits(event: Event) -> Event:
        ops = operations_of(event)
        if "cb" not in ops:
            options = {"TimeoutSeconds": 60, "HeartbeatTimeoutSeconds": 10}
            start = update("cb", "CALLBACK", "START", CallbackOptions=options)
            await service.checkpoint(
                event["DurableExecutionArn"], event["CheckpointToken"], [start]
            )
            return {"Status": "PENDING"}
        seen.append((clock.now() - START, ops["cb"]))
        return {"Status": "FAILED", "Error": ops["cb"]["CallbackDetails"]["Error"]}

    runner = LocalRunner(service, clock=clock)
    runner.register("fn", waits)
    described = await runner.run("fn", None, timeout=10)
    [(when, callback)] = seen
    assert (when, callback["Status"]) == (10, "TIMED_OUT")
    assert described["Error"]["ErrorType"] == "Callback.Heartbeat"


async def test_many_executions_finish_in_deadline_order(
    service: LocalDurableService, clock: SkipClock
) -> None:
    """Ten executions with waits of 10..1 s started together end shortest first."""
    log: Log = []
    runner = LocalRunner(service, clock=clock)
    for seconds in range(10, 0, -1):
        runner.register(f"f{seconds}", Waits(service, clock, f"f{seconds}", [seconds], log))
    async with runner:
        arns = [await runner.start(f"f{seconds}", None) for seconds in range(10, 0, -1)]
        await asyncio.gather(*(runner.wait_for_result(arn, timeout=10) for arn in arns))
    second_invocations = [(name, t) for name, t in log if t > 0]
    assert second_invocations == [(f"f{s}", s) for s in range(1, 11)]
