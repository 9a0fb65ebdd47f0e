"""Retry strategies: decide whether a failed attempt runs again, and after how long.

A retry strategy is any ``(error, attempts_made) -> RetryDecision`` callable, where
``attempts_made`` counts the attempts so far, the failed one included (1 after the first
failure). Names, defaults and arithmetic mirror the reference SDK:

- exponential: ``min(initial_delay * backoff_rate ** (attempts_made - 1), max_delay)``;
- linear: ``min(initial_delay + increment * (attempts_made - 1), max_delay)``;

then jitter is applied and the delay is rounded up to whole seconds, at least one. No retry once
``attempts_made >= max_attempts`` or when the error matches no filter. With neither
``retryable_errors`` nor ``retryable_error_types`` set every error is retryable; once either is
set, an error is retryable when its message contains one of the strings (or matches one of the
patterns, by ``re.search``) or it is an instance of one of the types.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from durable_async.config import (
    Duration,
    JitterStrategy,
    _check_attempts,
    _check_backoff_rate,
    _check_delay,
    _check_jitter,
    _show,
)
from durable_async.exceptions import ValidationError
from durable_async.operations.with_retry import WithRetryConfig, with_retry

__all__ = [
    "JitterStrategy",
    "LinearRetryStrategyConfig",
    "RetryDecision",
    "RetryPresets",
    "RetryStrategy",
    "RetryStrategyConfig",
    "WithRetryConfig",
    "create_linear_retry_strategy",
    "create_retry_strategy",
    "with_retry",
]

Numeric = int | float
ErrorPatterns = Sequence[str | re.Pattern[str]]
ErrorTypes = Sequence[type[BaseException]]


@dataclass(frozen=True)
class RetryDecision:
    """Whether to retry a failed attempt, and the delay before the next one."""

    should_retry: bool
    delay: Duration

    def __post_init__(self) -> None:
        _check_delay("RetryDecision", "delay", self.delay)

    @property
    def delay_seconds(self) -> int:
        """Return the delay in whole seconds."""
        return self.delay.to_seconds()

    @classmethod
    def retry(cls, delay: Duration) -> RetryDecision:
        """Decide to retry after ``delay``."""
        return cls(should_retry=True, delay=delay)

    @classmethod
    def no_retry(cls) -> RetryDecision:
        """Decide not to retry."""
        return cls(should_retry=False, delay=Duration())


RetryStrategy = Callable[[Exception, int], RetryDecision]


@dataclass(frozen=True)
class RetryStrategyConfig:
    """Exponential backoff: how many attempts, how long between them, which errors retry.

    Checked when built: ``max_attempts`` is at least 1 (1 means no retry), ``backoff_rate`` a
    finite number of at least 0, the delays Durations, ``jitter_strategy`` a JitterStrategy
    (or its name), and the filters lists of strings or patterns and of exception classes.
    """

    max_attempts: int = 3
    initial_delay: Duration = field(default_factory=lambda: Duration.from_seconds(5))
    max_delay: Duration = field(default_factory=lambda: Duration.from_minutes(5))
    backoff_rate: Numeric = 2.0
    jitter_strategy: JitterStrategy = JitterStrategy.FULL
    retryable_errors: ErrorPatterns | None = None
    retryable_error_types: ErrorTypes | None = None

    def __post_init__(self) -> None:
        owner = type(self).__name__
        _check_attempts(owner, self.max_attempts, "1 means no retry")
        _check_delay(owner, "initial_delay", self.initial_delay)
        _check_delay(owner, "max_delay", self.max_delay)
        _check_backoff_rate(owner, self.backoff_rate)
        object.__setattr__(self, "jitter_strategy", _check_jitter(owner, self.jitter_strategy))
        _check_error_filters(owner, self.retryable_errors, self.retryable_error_types)

    @property
    def initial_delay_seconds(self) -> int:
        """Return the first delay in whole seconds."""
        return self.initial_delay.to_seconds()

    @property
    def max_delay_seconds(self) -> int:
        """Return the longest delay in whole seconds."""
        return self.max_delay.to_seconds()


@dataclass(frozen=True)
class LinearRetryStrategyConfig:
    """Linearly growing delays: how many attempts, the steps between them, which errors retry."""

    max_attempts: int = 6
    initial_delay: Duration = field(default_factory=lambda: Duration.from_seconds(1))
    increment: Duration = field(default_factory=lambda: Duration.from_seconds(1))
    max_delay: Duration = field(default_factory=lambda: Duration.from_minutes(5))
    jitter_strategy: JitterStrategy = JitterStrategy.FULL
    retryable_errors: ErrorPatterns | None = None
    retryable_error_types: ErrorTypes | None = None

    def __post_init__(self) -> None:
        owner = type(self).__name__
        _check_attempts(owner, self.max_attempts, "1 means no retry")
        _check_delay(owner, "initial_delay", self.initial_delay)
        _check_delay(owner, "increment", self.increment)
        _check_delay(owner, "max_delay", self.max_delay)
        object.__setattr__(self, "jitter_strategy", _check_jitter(owner, self.jitter_strategy))
        _check_error_filters(owner, self.retryable_errors, self.retryable_error_types)

    @property
    def initial_delay_seconds(self) -> int:
        """Return the first delay in whole seconds."""
        return self.initial_delay.to_seconds()

    @property
    def increment_seconds(self) -> int:
        """Return the per-attempt increment in whole seconds."""
        return self.increment.to_seconds()

    @property
    def max_delay_seconds(self) -> int:
        """Return the longest delay in whole seconds."""
        return self.max_delay.to_seconds()


def _check_error_filters(owner: str, patterns: object, types: object) -> None:
    """Refuse filters the strategy could not apply when an error arrives."""
    if patterns is not None:
        if isinstance(patterns, str | re.Pattern) or not isinstance(patterns, Sequence):
            raise ValidationError(
                f"{owner} retryable_errors must be a list of strings or compiled patterns, got "
                f"{type(patterns).__name__} {_show(patterns)}; wrap a single one in a list."
            )
        for pattern in patterns:
            if not isinstance(pattern, str | re.Pattern):
                raise ValidationError(
                    f"{owner} retryable_errors holds {type(pattern).__name__} {_show(pattern)}; "
                    "use message substrings (str) or re.compile(...) patterns."
                )
    if types is not None:
        if isinstance(types, type) or not isinstance(types, Sequence):
            raise ValidationError(
                f"{owner} retryable_error_types must be a list of exception classes, got "
                f"{_show(types)}; wrap a single class in a list."
            )
        for error_type in types:
            if not (isinstance(error_type, type) and issubclass(error_type, BaseException)):
                raise ValidationError(
                    f"{owner} retryable_error_types holds {_show(error_type)}, which is not an "
                    "exception class; list classes such as TimeoutError."
                )


_MATCH_ANY_MESSAGE = re.compile(r".*")


@dataclass(frozen=True)
class _ErrorFilter:
    """Which errors a strategy retries (the reference's resolved filters)."""

    patterns: tuple[str | re.Pattern[str], ...]
    types: tuple[type[BaseException], ...]

    @classmethod
    def resolve(cls, patterns: ErrorPatterns | None, types: ErrorTypes | None) -> _ErrorFilter:
        """Apply the match-everything default only when neither filter is set."""
        if patterns is None:
            patterns = [_MATCH_ANY_MESSAGE] if types is None else []
        return cls(tuple(patterns), tuple(types or ()))

    def matches(self, error: BaseException) -> bool:
        """Return True when the error's message or type matches a filter."""
        return _is_error_retryable(error, self.patterns, self.types)


def _is_error_retryable(
    error: BaseException, retryable_errors: ErrorPatterns, retryable_error_types: ErrorTypes
) -> bool:
    """Return True when the error matches one of the message patterns or types."""
    message = str(error)
    by_message = any(
        pattern.search(message) if isinstance(pattern, re.Pattern) else pattern in message
        for pattern in retryable_errors
    )
    return by_message or isinstance(error, tuple(retryable_error_types))


def _exponential_base_delay(config: RetryStrategyConfig, attempts_made: int) -> float:
    try:
        grown = config.initial_delay_seconds * config.backoff_rate ** (attempts_made - 1)
    except OverflowError:
        # Very many attempts: the uncapped delay is astronomically large, so the cap applies.
        return config.max_delay_seconds
    return min(grown, config.max_delay_seconds)


def _linear_base_delay(config: LinearRetryStrategyConfig, attempts_made: int) -> float:
    grown = config.initial_delay_seconds + config.increment_seconds * (attempts_made - 1)
    return min(grown, config.max_delay_seconds)


@dataclass(frozen=True)
class _ExponentialRetryStrategy:
    config: RetryStrategyConfig
    errors: _ErrorFilter

    def __call__(self, error: Exception, attempts_made: int) -> RetryDecision:
        if attempts_made >= self.config.max_attempts or not self.errors.matches(error):
            return RetryDecision.no_retry()
        base_delay = _exponential_base_delay(self.config, attempts_made)
        return RetryDecision.retry(Duration(self.config.jitter_strategy.finalize_delay(base_delay)))


@dataclass(frozen=True)
class _LinearRetryStrategy:
    config: LinearRetryStrategyConfig
    errors: _ErrorFilter

    def __call__(self, error: Exception, attempts_made: int) -> RetryDecision:
        if attempts_made >= self.config.max_attempts or not self.errors.matches(error):
            return RetryDecision.no_retry()
        base_delay = _linear_base_delay(self.config, attempts_made)
        return RetryDecision.retry(Duration(self.config.jitter_strategy.finalize_delay(base_delay)))


def create_retry_strategy(config: RetryStrategyConfig | None = None) -> RetryStrategy:
    """Make an exponential-backoff retry strategy from ``config`` (defaults when None)."""
    config = config if config is not None else RetryStrategyConfig()
    errors = _ErrorFilter.resolve(config.retryable_errors, config.retryable_error_types)
    return _ExponentialRetryStrategy(config, errors)


def create_linear_retry_strategy(
    config: LinearRetryStrategyConfig | None = None,
) -> RetryStrategy:
    """Make a linearly growing retry strategy from ``config`` (defaults when None)."""
    config = config if config is not None else LinearRetryStrategyConfig()
    errors = _ErrorFilter.resolve(config.retryable_errors, config.retryable_error_types)
    return _LinearRetryStrategy(config, errors)


class RetryPresets:
    """Ready-made retry strategies, the same as the reference SDK's."""

    @classmethod
    def none(cls) -> RetryStrategy:
        """Never retry."""
        return create_retry_strategy(RetryStrategyConfig(max_attempts=1))

    @classmethod
    def default(cls) -> RetryStrategy:
        """Retry up to 6 attempts, 5 s doubling to at most 1 min, full jitter (steps' default)."""
        return create_retry_strategy(
            RetryStrategyConfig(
                max_attempts=6,
                initial_delay=Duration.from_seconds(5),
                max_delay=Duration.from_minutes(1),
                backoff_rate=2,
                jitter_strategy=JitterStrategy.FULL,
            )
        )

    @classmethod
    def transient(cls) -> RetryStrategy:
        """Retry transient errors: 3 attempts, 5 s doubling, half jitter."""
        return create_retry_strategy(
            RetryStrategyConfig(max_attempts=3, backoff_rate=2, jitter_strategy=JitterStrategy.HALF)
        )

    @classmethod
    def resource_availability(cls) -> RetryStrategy:
        """Wait longer for resources: 5 attempts, 5 s doubling to at most 5 min, full jitter."""
        return create_retry_strategy(
            RetryStrategyConfig(
                max_attempts=5,
                initial_delay=Duration.from_seconds(5),
                max_delay=Duration.from_minutes(5),
                backoff_rate=2,
            )
        )

    @classmethod
    def critical(cls) -> RetryStrategy:
        """Retry hard: 10 attempts, 1 s growing 1.5x to at most 1 min, no jitter."""
        return create_retry_strategy(
            RetryStrategyConfig(
                max_attempts=10,
                initial_delay=Duration.from_seconds(1),
                max_delay=Duration.from_minutes(1),
                backoff_rate=1.5,
                jitter_strategy=JitterStrategy.NONE,
            )
        )

    @classmethod
    def linear(cls) -> RetryStrategy:
        """Retry 6 attempts with delays of 1, 2, 3, 4 and 5 s, no jitter."""
        return create_linear_retry_strategy(
            LinearRetryStrategyConfig(
                max_attempts=6,
                initial_delay=Duration.from_seconds(1),
                increment=Duration.from_seconds(1),
                jitter_strategy=JitterStrategy.NONE,
            )
        )

    @classmethod
    def fixed(cls, interval: Duration | None = None) -> RetryStrategy:
        """Retry 5 attempts with a constant ``interval`` between them (5 s), no jitter."""
        delay = interval if interval is not None else Duration.from_seconds(5)
        return create_retry_strategy(
            RetryStrategyConfig(
                max_attempts=5,
                initial_delay=delay,
                max_delay=delay,
                backoff_rate=1,
                jitter_strategy=JitterStrategy.NONE,
            )
        )
