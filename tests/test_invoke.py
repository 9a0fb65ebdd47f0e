"""ctx.invoke (chained invoke) on the SQLite-backed local service: results, replay, failures."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from durable_async import (
    DurableContext,
    Duration,
    ExtendedTypesSerDes,
    InvokeConfig,
    durable_execution,
)
from durable_async._ids import operation_id
from durable_async.exceptions import InvokeError
from durable_async.testing import DurableTestRunner, ExecutionStatus
from tests.conftest import Harness


@durable_execution
async def pricing(event: dict[str, Any], ctx: DurableContext) -> dict[str, Any]:
    price = await ctx.step(lambda _: 100 * len(event["items"]), name="price")
    await ctx.wait(Duration.from_seconds(5), name="settle")
    return {"id": event["id"], "price": price}


@durable_execution
async def broken_pricing(event: Any, ctx: DurableContext) -> None:
    await ctx.step(lambda _: None, name="lookup")
    raise LookupError(f"no price list for {event['id']}")


def describe(exc: InvokeError) -> tuple[str | None, str | None]:
    """Return the recorded error type and message, to compare first run and replay."""
    return exc.error_type, exc.message


async def test_invoke_returns_the_targets_result_and_replays_it(sqlite_path: Path) -> None:
    """The target runs once as its own execution; a replay returns its recorded result."""
    results: list[Any] = []

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> Any:
        results.append(await ctx.invoke("pricing-fn", {"id": "o-1", "items": [1, 2]}, "price"))
        await ctx.wait(Duration.from_seconds(3), name="after")
        return results[-1]

    async with DurableTestRunner(handler, store=sqlite_path) as runner:
        runner.register_durable_function("pricing-fn", pricing)
        result = await runner.run(timeout=30)
        target = await runner.describe(await runner.get_invoked_execution_arn(result, "price"))
    assert result.status is ExecutionStatus.SUCCEEDED
    assert result.result == {"id": "o-1", "price": 200}
    assert results == [{"id": "o-1", "price": 200}] * 2
    op = result.get_invoke("price")
    assert op.id == operation_id(None, 1)
    assert op.sub_type == "ChainedInvoke"
    assert target.status is ExecutionStatus.SUCCEEDED
    assert target.invocations == 2  # the target's own wait, not re-run by the caller's replay


async def test_invoke_start_is_awaited_with_function_name_tenant_and_json_payload(
    harness: Harness,
) -> None:
    """START goes alone in a call with ChainedInvokeOptions and the JSON payload."""

    @durable_execution
    async def target(event: Any, ctx: DurableContext) -> Any:
        return event

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> Any:
        config = InvokeConfig[Any, Any](tenant_id="tenant-7")
        return await ctx.invoke("echo", {"n": [1, 2]}, name="echo", config=config)

    harness.register("echo", target)
    result = await harness.run(handler)
    assert result["Result"] == '{"n": [1, 2]}'
    [start] = harness.recorder.calls[0]
    assert start["Type"] == "CHAINED_INVOKE"
    assert start["Action"] == "START"
    assert start["SubType"] == "ChainedInvoke"
    assert start["ChainedInvokeOptions"] == {"FunctionName": "echo", "TenantId": "tenant-7"}
    assert start["Payload"] == '{"n": [1, 2]}'  # json.dumps defaults, as the reference's JsonSerDes


async def test_invoke_options_omit_an_absent_tenant(harness: Harness) -> None:
    """Without a tenant id, ChainedInvokeOptions holds only the function name."""

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> Any:
        return await ctx.invoke("double", 21)

    harness.runner.register_function("double", lambda n: n * 2)
    result = await harness.run(handler)
    assert result["Result"] == "42"
    assert harness.recorder.calls[0][0]["ChainedInvokeOptions"] == {"FunctionName": "double"}


async def test_plain_function_targets_sync_and_async(sqlite_path: Path) -> None:
    """register_function targets, sync or async, get the decoded payload and give the result."""

    async def shout(text: str) -> str:
        return text.upper()

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> list[Any]:
        return [await ctx.invoke("count", [1, 2, 3]), await ctx.invoke("shout", "hi")]

    async with DurableTestRunner(handler, store=sqlite_path) as runner:
        runner.register_function("count", len)
        runner.register_function("shout", shout)
        result = await runner.run(timeout=30)
    assert result.result == [3, "HI"]


async def test_custom_serdes_encode_the_payload_and_decode_the_result(harness: Harness) -> None:
    """serdes_payload writes the payload and serdes_result reads the target's result."""
    serdes = ExtendedTypesSerDes[Any]()

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> list[Any]:
        config = InvokeConfig[Any, Any](serdes_payload=serdes, serdes_result=serdes)
        result = await ctx.invoke("pair", (1, 2), config=config)
        return [type(result).__name__, list(result)]

    harness.runner.register_function("pair", lambda payload: {"t": "t", "v": payload["v"]})
    result = await harness.run(handler)
    assert result["Result"] == '["tuple", [1, 2]]'
    payload = '{"t":"t","v":[{"t":"i","v":1},{"t":"i","v":2}]}'
    assert harness.recorder.calls[0][0]["Payload"] == payload


