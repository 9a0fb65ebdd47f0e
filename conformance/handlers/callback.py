"""Suite 4: callbacks made with create_callback (requirements 4-1 to 4-19)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from conformance.handlers import _logs  # noqa: F401 - JSON log lines for ExpectedLogs
from durable_async import (
    CallbackConfig,
    CallbackError,
    DurableContext,
    Duration,
    durable_execution,
)
from durable_async.serdes import SerDes, SerDesContext


@durable_execution
async def callback_basic(event: Any, ctx: DurableContext) -> Any:
    """4-1: a callback named by the input, answered with success."""
    callback = await ctx.create_callback(name=event)
    return await callback.result()


@durable_execution
async def callback_with_name(event: Any, ctx: DurableContext) -> Any:
    """4-2: a callback with a fixed name."""
    callback = await ctx.create_callback(name="approval")
    return await callback.result()


@durable_execution
async def callback_timeout(event: Any, ctx: DurableContext) -> Any:
    """4-3: nobody answers within the 5-second timeout; the execution fails."""
    config = CallbackConfig(timeout=Duration.from_seconds(5))
    callback = await ctx.create_callback(name=event, config=config)
    return await callback.result()


@durable_execution
async def callback_heartbeat_timeout(event: Any, ctx: DurableContext) -> Any:
    """4-4: no heartbeat within 5 seconds; the callback times out."""
    config = CallbackConfig(heartbeat_timeout=Duration.from_seconds(5))
    callback = await ctx.create_callback(name=event, config=config)
    return await callback.result()


@durable_execution
async def callback_heartbeat_success(event: Any, ctx: DurableContext) -> Any:
    """4-5: a heartbeat, then success, within the 10-second heartbeat timeout."""
    config = CallbackConfig(heartbeat_timeout=Duration.from_seconds(10))
    callback = await ctx.create_callback(name=event, config=config)
    return await callback.result()


@durable_execution
async def callback_failure(event: Any, ctx: DurableContext) -> Any:
    """4-6: the callback is answered with failure, which fails the execution."""
    callback = await ctx.create_callback(name=event)
    return await callback.result()


def _notified(step: Any) -> str:
    return "notified"


@durable_execution
async def callback_step_failure(event: Any, ctx: DurableContext) -> Any:
    """4-7: a step runs between creating the callback and waiting on it; it fails."""
    callback = await ctx.create_callback(name=event)
    await ctx.step(_notified, name="notify-external")
    return await callback.result()


@durable_execution
async def callback_step_timeout(event: Any, ctx: DurableContext) -> Any:
    """4-8: a step runs after creating the callback; the callback times out."""
    config = CallbackConfig(timeout=Duration.from_seconds(5))
    callback = await ctx.create_callback(name=event, config=config)
    await ctx.step(_notified, name="notify-external")
    return await callback.result()


@durable_execution
async def callback_wait_success(event: Any, ctx: DurableContext) -> Any:
    """4-9: the callback is answered while a wait runs; the result is read after it."""
    callback = await ctx.create_callback(name=event)
    await ctx.wait(Duration.from_seconds(5), name="delay")
    return await callback.result()


@durable_execution
async def callback_wait_failure(event: Any, ctx: DurableContext) -> Any:
    """4-10: the callback fails while a wait runs; reading it after the wait raises."""
    callback = await ctx.create_callback(name=event)
    await ctx.wait(Duration.from_seconds(5), name="delay")
    return await callback.result()


@durable_execution
async def callback_wait_timeout(event: Any, ctx: DurableContext) -> Any:
    """4-11: the callback times out (3 s) during a 6-second wait."""
    config = CallbackConfig(timeout=Duration.from_seconds(3))
    callback = await ctx.create_callback(name=event, config=config)
    await ctx.wait(Duration.from_seconds(6), name="delay")
    return await callback.result()


@durable_execution
async def callback_replay_with_wait(event: Any, ctx: DurableContext) -> Any:
    """4-12: a succeeded callback's result survives the replay after a wait."""
    callback = await ctx.create_callback(name=event)
    result = await callback.result()
    await ctx.wait(Duration.from_seconds(2), name="after-cb")
    return result


