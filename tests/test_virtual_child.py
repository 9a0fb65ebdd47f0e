"""Virtual child contexts (ChildConfig(is_virtual=True)), compared with the reference SDK's runner.

A virtual child records no CONTEXT operation: its operations report the caller's parent as theirs
and are numbered under the child's own id, and a replay runs its body again.
"""

from __future__ import annotations

from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext as RefContext
from aws_durable_execution_sdk_python import durable_execution as ref_durable_execution
from aws_durable_execution_sdk_python.config import ChildConfig as RefChildConfig
from aws_durable_execution_sdk_python.config import Duration as RefDuration

from durable_async import ChildConfig, DurableContext, Duration, durable_execution
from durable_async._ids import operation_id
from durable_async.exceptions import ChildContextError
from durable_async.testing import DurableTestResult, DurableTestRunner
from tests.side_by_side import Outcome, our_history, run_reference

V = ChildConfig(is_virtual=True)
REF_V = RefChildConfig(is_virtual=True)


async def run(handler: Any, event: Any = None) -> DurableTestResult:
    """Run ``handler`` to its end on the embedded service, skipping time."""
    async with DurableTestRunner(handler, skip_time=True) as runner:
        return await runner.run(input=event, timeout=30)


def outcome(result: DurableTestResult) -> Outcome:
    """Our execution's outcome in the shape ``run_reference`` returns."""
    error = result.error
    return (
        result.status.value,
        result.result,
        error and (str(error.error_type).rsplit(".", 1)[-1], error.error_message),
    )


# -- one program, written for each SDK --------------------------------------------------------


@ref_durable_execution
def ref_everything(event: Any, ctx: RefContext) -> Any:
    def deeper(d: RefContext) -> Any:
        return d.step(lambda _: 2, name="b")

    def inner(c: RefContext) -> Any:
        a = c.step(lambda _: 1, name="a")
        b = c.run_in_child_context(deeper, name="nested-real")
        b2 = c.run_in_child_context(deeper, name="nested-virtual", config=REF_V)
        c.wait(RefDuration.from_seconds(1), name="w")
        m = c.map([1, 2], lambda cc, x, i, xs: cc.step(lambda _: x * 10, name="m"), name="mp")
        p = c.parallel([lambda pc: pc.step(lambda _: 7, name="p")], name="par")
        return [a, b, b2, m.get_results(), p.get_results()]

    return [ctx.run_in_child_context(inner, name="virtual", config=REF_V), ctx.step(lambda _: 3)]


@durable_execution
async def everything(event: Any, ctx: DurableContext) -> Any:
    async def deeper(d: DurableContext) -> Any:
        return await d.step(lambda _: 2, name="b")

    async def item(cc: DurableContext, x: int, i: int, xs: Any) -> int:
        return await cc.step(lambda _: x * 10, name="m")

    async def inner(c: DurableContext) -> Any:
        a = await c.step(lambda _: 1, name="a")
        b = await c.run_in_child_context(deeper, name="nested-real")
        b2 = await c.run_in_child_context(deeper, name="nested-virtual", config=V)
        await c.wait(Duration.from_seconds(1), name="w")
        m = await c.map([1, 2], item, name="mp")
        p = await c.parallel([lambda pc: pc.step(lambda _: 7, name="p")], name="par")
        return [a, b, b2, m.get_results(), p.get_results()]

    return [
        await ctx.run_in_child_context(inner, name="virtual", config=V),
        await ctx.step(lambda _: 3),
    ]


@ref_durable_execution
def ref_inside_real(event: Any, ctx: RefContext) -> Any:
    def inner(c: RefContext) -> Any:
        return c.step(lambda _: 1, name="a") + c.run_in_child_context(
            lambda d: d.step(lambda _: 2, name="b"), name="v2", config=REF_V
        )

    return ctx.run_in_child_context(
        lambda c: c.run_in_child_context(inner, name="v1", config=REF_V), name="real"
    )


@durable_execution
async def inside_real(event: Any, ctx: DurableContext) -> Any:
    async def inner(c: DurableContext) -> Any:
        return await c.step(lambda _: 1, name="a") + await c.run_in_child_context(
            lambda d: d.step(lambda _: 2, name="b"), name="v2", config=V
        )

    return await ctx.run_in_child_context(
        lambda c: c.run_in_child_context(inner, name="v1", config=V), name="real"
    )


@ref_durable_execution
def ref_in_map_items(event: Any, ctx: RefContext) -> Any:
    def item(c: RefContext, x: int, i: int, xs: Any) -> Any:
        return c.run_in_child_context(
            lambda v: v.step(lambda _: x + 1, name="s"), name=f"v{i}", config=REF_V
        )

    return ctx.map([1, 2, 3], item, name="mp").get_results()


