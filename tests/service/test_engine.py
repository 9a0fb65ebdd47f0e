"""The local engine over raw wire dicts: tokens, lifecycles, timers, paging and start."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest

from durable_async.service import DurableService, ServiceError
from durable_async.service.local import LocalDurableService, SkipClock, Store

from .helpers import START_MS, Begin, Session, update


async def test_service_satisfies_the_protocol(service: LocalDurableService) -> None:
    """The engine is a DurableService, so the SDK core can use it directly."""
    assert isinstance(service, DurableService)


async def test_start_creates_execution_operation_from_arn(service: LocalDurableService) -> None:
    """A started execution has a Lambda-shaped ARN and an EXECUTION operation named by its tail."""
    arn = await service.start_execution("orders", '{"id": 7}', name="order-7")
    prefix = "arn:aws:lambda:us-east-1:123456789012:function:orders:$LATEST"
    assert arn.startswith(f"{prefix}/durable-execution/order-7/")
    [execution] = await service.list_operations(arn)
    assert execution["Id"] == arn.rsplit("/", 1)[-1]
    assert execution["Type"] == "EXECUTION"
    assert execution["Status"] == "STARTED"
    assert execution["ExecutionDetails"] == {"InputPayload": '{"id": 7}'}
    described = await service.describe_execution(arn)
    assert described["Status"] == "RUNNING"
    assert described["StartTimestamp"] == START_MS


async def test_start_by_existing_name_returns_the_same_execution(
    service: LocalDurableService,
) -> None:
    """Starting a name that exists returns its ARN instead of a second execution."""
    first = await service.start_execution("fn", "1", name="again")
    second = await service.start_execution("fn", "2", name="again")
    assert first == second
    assert await service.find_execution("fn", "again") == first
    assert len(await service.list_executions("fn")) == 1


async def test_start_rejects_an_invalid_name(service: LocalDurableService) -> None:
    """An execution name outside the Lambda pattern is refused with a clear error."""
    with pytest.raises(ServiceError, match="not valid") as caught:
        await service.start_execution("fn", None, name="has spaces")
    assert caught.value.retryable is False


async def test_invocation_event_carries_token_and_state(begin: Begin) -> None:
    """begin_invocation returns the Lambda input event with a token and the EXECUTION op."""
    session = await begin()
    event = session.event
    assert event["DurableExecutionArn"] == session.arn
    assert event["CheckpointToken"]
    state = event["InitialExecutionState"]
    assert [op["Type"] for op in state["Operations"]] == ["EXECUTION"]
    assert state["NextMarker"] == ""
    assert await session.service.invocations(session.arn) == 1


async def test_each_checkpoint_rotates_the_token(begin: Begin) -> None:
    """Every call returns a new token, and the spent one is refused as retryable."""
    session = await begin()
    first = session.token
    await session.send()
    assert session.token
    assert session.token != first
    with pytest.raises(ServiceError, match="Invalid checkpoint token") as caught:
        await session.service.checkpoint(session.arn, first, [])
    assert caught.value.retryable is True
    assert caught.value.code == "InvalidParameterValueException"
    assert caught.value.status_code == 400


async def test_unknown_token_is_refused(begin: Begin) -> None:
    """A token the service never issued is refused as retryable."""
    session = await begin()
    with pytest.raises(ServiceError, match="Invalid checkpoint token") as caught:
        await session.service.checkpoint(session.arn, "bogus", [])
    assert caught.value.retryable is True


async def test_new_invocation_invalidates_the_previous_token(begin: Begin) -> None:
    """Beginning another invocation makes the earlier invocation's token stale."""
    session = await begin()
    await session.service.begin_invocation(session.arn)
    with pytest.raises(ServiceError, match="Invalid checkpoint token"):
        await session.send()


async def test_unknown_execution_is_not_found(service: LocalDurableService) -> None:
    """A call for an ARN the service does not know raises ResourceNotFoundException."""
    with pytest.raises(ServiceError, match="does not exist") as caught:
        await service.describe_execution("arn:aws:lambda:us-east-1:1:function:f:$LATEST/x/y/z")
    assert caught.value.code == "ResourceNotFoundException"


