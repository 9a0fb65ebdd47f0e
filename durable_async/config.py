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
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from durable_async.exceptions import ValidationError

if TYPE_CHECKING:
    from durable_async.retries import RetryDecision
    from durable_async.serdes import SerDes

__all__ = [
    "CallbackConfig",
    "CheckpointBatcherConfig",
    "ChildConfig",
    "CompletionConfig",
    "MapConfig",
    "NestingType",
    "ParallelBranch",
    "ParallelConfig",
    "Duration",
    "InvokeConfig",
    "JitterStrategy",
    "StepConfig",
    "StepSemantics",
    "WaitForCallbackConfig",
]


@dataclass(frozen=True)
class Duration:
    """A non-negative span of whole seconds."""

    seconds: int = 0

    def __post_init__(self) -> None:
        if self.seconds < 0:
            raise ValidationError(f"Duration must not be negative, got {self.seconds} seconds.")

    def to_seconds(self) -> int:
        """Return the duration in whole seconds."""
        return self.seconds

    @classmethod
    def from_seconds(cls, value: float) -> Duration:
        """Make a duration of ``value`` seconds (fractions are dropped)."""
        return cls(seconds=int(value))

    @classmethod
    def from_minutes(cls, value: float) -> Duration:
        """Make a duration of ``value`` minutes."""
        return cls(seconds=int(value * 60))

    @classmethod
    def from_hours(cls, value: float) -> Duration:
        """Make a duration of ``value`` hours."""
        return cls(seconds=int(value * 3600))

    @classmethod
    def from_days(cls, value: float) -> Duration:
        """Make a duration of ``value`` days."""
        return cls(seconds=int(value * 86400))


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
    """

    serdes: SerDes[Any] | None = None
    sub_type: str | None = None
    summary_generator: Callable[[Any], str] | None = None

    def __post_init__(self) -> None:
        _validate_sub_type(self.sub_type)


class NestingType(Enum):
    """How map items and parallel branches are recorded.

    NESTED (the default) gives every item or branch its own CONTEXT operation; FLAT records
    none, and the operations inside report the map/parallel operation as their parent.
    """

    NESTED = "NESTED"
    FLAT = "FLAT"


@dataclass(frozen=True)
class CompletionConfig:
    """When a map or parallel is done, before every item has finished.

    It completes when ``min_successful`` items have succeeded (MIN_SUCCESSFUL_REACHED), when
    failures exceed ``tolerated_failure_count`` or ``tolerated_failure_percentage`` of all
    items (FAILURE_TOLERANCE_EXCEEDED), or when every item has finished (ALL_COMPLETED). With
    no field set, the first failure ends it. Unfinished items are cancelled when it completes.
    """

    min_successful: int | None = None
    tolerated_failure_count: int | None = None
    tolerated_failure_percentage: int | float | None = None

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


@dataclass(frozen=True)
class ParallelBranch:
    """A parallel branch with a name of its own (shown in the history)."""

    func: Callable[..., Any]
    name: str | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
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
