"""Plugin hooks side by side with the reference SDK: the same handler, the same hook sequence.

Each scenario is one handler written for both SDKs (the reference's sync, ours async), run with a
recording plugin factory on each SDK's in-process runner (the reference's
``DurableFunctionTestRunner``, our ``DurableTestRunner``; both skip time). The normalized hook
sequences (see ``tests/plugin_recording.py``) must be equal per invocation. Where the reference
runs branches on threads of their own (map, parallel), the order across branches is not defined,
so each operation's own hooks are compared, and the order rules are asserted on ours.

An operation that ended while the execution was suspended (a wait that elapsed, a chained invoke
that finished) is reported when the next invocation replays it: both services name it in the
invocation's ``UpdatedOperationIds``. The one difference is an answered callback, which the
reference's emulator leaves out of those ids and our local service (as Lambda) lists.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Callable
from typing import Any

from aws_durable_execution_sdk_python import DurableContext as RefContext
from aws_durable_execution_sdk_python import durable_execution as ref_durable_execution
from aws_durable_execution_sdk_python.config import ChildConfig as RefChildConfig
from aws_durable_execution_sdk_python.config import CompletionConfig as RefCompletionConfig
from aws_durable_execution_sdk_python.config import Duration as RefDuration
from aws_durable_execution_sdk_python.config import MapConfig as RefMapConfig
from aws_durable_execution_sdk_python.config import StepConfig as RefStepConfig
from aws_durable_execution_sdk_python.retries import RetryStrategyConfig as RefRetryStrategyConfig
from aws_durable_execution_sdk_python.retries import (
    create_retry_strategy as ref_create_retry_strategy,
)
from aws_durable_execution_sdk_python.waits import (
    WaitForConditionConfig as RefWaitForConditionConfig,
)
from aws_durable_execution_sdk_python.waits import (
    WaitForConditionDecision as RefWaitForConditionDecision,
)
from aws_durable_execution_sdk_python_testing.runner import DurableFunctionTestRunner

from durable_async import (
    ChildConfig,
    CompletionConfig,
    DurableContext,
    Duration,
    MapConfig,
    StepConfig,
    WaitForConditionConfig,
    WaitForConditionDecision,
    durable_execution,
)
from durable_async.retries import RetryStrategyConfig, create_retry_strategy
from durable_async.testing import DurableTestResult, DurableTestRunner
from tests import plugin_recording
from tests.plugin_recording import Event, RecordingFactory, per_operation, without_ends_of
from tests.side_by_side import History, our_history

# Retried with a 1 s delay (skipped), at most three attempts.
REF_RETRY = RefStepConfig(
    retry_strategy=ref_create_retry_strategy(
        RefRetryStrategyConfig(max_attempts=3, initial_delay=RefDuration.from_seconds(1))
    )
)
RETRY = StepConfig(
    retry_strategy=create_retry_strategy(
        RetryStrategyConfig(max_attempts=3, initial_delay=Duration.from_seconds(1))
    )
)
REF_NO_RETRY = RefStepConfig(
    retry_strategy=ref_create_retry_strategy(RefRetryStrategyConfig(max_attempts=1))
)
NO_RETRY = StepConfig(retry_strategy=create_retry_strategy(RetryStrategyConfig(max_attempts=1)))


# -- running both SDKs ---------------------------------------------------------------------------

Callback = tuple[str, Any]  # (callback name, the JSON value it is answered with)


def ref_run(
    handler: Any,
    factory: RecordingFactory,
    *,
    callbacks: tuple[Callback, ...] = (),
    functions: dict[str, Callable[..., Any]] | None = None,
) -> tuple[str, History]:
    """Run a reference handler on its in-process runner; return its status and history.

    Each callback is answered once the invocation that created it has ended (suspended).
    """
    runner = DurableFunctionTestRunner(handler, poll_interval=0.01)
    try:
        for name, fn in (functions or {}).items():
            runner.register_function(name, fn)
        arn = runner.run_async(input=json.dumps({}), execution_timeout=60)
        for count, (name, value) in enumerate(callbacks, 1):
            callback_id = runner.wait_for_callback(arn, name=name, timeout=30)
            suspended = threading.Event()
            factory.when_ended(count, suspended.set)
            assert suspended.wait(30)
            runner.send_callback_success(callback_id, json.dumps(value).encode())
        result = runner.wait_for_result(arn, timeout=60)
    finally:
        runner.close()  # type: ignore[no-untyped-call]
        runner._scheduler._loop.close()  # the reference runner leaves its loop open
    history = sorted(
        (
            op.operation_id,
            op.parent_id,
            op.operation_type.value,
            getattr(op.sub_type, "value", op.sub_type),
            op.name,
            op.status.value,
        )
        for op in result.get_all_operations()
    )
    return result.status.value, history


async def our_run(
    handler: Any,
    factory: RecordingFactory,
    *,
    callbacks: tuple[Callback, ...] = (),
    functions: dict[str, Callable[..., Any]] | None = None,
) -> tuple[str, History, DurableTestResult]:
    """Run our handler on DurableTestRunner; return its status, history and result."""
    async with DurableTestRunner(handler, skip_time=True) as runner:
        for name, fn in (functions or {}).items():
            runner.register_function(name, fn)
        arn = await runner.start(input={})
        for count, (name, value) in enumerate(callbacks, 1):
            callback_id = await runner.wait_for_callback(arn, name)
            suspended = asyncio.Event()
            factory.when_ended(count, suspended.set)
            await asyncio.wait_for(suspended.wait(), 30)
            await runner.send_callback_success(callback_id, value)
        result = await runner.wait_for_result(arn, timeout=30)
    return result.status.value, our_history(result), result


async def side_by_side(
    ref_handler: Callable[[RecordingFactory], Any],
    our_handler: Callable[[RecordingFactory], Any],
    **drive: Any,
) -> tuple[RecordingFactory, RecordingFactory, DurableTestResult]:
    """Build and run both handlers with recording plugins; their outcomes must agree."""
    ref, ours = plugin_recording.reference(), plugin_recording.ours()
    ref_status, ref_history = ref_run(ref_handler(ref), ref, **drive)
    our_status, history, result = await our_run(our_handler(ours), ours, **drive)
    assert (our_status, history) == (ref_status, ref_history)
    return ref, ours, result


def ended_while_suspended(factory: RecordingFactory) -> set[str]:
    """Operations the reference reported as ended at an invocation's start (UpdatedOperationIds)."""
    return {op_id for info in factory.start_infos[1:] for op_id in info.updated_operations}