async def test_repeated_client_token_replays_the_response(begin: Begin) -> None:
    """A retried call with the same ClientToken and token gets the same answer, applied once."""
    session = await begin()
    service, token = session.service, session.token
    updates = [update("s1", "STEP", "START")]
    first = await service.checkpoint(session.arn, token, updates, client_token="c-1")
    again = await service.checkpoint(session.arn, token, updates, client_token="c-1")
    assert again == first
    assert await service.checkpoint_calls(session.arn) == 1


async def test_step_retry_ready_succeed_lifecycle(begin: Begin, clock: SkipClock) -> None:
    """A step goes STARTED, PENDING on RETRY, READY when due, then SUCCEEDED, counting attempts."""
    session = await begin()
    started = await session.send(update("s1", "STEP", "START", Name="charge", SubType="Step"))
    [op] = started["NewExecutionState"]["Operations"]
    assert (op["Status"], op["StepDetails"]["Attempt"]) == ("STARTED", 0)
    error = {"ErrorType": "Boom", "ErrorMessage": "failed"}
    retry = update("s1", "STEP", "RETRY", Error=error, StepOptions={"NextAttemptDelaySeconds": 5})
    [op] = (await session.send(retry))["NewExecutionState"]["Operations"]
    assert op["Status"] == "PENDING"
    assert op["StepDetails"] == {
        "Attempt": 1,
        "NextAttemptTimestamp": START_MS + 5000,
        "Error": error,
    }
    clock.advance(5)
    [op] = (await session.send())["NewExecutionState"]["Operations"]
    assert op["Status"] == "READY"
    await session.send(update("s1", "STEP", "START"))
    [op] = (await session.send(update("s1", "STEP", "SUCCEED", Payload='"ok"')))[
        "NewExecutionState"
    ]["Operations"]
    assert op["Status"] == "SUCCEEDED"
    assert op["StepDetails"] == {"Attempt": 2, "Result": '"ok"'}
    assert op["EndTimestamp"] == START_MS + 5000


async def test_pending_step_is_not_ready_before_its_time(begin: Begin, clock: SkipClock) -> None:
    """A refresh before NextAttemptTimestamp leaves the retried step PENDING and unreported."""
    session = await begin()
    retry = update("s1", "STEP", "RETRY", StepOptions={"NextAttemptDelaySeconds": 5})
    await session.send(update("s1", "STEP", "START"), retry)
    clock.advance(4)
    refreshed = await session.send()
    assert refreshed["NewExecutionState"]["Operations"] == []
    assert (await session.operation("s1"))["Status"] == "PENDING"


async def test_step_fail_records_the_error(begin: Begin) -> None:
    """FAIL ends a step as FAILED with its error and one finished attempt."""
    session = await begin()
    error = {"ErrorType": "ValueError", "ErrorMessage": "bad"}
    await session.send(update("s1", "STEP", "START"), update("s1", "STEP", "FAIL", Error=error))
    op = await session.operation("s1")
    assert op["Status"] == "FAILED"
    assert op["StepDetails"] == {"Attempt": 1, "Error": error}


async def test_wait_completes_when_due_at_checkpoint_time(begin: Begin, clock: SkipClock) -> None:
    """A WAIT stays STARTED until its end, and the first call after it reports it SUCCEEDED."""
    session = await begin()
    wait = update("w1", "WAIT", "START", WaitOptions={"WaitSeconds": 10})
    [op] = (await session.send(wait))["NewExecutionState"]["Operations"]
    assert op["WaitDetails"] == {"ScheduledEndTimestamp": START_MS + 10_000}
    assert await session.service.next_wakeup(session.arn) == START_MS / 1000 + 10
    clock.advance(9)
    assert (await session.send())["NewExecutionState"]["Operations"] == []
    clock.advance(1)
    [op] = (await session.send())["NewExecutionState"]["Operations"]
    assert (op["Id"], op["Status"], op["EndTimestamp"]) == ("w1", "SUCCEEDED", START_MS + 10_000)


async def test_due_wait_completes_at_invocation_start(begin: Begin, clock: SkipClock) -> None:
    """A wait that came due between invocations arrives SUCCEEDED in the next input event."""
    session = await begin()
    await session.send(update("w1", "WAIT", "START", WaitOptions={"WaitSeconds": 3}))
    await session.service.end_invocation(session.arn, {"Status": "PENDING"})
    clock.advance(3)
    event = await session.service.begin_invocation(session.arn)
    statuses = {op["Id"]: op["Status"] for op in event["InitialExecutionState"]["Operations"]}
    assert statuses["w1"] == "SUCCEEDED"


