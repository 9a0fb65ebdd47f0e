"""A RetryableSerDesError while recording a result fails the invocation, not the operation."""

from __future__ import annotations

import json
from typing import Any

import pytest

from durable_async import DurableContext, MapConfig, StepConfig, durable_execution
from durable_async.exceptions import RetryableSerDesError
from durable_async.serdes import SerDes, SerDesContext
from durable_async.testing import DurableTestRunner, ExecutionStatus


class FlakyStore(SerDes[Any]):
    """A SerDes whose store fails transiently on the first ``failures`` writes."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.writes = 0

    def serialize(self, value: Any, serdes_context: SerDesContext) -> str:
        self.writes += 1
        if self.writes <= self.failures:
            raise RetryableSerDesError("the store is briefly unavailable")
        return json.dumps(value)

    def deserialize(self, data: str, serdes_context: SerDesContext) -> Any:
        return json.loads(data)


@pytest.mark.parametrize("where", ["step", "map item"])
async def test_a_transient_serdes_failure_retries_the_invocation(where: str) -> None:
    """The invocation fails and is retried; the operation neither fails nor burns retries."""
    store = FlakyStore(failures=2)
    bodies: list[int] = []

    def body(_: Any) -> int:
        bodies.append(1)
        return 7

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> Any:
        if where == "step":
            return await ctx.step(body, name="save", config=StepConfig(serdes=store))

        async def item(c: DurableContext, value: int, index: int, items: Any) -> int:
            return await c.step(body, name="save", config=StepConfig(serdes=store))

        config = MapConfig(item_serdes=store)
        return (await ctx.map([1], item, config=config)).get_results()

    async with DurableTestRunner(handler) as runner:
        result = await runner.run(timeout=30)
    assert result.status is ExecutionStatus.SUCCEEDED, result.error
    assert result.invocations == 3  # two failed invocations, then one that records the result
    assert len(bodies) == 3  # the at-least-once step ran again in each invocation