def assert_same(ours: RecordingFactory, ref: RecordingFactory) -> None:
    """Equal hook sequences per invocation, and equal newest statuses per changed operation."""
    assert ours.events() == ref.events()
    assert ours.changes() == ref.changes()


def assert_same_per_operation(ours: RecordingFactory, ref: RecordingFactory) -> None:
    """Equal invocation hooks, and equal hooks per operation, per invocation (branch order free)."""
    assert [per_operation(i) for i in ours.events()] == [per_operation(i) for i in ref.events()]
    assert ours.changes() == ref.changes()


def assert_children_end_first(ours: RecordingFactory, result: DurableTestResult) -> None:
    """In each invocation, an operation's end hook comes after its descendants' end hooks."""
    parent = {op.id: op.parent_id for op in result.operations}
    for events in ours.events():
        position = {e[1]: i for i, e in enumerate(events) if e[0] == "on_operation_end"}
        for op_id, at in position.items():
            above = parent.get(op_id)
            while above is not None:
                assert position.get(above, at + 1) > at, (op_id, above)
                above = parent.get(above)


def ends(events: list[list[Event]]) -> list[str]:
    """Every operation end hook's operation id, over all invocations."""
    return [e[1] for invocation in events for e in invocation if e[0] == "on_operation_end"]


# -- steps ---------------------------------------------------------------------------------------


def ref_steps(factory: RecordingFactory) -> Any:
    @ref_durable_execution(plugins=[factory])
    def handler(event: Any, ctx: RefContext) -> Any:
        a = ctx.step(lambda _: 1, name="a")
        return ctx.step(lambda _: a + 1, name="b")

    return handler


def our_steps(factory: RecordingFactory) -> Any:
    @durable_execution(plugins=[factory])
    async def handler(event: Any, ctx: DurableContext) -> Any:
        a = await ctx.step(lambda _: 1, name="a")
        return await ctx.step(lambda _: a + 1, name="b")

    return handler