async def test_wait_cancel_ends_the_wait(begin: Begin) -> None:
    """CANCEL moves a started WAIT to CANCELLED and removes its timer."""
    session = await begin()
    await session.send(update("w1", "WAIT", "START", WaitOptions={"WaitSeconds": 60}))
    await session.send(update("w1", "WAIT", "CANCEL"))
    assert (await session.operation("w1"))["Status"] == "CANCELLED"
    assert await session.service.next_wakeup(session.arn) is None


async def test_context_lifecycle_and_children(begin: Begin) -> None:
    """A CONTEXT starts, holds children, and succeeds with its result and ReplayChildren."""
    session = await begin()
    child = update("c1-s", "STEP", "START", ParentId="c1")
    await session.send(update("c1", "CONTEXT", "START", SubType="RunInChildContext"), child)
    done = update(
        "c1", "CONTEXT", "SUCCEED", Payload="[1]", ContextOptions={"ReplayChildren": True}
    )
    await session.send(done)
    op = await session.operation("c1")
    assert op["Status"] == "SUCCEEDED"
    assert op["ContextDetails"] == {"Result": "[1]", "ReplayChildren": True}
    assert (await session.operation("c1-s"))["ParentId"] == "c1"


async def test_context_fail_records_the_error(begin: Begin) -> None:
    """FAIL ends a CONTEXT as FAILED with its error."""
    session = await begin()
    error = {"ErrorType": "ChildContextError", "ErrorMessage": "x"}
    await session.send(
        update("c1", "CONTEXT", "START"), update("c1", "CONTEXT", "FAIL", Error=error)
    )
    op = await session.operation("c1")
    assert (op["Status"], op["ContextDetails"]) == ("FAILED", {"Error": error})


async def test_callback_start_issues_a_callback_id(begin: Begin) -> None:
    """CALLBACK START records a CallbackId the caller can hand to another system."""
    session = await begin()
    [op] = (await session.send(update("cb", "CALLBACK", "START")))["NewExecutionState"][
        "Operations"
    ]
    assert op["Status"] == "STARTED"
    assert op["CallbackDetails"]["CallbackId"]
    assert await session.service.next_wakeup(session.arn) is None


async def test_execution_succeed_ends_checkpointing(begin: Begin) -> None:
    """An EXECUTION SUCCEED answers without a token, and no token works afterwards."""
    session = await begin()
    spent = session.token
    response = await session.send(
        update(session.execution_id, "EXECUTION", "SUCCEED", Payload="42")
    )
    assert "CheckpointToken" not in response
    [op] = response["NewExecutionState"]["Operations"]
    assert (op["Type"], op["Status"]) == ("EXECUTION", "SUCCEEDED")
    described = await session.service.describe_execution(session.arn)
    assert (described["Status"], described["Result"]) == ("SUCCEEDED", "42")
    with pytest.raises(ServiceError, match="has ended") as caught:
        await session.service.checkpoint(session.arn, spent, [])
    assert caught.value.retryable is True


async def test_checkpointed_result_survives_an_empty_returned_result(begin: Begin) -> None:
    """A SUCCEEDED output with Result "" keeps the result checkpointed by EXECUTION SUCCEED."""
    session = await begin()
    await session.send(update(session.execution_id, "EXECUTION", "SUCCEED", Payload='"big"'))
    await session.service.end_invocation(session.arn, {"Status": "SUCCEEDED", "Result": ""})
    described = await session.service.describe_execution(session.arn)
    assert (described["Status"], described["Result"]) == ("SUCCEEDED", '"big"')


async def test_execution_fail_records_the_error(begin: Begin) -> None:
    """An EXECUTION FAIL ends the execution FAILED with its error."""
    session = await begin()
    error = {"ErrorType": "RuntimeError", "ErrorMessage": "no"}
    await session.send(update(session.execution_id, "EXECUTION", "FAIL", Error=error))
    described = await session.service.describe_execution(session.arn)
    assert (described["Status"], described["Error"]) == ("FAILED", error)


