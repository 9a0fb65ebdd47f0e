"""Callbacks on the engine: ids, completion from outside, heartbeats, timeouts and history."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import pytest

from durable_async.service import ServiceError
from durable_async.service.local import LocalDurableService, LocalRunner, SkipClock, SqliteStore

from .helpers import START, START_MS, Begin, Session, update

ERROR = {"ErrorType": "Declined", "ErrorMessage": "The approver said no."}


async def start_callback(
    session: Session,
    operation_id: str = "cb",
    *,
    timeout: int = 0,
    heartbeat: int = 0,
    **extra: Any,
) -> str:
    """Start a callback with these timeouts (0 = none) and return its callback id."""
    options = {"TimeoutSeconds": timeout, "HeartbeatTimeoutSeconds": heartbeat}
    start = update(operation_id, "CALLBACK", "START", CallbackOptions=options, **extra)
    response = await session.send(start)
    [op] = [o for o in response["NewExecutionState"]["Operations"] if o["Id"] == operation_id]
    return str(op["CallbackDetails"]["CallbackId"])


async def events_of(service: LocalDurableService, arn: str, prefix: str) -> list[dict[str, Any]]:
    """Return the execution's history events whose type starts with ``prefix``."""
    events = (await service.get_history(arn))["Events"]
    return [e for e in events if e["EventType"].startswith(prefix)]


async def test_start_records_id_timeouts_and_event(begin: Begin) -> None:
    """START issues a unique callback id and records both timeouts in CallbackStarted."""
    session = await begin()
    first = await start_callback(session, "cb1", timeout=60, heartbeat=10, Name="approval")
    second = await start_callback(session, "cb2")
    assert first != second
    [started, _] = await events_of(session.service, session.arn, "CallbackStarted")
    assert started["Name"] == "approval"
    assert started["CallbackStartedDetails"] == {
        "CallbackId": first,
        "Timeout": 60,
        "HeartbeatTimeout": 10,
    }
    assert await session.service.next_wakeup(session.arn) == START + 10


async def test_success_records_result_and_wakes_the_execution(begin: Begin) -> None:
    """send_callback_success ends the callback SUCCEEDED with its result, seen at once."""
    session = await begin()
    callback_id = await start_callback(session, timeout=60)
    await session.service.end_invocation(session.arn, {"Status": "PENDING"})
    changed = session.service.watch(session.arn)

    await session.service.send_callback_success(callback_id, '{"ok": true}')

    assert changed.is_set()
    assert await session.service.next_wakeup(session.arn) == START  # due now, not at 60 s
    op = await session.operation("cb")
    assert op["Status"] == "SUCCEEDED"
    assert op["EndTimestamp"] == START_MS
    assert op["CallbackDetails"] == {"CallbackId": callback_id, "Result": '{"ok": true}'}
    [succeeded] = await events_of(session.service, session.arn, "CallbackSucceeded")
    assert succeeded["CallbackSucceededDetails"] == {
        "Result": {"Payload": '{"ok": true}', "Truncated": False}
    }
    event = await session.service.begin_invocation(session.arn)
    statuses = {op["Id"]: op["Status"] for op in event["InitialExecutionState"]["Operations"]}
    assert statuses["cb"] == "SUCCEEDED"


async def test_completion_during_an_invocation_reaches_its_next_checkpoint(begin: Begin) -> None:
    """A callback completed while the invocation runs comes back in its next response."""
    session = await begin()
    callback_id = await start_callback(session)
    await session.service.send_callback_success(callback_id, None)
    response = await session.send()
    [op] = response["NewExecutionState"]["Operations"]
    assert (op["Id"], op["Status"]) == ("cb", "SUCCEEDED")
    assert "Result" not in op["CallbackDetails"]


@pytest.mark.parametrize(
    ("sent", "recorded"),
    [pytest.param(ERROR, ERROR, id="error"), pytest.param(None, {}, id="no-error")],
)
async def test_failure_records_the_error(
    begin: Begin, sent: dict[str, Any] | None, recorded: dict[str, Any]
) -> None:
    """send_callback_failure ends the callback FAILED with the error (absent fields for none)."""
    session = await begin()
    callback_id = await start_callback(session)
    await session.service.send_callback_failure(callback_id, sent)
    op = await session.operation("cb")
    assert (op["Status"], op["CallbackDetails"]["Error"]) == ("FAILED", recorded)
    [failed] = await events_of(session.service, session.arn, "CallbackFailed")
    assert failed["CallbackFailedDetails"] == {"Error": {"Payload": recorded, "Truncated": False}}


