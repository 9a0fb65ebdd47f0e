"""No input wedges an execution: bad text, non-JSON numbers and out-of-range configs.

Each bad input either ends the execution with a clear error (FAILED, recorded) or is refused
where it is written (ValidationError when a config is built), never by leaving the execution
RUNNING or by a generic error after several invocations.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from durable_async import (
    CallbackConfig,
    DurableContext,
    Duration,
    RetryPresets,
    StepConfig,
    WaitForCallbackConfig,
    WaitForConditionConfig,
    WaitForConditionDecision,
    WaitStrategyConfig,
    durable_execution,
)
from durable_async._models import ErrorObject, wire_text
from durable_async.config import MAX_DURATION_SECONDS, JitterStrategy
from durable_async.exceptions import StepError, ValidationError
from durable_async.testing import DurableTestRunner, ExecutionStatus

# What os.fsdecode makes of a file name that is not UTF-8: "\udcff" stands for the byte 0xff.
UNDECODABLE_PATH = os.fsdecode(b"/data/report-\xff.csv")
ESCAPED_PATH = "/data/report-\\udcff.csv"
NAN = float("nan")


# --- Lone surrogates in error text -----------------------------------------------------------


@durable_execution
async def reads_missing_report(event: Any, ctx: DurableContext) -> None:
    def read(_: object) -> None:
        raise FileNotFoundError(UNDECODABLE_PATH)

    await ctx.step(read, name="read", config=StepConfig(retry_strategy=RetryPresets.none()))


async def test_step_error_with_a_lone_surrogate_fails_the_execution(sqlite_path: Path) -> None:
    """A step raising FileNotFoundError(undecodable name) ends FAILED, the message escaped."""
    async with DurableTestRunner(reads_missing_report, store=sqlite_path) as runner:
        result = await runner.run(timeout=30)
    assert result.status is ExecutionStatus.FAILED
    assert result.error is not None
    assert result.error.error_type == "durable_async.exceptions.StepError"
    assert result.error.error_message == ESCAPED_PATH
    step = result.get_step("read")
    assert step.status.value == "FAILED"
    assert step.error == ErrorObject(ESCAPED_PATH, "FileNotFoundError")
    assert result.invocations == 1


@durable_execution
async def fails_with_bad_text(event: Any, ctx: DurableContext) -> None:
    if event == "operation-error":
        raise StepError(
            f"cannot open {UNDECODABLE_PATH}",
            data=UNDECODABLE_PATH,
            stack_trace=[f'  File "{UNDECODABLE_PATH}", line 1'],
        )
    raise ValueError(UNDECODABLE_PATH)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        pytest.param("plain", ErrorObject(ESCAPED_PATH, "ValueError"), id="handler-error"),
        pytest.param(
            "operation-error",
            ErrorObject(
                f"cannot open {ESCAPED_PATH}",
                "durable_async.exceptions.StepError",
                ESCAPED_PATH,
                [f'  File "{ESCAPED_PATH}", line 1'],
            ),
            id="message-data-and-stack-trace",
        ),
    ],
)
async def test_handler_error_with_a_lone_surrogate_fails_the_execution(
    sqlite_path: Path, kind: str, expected: ErrorObject
) -> None:
    """A handler's own error holding lone surrogates is recorded escaped, in every field."""
    async with DurableTestRunner(fails_with_bad_text, store=sqlite_path) as runner:
        result = await runner.run(input=kind, timeout=30)
    assert result.status is ExecutionStatus.FAILED
    assert result.error == expected


@durable_execution
async def lists_report(event: Any, ctx: DurableContext) -> str:
    name: str = await ctx.step(lambda _: UNDECODABLE_PATH, name="list")
    return name


async def test_step_result_with_a_lone_surrogate_round_trips(sqlite_path: Path) -> None:
    """A str result holding a lone surrogate is stored as an escape and read back unchanged."""
    async with DurableTestRunner(lists_report, store=sqlite_path) as runner:
        result = await runner.run(timeout=30)
    assert result.status is ExecutionStatus.SUCCEEDED
    assert result.result == UNDECODABLE_PATH
    assert result.get_step("list").result == '"/data/report-\\udcff.csv"'


