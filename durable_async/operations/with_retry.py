"""with_retry: re-run a block of durable code with backoff, in a child context.

``ctx.step`` retries one atomic function; ``with_retry`` retries a whole block that may hold many
durable operations (steps, waits, callbacks, invokes). On failure the block runs again from its
start, after a durable wait chosen by a retry strategy::

    from durable_async.retries import RetryStrategyConfig, WithRetryConfig, create_retry_strategy
    from durable_async.retries import with_retry

    async def reserve(ctx: DurableContext, attempt: int) -> str:
        hold = await ctx.step(place_hold(order), name="hold")
        await ctx.step(confirm(hold), name="confirm")   # a failure here places a new hold
        return hold

    hold = await with_retry(ctx, reserve, WithRetryConfig(
        retry_strategy=create_retry_strategy(RetryStrategyConfig(max_attempts=4))), name="reserve")

The reference SDK's semantics, name for name:

- ``func(ctx, attempt)`` gets the context to run in and the attempt number, 1 for the first. It
  may be an ``async def`` or a plain function; what a plain one returns is awaited when awaitable.
- The attempts run inside one child context named ``name`` (a CONTEXT operation of subtype
  ``RunInChildContext``, or ``child_context_config.sub_type``). Every attempt's operations are
  recorded in it, numbered on from the previous attempt's, so a replay takes each recorded
  outcome again: completed steps do not run twice, failed ones fail again from their record.
- After attempt *n* fails with an error the strategy retries, a durable wait of the decided delay
  is recorded in the child, named ``"{name}-backoff-{n}"`` (unnamed when ``name`` is None). The
  strategy is ``retry_strategy(error, n)``; None means ``create_retry_strategy()`` (3 attempts,
  5 s doubling, full jitter). A step inside keeps its own retries (``StepConfig``): give it
  ``RetryPresets.none()`` when the block's strategy should decide alone.
- When the strategy declines, the block's error ends the child context as FAILED and surfaces
  as ``ChildContextError`` with the original error as ``__cause__`` (its type in
  ``error_type``). With ``wrap_with_run_in_child_context=False`` no child context is made: the
  operations and waits are recorded in ``ctx`` itself and the original error propagates as is.
- Suspension and cancellation pass straight through. So do the SDK's own unrecoverable errors
  (``NonDeterministicExecutionError``, ``CheckpointError``...): running the block again cannot
  mend them (the reference would hand them to the strategy first).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from durable_async.config import ChildConfig
from durable_async.exceptions import UnrecoverableError, ValidationError

if TYPE_CHECKING:
    from typing_extensions import TypeVar as DefaultingTypeVar

    from durable_async._context import DurableContext
    from durable_async.config import Duration
    from durable_async.retries import RetryDecision, RetryStrategy

    # Defaults to Any, so an unannotated ``cfg = WithRetryConfig(...)`` passes mypy --strict.
    R = DefaultingTypeVar("R", default=Any)
else:
    R = TypeVar("R")  # typing.TypeVar takes no default before Python 3.13

__all__ = ["WithRetryConfig", "with_retry"]

T = TypeVar("T")


@dataclass(frozen=True)
class WithRetryConfig(Generic[R]):
    """How ``with_retry`` retries a block: the strategy, and whether a child context holds it.

    ``retry_strategy`` is any ``(error, attempts_made) -> RetryDecision`` callable (the
    ``StepConfig`` kind); None uses ``create_retry_strategy()``. ``child_context_config`` is
    passed to the child context and ignored when ``wrap_with_run_in_child_context`` is False.
    """

    retry_strategy: RetryStrategy | None = None
    wrap_with_run_in_child_context: bool = True
    child_context_config: ChildConfig | None = None

    def __post_init__(self) -> None:
        if self.retry_strategy is not None and not callable(self.retry_strategy):
            raise ValidationError(
                f"WithRetryConfig retry_strategy must be callable, got "
                f"{type(self.retry_strategy).__name__}; build one with "
                "create_retry_strategy(RetryStrategyConfig(...)) or pass a RetryPresets one."
            )
        if not isinstance(self.wrap_with_run_in_child_context, bool):
            raise ValidationError(
                "WithRetryConfig wrap_with_run_in_child_context must be True or False, got "
                f"{type(self.wrap_with_run_in_child_context).__name__}."
            )
        _check_child_config(self.child_context_config)


def _check_child_config(config: object) -> None:
    if config is not None and not isinstance(config, ChildConfig):
        raise ValidationError(
            f"WithRetryConfig child_context_config must be a ChildConfig or None, got "
            f"{type(config).__name__}; pass ChildConfig(...)."
        )


@overload
async def with_retry(
    context: DurableContext,
    func: Callable[[DurableContext, int], Awaitable[T]],
    config: WithRetryConfig[Any],
    name: str | None = None,
) -> T: ...


@overload
async def with_retry(
    context: DurableContext,
    func: Callable[[DurableContext, int], T],
    config: WithRetryConfig[Any],
    name: str | None = None,
) -> T: ...


async def with_retry(
    context: DurableContext,
    func: Callable[[DurableContext, int], Any],
    config: WithRetryConfig[Any],
    name: str | None = None,
) -> Any:
    """Run ``func(ctx, attempt)`` until it succeeds or the strategy stops, waiting in between."""
    _check_call(context, func, config)
    loop = _RetryLoop(func, config.retry_strategy or _default_strategy(), name)
    if not config.wrap_with_run_in_child_context:
        return await loop.run(context)
    return await context.run_in_child_context(
        loop.run, name=name, config=config.child_context_config
    )


def _check_call(context: object, func: object, config: object) -> None:
    from durable_async._context import DurableContext

    if not isinstance(context, DurableContext):
        raise ValidationError(
            f"with_retry takes the DurableContext first, got {type(context).__name__}; "
            "call with_retry(ctx, func, WithRetryConfig(...), name=...)."
        )
    if not callable(func):
        raise ValidationError(
            f"with_retry's func must be callable as func(ctx, attempt), got "
            f"{type(func).__name__}; pass an async def or a function."
        )
    if not isinstance(config, WithRetryConfig):
        raise ValidationError(
            f"with_retry's config must be a WithRetryConfig, got {type(config).__name__}; "
            "pass WithRetryConfig() for the default strategy."
        )


def _default_strategy() -> RetryStrategy:
    from durable_async.retries import create_retry_strategy

    return create_retry_strategy()


@dataclass(frozen=True)
class _RetryLoop(Generic[T]):
    """The attempts of one ``with_retry`` call, run in whichever context holds them."""

    func: Callable[[DurableContext, int], Awaitable[T] | T]
    strategy: RetryStrategy
    name: str | None

    async def run(self, ctx: DurableContext) -> T:
        attempt = 1
        while True:
            try:
                return await self.attempt(ctx, attempt)
            except UnrecoverableError:
                raise
            except Exception as error:
                decision = self.strategy(error, attempt)
                if not decision.should_retry:
                    raise
                await ctx.wait(_backoff(decision, attempt), name=self.backoff_name(attempt))
            attempt += 1

    async def attempt(self, ctx: DurableContext, attempt: int) -> T:
        value = self.func(ctx, attempt)
        if inspect.isawaitable(value):
            return await value
        return value

    def backoff_name(self, attempt: int) -> str | None:
        return f"{self.name}-backoff-{attempt}" if self.name else None


def _backoff(decision: RetryDecision, attempt: int) -> Duration:
    """Return the decision's delay, refusing one a durable wait cannot last."""
    if decision.delay.to_seconds() < 1:
        raise ValidationError(
            f"with_retry's retry strategy decided to retry attempt {attempt} after "
            f"{decision.delay.to_seconds()} s, but a backoff wait lasts at least 1 second; "
            "return RetryDecision.retry(Duration.from_seconds(1)) or longer."
        )
    return decision.delay
