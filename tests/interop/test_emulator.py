"""durable_async handlers on the reference emulator, invoked through a Lambda-like process.

The emulator (`dex-local-runner`, real clock) starts each execution and invokes the handler over
Lambda Invoke; the handler runs as the Lambda Python runtime runs it and checkpoints back with
the aiobotocore backend. Each test reads the outcome with GetDurableExecution and the event
sequence with GetDurableExecutionHistory. The emulator stamps every event of one checkpoint call
with the same time, which is how these tests count checkpoint calls from outside.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any

import pytest
from aws_durable_execution_sdk_python.identifier import OperationIdNamespace
from aws_durable_execution_sdk_python.serdes import ExtendedTypeSerDes

from .conftest import Interop
from .handlers import DECLINED_MESSAGE, FAN_OUT_WIDTH, FLAKY_FAILURES

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]

Event = dict[str, Any]
ROOT = OperationIdNamespace()
STEP_EVENTS = frozenset({"StepStarted", "StepSucceeded", "StepFailed"})


def op_id(position: int) -> str:
    """The reference SDK's id for the root context's operation at ``position`` (1-based)."""
    return ROOT.create_id_for_step(position)


def sequence(events: Iterable[Event]) -> list[tuple[str, str | None]]:
    """Each event as (EventType, Name), execution events unnamed (their Name is the run's)."""
    return [
        (
            event["EventType"],
            None if event["EventType"].startswith("Execution") else event.get("Name"),
        )
        for event in events
    ]


def by_type(events: Iterable[Event], event_type: str) -> list[Event]:
    return [event for event in events if event["EventType"] == event_type]


def checkpoint_calls(events: Iterable[Event]) -> list[list[tuple[str, str | None]]]:
    """Step events grouped by the checkpoint call that recorded them (one timestamp per call)."""
    steps = [event for event in events if event["EventType"] in STEP_EVENTS]
    return [sequence(group) for _, group in groupby(steps, key=lambda e: e["EventTimestamp"])]


def step_payload(event: Event) -> Any:
    """Decode a StepSucceeded result with the reference SDK's own SerDes."""
    payload = event["StepSucceededDetails"]["Result"]["Payload"]
    return ExtendedTypeSerDes().deserialize(payload)  # type: ignore[no-untyped-call]


def error_payload(event: Event, details: str) -> dict[str, Any]:
    payload: dict[str, Any] = event[details]["Error"]["Payload"]
    return payload


def seconds_between(earlier: datetime, later: datetime) -> float:
    return (later - earlier) / timedelta(seconds=1)


def assert_warm_runtime_invocations(invocations: list[dict[str, Any]], statuses: list[str]) -> None:
    """Each invocation ran on the main thread, no loop running, in one warm process and loop."""
    assert [record["status"] for record in invocations] == statuses
    assert {record["thread"] for record in invocations} == {"MainThread"}
    assert not any(record["loop_running"] for record in invocations)
    assert len({record["pid"] for record in invocations}) == 1
    loops = [loop for record in invocations for loop in record["loops"]]
    assert len(loops) == len(invocations)
    assert len(set(loops)) == 1


async def test_sequential_steps_make_one_checkpoint_call_each(interop: Interop) -> None:
    """Three sequential steps succeed in one invocation, each START riding with its SUCCEED."""
    arn, execution = await interop.run("three-steps", {"value": 2})

    assert execution["Status"] == "SUCCEEDED"
    assert json.loads(execution["Result"]) == {"value": 5, "text": "value is 5"}
    events = await interop.history(arn)
    assert sequence(events) == [
        ("ExecutionStarted", None),
        ("StepStarted", "double"),
        ("StepSucceeded", "double"),
        ("StepStarted", "increment"),
        ("StepSucceeded", "increment"),
        ("StepStarted", "describe"),
        ("StepSucceeded", "describe"),
        ("InvocationCompleted", None),
        ("ExecutionSucceeded", None),
    ]
    succeeded = by_type(events, "StepSucceeded")
    assert [event["Id"] for event in succeeded] == [op_id(1), op_id(2), op_id(3)]
    assert [event["SubType"] for event in succeeded] == ["Step"] * 3
    assert [step_payload(event) for event in succeeded] == [4, 5, "value is 5"]
    assert checkpoint_calls(events) == [
        [("StepStarted", name), ("StepSucceeded", name)]
        for name in ("double", "increment", "describe")
    ]
    assert_warm_runtime_invocations(await interop.invocations(arn), ["SUCCEEDED"])


async def test_wait_suspends_and_the_emulator_reinvokes(interop: Interop) -> None:
    """A 1-second wait ends the first invocation PENDING; the next one replays and finishes."""
    arn, execution = await interop.run("wait-between-steps")

    assert execution["Status"] == "SUCCEEDED"
    assert json.loads(execution["Result"]) == ["before", "after"]
    events = await interop.history(arn)
    assert sequence(events) == [
        ("ExecutionStarted", None),
        ("StepStarted", "before"),
        ("StepSucceeded", "before"),
        ("WaitStarted", "pause"),
        ("InvocationCompleted", None),
        ("WaitSucceeded", "pause"),
        ("StepStarted", "after"),
        ("StepSucceeded", "after"),
        ("InvocationCompleted", None),
        ("ExecutionSucceeded", None),
    ]
    [started] = by_type(events, "WaitStarted")
    [succeeded] = by_type(events, "WaitSucceeded")
    assert started["Id"] == succeeded["Id"] == op_id(2)
    assert started["SubType"] == "Wait"
    assert started["WaitStartedDetails"]["Duration"] == 1
    scheduled_end = started["WaitStartedDetails"]["ScheduledEndTimestamp"]
    assert seconds_between(started["EventTimestamp"], scheduled_end) == pytest.approx(1, abs=0.01)
    assert succeeded["EventTimestamp"] >= scheduled_end
    assert [event["Id"] for event in by_type(events, "StepSucceeded")] == [op_id(1), op_id(3)]
    assert_warm_runtime_invocations(await interop.invocations(arn), ["PENDING", "SUCCEEDED"])


async def test_step_retries_after_one_second_delays_then_succeeds(interop: Interop) -> None:
    """A step failing twice is retried 1 s apart, one invocation per attempt, then succeeds."""
    arn, execution = await interop.run("retry-then-succeed")

    attempts = FLAKY_FAILURES + 1
    assert execution["Status"] == "SUCCEEDED"
    assert json.loads(execution["Result"]) == {"attempt": attempts}
    events = await interop.history(arn)
    failed_attempt = [
        ("StepStarted", "flaky"),
        ("StepFailed", "flaky"),
        ("InvocationCompleted", None),
    ]
    assert sequence(events) == [
        ("ExecutionStarted", None),
        *failed_attempt * FLAKY_FAILURES,
        ("StepStarted", "flaky"),
        ("StepSucceeded", "flaky"),
        ("InvocationCompleted", None),
        ("ExecutionSucceeded", None),
    ]
    step_events = [event for event in events if event["EventType"] in STEP_EVENTS]
    assert {event["Id"] for event in step_events} == {op_id(1)}
    failures = by_type(events, "StepFailed")
    assert [event["StepFailedDetails"]["RetryDetails"] for event in failures] == [
        {"CurrentAttempt": attempt, "NextAttemptDelaySeconds": 1} for attempt in range(1, attempts)
    ]
    assert [error_payload(event, "StepFailedDetails")["ErrorType"] for event in failures] == [
        "RuntimeError"
    ] * FLAKY_FAILURES
    assert [error_payload(event, "StepFailedDetails")["ErrorMessage"] for event in failures] == [
        f"attempt {attempt} failed" for attempt in range(1, attempts)
    ]
    starts = by_type(events, "StepStarted")
    for failure, next_start in zip(failures, starts[1:], strict=True):
        assert seconds_between(failure["EventTimestamp"], next_start["EventTimestamp"]) >= 1
    assert step_payload(by_type(events, "StepSucceeded")[0]) == {"attempt": attempts}
    assert_warm_runtime_invocations(
        await interop.invocations(arn), ["PENDING"] * FLAKY_FAILURES + ["SUCCEEDED"]
    )


async def test_concurrent_steps_share_one_checkpoint_call(interop: Interop) -> None:
    """Twenty steps started together with asyncio.gather take program-order ids and one call."""
    arn, execution = await interop.run("concurrent-steps")

    assert execution["Status"] == "SUCCEEDED"
    assert json.loads(execution["Result"]) == [i * i for i in range(FAN_OUT_WIDTH)]
    events = await interop.history(arn)
    names = [f"square-{i}" for i in range(FAN_OUT_WIDTH)]
    started, succeeded = by_type(events, "StepStarted"), by_type(events, "StepSucceeded")
    assert [(event["Name"], event["Id"]) for event in started] == [
        (name, op_id(position)) for position, name in enumerate(names, start=1)
    ]
    assert sorted(event["Name"] for event in succeeded) == sorted(names)
    assert {event["Name"]: step_payload(event) for event in succeeded} == {
        f"square-{i}": i * i for i in range(FAN_OUT_WIDTH)
    }
    assert sequence(events)[-2:] == [("InvocationCompleted", None), ("ExecutionSucceeded", None)]
    # 40 updates, far below the 250-update limit of one call.
    [call] = checkpoint_calls(events)
    assert len(call) == 2 * FAN_OUT_WIDTH
    assert_warm_runtime_invocations(await interop.invocations(arn), ["SUCCEEDED"])


async def test_step_that_always_fails_fails_the_execution(interop: Interop) -> None:
    """A step whose retries are exhausted fails the execution with the step's recorded error."""
    arn, execution = await interop.run("always-fails")

    assert execution["Status"] == "FAILED"
    assert "Result" not in execution
    events = await interop.history(arn)
    assert sequence(events) == [
        ("ExecutionStarted", None),
        ("StepStarted", "decline"),
        ("StepFailed", "decline"),
        ("InvocationCompleted", None),
        ("ExecutionFailed", None),
    ]
    [step_failed] = by_type(events, "StepFailed")
    step_error = error_payload(step_failed, "StepFailedDetails")
    assert step_failed["Id"] == op_id(1)
    assert step_failed["StepFailedDetails"]["RetryDetails"]["CurrentAttempt"] == 1
    assert step_error["ErrorType"] == "ValueError"
    assert step_error["ErrorMessage"] == DECLINED_MESSAGE
    # As in the reference SDK: the execution fails with the StepError raised in the handler
    # (its qualified class name), carrying the step's recorded message.
    [execution_failed] = by_type(events, "ExecutionFailed")
    execution_error = error_payload(execution_failed, "ExecutionFailedDetails")
    assert execution_error["ErrorType"] == "durable_async.exceptions.StepError"
    assert execution_error["ErrorMessage"] == DECLINED_MESSAGE
    assert execution["Error"]["ErrorType"] == "durable_async.exceptions.StepError"
    assert execution["Error"]["ErrorMessage"] == DECLINED_MESSAGE
    assert_warm_runtime_invocations(await interop.invocations(arn), ["FAILED"])


async def test_crashed_invocation_resumes_without_rerunning_recorded_step(
    interop: Interop,
) -> None:
    """After a function error the emulator re-invokes; the recorded step replays, not reruns."""
    token = uuid.uuid4().hex
    arn, execution = await interop.run("crash-once", {"token": token})

    assert execution["Status"] == "SUCCEEDED"
    # charge_runs counts the step body's runs in the warm process: 1 means it never ran again.
    assert json.loads(execution["Result"]) == {"charge_runs": 1, "shipped": 1}
    events = await interop.history(arn)
    # The emulator records no InvocationCompleted for an invocation that ended in a function
    # error (a known gap), so only the operations' events are compared.
    operations = [event for event in events if event["EventType"] != "InvocationCompleted"]
    assert sequence(operations) == [
        ("ExecutionStarted", None),
        ("StepStarted", "charge"),
        ("StepSucceeded", "charge"),
        ("StepStarted", "ship"),
        ("StepSucceeded", "ship"),
        ("ExecutionSucceeded", None),
    ]
    assert [event["Id"] for event in by_type(events, "StepSucceeded")] == [op_id(1), op_id(2)]
    assert_warm_runtime_invocations(await interop.invocations(arn), ["Unhandled", "SUCCEEDED"])
