"""Step mocks: a test double runs in place of the steps a name or a name path matches."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from durable_async import (
    DurableContext,
    Duration,
    RetryDecision,
    StepConfig,
    StepContext,
    durable_execution,
)
from durable_async.testing import DurableTestRunner, ExecutionStatus, StepCall
from tests.testing_handlers.shop import order, quote

LINES = [{"sku": "apple", "quantity": 2}, {"sku": "pear", "quantity": 1}]


async def test_a_result_mock_replaces_every_step_of_that_name() -> None:
    """mock_step("price", result=...) answers for each item; the real function never runs."""
    async with DurableTestRunner(quote) as runner:
        mock = runner.mock_step("price", result=7)
        result = await runner.run(input={"lines": LINES})
    assert result.result == 14
    assert [call.path for call in mock.calls] == [
        "price-lines/map-item-0/price",
        "price-lines/map-item-1/price",
    ]
    assert {call.attempt for call in mock.calls} == {1}
    assert result.get_step("price-lines/1/price").value() == 7  # recorded like any result


async def test_a_path_mock_replaces_one_item_only() -> None:
    """A path names one item's step; the other items run their own function."""
    async with DurableTestRunner(quote) as runner:
        mock = runner.mock_step("price-lines/1/price", result=1000)
        result = await runner.run(input={"lines": LINES})
    assert result.result == 60 + 1000
    assert mock.calls == [StepCall("price-lines/map-item-1/price", mock.calls[0].operation_id, 1)]
    assert result.get_step("price-lines/1/price").id == mock.calls[0].operation_id


async def test_wildcards_and_later_mocks_first() -> None:
    """price-lines/*/price matches every item; a mock added later wins where both match."""
    async with DurableTestRunner(quote) as runner:
        every = runner.mock_step("price-lines/*/price", result=1)
        second = runner.mock_step("price-lines/map-item-1/price", result=100)
        result = await runner.run(input={"lines": LINES})
    assert result.result == 101
    assert len(every.calls) == 1
    assert len(second.calls) == 1


async def test_raises_goes_through_the_retry_strategy() -> None:
    """An exception mock fails each attempt; the step's retry strategy retries, then fails."""
    async with DurableTestRunner(order) as runner:
        mock = runner.mock_step("charge", raises=ConnectionError("card service down"))
        result = await runner.run(input={"lines": LINES}, timeout=30)
    assert result.status is ExecutionStatus.FAILED
    assert result.error is not None
    assert "card service down" in (result.error.error_message or "")
    charge = result.get_step("charge")
    assert charge.attempt == len(mock.calls) > 1
    assert [call.attempt for call in mock.calls] == list(range(1, len(mock.calls) + 1))


async def test_a_function_mock_sees_the_step_context() -> None:
    """A function mock gets the StepContext (attempt, logger) and may be sync or async."""
    seen: list[tuple[int, str]] = []

    def flaky(step: StepContext) -> dict[str, Any]:
        seen.append((step.attempt, threading.current_thread().name))
        if step.attempt < 3:
            raise TimeoutError("slow bank")
        return {"charged": 0, "attempt": step.attempt}

    async with DurableTestRunner(order) as runner:
        runner.mock_step("charge", flaky)
        arn = await runner.start(input={"lines": LINES})
        callback_id = await runner.wait_for_callback(arn, name="approval")
        await runner.send_callback_success(callback_id, {"approved": False})
        result = await runner.wait_for_result(arn)
    assert result.result == {
        "total": 105,
        "receipt": {"charged": 0, "attempt": 3},
        "approved": False,
    }
    assert [attempt for attempt, _ in seen] == [1, 2, 3]
    assert all(thread != threading.main_thread().name for _, thread in seen)  # a sync step's


async def test_removed_mocks_stop_applying() -> None:
    """remove() (or leaving the with block) lets the real function run again."""
    async with DurableTestRunner(quote) as runner:
        with runner.mock_step("price", result=0) as mock:
            first = await runner.run(input={"lines": LINES})
        second = await runner.run(input={"lines": LINES})
        mock.remove()  # removing twice is harmless
    assert (first.result, second.result) == (0, 105)
    assert len(mock.calls) == 2


@durable_execution
async def counted(event: Any, ctx: DurableContext) -> list[int]:
    first = await ctx.step(lambda _: 1, name="before")
    await ctx.wait(Duration.from_hours(1), name="nap")

    async def inner(child: DurableContext) -> int:
        return await child.step(lambda _: 2, name="after")

    second = await ctx.run_in_child_context(inner, name="later")
    return [first, second]