async def test_outputs_end_the_execution(begin: Begin) -> None:
    """A SUCCEEDED output ends the execution with its Result and invalidates the token."""
    session = await begin()
    await session.service.end_invocation(session.arn, {"Status": "SUCCEEDED", "Result": '"r"'})
    described = await session.service.describe_execution(session.arn)
    assert (described["Status"], described["Result"]) == ("SUCCEEDED", '"r"')
    with pytest.raises(ServiceError, match="Invalid checkpoint token"):
        await session.send()


async def test_failed_output_ends_the_execution(begin: Begin) -> None:
    """A FAILED output ends the execution with its Error."""
    session = await begin()
    error = {"ErrorType": "E", "ErrorMessage": "m"}
    await session.service.end_invocation(session.arn, {"Status": "FAILED", "Error": error})
    described = await session.service.describe_execution(session.arn)
    assert (described["Status"], described["Error"]) == ("FAILED", error)


async def test_raised_invocation_leaves_the_execution_running(begin: Begin) -> None:
    """An invocation that raised is recorded but the execution stays RUNNING for a retry."""
    session = await begin()
    await session.service.end_invocation(session.arn, None, error="worker crashed")
    assert (await session.service.describe_execution(session.arn))["Status"] == "RUNNING"
    with pytest.raises(ServiceError, match="no invocation"):
        await session.send()


async def test_pending_with_nothing_pending_is_refused(begin: Begin) -> None:
    """PENDING with no pending operation is a retryable invalid output; the execution runs on."""
    session = await begin()
    with pytest.raises(ServiceError, match="no pending operations") as caught:
        await session.service.end_invocation(session.arn, {"Status": "PENDING"})
    assert caught.value.retryable is True
    assert (await session.service.describe_execution(session.arn))["Status"] == "RUNNING"


async def test_stop_execution_ends_it_as_stopped(begin: Begin) -> None:
    """StopDurableExecution ends a running execution as STOPPED and refuses a second stop."""
    session = await begin()
    stopped = await session.service.stop_execution(session.arn, "operator said so")
    assert stopped["StopTimestamp"] == START_MS
    described = await session.service.describe_execution(session.arn)
    assert described["Status"] == "STOPPED"
    assert described["Error"]["ErrorMessage"] == "operator said so"
    with pytest.raises(ServiceError, match="already ended") as caught:
        await session.service.stop_execution(session.arn)
    assert caught.value.code == "ResourceConflictException"


async def test_checkpoint_latency_is_real_time(store: Store, clock: SkipClock) -> None:
    """checkpoint_latency delays answers on the loop but never moves the virtual clock."""
    service = LocalDurableService(store, clock, checkpoint_latency=0.001)
    arn = await service.start_execution("fn", None)
    event = await service.begin_invocation(arn)
    response = await service.checkpoint(arn, event["CheckpointToken"], [])
    assert response["CheckpointToken"]
    assert clock.now() == START_MS / 1000


async def test_checkpoint_calls_are_counted(begin: Begin) -> None:
    """Each accepted call counts once, refreshes included; refused calls do not count."""
    session = await begin()
    await session.send(update("s1", "STEP", "START"))
    await session.send()
    with pytest.raises(ServiceError):
        await session.send(update("s1", "STEP", "START"))
    assert await session.service.checkpoint_calls(session.arn) == 2


async def test_input_that_is_not_json_is_encoded(service: LocalDurableService) -> None:
    """A non-JSON input string is stored as a JSON string, as the reference emulator does."""
    arn = await service.start_execution("fn", "hello")
    described = await service.describe_execution(arn)
    assert json.loads(described["InputPayload"]) == "hello"


async def test_wait_for_change_reports_changes_and_deadlines(
    service: LocalDurableService, clock: SkipClock
) -> None:
    """wait_for_change returns True on the execution's next change and False at the deadline."""
    arn = await service.start_execution("fn", None)
    assert await service.wait_for_change(arn, clock.now() + 30) is False
    assert clock.now() == START_MS / 1000 + 30
    async with asyncio.TaskGroup() as group:
        waiter = group.create_task(service.wait_for_change(arn))
        await asyncio.sleep(0)
        await service.stop_execution(arn)
    assert waiter.result() is True


# Text that cannot be stored as it is, and values of the wrong shape: nothing wedges.

# os.fsdecode(b"/data/report-\xff.csv"): the byte that is not UTF-8 becomes a lone surrogate.
UNDECODABLE = "/data/report-\udcff.csv"
ESCAPED = "/data/report-\\udcff.csv"


