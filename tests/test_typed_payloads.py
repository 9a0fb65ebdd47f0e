"""Dataclasses and pydantic models as payloads (TypedSerDes) and a handler's default SerDes."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pydantic
import pytest

from durable_async import (
    CallbackConfig,
    ChildConfig,
    DurableContext,
    Duration,
    InvokeConfig,
    JsonSerDes,
    MapConfig,
    StepConfig,
    StepContext,
    TypedSerDes,
    WaitForConditionConfig,
    durable_execution,
    durable_step,
)
from durable_async.exceptions import SerDesError
from durable_async.serdes import SerDesContext
from durable_async.testing import DurableTestRunner, ExecutionStatus
from durable_async.waits import WaitForConditionDecision


@dataclass(frozen=True)
class Line:
    sku: str
    quantity: int


@dataclass(frozen=True)
class Receipt:
    order_id: str
    total: float
    lines: list[Line] = field(default_factory=list)
    note: str | None = None


class Approval(pydantic.BaseModel):
    approver: str
    approved: bool
    at: datetime


class Quote(pydantic.BaseModel):
    order_id: str
    price: int


RECEIPT = Receipt("o-1", 12.5, [Line("apple", 2), Line("pear", 1)])
APPROVAL = Approval(approver="ana", approved=True, at=datetime(2026, 1, 2, 3, 4, tzinfo=UTC))


async def test_a_dataclass_step_result_replays_as_an_equal_dataclass(sqlite_path: Path) -> None:
    """A step returning a nested dataclass gives an equal Receipt on the first run and on replay."""
    seen: list[Any] = []

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> Any:
        config = StepConfig(serdes=TypedSerDes(Receipt))
        seen.append(await ctx.step(lambda _: RECEIPT, name="receipt", config=config))
        await ctx.wait(Duration.from_seconds(5), name="later")
        return asdict(seen[-1])

    async with DurableTestRunner(handler, store=sqlite_path) as runner:
        result = await runner.run(timeout=30)
    assert result.status is ExecutionStatus.SUCCEEDED
    assert seen == [RECEIPT, RECEIPT]
    assert all(type(value) is Receipt and type(value.lines[0]) is Line for value in seen)
    assert json.loads(result.get_step("receipt").result or "") == asdict(RECEIPT)


async def test_a_pydantic_step_result_replays_as_an_equal_model(sqlite_path: Path) -> None:
    """A step returning a pydantic model (with a datetime) gives an equal model on replay."""
    seen: list[Any] = []

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> str:
        config = StepConfig(serdes=TypedSerDes(Approval))
        seen.append(await ctx.step(lambda _: APPROVAL, name="approval", config=config))
        await ctx.wait(Duration.from_seconds(5), name="later")
        return "done"

    async with DurableTestRunner(handler, store=sqlite_path) as runner:
        result = await runner.run(timeout=30)
    assert result.status is ExecutionStatus.SUCCEEDED
    assert seen == [APPROVAL, APPROVAL]
    assert all(type(value) is Approval for value in seen)


async def test_a_callback_result_is_read_as_a_model(sqlite_path: Path) -> None:
    """The JSON a callback is answered with comes back as the declared pydantic model."""
    seen: list[Any] = []

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> str:
        config = CallbackConfig(serdes=TypedSerDes(Approval))
        callback = await ctx.create_callback("approval", config)
        seen.append(await callback.result())
        await ctx.wait(Duration.from_seconds(5), name="later")
        return "done"

    async with DurableTestRunner(handler, store=sqlite_path) as runner:
        arn = await runner.start()
        callback_id = await runner.wait_for_callback(arn, name="approval")
        await runner.send_callback_success(callback_id, APPROVAL.model_dump(mode="json"))
        result = await runner.wait_for_result(arn, timeout=30)
    assert result.status is ExecutionStatus.SUCCEEDED
    assert seen == [APPROVAL, APPROVAL]


@durable_execution
async def pricing(event: Any, ctx: DurableContext) -> dict[str, Any]:
    """Price a Receipt sent as plain JSON."""
    return {"order_id": event["order_id"], "price": 100 * len(event["lines"])}


async def test_invoke_sends_a_dataclass_and_reads_a_model(sqlite_path: Path) -> None:
    """A chained invoke's payload is a dataclass written as JSON; its result reads as a model."""
    seen: list[Any] = []

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> str:
        config = InvokeConfig(serdes_payload=TypedSerDes(Receipt), serdes_result=TypedSerDes(Quote))
        seen.append(await ctx.invoke("pricing-fn", RECEIPT, name="price", config=config))
        await ctx.wait(Duration.from_seconds(5), name="later")
        return "done"

    async with DurableTestRunner(handler, store=sqlite_path) as runner:
        runner.register_durable_function("pricing-fn", pricing)
        result = await runner.run(timeout=30)
    assert result.status is ExecutionStatus.SUCCEEDED
    assert seen == [Quote(order_id="o-1", price=200)] * 2


