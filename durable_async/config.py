"""Configuration value objects for durable operations (frozen dataclasses).

Names and defaults mirror the reference ``aws-durable-execution-sdk-python``.
"""

from __future__ import annotations

import math
import random
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import TYPE_CHECKING, Any, Generic, SupportsFloat, TypeVar

from durable_async.exceptions import ValidationError

if TYPE_CHECKING:
    from durable_async.retries import RetryDecision
    from durable_async.serdes import SerDes

__all__ = [
    "BatchItemStatus",
    "CallbackConfig",
    "CheckpointBatcherConfig",
    "ChildConfig",
    "CompletionConfig",
    "CompletionDecision",
    "CompletionItemStatus",
    "CompletionOutcome",
    "CompletionStatus",
    "MapConfig",
    "NestingType",
    "ParallelBranch",
    "ParallelConfig",
    "Duration",
    "InvokeConfig",
    "JitterStrategy",
    "MAX_DURATION_SECONDS",
    "StepConfig",
    "StepSemantics",
    "WaitForCallbackConfig",
    "complete_batch",
    "continue_batch",
]


MAX_DURATION_SECONDS = 31_622_400
"""The longest Duration: 366 days, the service's limit for a wait, a retry delay and a whole
execution (``WaitSeconds``, ``NextAttemptDelaySeconds`` and ``ExecutionTimeout``)."""


@dataclass(frozen=True)
class Duration:
    """A span of whole seconds, from 0 to ``MAX_DURATION_SECONDS`` (366 days).

    Anything else (negative, fractional, NaN, infinite or longer than the service accepts) is
    refused with ValidationError when the Duration is made, not when the service rejects it.
    The ``from_*`` constructors drop fractions of a second, as the reference SDK's do.
    """

    seconds: int = 0

    def __post_init__(self) -> None:
        seconds = self.seconds
        if type(seconds) is not int:
            seconds = _whole_seconds(seconds)
            object.__setattr__(self, "seconds", seconds)
        if seconds < 0:
            raise ValidationError(
                f"Duration must not be negative, got {_show(seconds)} seconds; use Duration() for "
                "no time at all."
            )
        if seconds > MAX_DURATION_SECONDS:
            raise ValidationError(_too_long(f"{_show(seconds)} seconds"))

    def to_seconds(self) -> int:
        """Return the duration in whole seconds."""
        return self.seconds

    @classmethod
    def from_seconds(cls, value: float) -> Duration:
        """Make a duration of ``value`` seconds (fractions are dropped)."""
        return cls(seconds=_scaled(value, 1, "seconds"))

    @classmethod
    def from_minutes(cls, value: float) -> Duration:
        """Make a duration of ``value`` minutes."""
        return cls(seconds=_scaled(value, 60, "minutes"))

    @classmethod
    def from_hours(cls, value: float) -> Duration:
        """Make a duration of ``value`` hours."""
        return cls(seconds=_scaled(value, 3600, "hours"))

    @classmethod
    def from_days(cls, value: float) -> Duration:
        """Make a duration of ``value`` days."""
        return cls(seconds=_scaled(value, 86400, "days"))


def _real(value: object, what: str) -> int | float:
    """Return ``value`` as an int or a finite float, or raise ValidationError saying why not."""
    if isinstance(value, bool) or not isinstance(value, SupportsFloat):
        raise ValidationError(f"{what} needs a number, got {type(value).__name__} {_show(value)}.")
    if isinstance(value, int):
        return int(value)
    try:
        number = float(value)
    except (OverflowError, ValueError):
        number = math.inf
    if not math.isfinite(number):
        raise ValidationError(f"{what} needs a finite number, got {_show(value)}.")
    return number


def _show(value: object) -> str:
    """Return a short ``repr`` of ``value`` for an error message, whatever its size."""
    try:
        text = repr(value)
    except Exception:  # an int past the digit limit, or a broken __repr__
        return f"<{type(value).__name__} too large to show>"
    return text if len(text) <= 40 else f"{text[:37]}..."


def _whole_seconds(value: object) -> int:
    number = _real(value, "Duration(seconds=...)")
    if number != int(number):
        raise ValidationError(
            f"Duration holds whole seconds, got {_show(value)}; use "
            f"Duration.from_seconds({_show(value)}) to drop the fraction."
        )
    return int(number)


