"""The replay check: changed code against a recorded history, reporting the first nondeterminism."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from durable_async import DurableContext, Duration, durable_execution
from durable_async._execution import DurableHandler
from durable_async._testkit.events import events_to_operations
from durable_async.testing import (
    DurableTestRunner,
    ExecutionStatus,
    RecordedExecution,
    ReplayReport,
    check_replay,
)

RAN: list[str] = []


def _step(name: str, value: Any) -> Any:
    def body(_: Any) -> Any:
        RAN.append(name)
        return value

    return body


@durable_execution
async def v1(event: Any, ctx: DurableContext) -> int:
    a = await ctx.step(_step("reserve", 1), name="reserve")
    await ctx.wait(Duration.from_hours(1), name="cool-off")
    b = await ctx.step(_step("ship", 2), name="ship")
    return a + b


@durable_execution
async def renamed(event: Any, ctx: DurableContext) -> int:
    a = await ctx.step(_step("reserve", 1), name="reserve-stock")
    await ctx.wait(Duration.from_hours(1), name="cool-off")
    return a


@durable_execution
async def retyped(event: Any, ctx: DurableContext) -> int:
    await ctx.wait(Duration.from_hours(1), name="reserve")
    return 0


@durable_execution
async def appended(event: Any, ctx: DurableContext) -> int:
    a = await ctx.step(_step("reserve", 1), name="reserve")
    await ctx.wait(Duration.from_hours(1), name="cool-off")
    b = await ctx.step(_step("ship", 2), name="ship")
    await ctx.step(_step("notify", 0), name="notify")
    return a + b


@durable_execution
async def changed_after_the_wait(event: Any, ctx: DurableContext) -> int:
    a = await ctx.step(_step("reserve", 1), name="reserve")
    await ctx.wait(Duration.from_hours(1), name="cool-off")
    b = await ctx.step(_step("ship", 2), name="ship-by-air")
    return a + b


async def _record(
    handler: DurableHandler[Any, Any], *, until: str | None = None, count: int = 1
) -> Any:
    """Record an ended execution, or one still running once ``count`` operations ``until`` are."""
    async with DurableTestRunner(handler, skip_time=until is None) as runner:
        if until is None:
            result = await runner.run()
            return await runner.record(result.arn)
        arn = await runner.start()
        while True:
            changed = runner.service.watch(arn)
            operations = (await runner.describe(arn)).operations
            if sum(op.name == until for op in operations) >= count:
                break
            await changed.wait()
        return await runner.record(arn)


async def test_the_same_code_replays_compatibly_without_running_steps() -> None:
    """Unchanged code replays the whole history; no step function runs during the check."""
    recorded = await _record(v1)
    RAN.clear()
    report = await check_replay(v1, recorded)
    assert report.compatible
    assert str(report) == "compatible"
    assert report.status == "SUCCEEDED"
    assert report.new_operations == []
    assert RAN == []
    report.assert_compatible()


@pytest.mark.parametrize("until", [None, "cool-off"], ids=["ended", "running"])
async def test_a_renamed_step_is_the_first_nondeterminism(until: str | None) -> None:
    """Renaming the first step is reported with its id, path, and both names."""
    recorded = await _record(v1, until=until)
    report = await check_replay(renamed, recorded)
    assert not report.compatible
    found = report.nondeterminism
    assert found is not None
    reserve = next(op for op in recorded.operations if op.get("Name") == "reserve")
    assert found.operation_id == reserve["Id"]
    assert found.path == "reserve"
    assert found.recorded == "name 'reserve'"
    assert found.asked == "name 'reserve-stock'"
    assert "reserve-stock" in found.message
    assert str(report) == (
        "nondeterminism at reserve: recorded name 'reserve', the code asks for name 'reserve-stock'"
    )
    with pytest.raises(AssertionError, match=r"not compatible.*reserve-stock"):
        report.assert_compatible()


async def test_a_changed_type_names_type_and_subtype() -> None:
    """A wait where a step was recorded differs in type and subtype."""
    report = await check_replay(retyped, await _record(v1))
    assert report.nondeterminism is not None
    assert report.nondeterminism.recorded == "type 'STEP', subtype 'Step'"
    assert report.nondeterminism.asked == "type 'WAIT', subtype 'Wait'"


async def test_new_operations_break_an_ended_history_but_extend_a_running_one() -> None:
    """Code that does more than an ended execution did is incompatible; a running one may go on."""
    ended = await check_replay(appended, await _record(v1))
    assert not ended.compatible
    assert ended.nondeterminism is None
    assert ended.new_operations == ["notify"]
    assert "never started: ['notify']" in str(ended)
    running = await check_replay(appended, await _record(v1, until="cool-off"))
    assert running.compatible
    assert running.status == "PENDING"  # the wait never ends during a check


async def test_a_change_past_a_running_histories_frontier_is_compatible() -> None:
    """Code changed after where the execution is now replays compatibly: it has not got there."""
    RAN.clear()
    report = await check_replay(changed_after_the_wait, await _record(v1, until="cool-off"))
    assert report.compatible
    assert RAN == ["reserve"]  # only the recording ran it


@durable_execution
async def fan_out(event: Any, ctx: DurableContext) -> Any:
    async def item(c: DurableContext, x: int, i: int, _: Any) -> int:
        await c.wait(Duration.from_hours(1), name="queue")
        return await c.step(_step("price", x), name="price")

    return (await ctx.map([1, 2, 3], item, name="price-lines")).get_results()


@durable_execution
async def fan_out_changed(event: Any, ctx: DurableContext) -> Any:
    async def item(c: DurableContext, x: int, i: int, _: Any) -> int:
        await c.wait(Duration.from_hours(1), name="queue" if i != 2 else "line-up")
        return await c.step(_step("price", x), name="price")

    return (await ctx.map([1, 2, 3], item, name="price-lines")).get_results()


async def test_nondeterminism_inside_a_map_item_names_its_path() -> None:
    """A changed wait in item 2 of a map still in flight is found, with its full path."""
    recorded = await _record(fan_out, until="queue", count=3)
    report = await check_replay(fan_out_changed, recorded)
    assert report.nondeterminism is not None
    assert report.nondeterminism.path == "price-lines/map-item-2/queue"
    assert report.nondeterminism.asked == "name 'line-up'"
    assert (await check_replay(fan_out, recorded)).compatible


async def test_recordings_round_trip_through_json(tmp_path: Path) -> None:
    """A recording saved as JSON and loaded back checks the same."""
    recorded = await _record(v1)
    file = tmp_path / "v1.json"
    file.write_text(recorded.to_json())
    loaded = RecordedExecution.from_json(file.read_text())
    assert loaded == recorded
    assert loaded.status is ExecutionStatus.SUCCEEDED
    assert (await check_replay(renamed, loaded)).nondeterminism is not None


async def test_the_runner_checks_its_own_executions() -> None:
    """runner.check_replay(arn, handler) records the runner's execution and replays it."""
    async with DurableTestRunner(v1) as runner:
        result = await runner.run()
        same = await runner.check_replay(result.arn)
        other = await runner.check_replay(result.arn, renamed)
    assert isinstance(same, ReplayReport)
    assert same.compatible
    assert not other.compatible