async def test_the_handler_default_serdes_serves_every_operation(sqlite_path: Path) -> None:
    """With durable_execution(serdes=...), steps, child contexts, map and parallel items,
    callbacks, invokes and wait_for_condition state all use the handler's SerDes, on replay too."""
    seen: list[Any] = []

    def poll(state: Receipt, _: Any) -> Receipt:
        return Receipt(state.order_id, state.total + 1, state.lines)

    def decide(state: Receipt, attempt: int) -> WaitForConditionDecision:
        if state.total >= 14.5:
            return WaitForConditionDecision.stop_polling()
        return WaitForConditionDecision.continue_waiting(Duration.from_seconds(1))

    async def child(ctx: DurableContext) -> Receipt:
        return await ctx.step(lambda _: RECEIPT, name="inner")

    async def item(ctx: DurableContext, line: Line, index: int, items: Any) -> Receipt:
        return Receipt(f"o-{index}", float(line.quantity), [line])

    @durable_execution(serdes=TypedSerDes(Receipt))
    async def handler(event: Any, ctx: DurableContext) -> str:
        seen.clear()
        seen.append(await ctx.step(lambda _: RECEIPT, name="step"))
        seen.append(await ctx.run_in_child_context(child, name="child"))
        batch = await ctx.map(RECEIPT.lines, item, name="map")
        seen.append(batch.get_results())
        branches = await ctx.parallel([child, child], name="parallel")
        seen.append(branches.get_results())
        callback = await ctx.create_callback("cb")
        seen.append(await callback.result())
        seen.append(await ctx.invoke("pricing-fn", RECEIPT, name="price"))
        condition = WaitForConditionConfig(wait_strategy=decide, initial_state=RECEIPT)
        seen.append(await ctx.wait_for_condition(poll, condition, name="poll"))
        return "done"

    @durable_execution
    async def receipt_pricing(event: Any, ctx: DurableContext) -> dict[str, Any]:
        return asdict(Receipt(event["order_id"], 99.0))

    async with DurableTestRunner(handler, store=sqlite_path) as runner:
        runner.register_durable_function("pricing-fn", receipt_pricing)
        arn = await runner.start()
        await runner.send_callback_success(await runner.wait_for_callback(arn), asdict(RECEIPT))
        result = await runner.wait_for_result(arn, timeout=30)
    assert result.status is ExecutionStatus.SUCCEEDED, result.error
    assert seen == [
        RECEIPT,
        RECEIPT,
        [Receipt("o-0", 2.0, [Line("apple", 2)]), Receipt("o-1", 1.0, [Line("pear", 1)])],
        [RECEIPT, RECEIPT],
        RECEIPT,
        Receipt("o-1", 99.0),
        Receipt("o-1", 14.5, RECEIPT.lines),
    ]


async def test_an_operations_own_serdes_wins_over_the_handler_default(sqlite_path: Path) -> None:
    """A step, child or map with a SerDes of its own uses it, not the handler's default."""
    seen: list[Any] = []

    async def child(ctx: DurableContext) -> list[int]:
        return [1, 2]

    async def item(ctx: DurableContext, value: int, index: int, items: Any) -> int:
        return value * 10

    @durable_execution(serdes=TypedSerDes(Receipt))
    async def handler(event: Any, ctx: DurableContext) -> str:
        json_serdes = JsonSerDes[Any]()
        seen.clear()
        seen.append(await ctx.step(lambda _: {"n": 1}, "step", StepConfig(serdes=json_serdes)))
        seen.append(await ctx.run_in_child_context(child, "child", ChildConfig(serdes=json_serdes)))
        batch = await ctx.map([1, 2], item, "map", MapConfig(item_serdes=TypedSerDes(int)))
        seen.append(batch.get_results())
        await ctx.wait(Duration.from_seconds(5), name="later")
        return "done"

    async with DurableTestRunner(handler, store=sqlite_path) as runner:
        result = await runner.run(timeout=30)
    assert result.status is ExecutionStatus.SUCCEEDED, result.error
    assert seen == [{"n": 1}, [1, 2], [10, 20]]
    assert result.get_step("step").result == '{"n": 1}'