async def test_steps_that_succeed_report_as_the_reference_does() -> None:
    """Two steps: start, user function start/end, end per step, in one invocation."""
    ref, ours, _ = await side_by_side(ref_steps, our_steps)
    assert_same(ours, ref)
    assert [e[0] for e in ours.events()[0]] == [
        "on_invocation_start",
        *["on_operation_start", "on_user_function_start", "on_user_function_end"],
        "on_operation_end",
        *["on_operation_start", "on_user_function_start", "on_user_function_end"],
        "on_operation_end",
        "on_invocation_end",
    ]


def ref_failing(factory: RecordingFactory) -> Any:
    @ref_durable_execution(plugins=[factory])
    def handler(event: Any, ctx: RefContext) -> Any:
        ctx.step(lambda _: 1, name="fine")

        def boom(_: Any) -> None:
            raise ValueError("no")

        ctx.step(boom, name="boom", config=REF_NO_RETRY)

    return handler


def our_failing(factory: RecordingFactory) -> Any:
    @durable_execution(plugins=[factory])
    async def handler(event: Any, ctx: DurableContext) -> Any:
        await ctx.step(lambda _: 1, name="fine")

        def boom(_: Any) -> None:
            raise ValueError("no")

        await ctx.step(boom, name="boom", config=NO_RETRY)

    return handler


async def test_a_failing_step_fails_the_execution_as_in_the_reference() -> None:
    """A step that fails without retries: FAILED user function, FAILED end, FAILED invocation."""
    ref, ours, _ = await side_by_side(ref_failing, our_failing)
    assert_same(ours, ref)
    last = ours.events()[-1]
    assert last[-1] == ("on_invocation_end", "FAILED")
    assert [e[-1] for e in last if e[0] == "on_user_function_end"] == ["SUCCEEDED", "FAILED"]


def ref_retry(factory: RecordingFactory) -> Any:
    tries = [0]

    @ref_durable_execution(plugins=[factory])
    def handler(event: Any, ctx: RefContext) -> Any:
        def flaky(_: Any) -> int:
            tries[0] += 1
            if tries[0] < 3:
                raise ValueError(f"try {tries[0]}")
            return tries[0]

        return ctx.step(flaky, name="flaky", config=REF_RETRY)

    return handler


def our_retry(factory: RecordingFactory) -> Any:
    tries = [0]

    @durable_execution(plugins=[factory])
    async def handler(event: Any, ctx: DurableContext) -> Any:
        def flaky(_: Any) -> int:
            tries[0] += 1
            if tries[0] < 3:
                raise ValueError(f"try {tries[0]}")
            return tries[0]

        return await ctx.step(flaky, name="flaky", config=RETRY)

    return handler


async def test_a_retried_step_reports_each_attempt_as_the_reference_does() -> None:
    """Three attempts over three invocations; a later attempt's start is replayed; one end."""
    ref, ours, _ = await side_by_side(ref_retry, our_retry)
    assert_same(ours, ref)
    attempts = [e[7] for events in ours.events() for e in events if e[0] == "on_user_function_end"]
    assert attempts == [1, 2, 3]
    assert len(ends(ours.events())) == 1


def ref_exhausted(factory: RecordingFactory) -> Any:
    @ref_durable_execution(plugins=[factory])
    def handler(event: Any, ctx: RefContext) -> Any:
        def never(_: Any) -> None:
            raise ValueError("never")

        return ctx.step(never, name="never", config=REF_RETRY)

    return handler


def our_exhausted(factory: RecordingFactory) -> Any:
    @durable_execution(plugins=[factory])
    async def handler(event: Any, ctx: DurableContext) -> Any:
        def never(_: Any) -> None:
            raise ValueError("never")

        return await ctx.step(never, name="never", config=RETRY)

    return handler


async def test_a_step_that_runs_out_of_attempts_ends_failed_once() -> None:
    """Every attempt fails: three FAILED user functions, one FAILED end, a FAILED execution."""
    ref, ours, _ = await side_by_side(ref_exhausted, our_exhausted)
    assert_same(ours, ref)
    assert ours.events()[-1][-2:] == [
        ours.events()[-1][-2],
        ("on_invocation_end", "FAILED"),
    ]
    assert [e[5] for e in ours.events()[-1] if e[0] == "on_operation_end"] == ["FAILED"]


