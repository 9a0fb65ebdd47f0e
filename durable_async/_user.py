"""Calling user code: async functions on the loop, sync ones in a worker thread.

Also the typed binding behind the ``durable_*`` decorators: ``bind_after_one`` and
``bind_after_two`` keep the decorated function's extra parameters (ParamSpec) and its result, so
``price(3)`` type-checks against ``price(step, n: int) -> int`` and ``price("three")`` does not.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

import anyio.to_thread

__all__ = ["bind_after_one", "bind_after_two", "bind_trailing", "call_user"]

A = TypeVar("A")
B = TypeVar("B")
T = TypeVar("T")
P = ParamSpec("P")
F = TypeVar("F", bound=Callable[..., Any])


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

    The result carries ``_original_name`` (``func``'s name), which names the operation it runs,
    and ``_original_func``, whose return annotation may pick the step's SerDes.
    """
    if inspect.iscoroutinefunction(func):

        async def bound_async(*leading: Any) -> Any:
            return await func(*leading, *args, **kwargs)

        bound: Any = bound_async
    else:

        def bound_sync(*leading: Any) -> Any:
            return func(*leading, *args, **kwargs)

        bound = bound_sync
    bound._original_name = getattr(func, "__name__", None)
    bound._original_func = func  # read for its return annotation (serdes_for_return)
    return bound


def bind_after_one(func: Callable[Concatenate[A, P], T]) -> Callable[P, Callable[[A], T]]:
    """Return a factory: ``factory(*args, **kwargs)(a)`` runs ``func(a, *args, **kwargs)``."""

    def factory(*args: P.args, **kwargs: P.kwargs) -> Callable[[A], T]:
        bound: Callable[[A], T] = bind_trailing(func, args, kwargs)
        return bound

    return named_like(factory, func)


def bind_after_two(
    func: Callable[Concatenate[A, B, P], T],
) -> Callable[P, Callable[[A, B], T]]:
    """Return a factory: ``factory(*args, **kwargs)(a, b)`` runs ``func(a, b, *args, **kwargs)``."""

    def factory(*args: P.args, **kwargs: P.kwargs) -> Callable[[A, B], T]:
        bound: Callable[[A, B], T] = bind_trailing(func, args, kwargs)
        return bound

    return named_like(factory, func)


def named_like(factory: F, func: Callable[..., Any]) -> F:
    """Give ``factory`` the name, qualified name, module and docstring of ``func``."""
    for attribute in ("__name__", "__qualname__", "__module__", "__doc__"):
        if hasattr(func, attribute):
            setattr(factory, attribute, getattr(func, attribute))
    return factory
