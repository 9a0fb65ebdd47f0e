"""Calling user code: async functions on the loop, sync ones in a worker thread."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import anyio.to_thread

__all__ = ["bind_trailing", "call_user"]


async def call_user(func: Callable[..., Any], *args: Any) -> Any:
    """Call ``func(*args)``: await it when async, else run it in a worker thread.

    A sync function that returns an awaitable (``lambda s: fetch(s)``) has it awaited too.
    """
    if inspect.iscoroutinefunction(func):
        return await func(*args)
    value = await anyio.to_thread.run_sync(func, *args)
    if inspect.isawaitable(value):
        return await value
    return value


def bind_trailing(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Return ``f(*leading) = func(*leading, *args, **kwargs)``, async exactly when ``func`` is.

    The result carries ``_original_name`` (``func``'s name), which names the operation it runs.
    """
    if inspect.iscoroutinefunction(func):

        async def bound_async(*leading: Any) -> Any:
            return await func(*leading, *args, **kwargs)

        bound: Any = bound_async
    else:

        def bound_sync(*leading: Any) -> Any:
            return func(*leading, *args, **kwargs)

        bound = bound_sync
    bound._original_name = func.__name__
    return bound
