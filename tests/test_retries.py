"""Retry strategies: the reference SDK's presets, arithmetic and error filters."""

from __future__ import annotations

import dataclasses
import math
import random
import re
from collections.abc import Callable
from typing import Any

import pytest
from aws_durable_execution_sdk_python import config as ref_config
from aws_durable_execution_sdk_python import retries as ref

from durable_async import config
from durable_async.config import Duration
from durable_async.exceptions import ValidationError
from durable_async.retries import (
    JitterStrategy,
    LinearRetryStrategyConfig,
    RetryDecision,
    RetryPresets,
    RetryStrategy,
    RetryStrategyConfig,
    create_linear_retry_strategy,
    create_retry_strategy,
)

ATTEMPTS = range(1, 13)


def _to_ref(value: Any) -> Any:
    """Translate our config values into the reference's types."""
    if isinstance(value, Duration):
        return ref_config.Duration(value.seconds)
    if isinstance(value, JitterStrategy):
        return ref_config.JitterStrategy(value.value)
    if isinstance(value, tuple | list):
        return list(value)
    return value


def _ref_strategy(cfg: RetryStrategyConfig | LinearRetryStrategyConfig) -> Callable[..., Any]:
    fields = {f.name: _to_ref(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    if isinstance(cfg, LinearRetryStrategyConfig):
        return ref.create_linear_retry_strategy(ref.LinearRetryStrategyConfig(**fields))
    return ref.create_retry_strategy(ref.RetryStrategyConfig(**fields))


def _decisions(strategy: Callable[..., Any], error: Exception) -> list[tuple[bool, int]]:
    return [
        (decision.should_retry, decision.delay_seconds)
        for decision in (strategy(error, attempt) for attempt in ATTEMPTS)
    ]


@pytest.mark.parametrize(
    ("ours", "reference"),
    [
        pytest.param(RetryStrategyConfig(), ref.RetryStrategyConfig(), id="exponential"),
        pytest.param(LinearRetryStrategyConfig(), ref.LinearRetryStrategyConfig(), id="linear"),
    ],
)
def test_config_defaults_match_reference(ours: Any, reference: Any) -> None:
    """Every config field has the reference's default."""
    names = [f.name for f in dataclasses.fields(reference)]
    assert [f.name for f in dataclasses.fields(ours)] == names
    assert [_to_ref(getattr(ours, name)) for name in names] == [
        getattr(reference, name) for name in names
    ]


@pytest.mark.parametrize(
    ("ours", "reference"),
    [
        pytest.param(RetryPresets.none(), ref.RetryPresets.none(), id="none"),
        pytest.param(RetryPresets.critical(), ref.RetryPresets.critical(), id="critical"),
        pytest.param(RetryPresets.linear(), ref.RetryPresets.linear(), id="linear"),
        pytest.param(RetryPresets.fixed(), ref.RetryPresets.fixed(), id="fixed-default"),
        pytest.param(
            RetryPresets.fixed(Duration.from_seconds(7)),
            ref.RetryPresets.fixed(ref_config.Duration.from_seconds(7)),
            id="fixed-7s",
        ),
    ],
)
def test_unjittered_presets_decide_like_reference(ours: RetryStrategy, reference: Any) -> None:
    """Presets without jitter give the reference's exact decisions for attempts 1 to 12."""
    error = ValueError("boom")
    assert _decisions(ours, error) == _decisions(reference, error)


def test_critical_preset_delays() -> None:
    """The critical preset grows 1.5x from 1 s, rounded up, for 9 retries."""
    delays = [d for retry, d in _decisions(RetryPresets.critical(), ValueError()) if retry]
    assert delays == [1, 2, 3, 4, 6, 8, 12, 18, 26]


def test_linear_preset_delays() -> None:
    """The linear preset waits 1, 2, 3, 4 and 5 seconds."""
    assert [d for retry, d in _decisions(RetryPresets.linear(), ValueError()) if retry] == [
        1,
        2,
        3,
        4,
        5,
    ]


@pytest.mark.parametrize(
    "cfg",
    [
        pytest.param(
            RetryStrategyConfig(max_attempts=12, jitter_strategy=JitterStrategy.NONE),
            id="exponential-capped",
        ),
        pytest.param(
            RetryStrategyConfig(
                max_attempts=8,
                initial_delay=Duration(3),
                max_delay=Duration(40),
                backoff_rate=1.7,
                jitter_strategy=JitterStrategy.NONE,
            ),
            id="exponential-fractional-rate",
        ),
        pytest.param(
            LinearRetryStrategyConfig(
                max_attempts=10,
                initial_delay=Duration(2),
                increment=Duration(3),
                max_delay=Duration(20),
                jitter_strategy=JitterStrategy.NONE,
            ),
            id="linear-capped",
        ),
        pytest.param(
            RetryStrategyConfig(
                initial_delay=Duration(0),
                max_delay=Duration(0),
                jitter_strategy=JitterStrategy.NONE,
            ),
            id="zero-delay-clamped",
        ),
    ],
)
def test_unjittered_configs_decide_like_reference(
    cfg: RetryStrategyConfig | LinearRetryStrategyConfig,
) -> None:
    """Custom configs without jitter give the reference's exact decisions."""
    strategy = (
        create_linear_retry_strategy(cfg)
        if isinstance(cfg, LinearRetryStrategyConfig)
        else create_retry_strategy(cfg)
    )
    error = RuntimeError("x")
    assert _decisions(strategy, error) == _decisions(_ref_strategy(cfg), error)


JITTERED_PRESETS = [
    pytest.param(RetryPresets.default, ref.RetryPresets.default, id="default"),
    pytest.param(RetryPresets.transient, ref.RetryPresets.transient, id="transient"),
    pytest.param(
        RetryPresets.resource_availability,
        ref.RetryPresets.resource_availability,
        id="resource-availability",
    ),
]


@pytest.mark.parametrize(
    ("ours", "max_attempts", "initial", "cap", "half"),
    [
        pytest.param(RetryPresets.default, 6, 5, 60, False, id="default"),
        pytest.param(RetryPresets.transient, 3, 5, 300, True, id="transient"),
        pytest.param(RetryPresets.resource_availability, 5, 5, 300, False, id="resource"),
    ],
)
def test_jittered_presets_stay_within_bounds(
    ours: Callable[[], RetryStrategy], max_attempts: int, initial: int, cap: int, half: bool
) -> None:
    """Jittered presets retry while attempts remain, with delays inside the jitter's range."""
    strategy = ours()
    for attempt in ATTEMPTS:
        base = min(initial * 2 ** (attempt - 1), cap)
        low = max(1, math.ceil(base / 2)) if half else 1
        for _ in range(50):
            decision = strategy(ValueError(), attempt)
            assert decision.should_retry is (attempt < max_attempts)
            if decision.should_retry:
                assert low <= decision.delay_seconds <= base
            else:
                assert decision.delay_seconds == 0


@pytest.mark.parametrize(("ours", "reference"), JITTERED_PRESETS)
def test_jittered_presets_equal_reference_for_the_same_random_draws(
    ours: Callable[[], RetryStrategy], reference: Callable[[], Any]
) -> None:
    """With the same random seed a jittered preset's decisions equal the reference's."""
    error = ValueError("boom")
    random.seed(1234)
    mine = _decisions(ours(), error)
    random.seed(1234)
    assert mine == _decisions(reference(), error)


def test_half_jitter_bounds() -> None:
    """Half jitter keeps a delay between half the base delay and the base delay."""
    strategy = create_retry_strategy(
        RetryStrategyConfig(
            max_attempts=100, initial_delay=Duration(100), jitter_strategy=JitterStrategy.HALF
        )
    )
    delays = {strategy(ValueError(), 1).delay_seconds for _ in range(200)}
    assert min(delays) >= 50
    assert max(delays) <= 100
    assert len(delays) > 1


class _Throttled(Exception):
    pass


class _SubThrottled(_Throttled):
    pass


ERROR_FILTERS = [
    pytest.param(None, None, ValueError("anything"), True, id="default-retries-everything"),
    pytest.param(["timeout"], None, ValueError("read timeout now"), True, id="substring-hit"),
    pytest.param(["timeout"], None, ValueError("Timeout"), False, id="substring-case-sensitive"),
    pytest.param([re.compile(r"^5\d\d")], None, ValueError("503 busy"), True, id="pattern-hit"),
    pytest.param([re.compile(r"^5\d\d")], None, ValueError("a 503"), False, id="pattern-miss"),
    pytest.param(None, [_Throttled], _SubThrottled("x"), True, id="type-subclass-hit"),
    pytest.param(None, [_Throttled], ValueError("x"), False, id="types-only-no-message-default"),
    pytest.param([], None, ValueError("x"), False, id="empty-patterns-retry-nothing"),
    pytest.param(["busy"], [_Throttled], ValueError("busy"), True, id="either-message"),
    pytest.param(["busy"], [_Throttled], _Throttled("x"), True, id="either-type"),
    pytest.param(["busy"], [_Throttled], KeyError("x"), False, id="neither"),
    pytest.param(None, [], ValueError("x"), False, id="empty-types-retry-nothing"),
]


@pytest.mark.parametrize(("patterns", "types", "error", "expected"), ERROR_FILTERS)
@pytest.mark.parametrize("kind", ["exponential", "linear"])
def test_error_filters_match_reference(
    patterns: list[str | re.Pattern[str]] | None,
    types: list[type[Exception]] | None,
    error: Exception,
    expected: bool,
    kind: str,
) -> None:
    """Message and type filters decide retryability exactly as the reference does."""
    cfg: RetryStrategyConfig | LinearRetryStrategyConfig
    if kind == "linear":
        cfg = LinearRetryStrategyConfig(retryable_errors=patterns, retryable_error_types=types)
        ours = create_linear_retry_strategy(cfg)
    else:
        cfg = RetryStrategyConfig(retryable_errors=patterns, retryable_error_types=types)
        ours = create_retry_strategy(cfg)
    assert ours(error, 1).should_retry is expected
    assert _ref_strategy(cfg)(error, 1).should_retry is expected


def test_retry_decision_helpers() -> None:
    """retry and no_retry build decisions, and delay_seconds reads the delay."""
    assert RetryDecision.retry(Duration(9)) == RetryDecision(True, Duration(9))
    assert RetryDecision.retry(Duration(9)).delay_seconds == 9
    assert RetryDecision.no_retry() == RetryDecision(False, Duration(0))
    with pytest.raises(dataclasses.FrozenInstanceError):
        RetryDecision.no_retry().should_retry = True  # type: ignore[misc]


def test_strategies_are_comparable_values() -> None:
    """Strategies made from equal configs compare equal, so configs holding them do too."""
    assert RetryPresets.critical() == RetryPresets.critical()
    assert RetryPresets.critical() != RetryPresets.linear()
    assert config.StepConfig(retry_strategy=RetryPresets.fixed()) == config.StepConfig(
        retry_strategy=RetryPresets.fixed()
    )


def test_many_attempts_cap_the_delay_instead_of_overflowing() -> None:
    """A huge attempt count yields the maximum delay rather than a float overflow."""
    strategy = create_retry_strategy(
        RetryStrategyConfig(max_attempts=10**6, jitter_strategy=JitterStrategy.NONE)
    )
    assert strategy(ValueError(), 5000).delay_seconds == 300


def test_default_strategy_when_no_config() -> None:
    """create_retry_strategy() uses RetryStrategyConfig's defaults."""
    random.seed(5)
    mine = _decisions(create_retry_strategy(), ValueError())
    random.seed(5)
    assert mine == _decisions(ref.create_retry_strategy(), ValueError())
    assert [retry for retry, _ in mine] == [True, True] + [False] * 10


def test_jitter_strategy_is_the_config_enum() -> None:
    """retries re-exports config's JitterStrategy."""
    assert JitterStrategy is config.JitterStrategy


NAN = float("nan")


_BAD_COMMON_FIELDS = {
    "zero-attempts": ({"max_attempts": 0}, r"max_attempts must be .* at least 1"),
    "negative-attempts": ({"max_attempts": -3}, r"max_attempts .* got -3"),
    "fractional-attempts": ({"max_attempts": 2.5}, r"max_attempts .* got 2.5"),
    "bool-attempts": ({"max_attempts": True}, r"max_attempts .* got True"),
    "int-delay": ({"initial_delay": 5}, r"Duration.from_seconds\(5\)"),
    "none-delay": ({"max_delay": None}, "max_delay must be a Duration"),
    "unknown-jitter": ({"jitter_strategy": "SOME"}, "NONE, FULL or HALF"),
    "numeric-jitter": ({"jitter_strategy": 0.5}, "jitter_strategy"),
    "bare-pattern": ({"retryable_errors": "timeout"}, "wrap a single one"),
    "int-pattern": ({"retryable_errors": [42]}, "holds int 42"),
    "bare-type": ({"retryable_error_types": ValueError}, "wrap a single"),
    "str-type": ({"retryable_error_types": ["ValueError"]}, "not an exception"),
}
_BAD_RATES = {
    "negative-rate": ({"backoff_rate": -2}, "backoff_rate must not be negative"),
    "nan-rate": ({"backoff_rate": NAN}, "backoff_rate needs a finite number"),
    "inf-rate": ({"backoff_rate": math.inf}, "backoff_rate needs a finite"),
    "str-rate": ({"backoff_rate": "2"}, "backoff_rate needs a number"),
}


@pytest.mark.parametrize(
    ("config_type", "fields", "match"),
    [
        *(
            pytest.param(config_type, fields, match, id=f"{config_type.__name__}-{name}")
            for config_type in (RetryStrategyConfig, LinearRetryStrategyConfig)
            for name, (fields, match) in _BAD_COMMON_FIELDS.items()
        ),
        *(
            pytest.param(RetryStrategyConfig, fields, match, id=name)
            for name, (fields, match) in _BAD_RATES.items()
        ),
    ],
)
def test_invalid_retry_configs_are_refused_when_built(
    config_type: type[Any], fields: dict[str, Any], match: str
) -> None:
    """A config the strategy could not apply raises ValidationError naming it, when built."""
    with pytest.raises(ValidationError, match=match) as caught:
        config_type(**fields)
    assert str(caught.value).startswith(config_type.__name__)


def test_linear_increment_must_be_a_duration() -> None:
    """LinearRetryStrategyConfig checks its increment like its other delays."""
    with pytest.raises(ValidationError, match=r"increment must be a Duration.*from_seconds\(2\)"):
        LinearRetryStrategyConfig(increment=2)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "delay",
    [
        pytest.param(lambda: Duration.from_seconds(-1), id="negative"),
        pytest.param(lambda: Duration.from_seconds(NAN), id="nan"),
        pytest.param(lambda: Duration.from_minutes(math.inf), id="inf"),
        pytest.param(lambda: Duration.from_days(400), id="over-a-year"),
    ],
)
def test_out_of_range_delays_are_refused_before_a_config_exists(
    delay: Callable[[], Duration],
) -> None:
    """Negative, NaN, infinite and over-long delays fail as the Duration is made."""
    with pytest.raises(ValidationError, match="Duration"):
        RetryStrategyConfig(initial_delay=delay())


def test_edge_values_the_reference_accepts_are_accepted() -> None:
    """One attempt, zero delays, a zero or fractional rate and a jitter name remain valid."""
    cfg = RetryStrategyConfig(
        max_attempts=1,
        initial_delay=Duration(0),
        max_delay=Duration.from_days(366),
        backoff_rate=0,
        jitter_strategy="HALF",  # type: ignore[arg-type]
        retryable_errors=(re.compile("x"), "y"),
        retryable_error_types=[OSError],
    )
    assert cfg.jitter_strategy is JitterStrategy.HALF
    assert create_retry_strategy(cfg)(OSError(), 1) == RetryDecision.no_retry()
    assert RetryStrategyConfig(backoff_rate=0.5).backoff_rate == 0.5


def test_max_attempts_zero_was_treated_as_one_by_the_reference() -> None:
    """The reference silently gives up at once for max_attempts=0; here it is refused instead."""
    reference = ref.create_retry_strategy(ref.RetryStrategyConfig(max_attempts=0))
    assert reference(ValueError(), 1).should_retry is False
    with pytest.raises(ValidationError, match="1 means no retry"):
        RetryStrategyConfig(max_attempts=0)


def test_retry_decision_needs_a_duration() -> None:
    """A custom strategy's RetryDecision with a bare number fails where it is made."""
    with pytest.raises(ValidationError, match=r"RetryDecision delay must be a Duration"):
        RetryDecision.retry(5)  # type: ignore[arg-type]
