"""Every checkpoint rule refuses the whole call, non-retryably, and applies nothing."""

from __future__ import annotations

from typing import Any

import pytest

from durable_async.service import ServiceError

from .helpers import Begin, update

EXECUTION = "<execution>"
BIG = "x" * (200 * 1024)
ERROR = {"ErrorType": "E", "ErrorMessage": "m"}


def step(operation_id: str, action: str = "START", **extra: Any) -> dict[str, Any]:
    """Return a STEP update."""
    return update(operation_id, "STEP", action, **extra)


CASES = [
    pytest.param([], [step(f"s{i}") for i in range(251)], "at most 250 updates", id="too-many"),
    pytest.param(
        [],
        [step(f"s{i}", "SUCCEED", Payload=BIG) for i in range(4)],
        "bytes of JSON",
        id="call-too-large",
    ),
    pytest.param(
        [], [step("s1", "SUCCEED", Payload="x" * (256 * 1024 + 1))], "over the limit", id="payload"
    ),
    pytest.param([], [step("s" * 65)], "1 to 64", id="id-too-long"),
    pytest.param([], [step("")], "1 to 64", id="id-empty"),
    pytest.param([], [step("bad id")], "1 to 64", id="id-pattern"),
    pytest.param([], [step("s1", Name="n" * 257)], "1 to 256", id="name-too-long"),
    pytest.param(
        [],
        [update("w1", "WAIT", "START", WaitOptions={"WaitSeconds": 0})],
        "from 1 to 31,622,400",
        id="wait-0",
    ),
    pytest.param([], [update("w1", "WAIT", "START")], "from 1 to", id="wait-missing"),
    pytest.param([], [step("s1", "RETRY")], "NextAttemptDelaySeconds", id="retry-no-options"),
    pytest.param([], [update("x1", "MYSTERY", "START")], "Type", id="unknown-type"),
    pytest.param([], [update("w1", "WAIT", "SUCCEED")], "does not support", id="wait-succeed"),
    pytest.param(
        [], [update(EXECUTION, "EXECUTION", "START")], "does not support", id="exec-start"
    ),
    pytest.param(
        [], [update("i1", "CHAINED_INVOKE", "SUCCEED")], "does not support", id="invoke-succeed"
    ),
    pytest.param(
        [], [update("i1", "CHAINED_INVOKE", "START")], "no Chained", id="invoke-no-options"
    ),
    pytest.param(
        [],
        [update("i1", "CHAINED_INVOKE", "START", ChainedInvokeOptions={"FunctionName": "a b"})],
        "not a function name",
        id="invoke-bad-name",
    ),
    pytest.param(
        [],
        [
            update(
                "i1",
                "CHAINED_INVOKE",
                "START",
                ChainedInvokeOptions={"FunctionName": "f", "TenantId": "#"},
            )
        ],
        "TenantId",
        id="invoke-bad-tenant",
    ),
    pytest.param(
        [],
        [
            update(
                "i1",
                "CHAINED_INVOKE",
                "START",
                ChainedInvokeOptions={"FunctionName": "f", "XAmznTraceId": ["Root=1-2"]},
            )
        ],
        "XAmznTraceId",
        id="invoke-trace-not-text",
    ),
    pytest.param(
        [],
        [
            update(
                "i1",
                "CHAINED_INVOKE",
                "START",
                ChainedInvokeOptions={"FunctionName": "f", "XAmznTraceId": "R" * 8193},
            )
        ],
        "at most 8,192",
        id="invoke-trace-too-long",
    ),
    pytest.param(
        [update("i1", "CHAINED_INVOKE", "START", ChainedInvokeOptions={"FunctionName": "f"})],
        [update("i1", "CHAINED_INVOKE", "START", ChainedInvokeOptions={"FunctionName": "f"})],
        "already exists",
        id="invoke-twice",
    ),
    pytest.param(
        [],
        [update("c1", "CALLBACK", "START", CallbackOptions={"TimeoutSeconds": -1})],
        "TimeoutSeconds",
        id="callback-negative-timeout",
    ),
    pytest.param(
        [],
        [update("c1", "CALLBACK", "START", CallbackOptions={"HeartbeatTimeoutSeconds": "9"})],
        "HeartbeatTimeoutSeconds",
        id="callback-text-heartbeat",
    ),
    pytest.param([], [update("c1", "CALLBACK", "SUCCEED")], "does not support", id="cb-succeed"),
    pytest.param(
        [], [step("s1", "SUCCEED", Error=ERROR)], "SUCCEED sends only", id="succeed-error"
    ),
    pytest.param([], [step("s1", "FAIL", Payload="1")], "FAIL sends only", id="fail-payload"),
    pytest.param(
        [],
        [step("s1", "RETRY", Payload="1", Error=ERROR, StepOptions={"NextAttemptDelaySeconds": 1})],
        "both a Payload and an Error",
        id="retry-both",
    ),
    pytest.param([step("s1")], [update("s1", "WAIT", "CANCEL")], "Type", id="type-mismatch"),
    pytest.param(
        [step("s1", SubType="Step")],
        [step("s1", "SUCCEED", SubType="Wait")],
        "SubType",
        id="subtype",
    ),
    pytest.param([step("s1", Name="a")], [step("s1", "SUCCEED", Name="b")], "Name", id="name"),
    pytest.param(
        [
            update("c1", "CONTEXT", "START"),
            update("c2", "CONTEXT", "START"),
            step("s1", ParentId="c1"),
        ],
        [step("s1", "SUCCEED", ParentId="c2")],
        "ParentId",
        id="parent-mismatch",
    ),
    pytest.param([], [step("s1", ParentId="nope")], "does not exist", id="parent-missing"),
    pytest.param([step("p1")], [step("s1", ParentId="p1")], "started CONTEXT", id="parent-step"),
    pytest.param(
        [update("c1", "CONTEXT", "START"), update("c1", "CONTEXT", "SUCCEED")],
        [step("s1", ParentId="c1")],
        "completed context",
        id="parent-completed",
    ),
    pytest.param([], [step("s1"), step("s1")], "repeats Id", id="duplicate-start"),
    pytest.param(
        [],
        [
            update("w1", "WAIT", "START", WaitOptions={"WaitSeconds": 1}),
            update("w1", "WAIT", "CANCEL"),
        ],
        "repeats Id",
        id="duplicate-wait",
    ),
    pytest.param(
        [], [step("s1"), step("s1", "SUCCEED"), step("s1", "FAIL")], "repeats Id", id="duplicate-3"
    ),
    pytest.param([step("s1")], [step("s1")], "cannot START", id="step-restart"),
    pytest.param(
        [step("s1"), step("s1", "SUCCEED")], [step("s1", "FAIL")], "cannot FAIL", id="step-closed"
    ),
    pytest.param([], [update("w1", "WAIT", "CANCEL")], "does not exist", id="cancel-missing"),
    pytest.param(
        [update("c1", "CONTEXT", "START")],
        [update("c1", "CONTEXT", "START")],
        "already",
        id="ctx-twice",
    ),
    pytest.param(
        [], [update(EXECUTION, "EXECUTION", "SUCCEED"), step("s1")], "last one", id="exec-not-last"
    ),
    pytest.param([], [update("other", "EXECUTION", "SUCCEED")], "own id", id="exec-wrong-id"),
]