# -- replay of completed steps -------------------------------------------------------------------


def ref_replay(factory: RecordingFactory) -> Any:
    @ref_durable_execution(plugins=[factory])
    def handler(event: Any, ctx: RefContext) -> Any:
        a = ctx.step(lambda _: 1, name="a")
        b = ctx.step(lambda _: 2, name="b")
        ctx.wait(RefDuration.from_seconds(5), name="pause")
        return ctx.step(lambda _: a + b, name="c")

    return handler


def our_replay(factory: RecordingFactory) -> Any:
    @durable_execution(plugins=[factory])
    async def handler(event: Any, ctx: DurableContext) -> Any:
        a = await ctx.step(lambda _: 1, name="a")
        b = await ctx.step(lambda _: 2, name="b")
        await ctx.wait(Duration.from_seconds(5), name="pause")
        return await ctx.step(lambda _: a + b, name="c")

    return handler


async def test_replayed_steps_report_nothing_again() -> None:
    """Steps completed in the first invocation get no hook when the second replays them."""
    ref, ours, _ = await side_by_side(ref_replay, our_replay)
    skipped = ended_while_suspended(ref)
    assert len(skipped) == 1  # the wait
    assert without_ends_of(ours.events(), skipped) == without_ends_of(ref.events(), skipped)
    first, second = ours.events()
    replayed = {e[1] for e in first if e[0] == "on_operation_end"}
    assert len(replayed) == 2
    assert not any(len(e) > 1 and e[1] in replayed for e in second)
    assert ends(ours.events()).count(next(iter(replayed))) == 1


async def test_replayed_steps_with_the_wait_end_reported() -> None:
    """The wait that elapsed while suspended is reported when the second invocation replays it."""
    ref, ours, _ = await side_by_side(ref_replay, our_replay)
    assert_same(ours, ref)


# -- wait, callback, chained invoke (they end while the execution is suspended) -------------------


def ref_callback(factory: RecordingFactory) -> Any:
    @ref_durable_execution(plugins=[factory])
    def handler(event: Any, ctx: RefContext) -> Any:
        callback = ctx.create_callback(name="approval")
        before = ctx.step(lambda _: "sent", name="send")
        return [before, callback.result()]

    return handler


def our_callback(factory: RecordingFactory) -> Any:
    @durable_execution(plugins=[factory])
    async def handler(event: Any, ctx: DurableContext) -> Any:
        callback = await ctx.create_callback(name="approval")
        before = await ctx.step(lambda _: "sent", name="send")
        return [before, await callback.result()]

    return handler


CALLBACK = {"callbacks": (("approval", {"ok": True}),)}


async def test_an_answered_callback_reports_as_the_reference_does() -> None:
    """Callback start, suspension, then the answer read by the next invocation.

    The reference's emulator does not list an answered callback in ``UpdatedOperationIds`` (it
    does for waits, retries and chained invokes), so the reference reports no end for it. Our
    local service lists it, as Lambda does for every operation that changed while the
    execution was suspended, so ours reports its end when the next invocation replays it:
    everything else is the same.
    """
    ref, ours, _ = await side_by_side(ref_callback, our_callback, **CALLBACK)
    assert ended_while_suspended(ref) == set()
    callback = {
        e[1] for e in ours.events()[0] if e[0] == "on_operation_start" and e[2] == "CALLBACK"
    }
    assert without_ends_of(ours.events(), callback) == ref.events()
    resumed = ours.events()[1]
    hooks = ["on_invocation_start", "on_operation_end", "on_invocation_end"]
    assert [e[0] for e in resumed] == hooks
    assert resumed[1][1:3] == (*callback, "CALLBACK")


def ref_invoke(factory: RecordingFactory) -> Any:
    @ref_durable_execution(plugins=[factory])
    def handler(event: Any, ctx: RefContext) -> Any:
        return ctx.invoke("double", 21, name="double")

    return handler


def our_invoke(factory: RecordingFactory) -> Any:
    @durable_execution(plugins=[factory])
    async def handler(event: Any, ctx: DurableContext) -> Any:
        return await ctx.invoke("double", 21, name="double")

    return handler