async def test_code_that_waits_on_plain_io_is_bounded_by_the_timeout() -> None:
    """A handler awaiting something that never comes fails the check with TimeoutError."""

    @durable_execution
    async def stuck(event: Any, ctx: DurableContext) -> None:
        await ctx.step(_step("reserve", 1), name="reserve")
        await asyncio.Event().wait()

    recorded = await _record(v1)
    with pytest.raises(TimeoutError, match=r"did not settle within 0\.2 s"):
        await check_replay(stuck, recorded, timeout=0.2)


def test_events_make_pending_retries_and_skip_unknown_events() -> None:
    """A failed attempt with a next-attempt delay is PENDING; unknown event types are skipped."""
    events = [
        {"EventType": "StepStarted", "Id": "s", "Name": "n", "SubType": "Step",
         "EventTimestamp": 1000, "StepStartedDetails": {}},
        {"EventType": "StepFailed", "Id": "s", "Name": "n", "SubType": "Step",
         "EventTimestamp": 2000, "StepFailedDetails": {
             "Error": {"Payload": {"ErrorType": "E", "ErrorMessage": "m"}},
             "RetryDetails": {"CurrentAttempt": 1, "NextAttemptDelaySeconds": 5}}},
        {"EventType": "SomethingNew", "Id": "x"},
        {"EventType": "InvocationCompleted", "EventTimestamp": 2000},
    ]  # fmt: skip
    (step,) = events_to_operations(events)
    assert step["Status"] == "PENDING"
    assert step["StepDetails"]["NextAttemptTimestamp"] == 7000
    assert step["StepDetails"]["Attempt"] == 1
    assert "EndTimestamp" not in step


Program = list[tuple[str, str]]
programs = st.lists(
    st.tuples(st.sampled_from(["step", "wait", "context"]), st.sampled_from("abcde")),
    min_size=1,
    max_size=6,
)


def _handler(program: Program) -> DurableHandler[Any, Any]:
    """A handler that runs ``program``'s operations in order: steps, waits, child contexts."""

    async def run(event: Any, ctx: DurableContext) -> None:
        for kind, name in program:
            if kind == "step":
                await ctx.step(lambda _, value=name: value, name=name)
            elif kind == "wait":
                await ctx.wait(Duration.from_seconds(5), name=name)
            else:
                await ctx.run_in_child_context(
                    lambda child: child.step(lambda _: 0, name="inner"), name=name
                )

    return durable_execution(run)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=programs, data=st.data())
async def test_the_first_changed_operation_is_the_one_reported(
    program: Program, data: st.DataObject
) -> None:
    """Any program replays compatibly on itself; changing operation k is reported at k."""
    recorded = await _record(_handler(program))
    assert (await check_replay(_handler(program), recorded)).compatible
    k = data.draw(st.integers(0, len(program) - 1))
    kind, name = program[k]
    other_kind = data.draw(st.sampled_from(["step", "wait", "context"]))
    other_name = data.draw(st.sampled_from("abcdez"))
    assume((other_kind, other_name) != (kind, name))
    changed = [*program[:k], (other_kind, other_name), *program[k + 1 :]]
    report = await check_replay(_handler(changed), recorded)
    assert report.nondeterminism is not None
    assert report.nondeterminism.path == name
    if other_name != name:
        assert f"name '{other_name}'" in report.nondeterminism.asked
    if other_kind != kind:
        assert "type" in report.nondeterminism.recorded
