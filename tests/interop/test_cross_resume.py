"""An execution one SDK started is resumed by the other SDK from the same history.

``resumable`` (tests/serve_handlers/reference_ops.py and its port in ported_ops.py) runs a step
that retries, a child context, a map with a tolerated failure, a parallel with a nested child
context, a wait_for_condition, chained invokes of a durable and of a plain function and a wait,
then suspends on a callback. serve runs it with one SDK's handler on a SQLite store until it
suspends and is stopped; serve restarts on the same store with the other SDK's handler under the
same function name (serve drives again the running executions it finds), the callback is
answered, and the other SDK replays everything recorded and finishes the execution.

It must finish as it finishes with either SDK alone: every operation keeps its id and recorded
outcome (no nondeterminism, nothing run or started again), and the whole history equals the one
the finishing SDK leaves on its own, up to each SDK's name for its exception classes.

``retry-handover`` hands over in the middle of a step's retries: its first attempt fails under
one SDK on the real clock, ten minutes before the next attempt is due; serve restarts with
skip-time and the other SDK, which makes the second and third attempts of the same step.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from .conftest import isolated_aws_environment
from .histories import (
    PORTED_OPS,
    REFERENCE_OPS,
    Driver,
    Event,
    difference,
    driver,
    function_args,
    invocations,
    normalize,
    sdk_neutral,
    serving,
)

pytestmark = [pytest.mark.interop, pytest.mark.timeout(180)]

SDKS = {"reference": REFERENCE_OPS, "durable_async": PORTED_OPS}
FUNCTIONS = ("resumable", "retry-handover", "durable-target", "plain-target")
ANSWER = {"approved": "yes"}
DIRECTIONS = [
    pytest.param("reference", "durable_async", id="reference-then-durable_async"),
    pytest.param("durable_async", "reference", id="durable_async-then-reference"),
]

Until = Callable[[Driver, str], Awaitable[list[Event]]]


def serve_args(store: Path, sdk: str, *, skip_time: bool = True) -> list[str]:
    """serve on ``store``, hosting ``sdk``'s handlers."""
    clock = "--skip-time" if skip_time else "--no-skip-time"
    return ["--store", str(store), clock, *function_args(SDKS[sdk], FUNCTIONS)]


async def first_part(
    store: Path, sdk: str, function: str, until: Until, *, skip_time: bool = True
) -> tuple[str, list[Event]]:
    """Start ``function`` on serve with ``sdk``'s handler; stop serve once ``until`` returns.

    Return the execution's ARN and the history ``until`` returned.
    """
    env, log = isolated_aws_environment(store.parent), store.parent / f"{sdk}-first.log"
    with serving(serve_args(store, sdk, skip_time=skip_time), log, env) as first:
        async with driver(f"serve, {sdk}", first.url) as service:
            arn = await service.start(function, {}, name="handed-over", timeout=None)
            before = await until(service, arn)
    assert first.popen.returncode == 0, first.tail()
    return arn, before


async def suspended_after(service: Driver, arn: str, event_type: str, name: str) -> list[Event]:
    """The history once the execution suspended after its ``event_type`` event of ``name``."""
    async with asyncio.timeout(60):
        while True:
            events = await service.history(arn)
            kinds = [(e["EventType"], e.get("Name")) for e in events]
            if (event_type, name) in kinds and kinds[-1][0] == "InvocationCompleted":
                return events
            await asyncio.sleep(0.05)


async def suspended_on_callback(service: Driver, arn: str) -> list[Event]:
    """The history once the execution suspended on its ``approval`` callback."""
    return await suspended_after(service, arn, "CallbackStarted", "approval")


async def suspended_for_a_retry(service: Driver, arn: str) -> list[Event]:
    """The history once the step's first attempt failed and the execution suspended."""
    return await suspended_after(service, arn, "StepFailed", "flaky")


async def finish(service: Driver, arn: str) -> tuple[dict[str, Any], list[Event]]:
    """Wait for the execution's end; return its outcome and history."""
    ended = await service.ended(arn)
    return ended, await service.history(arn)


async def run_alone(service: Driver, function: str) -> tuple[dict[str, Any], list[Event]]:
    """Run ``function`` start to end on one serve (answering ``resumable``'s callback)."""
    arn = await service.start(function, {}, timeout=None)
    if function == "resumable":
        await service.succeed_callback(arn, "approval", ANSWER)
    return await finish(service, arn)