async def test_failing_target_raises_invoke_error_on_first_run_and_replay(
    sqlite_path: Path,
) -> None:
    """A failed target raises InvokeError with its error type and message, again on replay."""
    caught: list[tuple[str | None, str | None]] = []

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> str:
        try:
            await ctx.invoke("pricing-fn", {"id": "o-9"}, name="price")
        except InvokeError as exc:
            caught.append(describe(exc))
        await ctx.wait(Duration.from_seconds(1), name="after")
        return "handled"

    async with DurableTestRunner(handler, store=sqlite_path) as runner:
        runner.register_durable_function("pricing-fn", broken_pricing)
        result = await runner.run(timeout=30)
    assert result.result == "handled"
    assert caught == [("LookupError", "no price list for o-9")] * 2
    assert result.get_invoke("price").status.value == "FAILED"


async def test_uncaught_invoke_error_fails_the_caller(sqlite_path: Path) -> None:
    """An InvokeError the handler does not catch fails the execution with that error."""

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> Any:
        return await ctx.invoke("explode", None)

    def explode(payload: Any) -> None:
        raise RuntimeError("boom")

    async with DurableTestRunner(handler, store=sqlite_path) as runner:
        runner.register_function("explode", explode)
        result = await runner.run(timeout=30)
    assert result.status is ExecutionStatus.FAILED
    assert result.error is not None
    assert result.error.error_type == "durable_async.exceptions.InvokeError"
    assert result.error.error_message == "boom"


async def test_unknown_target_fails_with_a_clear_invoke_error(sqlite_path: Path) -> None:
    """Invoking a function nobody registered raises InvokeError naming the missing function."""
    caught: list[tuple[str | None, str | None]] = []

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> str:
        try:
            await ctx.invoke("no-such-fn", {}, name="missing")
        except InvokeError as exc:
            caught.append(describe(exc))
        await ctx.wait(Duration.from_seconds(1))
        return "handled"

    async with DurableTestRunner(handler, store=sqlite_path) as runner:
        result = await runner.run(timeout=30)
    assert result.result == "handled"
    assert len(caught) == 2
    assert caught[0] == caught[1]
    error_type, message = caught[0]
    assert error_type == "ResourceNotFoundException"
    assert message is not None
    assert "'no-such-fn'" in message


async def test_concurrent_invokes_take_ids_in_call_order(sqlite_path: Path) -> None:
    """Invokes started together get ids in call order and each result goes to its caller."""

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> list[Any]:
        calls = [ctx.invoke("double", n, name=f"double-{n}") for n in (1, 2, 3)]
        return list(await asyncio.gather(*calls))

    async with DurableTestRunner(handler, store=sqlite_path) as runner:
        runner.register_function("double", lambda n: n * 2)
        result = await runner.run(timeout=30)
    assert result.result == [2, 4, 6]
    assert [result.get_invoke(f"double-{n}").id for n in (1, 2, 3)] == [
        operation_id(None, n) for n in (1, 2, 3)
    ]
