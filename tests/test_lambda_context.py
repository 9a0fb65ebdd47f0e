"""What a context knows about its invocation: the Lambda context object and the execution."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from durable_async import DurableContext, DurableHandler, Duration, durable_execution
from durable_async._execution import _thread_loop
from durable_async.context import ExecutionContext
from durable_async.testing import DurableTestRunner
from tests.conftest import Harness


@dataclass
class FakeLambdaContext:
    """The shape of the Lambda runtime's context object (we cannot run Lambda here)."""

    aws_request_id: str
    function_name: str | None = "fn"
    invoked_function_arn: str | None = None

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def call_like_lambda(handler: DurableHandler[Any, Any], event: Any, context: Any) -> Any:
    """Call ``handler`` synchronously as the Lambda runtime does; close this thread's loop after."""
    try:
        return handler(event, context)
    finally:
        _thread_loop().close()


class WithLambdaContext(DurableHandler[Any, Any]):
    """A handler whose every invocation is given ``lambda_context``, as Lambda would give it."""

    def __init__(self, func: Any, lambda_context: FakeLambdaContext) -> None:
        super().__init__(func)
        self.lambda_context = lambda_context

    async def invoke(self, event: Any, **kwargs: Any) -> dict[str, Any]:
        return await super().invoke(event, lambda_context=self.lambda_context, **kwargs)


async def test_invoke_hands_the_lambda_context_to_root_children_and_items() -> None:
    """invoke(lambda_context=...) reaches the root context, a child context and map items."""
    seen: list[str] = []

    async def item(ctx: DurableContext, value: int, index: int, _: Any) -> None:
        seen.append(f"item:{ctx.lambda_context.aws_request_id}")  # type: ignore[union-attr]

    async def child(ctx: DurableContext) -> None:
        seen.append(f"child:{ctx.lambda_context.aws_request_id}")  # type: ignore[union-attr]
        await ctx.map([1], item, name="items")

    async def body(event: Any, ctx: DurableContext) -> None:
        seen.append(f"root:{ctx.lambda_context.aws_request_id}")  # type: ignore[union-attr]
        await ctx.run_in_child_context(child, name="child")

    handler = WithLambdaContext(body, FakeLambdaContext("req-1"))
    async with DurableTestRunner(handler) as runner:
        await runner.run()
    assert seen == ["root:req-1", "child:req-1", "item:req-1"]


async def test_lambda_context_is_none_without_lambda() -> None:
    """A handler invoked without a Lambda context object sees None."""

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> bool:
        return ctx.lambda_context is None

    async with DurableTestRunner(handler) as runner:
        result = await runner.run()
    assert result.result is True


async def test_sync_entry_passes_the_lambda_context(harness: Harness) -> None:
    """handler(event, context), as the Lambda runtime calls it, hands context to the handler."""

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> str | None:
        return getattr(ctx.lambda_context, "aws_request_id", None)

    arn = await harness.service.start_execution("fn", "{}")
    event = await harness.service.begin_invocation(arn)
    # The Lambda runtime calls from a thread without a running loop.
    output = await asyncio.to_thread(
        call_like_lambda, handler, event, FakeLambdaContext("req-sync")
    )
    assert output == {"Status": "SUCCEEDED", "Result": '"req-sync"'}


async def test_execution_context_names_the_execution_everywhere() -> None:
    """execution_context.durable_execution_arn is the execution's ARN, in child contexts too."""

    async def child(ctx: DurableContext) -> str:
        return ctx.execution_context.durable_execution_arn

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> list[str]:
        await ctx.wait(Duration.from_seconds(2))
        inner = await ctx.run_in_child_context(child, name="child")
        return [ctx.execution_context.durable_execution_arn, inner]

    async with DurableTestRunner(handler) as runner:
        result = await runner.run()
    assert result.result == [result.arn, result.arn]
    assert ExecutionContext(result.arn) == ExecutionContext(durable_execution_arn=result.arn)
