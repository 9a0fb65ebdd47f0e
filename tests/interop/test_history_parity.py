"""The same handler leaves the same history on our local service and on the reference emulator.

Events are compared as (EventType, Id, Name, ParentId, SubType) plus their decoded payloads and
errors; timestamps, ARNs and event ids differ by construction and are left out.
"""

from __future__ import annotations

from typing import Any

import pytest

from durable_async.testing import DurableTestRunner

from .conftest import Interop
from .handlers import FUNCTIONS

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]

Event = dict[str, Any]
# RetryDetails are left out: the emulator omits them from StepSucceeded (PROTOCOL.md), we do not.
_DETAIL_KEYS = ("Result", "Error", "Input", "Duration")


def _details(event: Event) -> dict[str, Any]:
    """The payload-bearing fields of an event's details block, without timestamps."""
    found: dict[str, Any] = {}
    for key, value in event.items():
        if key.endswith("Details") and isinstance(value, dict):
            for field in _DETAIL_KEYS:
                if field in value:
                    found[f"{key}.{field}"] = value[field]
    return found


def normalize(events: list[Event]) -> list[tuple[Any, ...]]:
    """Each event as the facts both services must agree on."""
    return [
        (
            event["EventType"],
            None if event["EventType"].startswith("Execution") else event.get("Id"),
            None if event["EventType"].startswith("Execution") else event.get("Name"),
            event.get("ParentId"),
            event.get("SubType"),
            _details(event),
        )
        for event in events
        if event["EventType"] != "InvocationCompleted"  # the emulator drops its details
    ]


@pytest.mark.parametrize(
    ("function", "payload"),
    [
        pytest.param("three-steps", {"value": 4}, id="sequential-steps"),
        pytest.param("wait-between-steps", {}, id="wait"),
        pytest.param("retry-then-succeed", {}, id="retries"),
        pytest.param("concurrent-steps", {}, id="gathered-steps"),
        pytest.param("always-fails", {}, id="failure"),
    ],
)
async def test_history_matches_the_reference_emulator(
    interop: Interop, function: str, payload: Any
) -> None:
    """Our local service records the same events, ids, names and payloads as the emulator."""
    arn, execution = await interop.run(function, payload)
    theirs = normalize(await interop.history(arn))

    async with DurableTestRunner(FUNCTIONS[function], skip_time=True) as runner:
        result = await runner.run(input=payload, timeout=30)
        ours = normalize(await runner.get_history(result.arn))

    assert result.status.value == execution["Status"]
    assert ours == theirs
