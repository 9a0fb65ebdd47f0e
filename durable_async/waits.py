"""Wait strategies for ``ctx.wait_for_condition``: whether to poll again, and after how long.

A wait strategy is any ``(state, attempts_made) -> WaitForConditionDecision`` callable, called
after each check with the state it returned; ``attempts_made`` counts the checks so far, the
last one included. ``create_wait_strategy`` builds the reference SDK's strategy: stop once
``should_continue_polling(state)`` is false, otherwise wait
``min(initial_delay * backoff_rate ** (attempts_made - 1), max_delay)`` with jitter, rounded up
to whole seconds and at least one, and raise ``WaitForConditionError`` once ``max_attempts``
checks have not met the condition.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from durable_async.config import (
    Duration,
    JitterStrategy,
    _check_attempts,
    _check_backoff_rate,
    _check_delay,
    _check_jitter,
    _show,
)
from durable_async.exceptions import ValidationError, WaitForConditionError

if TYPE_CHECKING:
    from durable_async.serdes import SerDes

__all__ = [
    "WaitForConditionConfig",
    "WaitForConditionDecision",
    "WaitStrategy",
    "WaitStrategyConfig",
    "create_wait_strategy",
]

T = TypeVar("T")
Numeric = int | float


@dataclass(frozen=True)
class WaitForConditionDecision:
    """Whether to check the condition again, and the delay before the next check."""

    should_continue: bool
    delay: Duration

    def __post_init__(self) -> None:
        _check_delay("WaitForConditionDecision", "delay", self.delay)

    @property
    def delay_seconds(self) -> int:
        """Return the delay in whole seconds."""
        return self.delay.to_seconds()

    @classmethod
    def continue_waiting(cls, delay: Duration) -> WaitForConditionDecision:
        """Decide to check again after ``delay``."""
        return cls(should_continue=True, delay=delay)

    @classmethod
    def stop_polling(cls) -> WaitForConditionDecision:
        """Decide that the condition is met: the last state is the result."""
        return cls(should_continue=False, delay=Duration())


WaitStrategy = Callable[[T, int], WaitForConditionDecision]


@dataclass(frozen=True)
class WaitStrategyConfig(Generic[T]):
    """Polling with exponential backoff until ``should_continue_polling(state)`` is false.

    Checked when built, as RetryStrategyConfig is: ``should_continue_polling`` is callable,
    ``max_attempts`` at least 1, ``backoff_rate`` a finite number of at least 0, the delays
    Durations and ``jitter_strategy`` a JitterStrategy (or its name).
    """

    should_continue_polling: Callable[[T], bool]
    max_attempts: int = 60
    initial_delay: Duration = field(default_factory=lambda: Duration.from_seconds(5))
    max_delay: Duration = field(default_factory=lambda: Duration.from_minutes(5))
    backoff_rate: Numeric = 1.5
    jitter_strategy: JitterStrategy = JitterStrategy.FULL

    def __post_init__(self) -> None:
        owner = type(self).__name__
        _check_callable(owner, "should_continue_polling", self.should_continue_polling)
        _check_attempts(owner, self.max_attempts, "the number of checks before giving up")
        _check_delay(owner, "initial_delay", self.initial_delay)
        _check_delay(owner, "max_delay", self.max_delay)
        _check_backoff_rate(owner, self.backoff_rate)
        object.__setattr__(self, "jitter_strategy", _check_jitter(owner, self.jitter_strategy))

    @property
    def initial_delay_seconds(self) -> int:
        """Return the first delay in whole seconds."""
        return self.initial_delay.to_seconds()

    @property
    def max_delay_seconds(self) -> int:
        """Return the longest delay in whole seconds."""
        return self.max_delay.to_seconds()


def _check_callable(owner: str, field_name: str, value: object) -> None:
    if not callable(value):
        raise ValidationError(
            f"{owner} {field_name} must be a function, got {type(value).__name__} {_show(value)}."
        )


def _base_delay(config: WaitStrategyConfig[Any], attempts_made: int) -> float:
    try:
        grown = config.initial_delay_seconds * config.backoff_rate ** (attempts_made - 1)
    except OverflowError:
        # Very many attempts: the uncapped delay is astronomically large, so the cap applies.
        return config.max_delay_seconds
    return min(grown, config.max_delay_seconds)


@dataclass(frozen=True)
class _BackoffWaitStrategy(Generic[T]):
    config: WaitStrategyConfig[T]

    def __call__(self, state: T, attempts_made: int) -> WaitForConditionDecision:
        config = self.config
        # A condition met on the last attempt still succeeds: checking it comes first.
        if not config.should_continue_polling(state):
            return WaitForConditionDecision.stop_polling()
        if attempts_made >= config.max_attempts:
            raise WaitForConditionError(
                f"wait_for_condition exhausted {config.max_attempts} attempts "
                "before the condition was met"
            )
        delay = config.jitter_strategy.finalize_delay(_base_delay(config, attempts_made))
        return WaitForConditionDecision.continue_waiting(Duration(delay))


def create_wait_strategy(config: WaitStrategyConfig[T]) -> WaitStrategy[T]:
    """Make the backoff wait strategy ``config`` describes."""
    return _BackoffWaitStrategy(config)


@dataclass(frozen=True)
class WaitForConditionConfig(Generic[T]):
    """What ``ctx.wait_for_condition`` polls with.

    ``wait_strategy(state, attempts_made)`` decides after each check; ``initial_state`` is what
    the first check receives, round-tripped through ``serdes`` first so every check sees a state
    of the same shape; ``serdes`` writes the state at each checkpoint (the reference SDK's
    extended-types envelope when None).
    """

    wait_strategy: WaitStrategy[T]
    initial_state: T
    serdes: SerDes[Any] | None = None

    def __post_init__(self) -> None:
        _check_callable(type(self).__name__, "wait_strategy", self.wait_strategy)
