"""Handlers of every operation type, written with the reference SDK (3.0.0).

``ported_ops.py`` holds the same handlers written with durable_async: the port adds ``async`` and
``await`` and changes the package name, nothing else, so the two leave the same history on any
service that speaks the protocol. The interop tests run these on ``durable-async serve`` and on
``dex-local-runner`` and compare (tests/interop/test_serve_parity.py), and resume an execution one
SDK started with the other SDK (tests/interop/test_cross_resume.py).

Waits and retry delays are one second: ``dex-local-runner`` runs on the real clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_durable_execution_sdk_python.config import (
    CallbackConfig,
    CompletionConfig,
    Duration,
    InvokeConfig,
    MapConfig,
    ParallelConfig,
    StepConfig,
    WaitForCallbackConfig,
)
from aws_durable_execution_sdk_python.context import (
    DurableContext,
    StepContext,
    WaitForCallbackContext,
    durable_step,
)
from aws_durable_execution_sdk_python.exceptions import CallbackError
from aws_durable_execution_sdk_python.execution import durable_execution
from aws_durable_execution_sdk_python.retries import (
    JitterStrategy,
    RetryPresets,
    RetryStrategyConfig,
    create_retry_strategy,
)
from aws_durable_execution_sdk_python.types import WaitForConditionCheckContext
from aws_durable_execution_sdk_python.waits import (
    WaitForConditionConfig,
    WaitForConditionDecision,
)

ONE_SECOND = Duration.from_seconds(1)
FAILED_ATTEMPTS = 2
DECLINED = "card declined"
REVIEW_REJECTED = "the reviewer said no"
# Long enough that an answer sent by a test always comes first, also on a busy machine.
CALLBACK_TIMEOUT = Duration.from_seconds(120)
CALLBACK_HEARTBEAT = Duration.from_seconds(90)

ONE_SECOND_RETRIES = StepConfig(
    retry_strategy=create_retry_strategy(
        RetryStrategyConfig(
            max_attempts=FAILED_ATTEMPTS + 1,
            initial_delay=ONE_SECOND,
            backoff_rate=1,
            jitter_strategy=JitterStrategy.NONE,
        )
    )
)
NO_RETRIES = StepConfig(retry_strategy=RetryPresets.none())
FOR_TENANT: InvokeConfig[Any, Any] = InvokeConfig(tenant_id="tenant-1")
# Retries far enough apart that serve on the real clock is stopped before the next attempt.
SLOW_RETRIES = StepConfig(
    retry_strategy=create_retry_strategy(
        RetryStrategyConfig(
            max_attempts=FAILED_ATTEMPTS + 1,
            initial_delay=Duration.from_seconds(600),
            backoff_rate=1,
            jitter_strategy=JitterStrategy.NONE,
        )
    )
)


@durable_step
def flaky(step: StepContext, label: str) -> dict[str, Any]:
    # The attempt number is durable, so every service fails the same attempts.
    if step.attempt <= FAILED_ATTEMPTS:
        raise RuntimeError(f"{label}: attempt {step.attempt} failed")
    return {"label": label, "attempt": step.attempt}


@durable_step
def stamp(step: StepContext, label: str) -> str:
    return label


@durable_step
def times_ten(step: StepContext, value: int) -> int:
    return value * 10


@durable_step
def decline(step: StepContext, order: str) -> None:
    raise ValueError(f"{DECLINED}: {order}")


@durable_execution
def step_retry(event: dict[str, Any], ctx: DurableContext) -> dict[str, Any]:
    """A step that fails twice and succeeds on its third attempt, one second apart."""
    first = ctx.step(flaky("flaky"), config=ONE_SECOND_RETRIES)
    second = ctx.step(stamp("done"))  # unnamed: the service records the function's name
    return {"first": first, "second": second}


@durable_execution
def wait(event: dict[str, Any], ctx: DurableContext) -> list[str]:
    """A step, a one-second wait, and a step."""
    before = ctx.step(stamp("before"), name="before")
    ctx.wait(ONE_SECOND, name="pause")
    after = ctx.step(stamp("after"), name="after")
    return [before, after]


def submit_review(callback_id: str, wctx: WaitForCallbackContext) -> None:
    """The test reads the callback id from the history and answers it."""


@durable_execution
def callback(event: dict[str, Any], ctx: DurableContext) -> dict[str, Any]:
    """A callback answered with success, then a wait_for_callback answered with a failure."""
    config = CallbackConfig(timeout=CALLBACK_TIMEOUT, heartbeat_timeout=CALLBACK_HEARTBEAT)
    approval = ctx.create_callback(name="approval", config=config)
    approved = approval.result()
    try:
        review = ctx.wait_for_callback(
            submit_review, name="review", config=WaitForCallbackConfig(timeout=CALLBACK_TIMEOUT)
        )
    except CallbackError as error:
        review = {"rejected": str(error)}
    return {"approved": approved, "review": review}


def pair(child: DurableContext) -> int:
    one = child.step(times_ten(1), name="one")
    child.wait(ONE_SECOND, name="inner-pause")
    two = child.step(times_ten(2), name="two")
    return one + two


@durable_execution
def child_context(event: dict[str, Any], ctx: DurableContext) -> dict[str, Any]:
    """A child context holding two steps and a wait, then a step at the root."""
    total = ctx.run_in_child_context(pair, name="pair")
    after = ctx.step(stamp("after-child"), name="after-child")
    return {"total": total, "after": after}


def price_line(child: DurableContext, quantity: int, index: int, lines: Sequence[int]) -> int:
    if quantity < 0:
        child.step(decline(f"line {index}"), name=f"refuse-{index}", config=NO_RETRIES)
    return child.step(times_ten(quantity), name=f"price-{index}")


@durable_execution
def map_items(event: dict[str, Any], ctx: DurableContext) -> dict[str, Any]:
    """Map over four lines two at a time; one line fails and the batch tolerates it."""
    config = MapConfig(
        max_concurrency=2, completion_config=CompletionConfig(tolerated_failure_count=1)
    )
    batch = ctx.map([1, 2, -1, 3], price_line, name="price-lines", config=config)
    return {
        "results": batch.get_results(),
        "failed": batch.failure_count,
        "reason": batch.completion_reason.value,
    }


def quick(child: DurableContext) -> str:
    return child.step(stamp("quick"), name="quick-step")


def slow(child: DurableContext) -> str:
    child.wait(ONE_SECOND, name="slow-pause")
    return child.step(stamp("slow"), name="slow-step")


def nested(child: DurableContext) -> int:
    return child.run_in_child_context(pair, name="nested-pair")


@durable_execution
def parallel(event: dict[str, Any], ctx: DurableContext) -> list[Any]:
    """Three branches at once: a step, a wait then a step, and a nested child context."""
    batch = ctx.parallel([quick, slow, nested], name="branches", config=ParallelConfig())
    return batch.get_results()


def count_up(state: int, check: WaitForConditionCheckContext) -> int:
    return state + 1


def until_three(state: int, attempts_made: int) -> WaitForConditionDecision:
    if state >= 3:
        return WaitForConditionDecision.stop_polling()
    return WaitForConditionDecision.continue_waiting(ONE_SECOND)


@durable_execution
def wait_for_condition(event: dict[str, Any], ctx: DurableContext) -> int:
    """Count from 0 to 3, one check a second."""
    config = WaitForConditionConfig(wait_strategy=until_three, initial_state=0)
    return ctx.wait_for_condition(count_up, config=config, name="count")


@durable_execution
def invoke(event: dict[str, Any], ctx: DurableContext) -> dict[str, Any]:
    """Chained invokes of a durable function and, for a tenant, of a plain function."""
    doubled = ctx.invoke("durable-target", {"n": 21}, name="durable-call")
    priced = ctx.invoke("plain-target", {"items": [2, 3]}, name="plain-call", config=FOR_TENANT)
    return {"doubled": doubled, "priced": priced}


@durable_execution
def failure(event: dict[str, Any], ctx: DurableContext) -> None:
    """A step fails without retries and the execution fails with its error."""
    ctx.step(stamp("reserved"), name="reserve")
    ctx.step(decline(event.get("order", "o-1")), name="charge", config=NO_RETRIES)


@durable_execution
def durable_target(event: dict[str, Any], ctx: DurableContext) -> dict[str, int]:
    """The durable function ``invoke`` calls."""
    return {"doubled": ctx.step(times_ten(event["n"]), name="multiply") // 5}


def plain_target(event: dict[str, Any], context: Any) -> dict[str, int]:
    """A plain function ``invoke`` calls."""
    return {"cents": sum(event["items"]) * 100}


@durable_execution
def resumable(event: dict[str, Any], ctx: DurableContext) -> dict[str, Any]:
    """Every kind of operation, then a callback to suspend on, then more work after its answer.

    One SDK runs it up to the callback; the other replays that history and finishes it. The
    callback has no timeout: under skip-time, nothing else being due, a timeout would come at
    once.
    """
    first = ctx.step(flaky("first"), config=ONE_SECOND_RETRIES)
    total = ctx.run_in_child_context(pair, name="pair")
    tolerant = MapConfig(completion_config=CompletionConfig(tolerated_failure_count=1))
    lines = ctx.map([1, -2, 3], price_line, name="lines", config=tolerant)
    branches = ctx.parallel([quick, slow, nested], name="branches")
    counted = ctx.wait_for_condition(
        count_up, config=WaitForConditionConfig(wait_strategy=until_three, initial_state=0)
    )
    doubled = ctx.invoke("durable-target", {"n": 4}, name="durable-call")
    priced = ctx.invoke("plain-target", {"items": [1]}, name="plain-call")
    ctx.wait(ONE_SECOND, name="breather")
    approval = ctx.create_callback(name="approval")
    answer = approval.result()
    last = ctx.step(stamp(f"approved {answer}"), name="last")
    return {
        "first": first,
        "total": total,
        "lines": lines.get_results(),
        "failed_lines": [[error.type, error.message] for error in lines.get_errors() if error],
        "branches": branches.get_results(),
        "counted": counted,
        "invoked": [doubled, priced],
        "last": last,
    }


@durable_execution
def retry_handover(event: dict[str, Any], ctx: DurableContext) -> dict[str, Any]:
    """A step whose attempts are ten minutes apart: one SDK makes the first, the other the rest."""
    return ctx.step(flaky("handed-over"), config=SLOW_RETRIES)


# The functions the interop tests serve, by function name (dex-local-runner's Lambda endpoint
# and ``durable-async serve --function`` use the same names).
FUNCTIONS: dict[str, Any] = {
    "step-retry": step_retry,
    "wait": wait,
    "callback": callback,
    "child-context": child_context,
    "map": map_items,
    "parallel": parallel,
    "wait-for-condition": wait_for_condition,
    "invoke": invoke,
    "failure": failure,
    "durable-target": durable_target,
    "plain-target": plain_target,
    "resumable": resumable,
    "retry-handover": retry_handover,
}
