"""durable_parallel_branch: a decorator that makes named branches for ``ctx.parallel``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

from durable_async._context import DurableContext
from durable_async._user import bind_after_one, named_like
from durable_async.config import ParallelBranch

__all__ = ["durable_parallel_branch"]

T = TypeVar("T")
P = ParamSpec("P")

BranchBody = Callable[Concatenate[DurableContext, P], T]


def durable_parallel_branch(
    name: str | None = None,
) -> Callable[[BranchBody[P, T]], Callable[P, ParallelBranch[T]]]:
    """Return a decorator turning ``func(ctx, *args, **kwargs)`` into a factory of branches.

    ``ctx.parallel([fetch_user(user_id)])`` then runs ``fetch_user(branch_ctx, user_id)`` in a
    branch named ``name`` (``parallel-branch-{index}`` when None, as the reference names it).
    It is a decorator factory, as in the reference: write ``@durable_parallel_branch()``.
    """
    if callable(name):
        raise TypeError(
            "durable_parallel_branch makes a decorator: write @durable_parallel_branch() or "
            '@durable_parallel_branch(name="..."), not @durable_parallel_branch.'
        )
    if name is not None and not isinstance(name, str):
        raise TypeError(f"A parallel branch's name must be a str or None, not {name!r}.")

    def decorate(func: BranchBody[P, T]) -> Callable[P, ParallelBranch[T]]:
        bind = bind_after_one(func)

        def factory(*args: P.args, **kwargs: P.kwargs) -> ParallelBranch[T]:
            return ParallelBranch(bind(*args, **kwargs), name)

        return named_like(factory, func)

    return decorate
