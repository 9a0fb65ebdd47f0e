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
"""

from __future__ import annotations

import asyncio
import json
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
FUNCTIONS = ("resumable", "durable-target", "plain-target")
ANSWER = {"approved": "yes"}


def serve_args(store: Path, sdk: str) -> list[str]:
    """serve on ``store`` with skip-time, hosting ``sdk``'s handlers."""
    return ["--store", str(store), "--skip-time", *function_args(SDKS[sdk], FUNCTIONS)]


async def suspended_on_callback(service: Driver, arn: str) -> list[Event]:
    """The history once the execution suspended on ``approval``: its invocation has ended."""
    async with asyncio.timeout(60):
        while True:
            events = await service.history(arn)
            names = [(e["EventType"], e.get("Name")) for e in events]
            if ("CallbackStarted", "approval") in names and names[-1][0] == "InvocationCompleted":
                return events
            await asyncio.sleep(0.05)


async def finish(service: Driver, arn: str) -> tuple[dict[str, Any], list[Event]]:
    """Wait for the execution's end; return its outcome and history."""
    ended = await service.ended(arn)
    return ended, await service.history(arn)


async def run_alone(service: Driver) -> tuple[dict[str, Any], list[Event]]:
    """Run ``resumable`` start to end on one serve; return its outcome and history."""
    arn = await service.start("resumable", {}, timeout=None)
    await service.succeed_callback(arn, "approval", ANSWER)
    return await finish(service, arn)


def operation_ids(events: list[Event]) -> set[str]:
    return {event["Id"] for event in normalize(events) if "Id" in event}


@pytest.mark.parametrize(
    ("starter", "finisher"),
    [
        pytest.param("reference", "durable_async", id="reference-then-durable_async"),
        pytest.param("durable_async", "reference", id="durable_async-then-reference"),
    ],
)
async def test_the_other_sdk_resumes_the_execution(
    tmp_path: Path, starter: str, finisher: str
) -> None:
    """An execution suspended by one SDK's handler is finished by the other SDK's from the
    same history: same operation ids, nothing started again, the history of either SDK alone."""
    store, env = tmp_path / "durable.sqlite3", isolated_aws_environment(tmp_path)
    with serving(serve_args(store, starter), tmp_path / f"{starter}.log", env) as first:
        async with driver(f"serve, {starter}", first.url) as service:
            arn = await service.start("resumable", {}, name="handed-over", timeout=None)
            before = await suspended_on_callback(service, arn)
    assert first.popen.returncode == 0, first.tail()

    with serving(serve_args(store, finisher), tmp_path / f"{finisher}.log", env) as second:
        async with driver(f"serve, {finisher}", second.url) as service:
            assert (await service.client.get_durable_execution(DurableExecutionArn=arn))[
                "Status"
            ] == "RUNNING"
            await service.succeed_callback(arn, "approval", ANSWER)
            (resumed, after), (alone, alone_events) = await asyncio.gather(
                finish(service, arn), run_alone(service)
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