async def test_lone_surrogates_through_the_engine_api_are_stored_escaped(
    service: LocalDurableService, store: Store
) -> None:
    """Every text the engine API takes is stored with lone surrogates escaped, then read back."""
    arn = await service.start_execution("fn", UNDECODABLE)
    token = (await service.begin_invocation(arn))["CheckpointToken"]
    error = {"ErrorType": "FileNotFoundError", "ErrorMessage": UNDECODABLE}
    callback = update("cb", "CALLBACK", "START")
    failed_step = [update("s1", "STEP", "START", Name=UNDECODABLE)]
    failed_step.append(update("s1", "STEP", "FAIL", Error={**error, "StackTrace": [UNDECODABLE]}))
    response = await service.checkpoint(arn, token, [*failed_step, callback])
    callback_id = response["NewExecutionState"]["Operations"][-1]["CallbackDetails"]["CallbackId"]
    await service.send_callback_failure(callback_id, error)
    await service.end_invocation(arn, {"Status": "SUCCEEDED", "Result": json.dumps(UNDECODABLE)})

    ops = {op["Id"]: op for op in await service.list_operations(arn)}
    escaped_error = {"ErrorType": "FileNotFoundError", "ErrorMessage": ESCAPED}
    assert ops[arn.rsplit("/", 1)[-1]]["ExecutionDetails"]["InputPayload"] == json.dumps(ESCAPED)
    assert ops["s1"]["Name"] == ESCAPED
    assert ops["s1"]["StepDetails"]["Error"] == {**escaped_error, "StackTrace": [ESCAPED]}
    assert ops["cb"]["CallbackDetails"]["Error"] == escaped_error
    described = await service.describe_execution(arn)
    assert described["Status"] == "SUCCEEDED"
    assert json.loads(described["Result"]) == UNDECODABLE  # the JSON escape decodes back
    events = (await service.get_history(arn))["Events"]
    json.dumps(events, ensure_ascii=False).encode()  # every event encodes as UTF-8


async def test_a_failed_invocation_with_a_lone_surrogate_is_recorded(
    service: LocalDurableService,
) -> None:
    """An invocation error holding a lone surrogate is recorded, so the runner can go on."""
    arn = await service.start_execution("fn", None)
    await service.begin_invocation(arn)
    await service.end_invocation(
        arn, None, error={"ErrorType": "OSError", "ErrorMessage": UNDECODABLE}
    )
    await service.fail_execution(arn, UNDECODABLE)

    described = await service.describe_execution(arn)
    assert described["Error"] == {"ErrorType": "Error", "ErrorMessage": ESCAPED}
    [completed] = [
        e
        for e in (await service.get_history(arn))["Events"]
        if e["EventType"] == "InvocationCompleted"
    ]
    assert completed["InvocationCompletedDetails"]["Error"]["Payload"]["ErrorMessage"] == ESCAPED


@pytest.mark.parametrize(
    ("output", "error_type"),
    [
        pytest.param(
            {"Status": "SUCCEEDED", "Result": {"not": "text"}},
            "InvalidInvocationOutput",
            id="result-dict",
        ),
        pytest.param(
            {"Status": "SUCCEEDED", "Result": 7}, "InvalidInvocationOutput", id="result-number"
        ),
        pytest.param(
            {"Status": "FAILED", "Error": ["x"]}, "InvalidInvocationOutput", id="error-list"
        ),
        pytest.param(
            {"Status": "FAILED", "Error": {"ErrorType": 5}},
            "InvalidInvocationOutput",
            id="error-type-number",
        ),
        pytest.param({"Status": ["SUCCEEDED"]}, "InvalidInvocationOutput", id="status-list"),
    ],
)
async def test_malformed_outputs_fail_the_execution_instead_of_wedging_it(
    begin: Begin, output: dict[str, object], error_type: str
) -> None:
    """An output of the wrong shape ends the execution FAILED with a clear error, not RUNNING."""
    session = await begin()
    await session.service.end_invocation(session.arn, output)
    described = await session.service.describe_execution(session.arn)
    assert described["Status"] == "FAILED"
    assert described["Error"]["ErrorType"] == error_type