async def test_a_callback_completes_once(begin: Begin) -> None:
    """A second completion or a heartbeat after it is refused, non-retryably, naming the status."""
    session = await begin()
    callback_id = await start_callback(session)
    await session.service.send_callback_success(callback_id, "1")
    for call in (
        session.service.send_callback_success(callback_id, "2"),
        session.service.send_callback_failure(callback_id, ERROR),
        session.service.send_callback_heartbeat(callback_id),
    ):
        with pytest.raises(ServiceError, match="already completed with status SUCCEEDED") as caught:
            await call
        assert (caught.value.code, caught.value.retryable) == (
            "InvalidParameterValueException",
            False,
        )
    assert (await session.operation("cb"))["CallbackDetails"]["Result"] == "1"


@pytest.mark.parametrize(
    ("callback_id", "code"),
    [
        pytest.param("", "InvalidParameterValueException", id="empty"),
        pytest.param("x" * 1025, "InvalidParameterValueException", id="over-1024-characters"),
        pytest.param("not base64!", "ResourceNotFoundException", id="garbage"),
        pytest.param("WzEsIDJd", "ResourceNotFoundException", id="not-ours"),
        pytest.param("wqM=", "ResourceNotFoundException", id="not-json"),
        pytest.param("\udcff", "ResourceNotFoundException", id="lone-surrogate"),
        pytest.param("KnownArnOtherOp", "ResourceNotFoundException", id="not-a-callback"),
        pytest.param("UnknownArn", "ResourceNotFoundException", id="unknown-execution"),
        pytest.param("Forged", "ResourceNotFoundException", id="forged-arn-and-id"),
        pytest.param("GuessedSecret", "ResourceNotFoundException", id="guessed-secret"),
        pytest.param("Tampered", "ResourceNotFoundException", id="one-character-changed"),
    ],
)
async def test_unknown_callback_ids_are_refused(begin: Begin, callback_id: str, code: str) -> None:
    """An id this service never issued is refused with a clear, non-retryable error.

    Built by hand from the ARN and the operation id of a started callback (what ids were before
    they carried a secret), it is refused exactly like an id that names nothing.
    """
    session = await begin()
    await session.send(update("s1", "STEP", "START"))
    issued = await start_callback(session, "cb")
    forged = {
        "KnownArnOtherOp": [session.arn, "s1"],
        "UnknownArn": [session.arn + "x", "cb"],
        "Forged": [session.arn, "cb"],
        "GuessedSecret": [session.arn, "cb", "0" * 32],
    }
    if callback_id in forged:
        callback_id = base64.b64encode(json.dumps(forged[callback_id]).encode()).decode()
    if callback_id == "Tampered":
        callback_id = issued[:-5] + ("A" if issued[-5] != "A" else "B") + issued[-4:]
    with pytest.raises(ServiceError) as caught:
        await session.service.send_callback_success(callback_id, "1")
    assert (caught.value.code, caught.value.retryable) == (code, False)
    assert "CallbackId" in caught.value.message
    assert (await session.operation("cb"))["Status"] == "STARTED"


async def test_a_forged_id_gets_the_same_answer_as_an_unknown_one(begin: Begin) -> None:
    """The refusal of a forged id tells nothing more than that of an id naming nothing."""
    session = await begin()
    await start_callback(session, "cb")
    refusals = []
    for fields in ([session.arn, "cb"], [session.arn + "x", "cb"]):
        callback_id = base64.b64encode(json.dumps(fields).encode()).decode()
        with pytest.raises(ServiceError) as caught:
            await session.service.send_callback_heartbeat(callback_id)
        error = caught.value
        refusals.append(
            (
                error.code,
                error.status_code,
                error.retryable,
                error.message.replace(callback_id, "ID"),
            )
        )
    assert refusals[0] == refusals[1]


