"""Results as a tree: child operations, name paths, decoded values, misses that explain."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from durable_async import (
    DurableContext,
    JsonSerDes,
    MapConfig,
    StepConfig,
    durable_execution,
)
from durable_async._models import OperationType
from durable_async._testkit import paths
from durable_async.testing import DurableTestRunner, ExecutionStatus, RecordedOperation
from tests.testing_handlers.shop import order, quote

LINES = [
    {"sku": "apple", "quantity": 2},
    {"sku": "pear", "quantity": 1},
    {"sku": "fig", "quantity": 3},
]


async def _approved_order() -> Any:
    async with DurableTestRunner(order) as runner:
        arn = await runner.start(input={"lines": LINES})
        callback_id = await runner.wait_for_callback(arn, name="approval")
        await runner.send_callback_success(callback_id, {"approved": True})
        return await runner.wait_for_result(arn, timeout=30)


async def test_same_named_steps_in_map_items_are_told_apart_by_path() -> None:
    """Each item's step "price" is found by its item's index or name, with its own value."""
    result = await _approved_order()
    assert result.status is ExecutionStatus.SUCCEEDED
    assert result.result["total"] == 60 + 45 + 30
    assert [result.get_step(f"price-lines/{i}/price").value() for i in range(3)] == [60, 45, 30]
    assert result.get_step("price-lines/map-item-1/price").value() == 45
    prices = result.get_operations("price-lines/*/price")
    assert [op.path for op in prices] == [f"price-lines/map-item-{i}/price" for i in range(3)]
    assert len({op.id for op in prices}) == 3
    # A bare name still finds the first of them, as before paths existed.
    assert result.get_step("price").id == prices[0].id


async def test_context_results_carry_their_children() -> None:
    """A map's child_operations are its items, each item's are its steps; indexes are set."""
    result = await _approved_order()
    price_lines = result.get_context("price-lines")
    items = price_lines.child_operations
    assert [(item.name, item.index, item.sub_type) for item in items] == [
        (f"map-item-{i}", i, "MapIteration") for i in range(3)
    ]
    assert [item.get_step("price").value() for item in items] == [60, 45, 30]
    assert all(isinstance(op, RecordedOperation) for op in price_lines.get_all_operations())
    assert [op.name for op in result.root_operations] == [
        "price-lines",
        "charge",
        "cool-off",
        "approval",
    ]
    approval = result.get_context("approval")
    assert approval.get_callback("approval create callback id").value(JsonSerDes()) == {
        "approved": True
    }
    assert len(result.get_all_operations()) == len(result.operations) - 1  # all but EXECUTION


async def test_values_decode_with_each_types_default_serdes() -> None:
    """value() decodes steps and contexts with ExtendedTypesSerDes, callbacks as sent."""
    result = await _approved_order()
    assert result.get_step("charge").value() == {"charged": 135, "attempt": 2}
    assert result.get_callback("approval/approval create callback id").value() == (
        '{"approved": true}'
    )
    assert result.get_wait("cool-off").value() is None


async def test_a_miss_names_what_exists_where_the_path_stopped() -> None:
    """An unknown item lists the map's items; an unknown root lists the top level."""
    result = await _approved_order()
    with pytest.raises(KeyError, match=r"under price-lines there are \['map-item-0 \(CONTEXT\)"):
        result.get_step("price-lines/7/price")
    with pytest.raises(KeyError, match="under the top level there are"):
        result.get_step("nothing/price")
    with pytest.raises(KeyError, match=r"No WAIT operation at 'charge'"):
        result.get_wait("charge")  # a step of that name is not a wait
    with pytest.raises(ValueError, match="empty segment"):
        result.get_step("price-lines//price")


@durable_execution
async def oddly_named(event: Any, ctx: DurableContext) -> list[Any]:
    async def branch(name: str) -> Any:
        return await ctx.run_in_child_context(
            lambda child: child.step(lambda _: name, name="leaf"), name=name
        )

    out = [await branch("a/b"), await branch("c\\d"), await branch("1")]
    out.append(await ctx.step(lambda _: "anon"))
    items = await ctx.map(
        ["x", "y"],
        lambda c, item, i, _: c.step(lambda _: item * 2, name="twice"),
        name="named",
        config=MapConfig(item_namer=lambda item, i: f"item {item}"),
    )
    out.append(items.get_results())
    return out


