"""What the commands print, fed anything: payload previews, the operation tree, event lines."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import assume, given
from hypothesis import strategies as st

from durable_async._cli.render import (
    EventNames,
    Grid,
    decoded,
    event_grid,
    event_line,
    operation_grid,
    payload_preview,
    printable,
)
from durable_async.serdes import EXTENDED_TYPES_SERDES, SerDesContext

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
NOW = 1_800_000_000_000


def _looks_like_an_envelope(value: Any) -> bool:
    if isinstance(value, dict):
        if set(value) == {"t", "v"} and isinstance(value["t"], str):
            return True
        return any(_looks_like_an_envelope(item) for item in value.values())
    if isinstance(value, list):
        return any(_looks_like_an_envelope(item) for item in value)
    return False


@given(text=st.text(), limit=st.integers(2, 200))
def test_a_preview_of_any_text_is_one_bounded_line(text: str, limit: int) -> None:
    """Any payload text, JSON or not, previews as one line of at most ``limit`` characters."""
    preview = payload_preview(text, limit)

    assert "\n" not in preview
    assert len(preview) <= limit


@given(value=JSON)
def test_the_extended_types_envelopes_come_off(value: Any) -> None:
    """What ExtendedTypesSerDes wrote decodes to the plain JSON value it was given."""
    text = EXTENDED_TYPES_SERDES.serialize(value, SerDesContext("op", "arn"))

    assert decoded(text) == value
    assert json.loads(payload_preview(text, 10**9)) == value


@given(value=JSON)
def test_plain_json_is_shown_as_it_is(value: Any) -> None:
    """Plain JSON (a JsonSerDes or TypedSerDes payload) decodes to itself, unless it looks
    like an envelope at its top (``{"t": str, "v": ...}``), which is read as one."""
    assume(
        not (isinstance(value, dict) and set(value) == {"t", "v"} and isinstance(value["t"], str))
    )

    assert decoded(json.dumps(value)) == value


OPERATION = st.fixed_dictionaries(
    {
        "Id": st.sampled_from(["a", "b", "c", "d", "e"]),
        "Type": st.sampled_from(["STEP", "CONTEXT", "WAIT", "CALLBACK", "EXECUTION"]),
    },
    optional={
        "ParentId": st.sampled_from(["a", "b", "c", "d", "e", "gone"]),
        "Name": st.text(max_size=10),
        "SubType": st.sampled_from(["Step", "Map", "WaitForCallback"]),
        "Status": st.sampled_from(["STARTED", "SUCCEEDED", "FAILED", "PENDING", "READY"]),
        "StartTimestamp": st.integers(0, NOW),
        "EndTimestamp": st.integers(0, NOW),
        "StepDetails": st.fixed_dictionaries(
            {},
            optional={
                "Attempt": st.integers(0, 10),
                "Result": st.text(max_size=30),
                "Error": st.fixed_dictionaries({}, optional={"ErrorType": st.text(max_size=8)}),
                "NextAttemptTimestamp": st.integers(0, NOW * 2),
            },
        ),
        "WaitDetails": st.fixed_dictionaries({"ScheduledEndTimestamp": st.integers(0, NOW * 2)}),
        "CallbackDetails": st.fixed_dictionaries({"CallbackId": st.text(max_size=40)}),
    },
)


@given(operations=st.lists(OPERATION, max_size=8, unique_by=lambda op: op["Id"]))
def test_every_operation_is_one_row_whatever_its_parents(operations: list[dict[str, Any]]) -> None:
    """Missing parents, self-parents and loops of parents: each operation is still one row."""
    grid = operation_grid(operations, now_ms=NOW)

    shown = [op for op in operations if op["Type"] != "EXECUTION"]
    assert len(grid.rows) == len(shown)
    assert all(len(row) == len(grid.headers) for row in grid.rows)
    for op in shown:
        name = printable(str(op.get("Name") or f"{op['Id']})"))
        assert any(row[0].endswith(name) for row in grid.rows), (name, grid.rows)
    assert len(grid.plain().splitlines()) == len(grid.rows) + 1  # a header, then a line each


def test_control_characters_in_names_and_payloads_are_escaped() -> None:
    """A newline or an escape sequence from user data is shown escaped, never sent raw."""
    ops = [
        {"Id": "a", "Type": "STEP", "Name": "two\nlines", "Status": "SUCCEEDED",
         "StepDetails": {"Result": '"\\u001b[31mred"'}},
    ]  # fmt: skip
    event = {"EventType": "StepStarted", "EventId": 1, "EventTimestamp": NOW, "Id": "a",
             "Name": "\x1b]0;title\x07", "StepStartedDetails": {}}  # fmt: skip

    plain = operation_grid(ops, now_ms=NOW).plain()
    line = event_line(event, EventNames())

    assert "two\\nlines" in plain
    assert '"\\u001b[31mred"' in plain
    assert "\x1b" not in plain + line
    assert "\\u001b]0;title\\u0007" in line


def test_children_sit_under_their_parent_in_creation_order() -> None:
    """A map's items go under the map, each item's step under its item, the last with └─."""
    ops = [
        {"Id": "m", "Type": "CONTEXT", "Name": "map", "Status": "STARTED"},
        {"Id": "i0", "Type": "CONTEXT", "ParentId": "m", "Name": "item-0", "Status": "SUCCEEDED"},
        {"Id": "s0", "Type": "STEP", "ParentId": "i0", "Name": "price", "Status": "SUCCEEDED"},
        {"Id": "i1", "Type": "CONTEXT", "ParentId": "m", "Name": "item-1", "Status": "STARTED"},
        {"Id": "s1", "Type": "STEP", "ParentId": "i1", "Name": "price", "Status": "PENDING"},
        {"Id": "w", "Type": "WAIT", "Name": "cool-off", "Status": "STARTED"},
    ]

    rows = [row[0] for row in operation_grid(ops, now_ms=NOW).rows]

    assert rows == ["map", "├─ item-0", "│  └─ price", "└─ item-1", "   └─ price", "cool-off"]


EVENT = st.fixed_dictionaries(
    {
        "EventType": st.sampled_from(
            ["ExecutionStarted", "StepStarted", "StepFailed", "StepSucceeded", "WaitStarted",
             "CallbackStarted", "ContextSucceeded", "ChainedInvokeStarted", "InvocationCompleted",
             "SomethingNew"]
        ),
        "EventId": st.integers(1, 10**6),
        "EventTimestamp": st.integers(0, NOW),
    },
    optional={
        "Id": st.text(max_size=6),
        "ParentId": st.text(max_size=6),
        "Name": st.text(max_size=12),
        "SubType": st.sampled_from(["Step", "Map", "WaitForCondition"]),
    },
)  # fmt: skip
DETAILS = st.fixed_dictionaries(
    {},
    optional={
        "Result": st.fixed_dictionaries({"Payload": st.text(max_size=40)}),
        "Error": st.fixed_dictionaries(
            {"Payload": st.fixed_dictionaries({}, optional={"ErrorType": st.text(max_size=8),
                                                           "ErrorMessage": st.text(max_size=20)})}
        ),
        "RetryDetails": st.fixed_dictionaries(
            {},
            optional={
                "CurrentAttempt": st.integers(0, 9),
                "NextAttemptDelaySeconds": st.integers(0, 99),
            },
        ),
        "Duration": st.integers(0, 10**6),
        "ScheduledEndTimestamp": st.integers(0, NOW * 2),
        "CallbackId": st.text(max_size=20),
        "Input": st.fixed_dictionaries({"Payload": st.text(max_size=20)}),
    },
)  # fmt: skip


@given(events=st.lists(st.tuples(EVENT, DETAILS), max_size=10))
def test_any_history_prints_one_line_per_event(
    events: list[tuple[dict[str, Any], dict[str, Any]]],
) -> None:
    """Every event, of a known type or not, is one line and one grid row; nothing raises."""
    history = [{**event, f"{event['EventType']}Details": details} for event, details in events]
    names = EventNames()

    lines = [event_line(event, names) for event in history]
    grid = event_grid(history)

    assert all(line.strip() for line in lines)
    assert len(grid.rows) == len(history)
    assert isinstance(grid, Grid)
