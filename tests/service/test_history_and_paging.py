"""History events in the GetDurableExecutionHistory shape, and paging of operations."""

from __future__ import annotations

from typing import Any

import botocore.session  # type: ignore[import-untyped]
import pytest

from durable_async.service import ServiceError
from durable_async.service.local import LocalDurableService, SkipClock, Store

from .helpers import START_MS, Begin, update


def _event_shape() -> Any:
    model = botocore.session.get_session().get_service_model("lambda")
    output = model.operation_model("GetDurableExecutionHistory").output_shape
    return output.members["Events"].member


def _assert_matches(value: Any, shape: Any, where: str) -> None:
    """Assert every key of ``value`` is a member of ``shape``, recursively."""
    if shape.type_name == "structure":
        assert isinstance(value, dict), where
        unknown = set(value) - set(shape.members)
        assert not unknown, f"{where} has keys outside the model: {unknown}"
        for key, item in value.items():
            _assert_matches(item, shape.members[key], f"{where}.{key}")
    elif shape.type_name == "list":
        assert isinstance(value, list), where
        for item in value:
            _assert_matches(item, shape.member, where)
    elif shape.type_name == "timestamp":
        assert isinstance(value, int), f"{where} is not integer epoch milliseconds"


async def _run_story(begin: Begin, clock: SkipClock) -> str:
    session = await begin('{"order": 1}')
    step_start = update("s1", "STEP", "START", Name="charge", SubType="Step")
    retry = update(
        "s1",
        "STEP",
        "RETRY",
        Name="charge",
        Error={"ErrorType": "Boom", "ErrorMessage": "x"},
        StepOptions={"NextAttemptDelaySeconds": 2},
    )
    await session.send(step_start, retry)
    await session.service.end_invocation(session.arn, {"Status": "PENDING"})
    clock.advance(2)
    event = await session.service.begin_invocation(session.arn)
    session.token = event["CheckpointToken"]
    await session.send(step_start, update("s1", "STEP", "SUCCEED", Payload='"ok"'))
    await session.send(update("w1", "WAIT", "START", Name="pause", WaitOptions={"WaitSeconds": 5}))
    await session.service.end_invocation(session.arn, {"Status": "PENDING"})
    clock.advance(5)
    await session.service.begin_invocation(session.arn)
    await session.service.end_invocation(session.arn, {"Status": "SUCCEEDED", "Result": '"done"'})
    return session.arn


async def test_history_records_each_transition_in_order(
    service: LocalDurableService, begin: Begin, clock: SkipClock
) -> None:
    """Every update, timer and invocation becomes one numbered event, in the order it happened."""
    arn = await _run_story(begin, clock)
    events = (await service.get_history(arn))["Events"]
    assert [e["EventType"] for e in events] == [
        "ExecutionStarted",
        "StepStarted",
        "StepFailed",
        "InvocationCompleted",
        "StepStarted",
        "StepSucceeded",
        "WaitStarted",
        "InvocationCompleted",
        "WaitSucceeded",
        "InvocationCompleted",
        "ExecutionSucceeded",
    ]
    assert [e["EventId"] for e in events] == list(range(1, 12))
    failed, succeeded = events[2], events[5]
    assert failed["StepFailedDetails"]["RetryDetails"] == {
        "CurrentAttempt": 1,
        "NextAttemptDelaySeconds": 2,
    }
    assert succeeded["StepSucceededDetails"] == {
        "Result": {"Payload": '"ok"', "Truncated": False},
        "RetryDetails": {"CurrentAttempt": 2},
    }
    assert (succeeded["Id"], succeeded["Name"], succeeded["SubType"]) == ("s1", "charge", "Step")
    assert events[6]["WaitStartedDetails"] == {
        "Duration": 5,
        "ScheduledEndTimestamp": START_MS + 7000,
    }
    assert events[8]["EventTimestamp"] == START_MS + 7000
    assert events[-1]["ExecutionSucceededDetails"]["Result"]["Payload"] == '"done"'


async def test_history_matches_the_botocore_model(
    service: LocalDurableService, begin: Begin, clock: SkipClock
) -> None:
    """Every event uses only fields of botocore's Event shape, with integer-ms timestamps."""
    arn = await _run_story(begin, clock)
    shape = _event_shape()
    event_types = set(shape.members["EventType"].enum)
    for event in (await service.get_history(arn))["Events"]:
        assert event["EventType"] in event_types
        _assert_matches(event, shape, event["EventType"])


async def test_history_without_execution_data_drops_payloads(
    service: LocalDurableService, begin: Begin, clock: SkipClock
) -> None:
    """IncludeExecutionData=false leaves payloads out and marks them truncated."""
    arn = await _run_story(begin, clock)
    events = (await service.get_history(arn, include_execution_data=False))["Events"]
    started = events[0]["ExecutionStartedDetails"]
    assert started["Input"] == {"Truncated": True}
    assert events[-1]["ExecutionSucceededDetails"]["Result"] == {"Truncated": True}


async def test_history_pages_with_markers(
    service: LocalDurableService, begin: Begin, clock: SkipClock
) -> None:
    """max_items splits history into pages that join back to the whole, in order."""
    arn = await _run_story(begin, clock)
    everything = (await service.get_history(arn))["Events"]
    pages, marker = [], ""
    while True:
        page = await service.get_history(arn, marker=marker, max_items=4)
        pages += page["Events"]
        marker = page.get("NextMarker", "")
        if not marker:
            break
    assert pages == everything
    newest_first = (await service.get_history(arn, reverse_order=True))["Events"]
    assert newest_first == everything[::-1]


@pytest.fixture
def small_pages(store: Store, clock: SkipClock) -> LocalDurableService:
    """An engine whose pages hold two operations."""
    return LocalDurableService(store, clock, page_size=2)


async def test_initial_state_pages_with_small_page_size(small_pages: LocalDurableService) -> None:
    """The input event holds one page and GetDurableExecutionState returns the rest in order."""
    arn = await small_pages.start_execution("fn", None)
    event = await small_pages.begin_invocation(arn)
    updates = [update(f"s{i}", "STEP", "START") for i in range(5)]
    await small_pages.checkpoint(arn, event["CheckpointToken"], updates)
    await small_pages.end_invocation(arn, None, error="crash")
    event = await small_pages.begin_invocation(arn)
    token, state = event["CheckpointToken"], event["InitialExecutionState"]
    ids = [op["Id"] for op in state["Operations"]]
    assert len(ids) == 2
    while state["NextMarker"]:
        state = await small_pages.get_execution_state(arn, token, state["NextMarker"])
        ids += [op["Id"] for op in state["Operations"]]
    assert ids == [arn.rsplit("/", 1)[-1], "s0", "s1", "s2", "s3", "s4"]


async def test_state_paging_needs_the_running_invocations_token(
    small_pages: LocalDurableService,
) -> None:
    """GetDurableExecutionState refuses a token from another invocation and unknown markers."""
    arn = await small_pages.start_execution("fn", None)
    old = (await small_pages.begin_invocation(arn))["CheckpointToken"]
    current = (await small_pages.begin_invocation(arn))["CheckpointToken"]
    with pytest.raises(ServiceError, match="Invalid checkpoint token") as caught:
        await small_pages.get_execution_state(arn, old, "")
    assert caught.value.retryable is True
    with pytest.raises(ServiceError, match="not issued by this service"):
        await small_pages.get_execution_state(arn, current, "garbage")
