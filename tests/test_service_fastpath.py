"""The memory store's isolation: what it hands out is a copy, and it reads back as JSON would."""

from __future__ import annotations

import asyncio
import enum
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from durable_async.service.local import LocalDurableService, MemoryStore, SkipClock
from durable_async.service.local._model import ExecutionRecord, OperationRow
from tests.service.helpers import START, update


class _Text(str):
    """A str subclass, as a caller's value may be: it passes the service's isinstance checks."""


class _Number(enum.IntEnum):
    ONE = 1


_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text()
    | st.text().map(_Text)
    | st.just(_Number.ONE)
)
_JSON = st.recursive(
    _LEAVES,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text() | st.text().map(_Text), inner, max_size=4)
    ),
    max_leaves=20,
)


def _json_round_trip(value: object) -> Any:
    return json.loads(json.dumps(value, ensure_ascii=False))


async def _store_and_read(value: Any) -> tuple[list[Any], OperationRow, ExecutionRecord | None]:
    store = MemoryStore()
    execution = ExecutionRecord("arn:x/e", "fn", "e", 0, error={"Value": value})
    data = {"Id": "op", "Type": "STEP", "Status": "SUCCEEDED", "Value": value}
    row = OperationRow("op", 0, 1, data, {"M": value})
    await store.create(execution, row, [{"EventId": 1, "Details": value}])
    events = await store.list_events("arn:x/e")
    [stored] = await store.list_operations("arn:x/e")
    return events, stored, await store.get_execution("arn:x/e")


@settings(max_examples=200, deadline=None)
@given(_JSON)
def test_memory_store_reads_back_what_json_text_would(value: Any) -> None:
    """Events, operation data and meta, and the execution record read back as a JSON round trip.

    Subclasses of str and int come back as the plain types, as they would from JSON text.
    """
    events, row, execution = asyncio.run(_store_and_read(value))
    expected = _json_round_trip(value)
    assert events == [{"EventId": 1, "Details": expected}]
    assert row.data == {"Id": "op", "Type": "STEP", "Status": "SUCCEEDED", "Value": expected}
    assert row.meta == {"M": expected}
    assert execution is not None
    assert execution.error == {"Value": expected}
    # == takes True for 1 and 1.0; the text tells the types apart.
    assert json.dumps([events, row.data, row.meta, execution.error]) == json.dumps(
        [[{"EventId": 1, "Details": expected}], row.data, {"M": expected}, {"Value": expected}]
    )


def test_a_tuple_in_meta_reads_back_as_a_list() -> None:
    """An unchecked caller value kept in meta (a trace id) reads back as JSON text would have it."""
    _, row, _ = asyncio.run(_store_and_read((1, "a")))
    assert row.meta == {"M": [1, "a"]}


def test_one_object_met_twice_reads_back_as_two_copies() -> None:
    """A dict a stored value holds twice reads back as two independent dicts, as from JSON."""
    shared = {"a": 1}
    events, row, _ = asyncio.run(_store_and_read([shared, shared]))
    first, second = events[0]["Details"]
    first["a"] = 2
    assert second == {"a": 1}
    assert row.data["Value"] == [{"a": 1}, {"a": 1}]


async def test_what_callers_hold_cannot_change_the_stored_execution() -> None:
    """Changing a checkpoint's update, its response, or anything read leaves the stored state.

    The engine hands the caller its operation dicts in the response, and the caller's Error
    objects reach the operation and its history; none of them is the stored copy.
    """
    service = LocalDurableService(MemoryStore(), SkipClock(START))
    arn = await service.start_execution("fn", "{}")
    token = (await service.begin_invocation(arn))["CheckpointToken"]
    error = {"ErrorType": "E", "ErrorMessage": "m", "StackTrace": ["a"]}
    updates = [
        update("c1", "CONTEXT", "START", Name="ctx"),
        update("s1", "STEP", "START", ParentId="c1"),
        update("s1", "STEP", "FAIL", ParentId="c1", Error=error),
    ]
    response = await service.checkpoint(arn, token, updates)
    before = (await service.list_operations(arn), (await service.get_history(arn))["Events"])
    expected = json.loads(json.dumps(before))

    error["ErrorMessage"] = "changed"
    error["StackTrace"].append("b")  # type: ignore[attr-defined]
    for operation in response["NewExecutionState"]["Operations"]:
        operation["Status"] = "CHANGED"
        operation.get("StepDetails", {}).clear()
    for read in before:
        for item in read:
            item["Id"] = "changed"
            item.clear()

    after = (await service.list_operations(arn), (await service.get_history(arn))["Events"])
    assert json.loads(json.dumps(after)) == expected
    step = next(op for op in after[0] if op["Id"] == "s1")
    assert step["StepDetails"]["Error"] == {
        "ErrorType": "E",
        "ErrorMessage": "m",
        "StackTrace": ["a"],
    }