async def test_error_objects_keep_their_four_members_and_refuse_wrong_types(
    begin: Begin,
) -> None:
    """Members an ErrorObject does not have are dropped; a member of the wrong type is refused."""
    session = await begin()
    first = await start_callback_id(session, "cb1")
    second = await start_callback_id(session, "cb2")
    extra = {"ErrorType": "E", "ErrorMessage": "m", "Nested": [[["deep"]]], "ErrorData": "d"}
    await session.service.send_callback_failure(first, extra)
    with pytest.raises(ServiceError, match="ErrorMessage must be a string") as caught:
        await session.service.send_callback_failure(second, {"ErrorMessage": {"a": 1}})
    with pytest.raises(ServiceError, match="StackTrace must be a list of strings"):
        await session.service.stop_execution(session.arn, {"StackTrace": [1, 2]})

    ops = {op["Id"]: op for op in await session.service.list_operations(session.arn)}
    assert ops["cb1"]["CallbackDetails"]["Error"] == {
        "ErrorType": "E",
        "ErrorMessage": "m",
        "ErrorData": "d",
    }
    assert ops["cb2"]["Status"] == "STARTED"
    assert (caught.value.code, caught.value.status_code) == ("InvalidParameterValueException", 400)
    assert (await session.service.describe_execution(session.arn))["Status"] == "RUNNING"


async def start_callback_id(session: Session, operation_id: str) -> str:
    response = await session.send(update(operation_id, "CALLBACK", "START"))
    [op] = [o for o in response["NewExecutionState"]["Operations"] if o["Id"] == operation_id]
    return str(op["CallbackDetails"]["CallbackId"])


async def test_names_and_arns_that_cannot_be_stored_name_nothing(
    service: LocalDurableService,
) -> None:
    """Look-ups by text holding a lone surrogate answer 'not found' or empty, never crash."""
    arn = await service.start_execution("fn", None)
    bad_arn = arn + "\udcff"
    with pytest.raises(ServiceError) as caught:
        await service.describe_execution(bad_arn)
    assert caught.value.code == "ResourceNotFoundException"
    with pytest.raises(ServiceError) as checkpoint:
        await service.checkpoint(bad_arn, "token", [])
    assert checkpoint.value.code == "ResourceNotFoundException"
    assert await service.list_executions("fn\udcff") == []
    assert await service.find_execution("fn", "name\udcff") is None
    with pytest.raises(ServiceError, match="not valid"):
        await service.start_execution("fn\udcff", None)
    forged = base64.b64encode(json.dumps([bad_arn, "cb", "0" * 32]).encode()).decode()
    with pytest.raises(ServiceError) as callback:
        await service.send_callback_success(forged, "1")
    assert callback.value.code == "ResourceNotFoundException"


async def test_a_client_token_outside_the_model_is_refused(begin: Begin) -> None:
    """ClientToken is 1 to 64 printable ASCII characters, as Lambda's model has it."""
    session = await begin()
    for bad in ("", "a b", "x" * 65, "é"):
        with pytest.raises(ServiceError, match="ClientToken"):
            await session.service.checkpoint(session.arn, session.token, [], bad)
    await session.service.checkpoint(session.arn, session.token, [], "c" * 64)


async def test_concurrent_starts_of_one_name_make_one_execution(
    service: LocalDurableService,
) -> None:
    """Starts of the same name at once all get the one execution; other names are not held up."""
    same = [service.start_execution("fn", str(n), name="shared") for n in range(20)]
    others = [service.start_execution("fn", str(n), name=f"other-{n}") for n in range(20)]
    arns = await asyncio.gather(*same, *others)

    assert len(set(arns[:20])) == 1
    assert len(set(arns[20:])) == 20
    assert len(await service.list_executions("fn")) == 21


async def test_errors_sent_from_outside_are_bounded_like_results(begin: Begin) -> None:
    """A callback failure's or a stop's error over 256 KB is refused, as a result would be."""
    session = await begin()
    callback_id = await start_callback_id(session, "cb")
    huge = {"ErrorType": "E", "ErrorMessage": "x" * (256 * 1024)}
    with pytest.raises(ServiceError, match="at most 262144 bytes"):
        await session.service.send_callback_failure(callback_id, huge)
    with pytest.raises(ServiceError, match="at most 262144 bytes"):
        await session.service.stop_execution(session.arn, huge)
    assert (await session.operation("cb"))["Status"] == "STARTED"
    assert (await session.service.describe_execution(session.arn))["Status"] == "RUNNING"