@durable_execution
async def in_map_items(event: Any, ctx: DurableContext) -> Any:
    async def item(c: DurableContext, x: int, i: int, xs: Any) -> Any:
        return await c.run_in_child_context(
            lambda v: v.step(lambda _: x + 1, name="s"), name=f"v{i}", config=V
        )

    return (await ctx.map([1, 2, 3], item, name="mp")).get_results()


@ref_durable_execution
def ref_is_virtual(event: Any, ctx: RefContext) -> Any:
    def outer(c: RefContext) -> Any:
        return [
            c.is_virtual,
            c.run_in_child_context(lambda d: d.is_virtual, config=REF_V),
            c.run_in_child_context(lambda d: d.is_virtual),
        ]

    return [ctx.is_virtual, ctx.run_in_child_context(outer, "o", config=REF_V)]


@durable_execution
async def is_virtual(event: Any, ctx: DurableContext) -> Any:
    async def outer(c: DurableContext) -> Any:
        return [
            c.is_virtual,
            await c.run_in_child_context(lambda d: d.is_virtual, config=V),
            await c.run_in_child_context(lambda d: d.is_virtual),
        ]

    return [ctx.is_virtual, await ctx.run_in_child_context(outer, "o", config=V)]


@ref_durable_execution
def ref_failing(event: Any, ctx: RefContext) -> Any:
    def inner(c: RefContext) -> Any:
        c.step(lambda _: 1, name="a")
        raise ValueError("boom")

    return ctx.run_in_child_context(inner, name="virtual", config=REF_V)


@durable_execution
async def failing(event: Any, ctx: DurableContext) -> Any:
    async def inner(c: DurableContext) -> Any:
        await c.step(lambda _: 1, name="a")
        raise ValueError("boom")

    return await ctx.run_in_child_context(inner, name="virtual", config=V)


@ref_durable_execution
def ref_caught(event: Any, ctx: RefContext) -> Any:
    def inner(c: RefContext) -> Any:
        c.step(lambda _: 1, name="a")
        raise ValueError("boom")

    try:
        ctx.run_in_child_context(inner, name="virtual", config=REF_V)
    except Exception as exc:
        return [type(exc).__name__, str(exc), getattr(exc, "error_type", None)]
    return None


@durable_execution
async def caught(event: Any, ctx: DurableContext) -> Any:
    async def inner(c: DurableContext) -> Any:
        await c.step(lambda _: 1, name="a")
        raise ValueError("boom")

    try:
        await ctx.run_in_child_context(inner, name="virtual", config=V)
    except ChildContextError as exc:
        return [type(exc).__name__, str(exc), exc.error_type]
    return None


@pytest.mark.parametrize(
    ("reference", "ours"),
    [
        pytest.param(ref_everything, everything, id="steps-nested-wait-map-parallel"),
        pytest.param(ref_inside_real, inside_real, id="virtual-inside-a-real-child"),
        pytest.param(ref_in_map_items, in_map_items, id="virtual-in-map-items"),
        pytest.param(ref_is_virtual, is_virtual, id="is-virtual"),
        pytest.param(ref_failing, failing, id="failing-body"),
        pytest.param(ref_caught, caught, id="caught-failure"),
    ],
)
async def test_history_and_outcome_equal_the_reference(reference: Any, ours: Any) -> None:
    """A handler using virtual children records the reference's history and ends as it does."""
    expected_outcome, expected_history = run_reference(reference)
    result = await run(ours)
    assert outcome(result) == expected_outcome
    assert our_history(result) == expected_history


def ref_flipping(first_virtual: bool) -> Any:
    """A reference handler whose child is virtual per ``first_virtual``, flipped on replay."""
    calls: list[int] = []

    @ref_durable_execution
    def handler(event: Any, ctx: RefContext) -> Any:
        calls.append(1)
        virtual = first_virtual if len(calls) == 1 else not first_virtual

        def body(c: RefContext) -> Any:
            c.step(lambda _: 1, name="a")
            c.wait(RefDuration.from_seconds(1), name="w")
            return c.step(lambda _: 2, name="b")

        config = RefChildConfig(is_virtual=virtual)
        return ctx.run_in_child_context(body, name="grp", config=config)

    return handler


def flipping(first_virtual: bool, runs: list[str]) -> Any:
    """Our handler whose child is virtual or not per ``first_virtual``, flipped on replay."""
    calls: list[int] = []

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> Any:
        calls.append(1)
        virtual = first_virtual if len(calls) == 1 else not first_virtual

        async def body(c: DurableContext) -> Any:
            runs.append("body")
            await c.step(lambda _: runs.append("a"), name="a")
            await c.wait(Duration.from_seconds(1), name="w")
            return await c.step(lambda _: 2, name="b")

        config = ChildConfig(is_virtual=virtual)
        return await ctx.run_in_child_context(body, name="grp", config=config)

    return handler