async def test_replayed_steps_are_not_run_again_and_paths_hold_across_invocations() -> None:
    """After the wait, the replayed step is not mocked again; a path under a new context is."""
    async with DurableTestRunner(counted) as runner:
        before = runner.mock_step("before", result=10)
        after = runner.mock_step("later/after", result=20)
        result = await runner.run()
    assert result.result == [10, 20]
    assert result.invocations == 2
    assert len(before.calls) == 1
    assert [call.path for call in after.calls] == ["later/after"]


@durable_execution
async def resumed_inside(event: Any, ctx: DurableContext) -> int:
    async def inner(child: DurableContext) -> int:
        await child.wait(Duration.from_hours(1), name="nap")
        return await child.step(lambda _: 2, name="after")

    return await ctx.run_in_child_context(inner, name="outer")


async def test_a_path_mock_finds_a_context_recorded_in_an_earlier_invocation() -> None:
    """The step runs in a later invocation, inside a context the state holds from before."""
    async with DurableTestRunner(resumed_inside) as runner:
        mock = runner.mock_step("outer/after", result=99)
        result = await runner.run()
    assert result.result == 99
    assert result.invocations == 2
    assert [call.path for call in mock.calls] == ["outer/after"]


@durable_execution
async def caller(event: Any, ctx: DurableContext) -> int:
    return await ctx.invoke("quote-fn", {"lines": LINES}, name="quote")


async def test_mocks_apply_to_invoked_durable_functions() -> None:
    """A durable function invoked through the runner runs under the same mocks."""
    async with DurableTestRunner(caller) as runner:
        runner.register_durable_function("quote-fn", quote)
        mock = runner.mock_step("price", result=5)
        result = await runner.run()
    assert result.result == 10
    assert len(mock.calls) == 2


async def test_an_unmatched_mock_runs_nothing() -> None:
    """A pattern that matches no step leaves every step to its own function."""
    async with DurableTestRunner(quote) as runner:
        mock = runner.mock_step("price-lines/5/price", result=0)
        other = runner.mock_step("settle", result=0)  # a wait of that name is no step
        result = await runner.run(input={"lines": LINES})
    assert result.result == 105
    assert not mock.called
    assert not other.called


@pytest.mark.parametrize(
    ("args", "kwargs", "error"),
    [
        pytest.param((), {}, TypeError, id="nothing"),
        pytest.param((lambda s: 1,), {"result": 1}, TypeError, id="fn-and-result"),
        pytest.param((), {"result": 1, "raises": ValueError}, TypeError, id="result-and-raises"),
        pytest.param((), {"result": None, "raises": None}, None, id="result-None-is-a-result"),
    ],
)
async def test_exactly_one_replacement(
    args: tuple[Any, ...], kwargs: dict[str, Any], error: type[Exception] | None
) -> None:
    """mock_step takes one of fn, result= or raises=; result=None is a result."""
    async with DurableTestRunner(quote) as runner:
        if error is not None:
            with pytest.raises(error, match="exactly one of"):
                runner.mock_step("price", *args, **kwargs)
        else:
            runner.mock_step("price", *args, **kwargs)


async def test_a_malformed_pattern_fails_when_added() -> None:
    """An empty segment is refused by mock_step itself, before any step runs."""
    async with DurableTestRunner(quote) as runner:
        with pytest.raises(ValueError, match="empty segment"):
            runner.mock_step("price-lines//price", result=0)


async def test_an_exception_class_mock_and_no_retry() -> None:
    """raises= takes a class too; with a strategy that never retries the step fails at once."""

    @durable_execution
    async def once(event: Any, ctx: DurableContext) -> str:
        never = StepConfig(retry_strategy=lambda error, attempt: RetryDecision.no_retry())
        try:
            await ctx.step(lambda _: "real", name="fetch", config=never)
        except Exception as exc:
            return type(exc).__name__
        return "ran"

    async with DurableTestRunner(once) as runner:
        mock = runner.mock_step("fetch", raises=PermissionError)
        result = await runner.run()
    assert result.result == "StepError"
    assert len(mock.calls) == 1
    error = result.get_step("fetch").error
    assert error is not None
    assert error.error_type == "PermissionError"