def _scaled(value: float, factor: int, unit: str) -> int:
    number = _real(value, f"Duration.from_{unit}")
    if number < 0:
        raise ValidationError(
            f"Duration must not be negative, got {_show(value)} {unit}; use Duration() for no "
            "time at all."
        )
    seconds = number * factor
    if seconds > MAX_DURATION_SECONDS:
        # Checked before int(): a huge float would otherwise overflow or build a giant int.
        raise ValidationError(_too_long(f"{_show(value)} {unit}"))
    return int(seconds)


def _too_long(got: str) -> str:
    return (
        f"Duration must be at most {MAX_DURATION_SECONDS:,} seconds (366 days, the longest "
        f"wait, retry delay or execution the service accepts), got {got}; use a shorter "
        "duration."
    )


class JitterStrategy(StrEnum):
    """How much randomness to add to a retry or polling delay."""

    NONE = "NONE"
    FULL = "FULL"
    HALF = "HALF"

    def apply_jitter(self, delay: float) -> float:
        """Return ``delay`` with this strategy's jitter applied."""
        if self is JitterStrategy.NONE:
            return delay
        if self is JitterStrategy.HALF:
            return delay / 2 + random.random() * (delay / 2)
        return random.random() * delay

    def finalize_delay(self, base_delay: float) -> int:
        """Apply jitter, round up and clamp to at least one second."""
        return max(1, math.ceil(self.apply_jitter(base_delay)))


# Checks shared by the retry and wait strategy configs (retries.py and waits.py import them,
# private as they are, to keep them out of the public reference). Each raises ValidationError
# naming the config and the field, so a bad value fails where it is written.