FLIPS = [pytest.param(True, id="virtual-then-real"), pytest.param(False, id="real-then-virtual")]


@pytest.mark.parametrize("first_virtual", FLIPS)
async def test_flipping_is_virtual_in_flight_is_nondeterministic(first_virtual: bool) -> None:
    """Changing is_virtual between invocations fails with NonDeterministicExecutionError."""
    (status, _, error), _ = run_reference(ref_flipping(first_virtual))
    result = await run(flipping(first_virtual, []))
    assert result.status.value == status == "FAILED"
    assert error is not None
    assert result.error is not None
    assert (
        result.error.error_type.rsplit(".", 1)[-1] == error[0] == "NonDeterministicExecutionError"
    )


@pytest.mark.parametrize(
    "first_virtual",
    [
        pytest.param(True, id="virtual-then-real"),
        pytest.param(False, id="real-then-virtual"),
    ],
)
async def test_flipping_is_virtual_leaves_the_reference_history(first_virtual: bool) -> None:
    """A run that flips is_virtual in flight leaves the history the reference leaves."""
    _, expected_history = run_reference(ref_flipping(first_virtual))
    result = await run(flipping(first_virtual, []))
    assert our_history(result) == expected_history


async def test_flipping_to_virtual_names_the_fix() -> None:
    """A recorded child now run virtual fails with a message saying to keep is_virtual stable."""
    result = await run(flipping(False, []))
    assert result.error is not None
    assert "keep is_virtual stable" in str(result.error.error_message)


async def test_replay_after_a_wait_runs_the_body_again_but_no_recorded_step() -> None:
    """After a wait inside a virtual child, the replay re-enters the body; step "a" ran once."""
    runs: list[str] = []
    expected_outcome, expected_history = run_reference(ref_always_virtual())
    result = await run(always_virtual(runs))
    assert outcome(result) == expected_outcome == ("SUCCEEDED", 2, None)
    assert our_history(result) == expected_history
    assert result.invocations == 2
    assert runs == ["body", "a", "body"]


def ref_always_virtual() -> Any:
    """The reference handler of ``ref_flipping``, virtual on every invocation."""
    calls: list[int] = []

    @ref_durable_execution
    def handler(event: Any, ctx: RefContext) -> Any:
        calls.append(1)

        def body(c: RefContext) -> Any:
            c.step(lambda _: 1, name="a")
            c.wait(RefDuration.from_seconds(1), name="w")
            return c.step(lambda _: 2, name="b")

        return ctx.run_in_child_context(body, name="grp", config=REF_V)

    return handler


def always_virtual(runs: list[str]) -> Any:
    """Our handler of ``flipping``, virtual on every invocation."""

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> Any:
        async def body(c: DurableContext) -> Any:
            runs.append("body")
            await c.step(lambda _: runs.append("a"), name="a")
            await c.wait(Duration.from_seconds(1), name="w")
            return await c.step(lambda _: 2, name="b")

        return await ctx.run_in_child_context(body, name="grp", config=V)

    return handler


@ref_durable_execution
def ref_direct(event: Any, ctx: RefContext) -> Any:
    v = ctx.create_child_context("xyz", is_virtual=True)
    return [v.is_virtual, v.step(lambda _: 2, name="t"), ctx.step(lambda _: 3, name="u")]


@durable_execution
async def direct(event: Any, ctx: DurableContext) -> Any:
    v = ctx.create_child_context("xyz", is_virtual=True)
    return [
        v.is_virtual,
        await v.step(lambda _: 2, name="t"),
        await ctx.step(lambda _: 3, name="u"),
    ]


async def test_create_child_context_virtual_records_as_the_reference() -> None:
    """A virtual create_child_context numbers under its id and reports the caller's parent."""
    expected_outcome, expected_history = run_reference(ref_direct)
    result = await run(direct)
    assert outcome(result) == expected_outcome
    assert our_history(result) == expected_history
    assert {op.id for op in result.operations} >= {operation_id("xyz", 1)}


async def test_create_child_context_regular_reports_the_given_id_as_parent() -> None:
    """A regular child from create_child_context takes its operation id as parent and prefix."""
    seen: list[Any] = []

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> None:
        child = ctx.create_child_context("abc")
        grandchild = child.create_child_context("def", is_virtual=True)
        seen.extend(
            [child.parent_id, child.is_virtual, grandchild.parent_id, grandchild.is_virtual]
        )

    await run(handler)
    assert seen == ["abc", False, "abc", True]


def test_child_config_is_not_virtual_by_default() -> None:
    """ChildConfig() records its CONTEXT operation unless is_virtual=True is asked for."""
    assert ChildConfig().is_virtual is False
    assert ChildConfig(is_virtual=True).is_virtual is True