@pytest.mark.parametrize(("setup", "bad", "message"), CASES)
async def test_invalid_call_is_refused_and_applies_nothing(
    begin: Begin, setup: list[dict[str, Any]], bad: list[dict[str, Any]], message: str
) -> None:
    """The call fails with InvalidParameterValueException and leaves state and token untouched."""
    session = await begin()
    swap = {EXECUTION: session.execution_id}
    if setup:
        await session.send(*setup)
    before = await session.service.list_operations(session.arn)
    updates = [{**u, "Id": swap.get(u["Id"], u["Id"])} for u in bad]
    with pytest.raises(ServiceError, match=message) as caught:
        await session.service.checkpoint(session.arn, session.token, [step("probe"), *updates])
    error = caught.value
    assert (error.code, error.retryable, error.status_code) == (
        "InvalidParameterValueException",
        False,
        400,
    )
    assert await session.service.list_operations(session.arn) == before
    assert (await session.send())["CheckpointToken"]


async def test_start_then_completion_may_share_an_id(begin: Begin) -> None:
    """A STEP START followed by its SUCCEED in one call is accepted."""
    session = await begin()
    await session.send(step("s1"), step("s1", "SUCCEED", Payload="1"))
    assert (await session.operation("s1"))["Status"] == "SUCCEEDED"


async def test_execution_level_parent_is_accepted(begin: Begin) -> None:
    """A ParentId naming the EXECUTION operation is treated as top level."""
    session = await begin()
    await session.send(step("s1", ParentId=session.execution_id))
    assert (await session.operation("s1"))["ParentId"] == session.execution_id


async def test_parent_started_earlier_in_the_call_is_accepted(begin: Begin) -> None:
    """A child may follow its parent CONTEXT START in the same call."""
    session = await begin()
    await session.send(update("c1", "CONTEXT", "START"), step("s1", ParentId="c1"))
    assert (await session.operation("s1"))["Status"] == "STARTED"


async def test_completion_may_leave_out_a_recorded_parent(begin: Begin) -> None:
    """A child's completion without ParentId, in a later call, keeps its recorded parent."""
    session = await begin()
    await session.send(update("c1", "CONTEXT", "START"), step("s1", ParentId="c1"))
    await session.send(step("s1", "SUCCEED", Payload="1"))
    op = await session.operation("s1")
    assert (op["Status"], op["ParentId"]) == ("SUCCEEDED", "c1")