def _check_attempts(owner: str, value: object, meaning: str) -> None:
    """Refuse a ``max_attempts`` that is not a whole number of at least 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(
            f"{owner} max_attempts must be a whole number of at least 1 ({meaning}), "
            f"got {_show(value)}."
        )


def _check_backoff_rate(owner: str, value: object) -> None:
    """Refuse a ``backoff_rate`` that is not a finite, non-negative number."""
    rate = _real(value, f"{owner} backoff_rate")
    if rate < 0:
        raise ValidationError(
            f"{owner} backoff_rate must not be negative, got {_show(value)}; use 1 for equal "
            "delays, more than 1 for growing ones."
        )


def _check_delay(owner: str, field_name: str, value: object) -> None:
    """Refuse a delay that is not a Duration (a Duration is already within bounds)."""
    if not isinstance(value, Duration):
        hint = f"Duration.from_seconds({_show(value)})" if isinstance(value, int | float) else ""
        raise ValidationError(
            f"{owner} {field_name} must be a Duration, got {type(value).__name__} "
            f"{_show(value)}; write it as {hint or 'Duration.from_seconds(...)'}."
        )


def _check_jitter(owner: str, value: object) -> JitterStrategy:
    """Return ``value`` as a JitterStrategy (its name is accepted too), or refuse it."""
    if isinstance(value, JitterStrategy):
        return value
    if isinstance(value, str) and value in JitterStrategy.__members__:
        return JitterStrategy[value]
    raise ValidationError(
        f"{owner} jitter_strategy must be JitterStrategy.NONE, FULL or HALF, got {_show(value)}."
    )


class StepSemantics(Enum):
    """How often one attempt of a step may run its function."""

    AT_MOST_ONCE_PER_RETRY = "AT_MOST_ONCE_PER_RETRY"
    AT_LEAST_ONCE_PER_RETRY = "AT_LEAST_ONCE_PER_RETRY"


_SUB_TYPE_CHARACTERS = frozenset(string.ascii_letters + string.digits + "-_")
_SUB_TYPE_MAX_LENGTH = 32


def _validate_sub_type(sub_type: str | None) -> None:
    if sub_type and (
        len(sub_type) > _SUB_TYPE_MAX_LENGTH or not set(sub_type) <= _SUB_TYPE_CHARACTERS
    ):
        raise ValidationError(
            f"sub_type must be 1 to {_SUB_TYPE_MAX_LENGTH} characters from A-Z, a-z, 0-9, "
            f"hyphen and underscore; got {sub_type!r}."
        )


@dataclass(frozen=True)
class StepConfig:
    """How a step retries, how often an attempt may run, and how its result is serialized.

    ``retry_strategy(error, attempts_made)`` decides whether a failed attempt is retried; None
    means ``RetryPresets.default()``. AT_LEAST_ONCE_PER_RETRY (the default) queues START without
    waiting, so an interrupted attempt runs again; AT_MOST_ONCE_PER_RETRY waits for START to be
    persisted, and an interrupted attempt goes to the retry strategy instead of running again.
    """

    retry_strategy: Callable[[Exception, int], RetryDecision] | None = None
    step_semantics: StepSemantics = StepSemantics.AT_LEAST_ONCE_PER_RETRY
    serdes: SerDes[Any] | None = None
    sub_type: str | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        _validate_sub_type(self.sub_type)


@dataclass(frozen=True)
class ChildConfig:
    """How a child context records its result.

    ``serdes`` serializes the result (the reference SDK's extended-types envelope when None);
    ``sub_type`` labels the CONTEXT operation (default ``RunInChildContext``). A result over
    256 KB is not stored: the context is marked ReplayChildren, ``summary_generator(result)``
    (or "") is stored instead, and a replay runs the body again from its recorded children.

    ``is_virtual=True`` records no CONTEXT operation at all: the operations inside report the
    caller's own parent as theirs and are still numbered under the child's id, and a replay
    runs the body again. Use it to group operations without a history entry of their own.
    """

    serdes: SerDes[Any] | None = None
    sub_type: str | None = None
    summary_generator: Callable[[Any], str] | None = None
    is_virtual: bool = False

    def __post_init__(self) -> None:
        _validate_sub_type(self.sub_type)


class NestingType(Enum):
    """How map items and parallel branches are recorded.

    NESTED (the default) gives every item or branch its own CONTEXT operation; FLAT records
    none, and the operations inside report the map/parallel operation as their parent.
    """

    NESTED = "NESTED"
    FLAT = "FLAT"


class BatchItemStatus(Enum):
    """Where one item or branch of a map or parallel ended up."""

    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    STARTED = "STARTED"


class CompletionOutcome(Enum):
    """Whether a batch that ``should_complete`` ends counts as a success or a failure."""

    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


@dataclass(frozen=True)
class CompletionDecision:
    """What a ``should_complete`` predicate returns; make it with complete_batch or continue_batch.

    ``outcome`` is set exactly when ``complete`` is True.
    """

    complete: bool
    outcome: CompletionOutcome | None = None

    def __post_init__(self) -> None:
        if self.complete and self.outcome is None:
            raise ValidationError(
                "A CompletionDecision that completes the batch needs an outcome; use "
                "complete_batch() or complete_batch(CompletionOutcome.FAILED)."
            )
        if not self.complete and self.outcome is not None:
            raise ValidationError(
                f"A CompletionDecision that continues the batch takes no outcome, got "
                f"{self.outcome}; use continue_batch()."
            )


def continue_batch() -> CompletionDecision:
    """Keep the batch going: do not complete it yet."""
    return CompletionDecision(complete=False)


def complete_batch(outcome: CompletionOutcome = CompletionOutcome.SUCCEEDED) -> CompletionDecision:
    """Complete the batch now, as a success unless ``outcome`` says FAILED."""
    return CompletionDecision(complete=True, outcome=outcome)


@dataclass(frozen=True)
class CompletionItemStatus:
    """One branch as a ``should_complete`` predicate sees it.

    ``status`` is None while the branch has not started (``max_concurrency`` holds it back),
    STARTED while it runs or waits, then SUCCEEDED or FAILED; ``name`` is the name it was
    given (a ParallelBranch's or the map's ``item_namer``), None when it has none.
    """

    index: int
    name: str | None = None
    status: BatchItemStatus | None = None


@dataclass(frozen=True)
class CompletionStatus:
    """The progress of a batch, handed to ``should_complete`` when it starts and as branches end.

    ``items[i]`` is always branch ``i``, whatever order the branches finished in.
    """

    success_count: int
    failure_count: int
    completed_count: int
    total_count: int
    items: tuple[CompletionItemStatus, ...] = ()


@dataclass(frozen=True)
class CompletionConfig:
    """When a map or parallel is done, before every item has finished.

    It completes when ``min_successful`` items have succeeded (MIN_SUCCESSFUL_REACHED), when
    failures exceed ``tolerated_failure_count`` or ``tolerated_failure_percentage`` of all
    items (FAILURE_TOLERANCE_EXCEEDED), or when every item has finished (ALL_COMPLETED). With
    no field set, the first failure ends it. Unfinished items are cancelled when it completes.

    ``should_complete(status)`` replaces those fields with a rule of your own (it cannot be
    combined with them): it gets a CompletionStatus when the batch starts and again after each
    branch ends, and returns ``continue_batch()`` or ``complete_batch(outcome)``, which
    completes the batch as CUSTOM_COMPLETION_SUCCEEDED or CUSTOM_COMPLETION_FAILED (then
    ``throw_if_error`` raises BatchCompletionError even when no item failed). The batch still
    completes when every item has ended, whatever the predicate says. The predicate must be
    deterministic and monotonic (more progress never turns "complete" back into "continue"),
    because a resumed invocation replays finished branches and asks it again; a batch that
    already completed is read back from its record without asking it.
    """

    min_successful: int | None = None
    tolerated_failure_count: int | None = None
    tolerated_failure_percentage: int | float | None = None
    should_complete: Callable[[CompletionStatus], CompletionDecision] | None = None

    def __post_init__(self) -> None:
        if self.min_successful is not None and self.min_successful < 1:
            raise ValidationError(f"min_successful must be at least 1, got {self.min_successful}.")
        if self.tolerated_failure_count is not None and self.tolerated_failure_count < 0:
            raise ValidationError(
                f"tolerated_failure_count must not be negative, got {self.tolerated_failure_count}."
            )
        percentage = self.tolerated_failure_percentage
        if percentage is not None and not 0 <= percentage <= 100:
            raise ValidationError(
                f"tolerated_failure_percentage must be between 0 and 100, got {percentage}."
            )
        self._check_should_complete()

    def _check_should_complete(self) -> None:
        if self.should_complete is None:
            return
        if not callable(self.should_complete):
            raise ValidationError(
                f"should_complete must be callable, got {type(self.should_complete).__name__}; "
                "pass a function of a CompletionStatus that returns a CompletionDecision."
            )
        thresholds = ("min_successful", "tolerated_failure_count", "tolerated_failure_percentage")
        given = [name for name in thresholds if getattr(self, name) is not None]
        if given:
            raise ValidationError(
                "should_complete cannot be combined with min_successful, tolerated_failure_count "
                f"or tolerated_failure_percentage (got {', '.join(given)}); "
                "express those limits inside the predicate instead."
            )

    @staticmethod
    def first_successful() -> CompletionConfig:
        """Complete as soon as one item succeeds."""
        return CompletionConfig(min_successful=1)

    @staticmethod
    def all_completed() -> CompletionConfig:
        """Run every item, whatever fails."""
        return CompletionConfig(tolerated_failure_percentage=100)

    @staticmethod
    def all_successful() -> CompletionConfig:
        """Require every item to succeed; the first failure completes the batch."""
        return CompletionConfig(tolerated_failure_count=0, tolerated_failure_percentage=0)


def _check_max_concurrency(value: int | None) -> None:
    if value is not None and value < 1:
        raise ValidationError(
            f"max_concurrency must be at least 1 (or None for no limit), got {value}."
        )


@dataclass(frozen=True)
class ParallelConfig:
    """How ``ctx.parallel`` runs its branches.

    ``max_concurrency`` bounds branches in flight (None: no bound); ``item_serdes``
    serializes each branch's result (``serdes`` when None); ``serdes`` the BatchResult.
    """

    max_concurrency: int | None = None
    completion_config: CompletionConfig = field(default_factory=CompletionConfig.all_successful)
    serdes: SerDes[Any] | None = None
    item_serdes: SerDes[Any] | None = None
    summary_generator: Callable[[Any], str] | None = None
    nesting_type: NestingType = NestingType.NESTED

    def __post_init__(self) -> None:
        _check_max_concurrency(self.max_concurrency)


@dataclass(frozen=True)
class MapConfig:
    """How ``ctx.map`` runs its items; ``item_namer(item, index)`` names each item's context."""

    max_concurrency: int | None = None
    completion_config: CompletionConfig = field(default_factory=CompletionConfig)
    serdes: SerDes[Any] | None = None
    item_serdes: SerDes[Any] | None = None
    summary_generator: Callable[[Any], str] | None = None
    nesting_type: NestingType = NestingType.NESTED
    item_namer: Callable[[Any, int], str] | None = None

    def __post_init__(self) -> None:
        _check_max_concurrency(self.max_concurrency)


# Covariant: a branch returning Coroutine[..., X] is a branch returning Awaitable[X].
BranchResult = TypeVar("BranchResult", covariant=True)


@dataclass(frozen=True)
class ParallelBranch(Generic[BranchResult]):
    """A parallel branch with a name of its own (shown in the history).

    Generic in what its function returns (an awaitable for an ``async def``), so
    ``ctx.parallel`` knows the type of each branch's result.
    """

    func: Callable[..., BranchResult]
    name: str | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> BranchResult:
        """Call the branch's function."""
        return self.func(*args, **kwargs)


@dataclass(frozen=True)
class CheckpointBatcherConfig:
    """Bounds on one checkpoint batch.

    A batch is sent when it holds ``max_batch_operations`` updates or ``max_batch_size_bytes`` of
    UTF-8 JSON, at once when it holds an update somebody is waiting for, and otherwise after at
    most ``max_batch_time_seconds`` (the longest queued non-blocking updates may wait for company).
    The service's limits are 250 updates and 750 KB a call; larger values are rejected.
    """

    max_batch_size_bytes: int = 750 * 1024
    max_batch_operations: int = 250
    max_batch_time_seconds: float = 1.0

    def __post_init__(self) -> None:
        if not 1 <= self.max_batch_operations <= 250:
            raise ValidationError(
                f"max_batch_operations must be between 1 and 250 (the service's limit), "
                f"got {self.max_batch_operations}."
            )
        if not 1024 <= self.max_batch_size_bytes <= 750 * 1024:
            raise ValidationError(
                f"max_batch_size_bytes must be between 1024 and {750 * 1024} (the service's "
                f"limit), got {self.max_batch_size_bytes}."
            )
        if not 0 <= self.max_batch_time_seconds <= 60:
            raise ValidationError(
                f"max_batch_time_seconds must be between 0 and 60, "
                f"got {self.max_batch_time_seconds}."
            )


@dataclass(frozen=True)
class CallbackConfig:
    """How long a callback may take and how its result is read.

    ``timeout`` bounds the whole wait and ``heartbeat_timeout`` the time between heartbeats; a
    zero Duration (the default) means no limit. ``serdes`` reads the result the external system
    sent; None hands it over as the text it is. ``sub_type`` labels the CALLBACK operation
    (default ``Callback``).
    """

    timeout: Duration = field(default_factory=Duration)
    heartbeat_timeout: Duration = field(default_factory=Duration)
    serdes: SerDes[Any] | None = None
    sub_type: str | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        _check_delay(type(self).__name__, "timeout", self.timeout)
        _check_delay(type(self).__name__, "heartbeat_timeout", self.heartbeat_timeout)
        _validate_sub_type(self.sub_type)

    @property
    def timeout_seconds(self) -> int:
        """Return the timeout in whole seconds (0: none)."""
        return self.timeout.to_seconds()

    @property
    def heartbeat_timeout_seconds(self) -> int:
        """Return the heartbeat timeout in whole seconds (0: none)."""
        return self.heartbeat_timeout.to_seconds()


@dataclass(frozen=True)
class WaitForCallbackConfig(CallbackConfig):
    """A callback's config plus the retry strategy of the step that runs the submitter.

    ``serdes`` also serializes the submitter's return value; None for ``retry_strategy`` means
    ``RetryPresets.default()``, as for any step.
    """

    retry_strategy: Callable[[Exception, int], RetryDecision] | None = None


P = TypeVar("P")
R = TypeVar("R")


@dataclass(frozen=True)
class InvokeConfig(Generic[P, R]):
    """How a chained invoke encodes its payload and decodes the target's result.

    Both SerDes default to plain JSON; ``tenant_id`` scopes the invocation to a tenant.
    """

    serdes_payload: SerDes[P] | None = None
    serdes_result: SerDes[R] | None = None
    tenant_id: str | None = None