async def test_callback_ids_carry_128_random_bits(begin: Begin) -> None:
    """Each id holds a fresh 128-bit secret beside the ARN and operation id it names."""
    session = await begin()
    ids = [await start_callback(session, f"cb{n}") for n in range(50)]
    secrets = []
    for callback_id in ids:
        arn, operation_id, secret = json.loads(base64.b64decode(callback_id, validate=True))
        assert arn == session.arn
        assert operation_id.startswith("cb")
        assert len(bytes.fromhex(secret)) * 8 == 128
        secrets.append(secret)
    assert len(set(secrets)) == len(secrets)


async def test_callback_of_an_ended_execution_is_refused(begin: Begin) -> None:
    """Once the execution ended, its callbacks can no longer be completed."""
    session = await begin()
    callback_id = await start_callback(session)
    await session.service.stop_execution(session.arn)
    with pytest.raises(ServiceError, match="already ended with status STOPPED") as caught:
        await session.service.send_callback_success(callback_id, "1")
    assert caught.value.retryable is False


async def test_timeout_fires_at_invocation_start(begin: Begin, clock: SkipClock) -> None:
    """A callback past its timeout is TIMED_OUT with Callback.Timeout when an invocation begins."""
    session = await begin()
    await start_callback(session, timeout=60)
    await session.service.end_invocation(session.arn, {"Status": "PENDING"})
    assert await session.service.next_wakeup(session.arn) == START + 60
    clock.advance(60)
    event = await session.service.begin_invocation(session.arn)
    [op] = [o for o in event["InitialExecutionState"]["Operations"] if o["Id"] == "cb"]
    assert op["Status"] == "TIMED_OUT"
    assert op["EndTimestamp"] == START_MS + 60_000
    error = {"ErrorType": "Callback.Timeout", "ErrorMessage": "Callback timed out"}
    assert op["CallbackDetails"]["Error"] == error
    [timed_out] = await events_of(session.service, session.arn, "CallbackTimedOut")
    assert timed_out["CallbackTimedOutDetails"] == {"Error": {"Payload": error, "Truncated": False}}


async def test_heartbeat_timeout_before_the_timeout_wins(begin: Begin, clock: SkipClock) -> None:
    """With a 10 s heartbeat timeout and a 60 s timeout and no heartbeat, it times out at 10 s."""
    session = await begin()
    await start_callback(session, timeout=60, heartbeat=10)
    clock.advance(10)
    [op] = (await session.send())["NewExecutionState"]["Operations"]  # fired at checkpoint time
    assert op["Status"] == "TIMED_OUT"
    assert op["CallbackDetails"]["Error"] == {
        "ErrorType": "Callback.Heartbeat",
        "ErrorMessage": "Callback timed out on heartbeat",
    }


async def test_heartbeats_push_the_deadline(begin: Begin, clock: SkipClock) -> None:
    """Each heartbeat moves the heartbeat deadline a full timeout on, unseen by the handler."""
    session = await begin()
    callback_id = await start_callback(session, timeout=60, heartbeat=10)
    clock.advance(8)
    await session.service.send_callback_heartbeat(callback_id)
    assert await session.service.next_wakeup(session.arn) == START + 18
    assert (await session.send())["NewExecutionState"]["Operations"] == []
    clock.advance(9)  # 17 s: the first deadline (10 s) has passed, the pushed one (18 s) not
    await session.send()
    assert (await session.operation("cb"))["Status"] == "STARTED"
    clock.advance(1)
    await session.send()
    op = await session.operation("cb")
    assert (op["Status"], op["CallbackDetails"]["Error"]["ErrorType"]) == (
        "TIMED_OUT",
        "Callback.Heartbeat",
    )


async def test_timeout_still_applies_with_heartbeats(begin: Begin, clock: SkipClock) -> None:
    """Heartbeats never extend the overall timeout."""
    session = await begin()
    callback_id = await start_callback(session, timeout=20, heartbeat=10)
    for _ in range(3):
        clock.advance(7)
        if clock.now() < START + 20:
            await session.service.send_callback_heartbeat(callback_id)
    await session.send()
    op = await session.operation("cb")
    assert op["CallbackDetails"]["Error"]["ErrorType"] == "Callback.Timeout"