async def test_names_with_slashes_unnamed_steps_and_named_items() -> None:
    """Slashes in names are escaped, unnamed steps go by id, named items by name or index."""
    async with DurableTestRunner(oddly_named) as runner:
        result = await runner.run()
    assert result.status is ExecutionStatus.SUCCEEDED
    assert result.get_context("a\\/b").get_step("leaf").value() == "a/b"
    assert result.get_step("a\\/b/leaf").value() == "a/b"
    assert result.get_context("a/b").name == "a/b"  # the exact name also finds it
    assert result.get_step("c\\\\d/leaf").value() == "c\\d"
    assert result.get_context("c\\\\d").path == "c\\\\d"
    assert result.get_step("1/leaf").value() == "1"  # a name that looks like an index
    anon = next(op for op in result.root_operations if op.name is None)
    assert result.get_step(anon.id).value() == "anon"
    assert anon.path == anon.id
    assert result.get_step("named/item y/twice").value() == "yy"
    assert result.get_step("named/1/twice").value() == "yy"


@durable_execution
async def nested(event: Any, ctx: DurableContext) -> Any:
    async def inner(child: DurableContext) -> Any:
        branches = [
            lambda c: c.step(lambda _: "left", name="pick"),
            lambda c: c.step(lambda _: "right", name="pick"),
        ]
        return (await child.parallel(branches, name="sides")).get_results()

    return await ctx.run_in_child_context(inner, name="outer")


async def test_parallel_branches_inside_a_child_context() -> None:
    """Paths run through child contexts and parallel branches alike."""
    async with DurableTestRunner(nested) as runner:
        result = await runner.run()
    assert result.result == ["left", "right"]
    assert result.get_step("outer/sides/0/pick").value() == "left"
    assert result.get_step("outer/sides/parallel-branch-1/pick").value() == "right"
    assert result.get_context("outer").get_step("sides/1/pick").value() == "right"
    assert [op.path for op in result.get_operations("outer/sides/*")] == [
        "outer/sides/parallel-branch-0",
        "outer/sides/parallel-branch-1",
    ]


async def test_custom_serdes_and_an_empty_map() -> None:
    """value() takes the operation's own SerDes; a map of no items has no children."""

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> Any:
        await ctx.step(lambda _: {"n": 1}, name="json", config=StepConfig(serdes=JsonSerDes()))
        return await quote.func({"lines": []}, ctx)

    async with DurableTestRunner(handler) as runner:
        result = await runner.run()
    assert result.get_step("json").value(JsonSerDes()) == {"n": 1}
    assert result.get_context("price-lines").child_operations == []
    assert result.get_operation("settle", OperationType.WAIT).status.value == "SUCCEEDED"


names = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)


@given(st.lists(names, min_size=1, max_size=6))
def test_escaped_segments_split_back_to_the_names(segments: list[str]) -> None:
    """Any names, escaped and joined, split back to exactly those names."""
    path = paths.join([paths.Segment(name, "id") for name in segments])
    assert paths.split(path) == segments


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(names, min_size=1, max_size=4, unique=True))
async def test_every_operation_is_found_by_its_own_path(names_: list[str]) -> None:
    """Whatever the names of nested contexts and steps, each operation's path finds it."""

    @durable_execution
    async def chain(event: Any, ctx: DurableContext) -> Any:
        async def level(c: DurableContext, depth: int) -> Any:
            await c.step(lambda _: depth, name=names_[depth])
            if depth + 1 < len(names_):
                await c.run_in_child_context(lambda cc: level(cc, depth + 1), name=names_[depth])

        await level(ctx, 0)

    async with DurableTestRunner(chain) as runner:
        result = await runner.run()
    assert result.status is ExecutionStatus.SUCCEEDED
    for op in result.get_all_operations():
        assert result.get_operation(op.path, op.type).id == op.id


@given(st.text(alphabet="ab/\\*1", max_size=12))
def test_any_path_text_splits_or_is_refused(text: str) -> None:
    """Any text either splits into non-empty segments that join back to it, or is a ValueError."""
    try:
        segments = paths.split(text)
    except ValueError as exc:
        assert "empty segment" in str(exc)  # noqa: PT017 - either outcome is allowed here
        return
    assert all(segments)
    rejoined = paths.join([paths.Segment(name, "id") for name in segments])
    assert paths.split(rejoined) == segments