def double(n: int, lambda_context: Any = None) -> int:
    """A plain function (the reference's runner passes a Lambda context too)."""
    return n * 2


INVOKE = {"functions": {"double": double}}


async def test_a_chained_invoke_reports_as_the_reference_does() -> None:
    """Invoke start, suspension, then the result read by the next invocation."""
    ref, ours, result = await side_by_side(ref_invoke, our_invoke, **INVOKE)
    assert result.result == 42
    skipped = ended_while_suspended(ref)
    assert without_ends_of(ours.events(), skipped) == without_ends_of(ref.events(), skipped)


async def test_a_chained_invoke_with_its_end_reported() -> None:
    """The invoke that finished while suspended gets its end hook when it is read."""
    ref, ours, _ = await side_by_side(ref_invoke, our_invoke, **INVOKE)
    assert_same(ours, ref)


# -- child contexts ------------------------------------------------------------------------------


def ref_children(factory: RecordingFactory) -> Any:
    @ref_durable_execution(plugins=[factory])
    def handler(event: Any, ctx: RefContext) -> Any:
        def inner(c: RefContext) -> Any:
            return c.step(lambda _: 1, name="in-real")

        def virtual(c: RefContext) -> Any:
            return c.step(lambda _: 2, name="in-virtual")

        def failing(c: RefContext) -> Any:
            raise ValueError("child says no")

        real = ctx.run_in_child_context(inner, name="real")
        virt = ctx.run_in_child_context(
            virtual, name="virtual", config=RefChildConfig(is_virtual=True)
        )
        with contextlib.suppress(Exception):
            ctx.run_in_child_context(failing, name="failing")
        return [real, virt]

    return handler


def our_children(factory: RecordingFactory) -> Any:
    @durable_execution(plugins=[factory])
    async def handler(event: Any, ctx: DurableContext) -> Any:
        async def inner(c: DurableContext) -> Any:
            return await c.step(lambda _: 1, name="in-real")

        async def virtual(c: DurableContext) -> Any:
            return await c.step(lambda _: 2, name="in-virtual")

        async def failing(c: DurableContext) -> Any:
            raise ValueError("child says no")

        real = await ctx.run_in_child_context(inner, name="real")
        virt = await ctx.run_in_child_context(
            virtual, name="virtual", config=ChildConfig(is_virtual=True)
        )
        with contextlib.suppress(Exception):
            await ctx.run_in_child_context(failing, name="failing")
        return [real, virt]

    return handler


async def test_child_contexts_real_virtual_and_failing_report_as_the_reference_does() -> None:
    """A child's step ends before the child; a virtual child ends when its function returns."""
    ref, ours, result = await side_by_side(ref_children, our_children)
    assert_same(ours, ref)
    assert_children_end_first(ours, result)
    names = [e[4] for e in ours.events()[0] if e[0] == "on_operation_end"]
    assert names == ["in-real", "real", "in-virtual", "virtual", "failing"]


def ref_child_wait(factory: RecordingFactory) -> Any:
    @ref_durable_execution(plugins=[factory])
    def handler(event: Any, ctx: RefContext) -> Any:
        def inner(c: RefContext) -> Any:
            c.step(lambda _: 1, name="before")
            c.wait(RefDuration.from_seconds(3), name="nap")
            return c.step(lambda _: 2, name="after")

        real = ctx.run_in_child_context(inner, name="real")
        virt = ctx.run_in_child_context(
            inner, name="virtual", config=RefChildConfig(is_virtual=True)
        )
        return [real, virt]

    return handler


def our_child_wait(factory: RecordingFactory) -> Any:
    @durable_execution(plugins=[factory])
    async def handler(event: Any, ctx: DurableContext) -> Any:
        async def inner(c: DurableContext) -> Any:
            await c.step(lambda _: 1, name="before")
            await c.wait(Duration.from_seconds(3), name="nap")
            return await c.step(lambda _: 2, name="after")

        real = await ctx.run_in_child_context(inner, name="real")
        virt = await ctx.run_in_child_context(
            inner, name="virtual", config=ChildConfig(is_virtual=True)
        )
        return [real, virt]

    return handler


