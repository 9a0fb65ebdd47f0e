"""ctx.wait_for_condition on the SQLite-backed local service: polling, state, replay, failures."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from durable_async import (
    DurableContext,
    Duration,
    JitterStrategy,
    JsonSerDes,
    WaitForConditionCheckContext,
    WaitForConditionConfig,
    WaitForConditionDecision,
    WaitStrategyConfig,
    durable_execution,
)
from durable_async.exceptions import SerDesError, ValidationError, WaitForConditionError
from durable_async.testing import DurableTestRunner, ExecutionStatus
from durable_async.waits import create_wait_strategy
from tests.conftest import Harness


def until(limit: int, *, max_attempts: int = 60) -> Any:
    """Poll every 2 s (no jitter) while the state's ``n`` is below ``limit``."""
    return create_wait_strategy(
        WaitStrategyConfig(
            should_continue_polling=lambda state: state["n"] < limit,
            max_attempts=max_attempts,
            initial_delay=Duration.from_seconds(2),
            backoff_rate=1,
            jitter_strategy=JitterStrategy.NONE,
        )
    )


def test_wait_strategy_backs_off_caps_and_stops() -> None:
    """The backoff strategy grows by backoff_rate, caps at max_delay and stops once met."""
    strategy = create_wait_strategy(
        WaitStrategyConfig(
            should_continue_polling=lambda state: state != "done",
            initial_delay=Duration.from_seconds(5),
            max_delay=Duration.from_seconds(10),
            jitter_strategy=JitterStrategy.NONE,
        )
    )
    delays = [strategy("busy", attempt).delay_seconds for attempt in (1, 2, 3, 10)]
    assert delays == [5, 8, 10, 10]
    assert strategy("busy", 1).should_continue
    assert strategy("done", 1) == WaitForConditionDecision.stop_polling()


def test_wait_strategy_exhaustion_raises_but_a_met_condition_wins() -> None:
    """At max_attempts an unmet condition raises WaitForConditionError; a met one still stops."""
    strategy = until(3, max_attempts=3)
    with pytest.raises(WaitForConditionError, match="exhausted 3 attempts"):
        strategy({"n": 0}, 3)
    assert not strategy({"n": 3}, 3).should_continue


async def test_state_is_carried_across_polls_and_recorded_once(sqlite_path: Path) -> None:
    """Each poll gets the previous poll's state; a later replay returns the result unpolled."""
    seen: list[tuple[int, int]] = []

    def check(state: dict[str, int], check_ctx: WaitForConditionCheckContext) -> dict[str, int]:
        seen.append((state["n"], check_ctx.attempt))
        return {"n": state["n"] + 1}

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> dict[str, int]:
        config = WaitForConditionConfig(wait_strategy=until(3), initial_state={"n": 0})
        final = await ctx.wait_for_condition(check, config, name="count")
        await ctx.wait(Duration.from_seconds(5), name="after")
        return final

    async with DurableTestRunner(handler, store=sqlite_path) as runner:
        result = await runner.run(timeout=30)
    assert result.status is ExecutionStatus.SUCCEEDED
    assert result.result == {"n": 3}
    assert seen == [(0, 1), (1, 2), (2, 3)]
    op = result.get_step("count")
    assert op.sub_type == "WaitForCondition"
    assert op.attempt == 3
    assert op.result == '{"t":"m","v":{"n":{"t":"i","v":3}}}'
    assert result.invocations == 4  # one per poll, one after the wait


async def test_polls_record_retry_with_state_payload_and_delay(harness: Harness) -> None:
    """A poll that continues records RETRY with its state and delay; the last records SUCCEED."""

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> int:
        def check(state: int, check_ctx: WaitForConditionCheckContext) -> int:
            return state + 1

        def strategy(state: int, attempt: int) -> WaitForConditionDecision:
            if state >= 2:
                return WaitForConditionDecision.stop_polling()
            return WaitForConditionDecision.continue_waiting(Duration.from_seconds(0))

        config = WaitForConditionConfig(strategy, initial_state=0, serdes=JsonSerDes[int]())
        return await ctx.wait_for_condition(check, config, name="poll")

    result = await harness.run(handler)
    assert result["Result"] == "2"
    updates = [u for call in harness.recorder.calls for u in call if u.get("Name") == "poll"]
    assert [u["Action"] for u in updates] == ["START", "RETRY", "START", "SUCCEED"]
    retry = updates[1]
    assert retry["Type"] == "STEP"
    assert retry["SubType"] == "WaitForCondition"
    assert retry["Payload"] == "1"
    assert retry["StepOptions"] == {"NextAttemptDelaySeconds": 1}  # at least one second
    assert updates[3]["Payload"] == "2"


async def test_start_rides_with_the_first_outcome(harness: Harness) -> None:
    """START is queued without waiting, so a condition met at once costs one checkpoint call."""

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> str:
        config = WaitForConditionConfig(until(0), initial_state={"n": 0})
        await ctx.wait_for_condition(lambda state, _: state, config, name="met")
        return "ok"

    await harness.run(handler)
    assert [harness.recorder.actions(i) for i in range(len(harness.recorder.calls))] == [
        [("met", "START"), ("met", "SUCCEED")]
    ]


