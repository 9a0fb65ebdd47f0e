"""An unserialisable dataclass or pydantic result: the error names the TypedSerDes that works.

Each suggestion is checked the way a user would follow it: the handler is changed exactly as
the message says, and then it succeeds.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic
import pytest

from durable_async import DurableContext, StepConfig, TypedSerDes, durable_execution
from durable_async.serdes import EXTENDED_TYPES_SERDES, JsonSerDes, serialize
from durable_async.testing import DurableTestRunner, ExecutionStatus


@dataclass(frozen=True)
class Receipt:
    order_id: str
    cents: int


class Approval(pydantic.BaseModel):
    approver: str
    approved: bool


@dataclass
class Holder:
    lock: Any  # nothing can write a lock as JSON, TypedSerDes included


RECEIPT = Receipt("o-1", 350)
APPROVAL = Approval(approver="ana", approved=True)
SUGGESTION = re.compile(r"StepConfig\(serdes=TypedSerDes\(([^()]*)\)\)")


async def _failed_message(sqlite_path: Path, value: Any) -> str:
    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> Any:
        await ctx.step(lambda _: value, name="make")
        return "done"

    async with DurableTestRunner(handler, store=sqlite_path) as runner:
        result = await runner.run(timeout=30)
    assert result.status is ExecutionStatus.FAILED
    assert result.error is not None
    return result.error.error_message or ""


@pytest.mark.parametrize(
    ("value", "typed", "declared", "kind"),
    [
        pytest.param(RECEIPT, "Receipt", Receipt, "a dataclass", id="dataclass"),
        pytest.param(APPROVAL, "Approval", Approval, "a pydantic model", id="pydantic"),
        pytest.param(
            [RECEIPT, Receipt("o-2", 1)],
            "list[Receipt]",
            list[Receipt],
            "a list of dataclasses",
            id="list",
        ),
        pytest.param(
            {"a": APPROVAL},
            "dict[str, Approval]",
            dict[str, Approval],
            "a dict of pydantic models",
            id="dict",
        ),
    ],
)
async def test_the_error_names_the_typed_serdes_and_following_it_works(
    sqlite_path: Path, value: Any, typed: str, declared: Any, kind: str
) -> None:
    """The message names TypedSerDes(T) for the value's type; a step given it then succeeds."""
    message = await _failed_message(sqlite_path, value)

    assert f"The value is {kind}" in message
    assert f"@durable_execution(serdes=TypedSerDes({typed}))" in message
    suggested = SUGGESTION.search(message)
    assert suggested is not None
    assert suggested.group(1) == typed

    @durable_execution
    async def fixed(event: Any, ctx: DurableContext) -> Any:
        config = StepConfig(serdes=TypedSerDes(declared))
        made = await ctx.step(lambda _: value, name="make", config=config)
        return made == value

    async with DurableTestRunner(fixed, store=sqlite_path) as runner:
        result = await runner.run(timeout=30)
    assert result.status is ExecutionStatus.SUCCEEDED
    assert result.result is True


async def test_the_handler_wide_suggestion_works_too(sqlite_path: Path) -> None:
    """@durable_execution(serdes=TypedSerDes(Receipt)), as the message says, serves the step."""
    assert "@durable_execution(serdes=TypedSerDes(Receipt))" in (
        await _failed_message(sqlite_path, RECEIPT)
    )

    @durable_execution(serdes=TypedSerDes(Receipt))
    async def fixed(event: Any, ctx: DurableContext) -> Any:
        made = await ctx.step(lambda _: RECEIPT, name="make")
        return {"cents": made.cents}

    async with DurableTestRunner(fixed, store=sqlite_path) as runner:
        result = await runner.run(timeout=30)
    assert result.status is ExecutionStatus.SUCCEEDED


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(Holder(threading.Lock()), id="field-typed-serdes-cannot-write"),
        pytest.param({1, 2}, id="set"),
        pytest.param([RECEIPT, APPROVAL], id="mixed-list"),
        pytest.param((RECEIPT,), id="tuple-reads-back-as-list"),
        pytest.param({1: RECEIPT}, id="int-keys"),
        pytest.param(object(), id="object"),
    ],
)
@pytest.mark.parametrize("serdes", [JsonSerDes(), EXTENDED_TYPES_SERDES], ids=["json", "ext"])
def test_no_typed_serdes_is_suggested_when_it_would_not_work(value: Any, serdes: Any) -> None:
    """Values no single TypedSerDes round-trips get only the general advice, never a wrong one."""
    with pytest.raises(Exception, match="Could not serialize") as caught:
        serialize(serdes, value, "op-1", "arn")

    message = str(caught.value)
    assert "The value is" not in message
    assert "TypedSerDes(YourType)" in message