async def test_children_suspended_and_replayed_report_as_the_reference_does() -> None:
    """A child in progress is replayed (start, is_replayed); a virtual child ends on every run."""
    ref, ours, result = await side_by_side(ref_child_wait, our_child_wait)
    skipped = ended_while_suspended(ref)
    assert without_ends_of(ours.events(), skipped) == without_ends_of(ref.events(), skipped)
    assert ours.changes() == ref.changes()
    assert_children_end_first(ours, result)
    replayed = [e for events in ours.events()[1:] for e in events if e[0] == "on_operation_start"]
    assert ("real", True) in [(e[4], e[6]) for e in replayed]


async def test_children_suspended_and_replayed_with_the_wait_ends_reported() -> None:
    """The naps that elapsed while suspended are reported when replayed.

    Ours when the code reaches the nap again; the reference's, for a nap in a virtual child,
    only before the invocation ends (its virtual child does not replay): the same hooks per
    operation, in another order across operations.
    """
    ref, ours, _ = await side_by_side(ref_child_wait, our_child_wait)
    assert_same_per_operation(ours, ref)


# -- map and parallel ----------------------------------------------------------------------------


def ref_batches(factory: RecordingFactory) -> Any:
    @ref_durable_execution(plugins=[factory])
    def handler(event: Any, ctx: RefContext) -> Any:
        m = ctx.map(
            [1, 2, 3], lambda c, x, i, xs: c.step(lambda _: x * 10, name=f"m{i}"), name="map"
        )
        p = ctx.parallel(
            [
                lambda c: c.step(lambda _: "p0", name="p0"),
                lambda c: c.step(lambda _: "p1", name="p1"),
            ],
            name="par",
        )
        return [m.get_results(), p.get_results()]

    return handler


def our_batches(factory: RecordingFactory) -> Any:
    @durable_execution(plugins=[factory])
    async def handler(event: Any, ctx: DurableContext) -> Any:
        async def item(c: DurableContext, x: int, i: int, xs: Any) -> int:
            return await c.step(lambda _: x * 10, name=f"m{i}")

        m = await ctx.map([1, 2, 3], item, name="map")
        p = await ctx.parallel(
            [
                lambda c: c.step(lambda _: "p0", name="p0"),
                lambda c: c.step(lambda _: "p1", name="p1"),
            ],
            name="par",
        )
        return [m.get_results(), p.get_results()]

    return handler


async def test_map_and_parallel_report_each_operation_as_the_reference_does() -> None:
    """Per operation (branch order is free), the same hooks; branches end before their batch."""
    ref, ours, result = await side_by_side(ref_batches, our_batches)
    assert result.result == [[10, 20, 30], ["p0", "p1"]]
    assert_same_per_operation(ours, ref)
    assert_children_end_first(ours, result)
    # The batch's own start comes before its branches' hooks, and its end after them.
    parent = {op.id: op.parent_id for op in result.operations}
    events = ours.events()[0]
    for name in ("map", "par"):
        batch = next(e[1] for e in events if e[0] == "on_operation_start" and e[4] == name)
        own = [i for i, e in enumerate(events) if len(e) > 2 and e[1] == batch]
        branches = [i for i, e in enumerate(events) if len(e) > 2 and parent.get(e[1]) == batch]
        assert len(branches) == 4 * (3 if name == "map" else 2)
        assert own[0] < min(branches)
        assert own[-1] > max(branches)


def ref_batch_suspends(factory: RecordingFactory) -> Any:
    @ref_durable_execution(plugins=[factory])
    def handler(event: Any, ctx: RefContext) -> Any:
        def item(c: RefContext, x: int, i: int, xs: Any) -> int:
            c.wait(RefDuration.from_seconds(x), name=f"w{i}")
            return c.step(lambda _: x, name=f"s{i}")

        return ctx.map([1, 2], item, name="map").get_results()

    return handler


def our_batch_suspends(factory: RecordingFactory) -> Any:
    @durable_execution(plugins=[factory])
    async def handler(event: Any, ctx: DurableContext) -> Any:
        async def item(c: DurableContext, x: int, i: int, xs: Any) -> int:
            await c.wait(Duration.from_seconds(x), name=f"w{i}")
            return await c.step(lambda _: x, name=f"s{i}")

        return (await ctx.map([1, 2], item, name="map")).get_results()

    return handler