@durable_execution
async def callback_replay_failure(event: Any, ctx: DurableContext) -> str:
    """4-13: a failed callback's error is caught, and caught again on replay."""
    callback = await ctx.create_callback(name=event)
    try:
        outcome = await callback.result()
    except CallbackError as exc:
        outcome = f"caught_failure:{exc}"
    await ctx.wait(Duration.from_seconds(2), name="after-cb")
    return outcome


@durable_execution
async def callback_replay_timeout(event: Any, ctx: DurableContext) -> str:
    """4-14: a timed-out callback's error is caught, and caught again on replay."""
    config = CallbackConfig(timeout=Duration.from_seconds(3))
    callback = await ctx.create_callback(name=event, config=config)
    try:
        outcome = await callback.result()
    except CallbackError as exc:
        outcome = f"caught_timeout:{exc}"
    await ctx.wait(Duration.from_seconds(2), name="after-cb")
    return outcome


@dataclass(frozen=True)
class Notice:
    """The object 4-15's callback carries."""

    id: int
    message: str
    timestamp: datetime


class NoticeSerDes(SerDes[Notice]):
    """A Notice as a JSON object with an ISO-8601 timestamp."""

    def serialize(self, value: Notice, serdes_context: SerDesContext) -> str:
        fields = {"id": value.id, "message": value.message, "timestamp": value.timestamp}
        return json.dumps({**fields, "timestamp": value.timestamp.isoformat()})

    def deserialize(self, data: str, serdes_context: SerDesContext) -> Notice:
        fields = json.loads(data)
        stamp = datetime.fromisoformat(fields["timestamp"].replace("Z", "+00:00"))
        return Notice(fields["id"], fields["message"], stamp)


@durable_execution
async def callback_serdes_happy(event: Any, ctx: DurableContext) -> dict[str, Any]:
    """4-15: a callback result read through a custom SerDes into an object."""
    callback = await ctx.create_callback(name=event, config=CallbackConfig(serdes=NoticeSerDes()))
    notice: Notice = await callback.result()
    stamp = int(notice.timestamp.timestamp())
    return {"received": {"id": notice.id, "message": notice.message, "timestamp": stamp}}


class IntSerDes(SerDes[int]):
    """An integer as JSON text."""

    def serialize(self, value: int, serdes_context: SerDesContext) -> str:
        return json.dumps(value)

    def deserialize(self, data: str, serdes_context: SerDesContext) -> int:
        return int(json.loads(data))


@durable_execution
async def callback_serdes_numeric(event: Any, ctx: DurableContext) -> dict[str, int]:
    """4-16: a numeric callback result read through a custom SerDes."""
    callback = await ctx.create_callback(name=event, config=CallbackConfig(serdes=IntSerDes()))
    value: int = await callback.result()
    return {"count": value, "doubled": value * 2}


@durable_execution
async def callback_two_sequential(event: Any, ctx: DurableContext) -> dict[str, Any]:
    """4-17: the second callback is created only after the first is answered."""
    first = await ctx.create_callback(name=event[0])
    a = await first.result()
    second = await ctx.create_callback(name=event[1])
    return {"a": a, "b": await second.result()}


@durable_execution
async def callback_two_parallel(event: Any, ctx: DurableContext) -> dict[str, Any]:
    """4-18: two callbacks created together, read A then B."""
    first = await ctx.create_callback(name=event[0])
    second = await ctx.create_callback(name=event[1])
    a = await first.result()
    return {"a": a, "b": await second.result()}


@durable_execution
async def callback_two_parallel_reverse(event: Any, ctx: DurableContext) -> dict[str, Any]:
    """4-19: two callbacks created together, read B then A."""
    first = await ctx.create_callback(name=event[0])
    second = await ctx.create_callback(name=event[1])
    b = await second.result()
    return {"a": await first.result(), "b": b}
