"""Generic types that mypy --strict must infer exactly (see test_typing.py).

``ParallelBranch`` is generic in its function's result, ``ctx.parallel`` and ``ctx.invoke``
carry it and ``InvokeConfig``'s result type through, and ``DurableHandler`` is generic over the
handler's event and result.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, assert_type

from durable_async import (
    BatchResult,
    DurableContext,
    DurableHandler,
    InvokeConfig,
    ParallelBranch,
    durable_execution,
    durable_parallel_branch,
)


@durable_parallel_branch(name="user")
async def fetch_user(ctx: DurableContext, user_id: str) -> dict[str, str]:
    return {"id": user_id}


@durable_parallel_branch()
def sync_count(ctx: DurableContext, user_id: str) -> int:
    return 1


async def orders(ctx: DurableContext) -> list[str]:
    return []


async def pending(ctx: DurableContext) -> None:
    assert_type(fetch_user("u"), ParallelBranch[Coroutine[Any, Any, dict[str, str]]])
    assert_type(sync_count("u"), ParallelBranch[int])
    users = await ctx.parallel([fetch_user("u"), fetch_user("v")])
    assert_type(users, BatchResult[dict[str, str]])
    assert_type(await ctx.parallel([sync_count("u")]), BatchResult[int])
    assert_type(await ctx.parallel([ParallelBranch(orders, "o")]), BatchResult[list[str]])
    assert_type(await ctx.invoke("fn", 1, config=InvokeConfig[int, str]()), str)
    assert_type(await ctx.invoke("fn", 1, "named", InvokeConfig[int, bytes]()), bytes)
    assert_type(await ctx.invoke("fn", {"id": 1}), Any)


@durable_execution
async def typed_handler(event: dict[str, int], ctx: DurableContext) -> list[str]:
    return []


@durable_execution(service=None)
async def configured_handler(event: str, ctx: DurableContext) -> int:
    return 1


assert_type(typed_handler, DurableHandler[dict[str, int], list[str]])
assert_type(configured_handler, DurableHandler[str, int])