async def test_a_map_that_suspends_replays_its_branches_as_the_reference_does() -> None:
    """Branches waiting in a map are replayed as in progress, and each ends once overall."""
    ref, ours, result = await side_by_side(ref_batch_suspends, our_batch_suspends)
    skipped = ended_while_suspended(ref)
    ref_split = [per_operation(i) for i in without_ends_of(ref.events(), skipped)]
    our_split = [per_operation(i) for i in without_ends_of(ours.events(), skipped)]
    assert our_split == ref_split
    ended = ends(ours.events())
    assert len(ended) == len(set(ended))
    assert_children_end_first(ours, result)


# -- wait_for_condition --------------------------------------------------------------------------


def ref_condition(factory: RecordingFactory) -> Any:
    @ref_durable_execution(plugins=[factory])
    def handler(event: Any, ctx: RefContext) -> Any:
        def strategy(state: int, attempt: int) -> Any:
            if state >= 3:
                return RefWaitForConditionDecision.stop_polling()
            return RefWaitForConditionDecision.continue_waiting(RefDuration.from_seconds(2))

        config = RefWaitForConditionConfig(wait_strategy=strategy, initial_state=0)
        return ctx.wait_for_condition(lambda n, _: n + 1, config, name="count")

    return handler


def our_condition(factory: RecordingFactory) -> Any:
    @durable_execution(plugins=[factory])
    async def handler(event: Any, ctx: DurableContext) -> Any:
        def strategy(state: int, attempt: int) -> Any:
            if state >= 3:
                return WaitForConditionDecision.stop_polling()
            return WaitForConditionDecision.continue_waiting(Duration.from_seconds(2))

        config = WaitForConditionConfig(wait_strategy=strategy, initial_state=0)
        return await ctx.wait_for_condition(lambda n, _: n + 1, config, name="count")

    return handler


async def test_wait_for_condition_reports_each_check_as_the_reference_does() -> None:
    """Each check is a user function with its attempt; the condition ends once, when met."""
    ref, ours, result = await side_by_side(ref_condition, our_condition)
    assert result.result == 3
    assert_same(ours, ref)
    checks = [e[7] for events in ours.events() for e in events if e[0] == "on_user_function_end"]
    assert checks == [1, 2, 3]
    assert len(ends(ours.events())) == 1


# -- a child rebuilt on replay (ReplayChildren: its result is too large to record) ---------------

BIG = 300 * 1024


def ref_rebuilt(factory: RecordingFactory) -> Any:
    @ref_durable_execution(plugins=[factory])
    def handler(event: Any, ctx: RefContext) -> Any:
        def big(c: RefContext) -> str:
            return c.step(lambda _: "x", name="piece") * BIG

        value = ctx.run_in_child_context(big, name="big")
        ctx.wait(RefDuration.from_seconds(1), name="pause")
        return len(value)

    return handler


def our_rebuilt(factory: RecordingFactory) -> Any:
    @durable_execution(plugins=[factory])
    async def handler(event: Any, ctx: DurableContext) -> Any:
        async def big(c: DurableContext) -> str:
            return str(await c.step(lambda _: "x", name="piece")) * BIG

        value = await ctx.run_in_child_context(big, name="big")
        await ctx.wait(Duration.from_seconds(1), name="pause")
        return len(value)

    return handler


async def test_a_child_rebuilt_on_replay_reports_its_end_on_every_rebuild() -> None:
    """A child too large to record runs again on replay and ends again, as replayed."""
    ref, ours, result = await side_by_side(ref_rebuilt, our_rebuilt)
    assert result.result == BIG
    skipped = ended_while_suspended(ref)
    assert without_ends_of(ours.events(), skipped) == without_ends_of(ref.events(), skipped)
    rebuilt = [e for e in ours.events()[1] if e[0] == "on_operation_end" and e[4] == "big"]
    assert [(e[5], e[6]) for e in rebuilt] == [("SUCCEEDED", True)]
    starts = [e for e in ours.events()[1] if e[0] == "on_user_function_start" and e[4] == "big"]
    assert [e[-1] for e in starts] == [True]  # is_replay_children