class _BrokenStr(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text")


def test_error_object_escapes_lone_surrogates_in_every_field() -> None:
    """ErrorObject makes type, message, data and stack trace lines encodable as UTF-8."""
    error = ErrorObject("m\udcff", "\udcffType", "d\ud800", ["ok", "line \udfff", "ü"])
    assert error == ErrorObject("m\\udcff", "\\udcffType", "d\\ud800", ["ok", "line \\udfff", "ü"])
    lines = error.stack_trace or []
    for text in (error.error_type, error.error_message, error.error_data, *lines):
        assert text is not None
        text.encode("utf-8")


def test_valid_text_is_kept_as_the_same_object() -> None:
    """Text that is already valid, ASCII or not, is returned as it is (no copy)."""
    for text in ("plain ascii", "naïve ✓ 😀"):
        assert wire_text(text) is text
    message = "a normal message"
    assert ErrorObject.from_exception(ValueError(message)).error_message is message


def test_an_exception_whose_str_fails_is_still_described() -> None:
    """An error whose __str__ raises is recorded by its type instead of failing the record."""
    error = ErrorObject.from_exception(_BrokenStr())
    assert error.error_message == "<_BrokenStr whose str() raised RuntimeError>"


# --- NaN and infinities -----------------------------------------------------------------------


@durable_execution
async def returns_non_json(event: Any, ctx: DurableContext) -> Any:
    values = {"nan": NAN, "inf": {"ratio": math.inf}, "-inf": [1.0, -math.inf]}
    return await ctx.step(lambda _: values[event], name="measure")


@pytest.mark.parametrize("kind", ["nan", "inf", "-inf"])
async def test_step_returning_nan_or_infinity_fails_without_retrying(
    sqlite_path: Path, kind: str
) -> None:
    """A step result holding NaN or an infinity fails the step as a SerDesError, not retried."""
    async with DurableTestRunner(returns_non_json, store=sqlite_path) as runner:
        result = await runner.run(input=kind, timeout=30)
    assert result.status is ExecutionStatus.FAILED
    step = result.get_step("measure")
    assert step.status.value == "FAILED"
    assert step.attempt <= 1
    assert step.error is not None
    assert step.error.error_type == "durable_async.exceptions.SerDesError"
    assert "NaN, Infinity or -Infinity" in (step.error.error_message or "")
    assert result.invocations == 1


# --- Durations and their bounds ---------------------------------------------------------------


def _service_max(shape: str, member: str) -> int:
    model = botocore.session.get_session().get_service_model("lambda")
    return int(model.shape_for(shape).members[member].metadata["max"])


def test_duration_bound_is_the_services_limit() -> None:
    """The longest Duration is the service's longest wait, retry delay and execution."""
    assert MAX_DURATION_SECONDS == 366 * 86400
    assert _service_max("WaitOptions", "WaitSeconds") == MAX_DURATION_SECONDS
    assert _service_max("StepOptions", "NextAttemptDelaySeconds") == MAX_DURATION_SECONDS
    assert _service_max("DurableConfig", "ExecutionTimeout") == MAX_DURATION_SECONDS
    assert _service_max("CallbackOptions", "TimeoutSeconds") >= MAX_DURATION_SECONDS
    assert _service_max("CallbackOptions", "HeartbeatTimeoutSeconds") >= MAX_DURATION_SECONDS


@pytest.mark.parametrize(
    ("make", "match"),
    [
        pytest.param(lambda: Duration(MAX_DURATION_SECONDS + 1), "at most 31,622,400", id="max+1"),
        pytest.param(lambda: Duration.from_seconds(1e16), "at most 31,622,400", id="1e16"),
        pytest.param(lambda: Duration.from_days(367), "got 367 days", id="367-days"),
        pytest.param(lambda: Duration.from_hours(1e308), "at most", id="huge-float"),
        pytest.param(lambda: Duration.from_minutes(10**5000), "too large to show", id="huge-int"),
        pytest.param(lambda: Duration(-1), "must not be negative", id="negative"),
        pytest.param(lambda: Duration.from_seconds(-0.5), "must not be negative", id="neg-frac"),
        pytest.param(lambda: Duration.from_seconds(NAN), "finite number", id="nan"),
        pytest.param(lambda: Duration.from_minutes(math.inf), "finite number", id="inf"),
        pytest.param(lambda: Duration(NAN), "finite number", id="nan-seconds"),  # type: ignore[arg-type]
        pytest.param(lambda: Duration(2.5), "whole seconds", id="fraction"),  # type: ignore[arg-type]
        pytest.param(lambda: Duration("5"), "needs a number", id="str"),  # type: ignore[arg-type]
        pytest.param(lambda: Duration(True), "needs a number", id="bool"),
    ],
)
def test_out_of_range_durations_are_refused_when_made(
    make: Callable[[], Duration], match: str
) -> None:
    """Too long, negative, NaN, infinite and non-numeric durations raise ValidationError."""
    with pytest.raises(ValidationError, match=match):
        make()


def test_durations_up_to_the_bound_are_accepted() -> None:
    """0 s to 366 days are valid; whole floats are taken as ints; from_* drop fractions."""
    assert Duration.from_days(366).seconds == MAX_DURATION_SECONDS
    assert Duration(0) == Duration()
    assert Duration(7.0) == Duration(7)  # type: ignore[arg-type]
    assert type(Duration(7.0).seconds) is int  # type: ignore[arg-type]
    assert Duration.from_seconds(2.9) == Duration(2)
    assert Duration.from_minutes(1.5).to_seconds() == 90


def test_callback_timeouts_over_a_year_are_refused() -> None:
    """A callback timeout beyond the bound fails as the config is written, not at the service."""
    with pytest.raises(ValidationError, match="at most 31,622,400"):
        CallbackConfig(timeout=Duration.from_days(400))
    assert CallbackConfig(timeout=Duration.from_days(366)).timeout_seconds == MAX_DURATION_SECONDS


@pytest.mark.parametrize("field_name", ["timeout", "heartbeat_timeout"])
def test_callback_timeouts_must_be_durations(field_name: str) -> None:
    """A bare number of seconds as a callback timeout is refused with the fix in the message."""
    with pytest.raises(ValidationError, match=rf"WaitForCallbackConfig {field_name} .*\(300\)"):
        WaitForCallbackConfig(**{field_name: 300})


@durable_execution
async def waits(event: Any, ctx: DurableContext) -> str:
    await ctx.wait(Duration.from_seconds(event), name="pause")
    return "done"


async def test_wait_beyond_the_bound_fails_at_once_with_a_validation_error(
    sqlite_path: Path,
) -> None:
    """A wait of 1e16 s fails the execution in one invocation with the bound in the message."""
    async with DurableTestRunner(waits, store=sqlite_path) as runner:
        result = await runner.run(input=1e16, timeout=30)
    assert result.status is ExecutionStatus.FAILED
    assert result.error is not None
    assert result.error.error_type == "durable_async.exceptions.ValidationError"
    assert "at most 31,622,400 seconds" in (result.error.error_message or "")
    assert result.invocations == 1
    assert result.operations == [op for op in result.operations if op.type.value == "EXECUTION"]


async def test_wait_of_the_longest_duration_is_accepted_by_the_service() -> None:
    """A wait of exactly 366 days is a valid request: it completes (on the skip clock)."""
    async with DurableTestRunner(waits, skip_time=True) as runner:
        result = await runner.run(input=MAX_DURATION_SECONDS, timeout=30)
    assert result.status is ExecutionStatus.SUCCEEDED
    assert result.result == "done"


# --- Wait strategies --------------------------------------------------------------------------


def _keep_polling(state: object) -> bool:
    return True


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        pytest.param({"max_attempts": 0}, r"max_attempts must be .* at least 1", id="zero"),
        pytest.param({"max_attempts": -1}, "max_attempts", id="negative-attempts"),
        pytest.param({"backoff_rate": NAN}, "backoff_rate needs a finite number", id="nan-rate"),
        pytest.param({"backoff_rate": -1.5}, "backoff_rate must not be negative", id="neg-rate"),
        pytest.param({"initial_delay": 5}, "initial_delay must be a Duration", id="int-delay"),
        pytest.param({"max_delay": 60.0}, "max_delay must be a Duration", id="float-delay"),
        pytest.param({"jitter_strategy": "RANDOM"}, "jitter_strategy must be", id="bad-jitter"),
        pytest.param(
            {"should_continue_polling": None}, "should_continue_polling must be a function", id="fn"
        ),
    ],
)
def test_invalid_wait_strategy_configs_are_refused_when_built(
    fields: dict[str, Any], match: str
) -> None:
    """WaitStrategyConfig checks its fields as RetryStrategyConfig does."""
    arguments: dict[str, Any] = {"should_continue_polling": _keep_polling, **fields}
    with pytest.raises(ValidationError, match=f"WaitStrategyConfig {match}"):
        WaitStrategyConfig(**arguments)


def test_wait_strategy_accepts_a_jitter_name() -> None:
    """A jitter strategy given by name becomes the enum member."""
    config = WaitStrategyConfig(_keep_polling, jitter_strategy="NONE")  # type: ignore[arg-type]
    assert config.jitter_strategy is JitterStrategy.NONE


def test_wait_for_condition_config_needs_a_strategy_function() -> None:
    """WaitForConditionConfig refuses a wait_strategy that cannot be called."""
    with pytest.raises(ValidationError, match="wait_strategy must be a function"):
        WaitForConditionConfig(wait_strategy=None, initial_state=0)  # type: ignore[arg-type]


def test_wait_decision_needs_a_duration() -> None:
    """A custom wait strategy's decision with a bare number fails where it is made."""
    with pytest.raises(ValidationError, match="WaitForConditionDecision delay must be a Duration"):
        WaitForConditionDecision.continue_waiting(30)  # type: ignore[arg-type]