def operation_ids(events: list[Event]) -> set[str]:
    return {event["Id"] for event in normalize(events) if "Id" in event}


@pytest.mark.parametrize(("starter", "finisher"), DIRECTIONS)
async def test_the_other_sdk_resumes_the_execution(
    tmp_path: Path, starter: str, finisher: str
) -> None:
    """An execution suspended by one SDK's handler is finished by the other SDK's from the
    same history: same operation ids, nothing started again, the history of either SDK alone."""
    store, env = tmp_path / "durable.sqlite3", isolated_aws_environment(tmp_path)
    arn, before = await first_part(store, starter, "resumable", suspended_on_callback)

    with serving(serve_args(store, finisher), tmp_path / f"{finisher}.log", env) as second:
        async with driver(f"serve, {finisher}", second.url) as service:
            assert (await service.client.get_durable_execution(DurableExecutionArn=arn))[
                "Status"
            ] == "RUNNING"
            await service.succeed_callback(arn, "approval", ANSWER)
            (resumed, after), (alone, alone_events) = await asyncio.gather(
                finish(service, arn), run_alone(service, "resumable")
            )

    assert resumed["Status"] == alone["Status"] == "SUCCEEDED", second.tail()
    # Each SDK names its own exception classes in the error types the map's result keeps.
    assert sdk_neutral(json.loads(resumed["Result"])) == sdk_neutral(json.loads(alone["Result"]))
    # What the first SDK recorded stands as it was: the second one only appended.
    recorded, finished = normalize(before, neutral=True), normalize(after, neutral=True)
    assert finished[: len(recorded)] == recorded
    appended = finished[len(recorded) :]
    done_before = operation_ids(before) - {
        event["Id"] for event in normalize(before) if event.get("Name") == "approval"
    }
    assert not [event for event in appended if event.get("Id") in done_before]
    assert [e["EventType"] for e in appended][:1] == ["CallbackSucceeded"]
    # The second SDK ran: its invocations came after the callback's answer, and none failed.
    assert len(invocations(after)) > len(invocations(before))
    assert not [e for e in invocations(after) if "Error" in e["InvocationCompletedDetails"]]
    # And the whole history is the one the second SDK leaves on its own.
    diff = difference(finished, normalize(alone_events, neutral=True), ordered=False)
    assert not diff, f"the resumed history differs from a run of {finisher} alone:\n{diff}"


def attempts(events: list[Event]) -> list[tuple[str, int]]:
    """Each step event of the history with the attempt it records."""
    found = []
    for event in events:
        for details in ("StepFailedDetails", "StepSucceededDetails"):
            if details in event:
                found.append((event["EventType"], event[details]["RetryDetails"]["CurrentAttempt"]))
    return found


@pytest.mark.parametrize(("starter", "finisher"), DIRECTIONS)
async def test_the_other_sdk_makes_the_next_attempts_of_a_step(
    tmp_path: Path, starter: str, finisher: str
) -> None:
    """A step whose first attempt failed under one SDK is retried by the other, which counts
    on from the recorded attempt: attempts 2 and 3, then the step's result."""
    store, env = tmp_path / "durable.sqlite3", isolated_aws_environment(tmp_path)
    # The real clock: the second attempt is ten minutes away when serve stops.
    arn, before = await first_part(
        store, starter, "retry-handover", suspended_for_a_retry, skip_time=False
    )
    assert attempts(before) == [("StepFailed", 1)]

    with serving(serve_args(store, finisher), tmp_path / f"{finisher}.log", env) as second:
        async with driver(f"serve, {finisher}", second.url) as service:
            (resumed, after), (alone, alone_events) = await asyncio.gather(
                finish(service, arn), run_alone(service, "retry-handover")
            )

    assert resumed["Status"] == alone["Status"] == "SUCCEEDED", second.tail()
    assert json.loads(resumed["Result"]) == {"label": "handed-over", "attempt": 3}
    assert resumed["Result"] == alone["Result"]
    assert attempts(after) == [("StepFailed", 1), ("StepFailed", 2), ("StepSucceeded", 3)]
    recorded, finished = normalize(before, neutral=True), normalize(after, neutral=True)
    assert finished[: len(recorded)] == recorded
    diff = difference(finished, normalize(alone_events, neutral=True), ordered=True)
    assert not diff, f"the resumed history differs from a run of {finisher} alone:\n{diff}"