async def test_a_child_rebuilt_on_replay_with_the_wait_end_reported() -> None:
    """The pause that elapsed while suspended is reported when replayed."""
    ref, ours, _ = await side_by_side(ref_rebuilt, our_rebuilt)
    assert_same(ours, ref)


# -- wait_for_callback ---------------------------------------------------------------------------


def ref_wait_for_callback(factory: RecordingFactory) -> Any:
    @ref_durable_execution(plugins=[factory])
    def handler(event: Any, ctx: RefContext) -> Any:
        return ctx.wait_for_callback(lambda callback_id, c: None, name="approval")

    return handler


def our_wait_for_callback(factory: RecordingFactory) -> Any:
    @durable_execution(plugins=[factory])
    async def handler(event: Any, ctx: DurableContext) -> Any:
        return await ctx.wait_for_callback(lambda callback_id, c: None, name="approval")

    return handler


WAIT_FOR_CALLBACK = {"callbacks": ((None, {"ok": 1}),)}


async def test_wait_for_callback_reports_as_the_reference_does() -> None:
    """The submitter runs in a WaitForCallback child, which is replayed and ends after the answer.

    The reference hears of the callback's end from the emulator's first checkpoint response
    after the resume, which lists operations completed while suspended; the local service
    lists only what changed since the invocation's start, so that end is the known gap.
    """
    ref, ours, result = await side_by_side(
        ref_wait_for_callback, our_wait_for_callback, **WAIT_FOR_CALLBACK
    )
    callbacks = {op.id for op in result.operations if op.type.value == "CALLBACK"}
    assert without_ends_of(ours.events(), callbacks) == without_ends_of(ref.events(), callbacks)
    assert ours.changes() == ref.changes()
    assert_children_end_first(ours, result)


async def test_wait_for_callback_with_the_callback_end_reported() -> None:
    """The answered callback gets its end hook, before its WaitForCallback context's.

    Ours when the context's code replays the callback, before the code reads its answer; the
    reference's after the context's function returns (its emulator hands the callback over in
    a checkpoint response, which no code reads). The same hooks per operation.
    """
    ref, ours, _ = await side_by_side(
        ref_wait_for_callback, our_wait_for_callback, **WAIT_FOR_CALLBACK
    )
    assert_same_per_operation(ours, ref)
    resumed = [(e[0], e[2]) for e in ours.events()[1] if len(e) > 2]
    assert resumed.index(("on_operation_end", "CALLBACK")) < resumed.index(
        ("on_operation_end", "CONTEXT")
    )


# -- a map that completes early ------------------------------------------------------------------


def ref_early(factory: RecordingFactory) -> Any:
    @ref_durable_execution(plugins=[factory])
    def handler(event: Any, ctx: RefContext) -> Any:
        def item(c: RefContext, x: int, i: int, xs: Any) -> int:
            if x == 1:
                return c.step(lambda _: x, name=f"s{i}")
            c.wait(RefDuration.from_seconds(10), name=f"w{i}")
            return x

        config = RefMapConfig(completion_config=RefCompletionConfig(min_successful=1))
        return ctx.map([1, 2], item, name="map", config=config).get_results()

    return handler


def our_early(factory: RecordingFactory) -> Any:
    @durable_execution(plugins=[factory])
    async def handler(event: Any, ctx: DurableContext) -> Any:
        async def item(c: DurableContext, x: int, i: int, xs: Any) -> int:
            if x == 1:
                return await c.step(lambda _: x, name=f"s{i}")
            await c.wait(Duration.from_seconds(10), name=f"w{i}")
            return x

        config = MapConfig(completion_config=CompletionConfig(min_successful=1))
        return (await ctx.map([1, 2], item, name="map", config=config)).get_results()

    return handler


async def test_a_map_that_completes_early_reports_the_unfinished_branch_as_incomplete() -> None:
    """The waiting branch's function ends INCOMPLETE and the branch gets no end; the map ends."""
    ref, ours, result = await side_by_side(ref_early, our_early)
    assert result.result == [1]
    assert_same_per_operation(ours, ref)
    outcomes = {e[4]: e[-1] for e in ours.events()[0] if e[0] == "on_user_function_end"}
    assert outcomes["map-item-1"] == "INCOMPLETE"
    assert "map-item-1" not in [e[4] for e in ours.events()[0] if e[0] == "on_operation_end"]