async def test_a_heartbeat_without_a_heartbeat_timeout_is_accepted(begin: Begin) -> None:
    """A heartbeat for a callback with no heartbeat timeout changes nothing and succeeds."""
    session = await begin()
    callback_id = await start_callback(session)
    await session.service.send_callback_heartbeat(callback_id)
    assert await session.service.next_wakeup(session.arn) is None
    assert (await session.operation("cb"))["Status"] == "STARTED"


async def test_completing_after_the_deadline_records_the_timeout(
    begin: Begin, clock: SkipClock
) -> None:
    """A result sent after the deadline, before anything fired it, is refused as timed out."""
    session = await begin()
    callback_id = await start_callback(session, timeout=30)
    clock.advance(31)
    with pytest.raises(ServiceError, match="timed out") as caught:
        await session.service.send_callback_success(callback_id, "late")
    assert (caught.value.code, caught.value.status_code) == ("CallbackTimeoutException", 408)
    op = await session.operation("cb")
    assert (op["Status"], op["CallbackDetails"]["Error"]["ErrorType"]) == (
        "TIMED_OUT",
        "Callback.Timeout",
    )


async def test_callbacks_and_deadlines_survive_a_restart(tmp_path: Path) -> None:
    """A callback id and its pushed heartbeat deadline work after the SQLite store reopens."""
    path = tmp_path / "durable.sqlite3"
    clock = SkipClock(START)
    async with LocalDurableService(SqliteStore(path), clock) as service:
        arn = await service.start_execution("fn", None)
        event = await service.begin_invocation(arn)
        options = {"TimeoutSeconds": 300, "HeartbeatTimeoutSeconds": 30}
        start = update("cb", "CALLBACK", "START", CallbackOptions=options)
        response = await service.checkpoint(arn, event["CheckpointToken"], [start])
        callback_id = response["NewExecutionState"]["Operations"][0]["CallbackDetails"][
            "CallbackId"
        ]
        clock.advance(20)
        await service.send_callback_heartbeat(callback_id)
    async with LocalDurableService(SqliteStore(path), clock) as reopened:
        assert await reopened.next_wakeup(arn) == START + 50
        await reopened.send_callback_success(callback_id, '"approved"')
        [op] = [o for o in await reopened.list_operations(arn) if o["Id"] == "cb"]
    assert (op["Status"], op["CallbackDetails"]["Result"]) == ("SUCCEEDED", '"approved"')


async def test_runner_reinvokes_as_soon_as_a_callback_completes(
    service: LocalDurableService, clock: SkipClock
) -> None:
    """A suspended execution waiting on a callback is re-invoked at once when it completes."""
    callback_ids: asyncio.Queue[str] = asyncio.Queue()

    async def waits_for_approval(event: dict[str, Any]) -> dict[str, Any]:
        arn, token = event["DurableExecutionArn"], event["CheckpointToken"]
        ops = {op["Id"]: op for op in event["InitialExecutionState"]["Operations"]}
        if "cb" not in ops:
            start = update("cb", "CALLBACK", "START", CallbackOptions={"TimeoutSeconds": 3600})
            response = await service.checkpoint(arn, token, [start])
            [op] = response["NewExecutionState"]["Operations"]
            await callback_ids.put(op["CallbackDetails"]["CallbackId"])
            return {"Status": "PENDING"}
        if ops["cb"]["Status"] == "STARTED":
            return {"Status": "PENDING"}
        return {"Status": "SUCCEEDED", "Result": ops["cb"]["CallbackDetails"].get("Result")}

    async with LocalRunner(service, clock=clock) as runner:
        runner.register("fn", waits_for_approval)
        arn = await runner.start("fn", None)
        await service.send_callback_success(await callback_ids.get(), '"yes"')
        described = await runner.wait_for_result(arn, timeout=10)
    assert (described["Status"], described["Result"]) == ("SUCCEEDED", '"yes"')
    assert clock.now() == START  # woken by the result, not by the hour-long timeout
    assert await service.invocations(arn) == 2