async def test_exhaustion_raises_the_same_error_on_first_run_and_replay(
    sqlite_path: Path,
) -> None:
    """Running out of attempts records FAIL; the replay raises an equal WaitForConditionError."""
    caught: list[tuple[str | None, str]] = []
    polls: list[int] = []

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> str:
        def check(state: dict[str, int], _: WaitForConditionCheckContext) -> dict[str, int]:
            polls.append(state["n"])
            return {"n": state["n"] + 1}

        config = WaitForConditionConfig(until(100, max_attempts=2), initial_state={"n": 0})
        try:
            await ctx.wait_for_condition(check, config, name="never")
        except WaitForConditionError as exc:
            caught.append((exc.message, exc.error_type))
        await ctx.wait(Duration.from_seconds(1), name="after")
        return "handled"

    async with DurableTestRunner(handler, store=sqlite_path) as runner:
        result = await runner.run(timeout=30)
    assert result.result == "handled"
    assert polls == [0, 1]
    message = "wait_for_condition exhausted 2 attempts before the condition was met"
    assert caught == [(message, "durable_async.exceptions.WaitForConditionError")] * 2
    op = result.get_step("never")
    assert op.status.value == "FAILED"
    assert op.error is not None
    assert op.error.error_message == message


async def test_a_failing_check_fails_at_once_with_its_error_type(sqlite_path: Path) -> None:
    """An error from the check is not retried: FAIL, and WaitForConditionError names its type."""
    calls: list[int] = []

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> None:
        async def check(state: int, _: WaitForConditionCheckContext) -> int:
            calls.append(state)
            raise KeyError("sensor offline")

        config = WaitForConditionConfig(until(5), initial_state=0)
        await ctx.wait_for_condition(check, config, name="sensor")

    async with DurableTestRunner(handler, store=sqlite_path) as runner:
        result = await runner.run(timeout=30)
    assert calls == [0]
    assert result.status is ExecutionStatus.FAILED
    assert result.error is not None
    assert result.error.error_type == "durable_async.exceptions.WaitForConditionError"
    assert result.error.error_message == "'sensor offline'"
    op = result.get_step("sensor")
    assert op.error is not None
    assert op.error.error_type == "KeyError"


async def test_sync_checks_run_in_a_worker_thread_and_async_checks_on_the_loop(
    sqlite_path: Path,
) -> None:
    """A sync check runs off the event loop's thread; an async check runs on it."""
    threads: dict[str, int] = {}

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> list[int]:
        threads["loop"] = threading.get_ident()

        def sync_check(state: dict[str, int], _: WaitForConditionCheckContext) -> dict[str, int]:
            threads["sync"] = threading.get_ident()
            return {"n": state["n"] + 1}

        async def async_check(
            state: dict[str, int], _: WaitForConditionCheckContext
        ) -> dict[str, int]:
            threads["async"] = threading.get_ident()
            return {"n": state["n"] + 2}

        first = await ctx.wait_for_condition(
            sync_check, WaitForConditionConfig(until(1), initial_state={"n": 0})
        )
        second = await ctx.wait_for_condition(
            async_check, WaitForConditionConfig(until(2), initial_state={"n": 0})
        )
        return [first["n"], second["n"]]

    async with DurableTestRunner(handler, store=sqlite_path) as runner:
        result = await runner.run(timeout=30)
    assert result.result == [1, 2]
    assert threads["sync"] != threads["loop"]
    assert threads["async"] == threads["loop"]


async def test_initial_state_is_round_tripped_through_the_default_serdes(
    sqlite_path: Path,
) -> None:
    """The first check sees the initial state as the extended SerDes reads it back (a tuple)."""
    seen: list[Any] = []

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> str:
        def check(state: Any, _: WaitForConditionCheckContext) -> Any:
            seen.append(state)
            return state

        def stop(state: Any, attempt: int) -> WaitForConditionDecision:
            return WaitForConditionDecision.stop_polling()

        await ctx.wait_for_condition(check, WaitForConditionConfig(stop, initial_state=(1, "a")))
        return "ok"

    async with DurableTestRunner(handler, store=sqlite_path) as runner:
        await runner.run(timeout=30)
    assert seen == [(1, "a")]
    assert isinstance(seen[0], tuple)


async def test_missing_check_or_config_is_a_validation_error(sqlite_path: Path) -> None:
    """wait_for_condition without a check or a config raises ValidationError when called."""
    errors: list[str] = []

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> list[str]:
        config = WaitForConditionConfig(until(1), initial_state={"n": 0})
        for check, cfg in ((None, config), (lambda s, _: s, None)):
            try:
                ctx.wait_for_condition(check, cfg)  # type: ignore[arg-type]
            except ValidationError as exc:
                errors.append(str(exc).split(" ")[0])
        return errors

    async with DurableTestRunner(handler, store=sqlite_path) as runner:
        result = await runner.run(timeout=30)
    assert result.result == ["`check`", "`config`"]


async def test_unserializable_state_fails_with_serdes_error_on_first_run_and_replay(
    sqlite_path: Path,
) -> None:
    """A state the SerDes cannot write records FAIL and raises SerDesError, again on replay."""
    caught: list[str] = []

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> str:
        config = WaitForConditionConfig(until(1), initial_state={"n": 0})
        try:
            await ctx.wait_for_condition(lambda state, _: {"n": object()}, config, name="bad")
        except SerDesError as exc:
            caught.append(type(exc).__name__)
        await ctx.wait(Duration.from_seconds(1))
        return "handled"

    async with DurableTestRunner(handler, store=sqlite_path) as runner:
        result = await runner.run(timeout=30)
    assert result.result == "handled"
    assert caught == ["SerDesError", "SerDesError"]
    assert result.get_step("bad").status.value == "FAILED"