async def test_a_value_that_does_not_match_the_declared_type_fails_the_step(
    sqlite_path: Path,
) -> None:
    """A step returning something other than its TypedSerDes's type fails with SerDesError."""

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> Any:
        config = StepConfig(serdes=TypedSerDes(Receipt))
        return await ctx.step(lambda _: {"order_id": "o-1"}, name="receipt", config=config)

    async with DurableTestRunner(handler, store=sqlite_path) as runner:
        result = await runner.run(timeout=30)
    assert result.status is ExecutionStatus.FAILED
    assert result.error is not None
    assert "does not match the declared type Receipt" in (result.error.error_message or "")


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        pytest.param(Receipt, '{"order_id": "o-1"}', "missing 1 required", id="missing-field"),
        pytest.param(Receipt, '{"order_id": "o-1", "total": 1, "x": 2}', "x", id="unknown-field"),
        pytest.param(Receipt, '{"order_id": 7, "total": 1}', "order_id", id="wrong-field-type"),
        pytest.param(Approval, '{"approver": "ana"}', "approved", id="invalid-model"),
        pytest.param(list[Line], '{"sku": "a"}', "array", id="not-a-list"),
    ],
)
def test_a_payload_that_does_not_match_the_declared_type_is_a_serdes_error(
    kind: Any, text: str, expected: str
) -> None:
    """Reading text that does not build the declared type raises SerDesError saying where."""
    with pytest.raises(SerDesError, match="does not match the declared type") as info:
        TypedSerDes(kind).deserialize(text, SerDesContext("op-1", "arn"))
    assert expected in str(info.value)
    assert "op-1" in str(info.value)


def test_containers_optionals_and_primitives_round_trip() -> None:
    """Lists, dicts, tuples, optionals and floats written as ints read back as declared."""
    context = SerDesContext("op", "arn")
    cases: list[tuple[Any, Any]] = [
        (list[Line], [Line("a", 1)]),
        (dict[str, Approval], {"x": APPROVAL}),
        (tuple[int, str], (1, "a")),
        (Receipt | None, None),
        (float, 3.0),
    ]
    for kind, value in cases:
        serdes = TypedSerDes[Any](kind)
        assert serdes.deserialize(serdes.serialize(value, context), context) == value


def test_import_does_not_load_pydantic() -> None:
    """Importing durable_async (and its test runner) never imports pydantic."""
    code = "import sys, durable_async, durable_async.testing; print('pydantic' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.split() == ["False"]


@dataclass(frozen=True)
class Total:
    cents: int


@durable_step
def total(step: StepContext, cents: int) -> Total:
    """Return a Total, the step's declared result."""
    return Total(cents)


@durable_step
async def totals(step: StepContext, cents: int) -> list[Total]:
    """Return a list of Totals from an async step."""
    return [Total(cents), Total(cents + 1)]


async def test_a_steps_declared_dataclass_result_picks_its_serdes(sqlite_path: Path) -> None:
    """Without any SerDes configured, a step annotated to return a dataclass replays it typed."""
    seen: list[Any] = []

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> str:
        seen.append(await ctx.step(total(250)))
        seen.append(await ctx.step(totals(7)))
        await ctx.wait(Duration.from_seconds(5), name="later")
        return "done"

    async with DurableTestRunner(handler, store=sqlite_path) as runner:
        result = await runner.run(timeout=30)
    assert result.status is ExecutionStatus.SUCCEEDED, result.error
    assert seen == [Total(250), [Total(7), Total(8)]] * 2
    assert result.get_step("total").result == '{"cents": 250}'


async def test_an_unannotated_dataclass_result_names_typed_serdes_in_its_error(
    sqlite_path: Path,
) -> None:
    """A step whose dataclass result nothing declares fails saying to pass TypedSerDes."""

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> Any:
        return await ctx.step(lambda _: Total(1), name="total")

    async with DurableTestRunner(handler, store=sqlite_path) as runner:
        result = await runner.run(timeout=30)
    assert result.status is ExecutionStatus.FAILED
    assert result.error is not None
    assert "TypedSerDes(YourType)" in (result.error.error_message or "")


async def test_a_union_handler_default_serves_steps_of_several_types_and_none(
    sqlite_path: Path,
) -> None:
    """A handler default over Receipt | Total | str carries each of them, and None, through
    steps and wait_for_callback, typed again on replay."""
    seen: list[Any] = []

    def submit(callback_id: str, context: Any) -> None:
        """Hand the callback id to the approver (nothing to return)."""

    @durable_execution(serdes=TypedSerDes(Receipt | Total | str))
    async def handler(event: Any, ctx: DurableContext) -> str:
        seen.clear()
        seen.append(await ctx.step(lambda _: RECEIPT, name="receipt"))
        seen.append(await ctx.step(lambda _: Total(3), name="total"))
        seen.append(await ctx.step(lambda _: "text", name="text"))
        seen.append(await ctx.step(lambda _: None, name="nothing"))
        seen.append(await ctx.wait_for_callback(submit, name="approval"))
        return "done"

    async with DurableTestRunner(handler, store=sqlite_path) as runner:
        arn = await runner.start()
        callback_id = await runner.wait_for_callback(arn, name="approval")
        await runner.send_callback_success(callback_id, {"cents": 9})
        result = await runner.wait_for_result(arn, timeout=30)
    assert result.status is ExecutionStatus.SUCCEEDED, result.error
    assert seen == [RECEIPT, Total(3), "text", None, Total(9)]
    assert type(seen[0]) is Receipt
