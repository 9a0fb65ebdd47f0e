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
from typing import TYPE_CHECKING, Any

from durable_async.exceptions import ValidationError

if TYPE_CHECKING:
    from durable_async.retries import RetryDecision
    from durable_async.serdes import SerDes

__all__ = [
    "CheckpointBatcherConfig",
    "ChildConfig",
    "Duration",
    "JitterStrategy",
    "StepConfig",
    "StepSemantics",
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
