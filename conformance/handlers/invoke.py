"""Suite 5: chained invokes (requirements 5-1 to 5-16) and the functions they invoke.

The targets are served under the names of the suite's template (``TargetEcho``, ...): a local
service hosts every function in one place, so the names are constants here rather than the
per-function environment variables a SAM deployment would set.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from conformance.handlers import _logs  # noqa: F401 - JSON log lines for ExpectedLogs
from durable_async import (
    DurableContext,
    Duration,
    InvokeConfig,
    StepContext,
    durable_execution,
    durable_step,
    durable_with_child_context,
)
from durable_async.serdes import SerDes, SerDesContext

ECHO = "TargetEcho"
ECHO_TENANT = "TargetEchoTenant"
FAILS = "TargetError"


@durable_execution
async def target_echo(event: Any, ctx: DurableContext) -> Any:
    """Target: wait a second (so the caller suspends), then return the payload."""
    await ctx.wait(Duration.from_seconds(1))
    return event


@durable_execution
async def target_error(event: Any, ctx: DurableContext) -> Any:
    """Target: wait a second, then fail."""
    await ctx.wait(Duration.from_seconds(1))
    raise RuntimeError("target function error")


def target_non_durable(event: Any, context: Any) -> str:
    """Target: a plain Lambda handler."""
    return "non-durable result"


@durable_execution
async def invoke_basic(event: Any, ctx: DurableContext) -> Any:
    """5-1: invoke a target that succeeds."""
    return await ctx.invoke(ECHO, event)


@durable_execution
async def invoke_with_name(event: Any, ctx: DurableContext) -> Any:
    """5-2: an invoke named by the input."""
    return await ctx.invoke(ECHO, event["payload"], name=event["name"])


@durable_execution
async def invoke_complex_object(event: Any, ctx: DurableContext) -> Any:
    """5-3: the target echoes a nested object."""
    return await ctx.invoke(ECHO, event)


@durable_execution
async def invoke_null_result(event: Any, ctx: DurableContext) -> Any:
    """5-4: the target returns null."""
    return await ctx.invoke(ECHO, None)


@durable_execution
async def invoke_target_fails(event: Any, ctx: DurableContext) -> Any:
    """5-5: the target fails, so the execution fails."""
    return await ctx.invoke(FAILS, event)


@durable_execution
async def invoke_target_fails_caught(event: Any, ctx: DurableContext) -> str:
    """5-6: the target's failure is caught."""
    with contextlib.suppress(Exception):  # the requirement swallows it
        await ctx.invoke(FAILS, event)
    return "fallback"


@durable_execution
async def invoke_large_payload(event: Any, ctx: DurableContext) -> Any:
    """5-7: a payload of about 200 KB."""
    return await ctx.invoke(ECHO, {"data": "x" * 200_000})


@durable_execution
async def invoke_with_tenant_id(event: Any, ctx: DurableContext) -> Any:
    """5-8: an invoke with a tenant id."""
    config = InvokeConfig[Any, Any](tenant_id=event["tenantId"])
    return await ctx.invoke(ECHO_TENANT, event["payload"], config=config)


@durable_execution
async def invoke_replay_skips(event: Any, ctx: DurableContext) -> Any:
    """5-9: a succeeded invoke returns its recorded result on replay."""
    result = await ctx.invoke(ECHO, event)
    await ctx.wait(Duration.from_seconds(1))
    return result


@durable_execution
async def invoke_replay_rethrows(event: Any, ctx: DurableContext) -> str:
    """5-10: a failed invoke raises its recorded error again on replay."""
    with contextlib.suppress(Exception):  # the requirement swallows it
        await ctx.invoke(FAILS, event)
    await ctx.wait(Duration.from_seconds(1))
    return "caught and continued"


@durable_step
def step_result(step: StepContext) -> str:
    return "step result"


@durable_execution
async def step_then_invoke(event: Any, ctx: DurableContext) -> Any:
    """5-11: a step's result is the invoke's payload."""
    return await ctx.invoke(ECHO, await ctx.step(step_result()))


@durable_step
def processed(step: StepContext, value: str) -> str:
    return f"processed: {value}"


@durable_execution
async def invoke_then_step(event: Any, ctx: DurableContext) -> str:
    """5-12: the invoke's result feeds a step."""
    return await ctx.step(processed(await ctx.invoke(ECHO, event)))


@durable_with_child_context
async def invokes_echo(ctx: DurableContext) -> Any:
    return await ctx.invoke(ECHO, None)


@durable_execution
async def invoke_in_child_context(event: Any, ctx: DurableContext) -> Any:
    """5-13: an invoke inside a child context."""
    return await ctx.run_in_child_context(invokes_echo())


@durable_execution
async def invoke_multiple_sequential(event: Any, ctx: DurableContext) -> Any:
    """5-14: the second invoke's payload is the first one's result."""
    return await ctx.invoke(ECHO, await ctx.invoke(ECHO, event))


class UppercasePayloadSerDes(SerDes[Any]):
    """Send a string payload upper-cased."""

    def serialize(self, value: Any, serdes_context: SerDesContext) -> str:
        return json.dumps(value.upper() if isinstance(value, str) else value)

    def deserialize(self, data: str, serdes_context: SerDesContext) -> Any:
        return json.loads(data)


@durable_execution
async def invoke_custom_payload_serdes(event: Any, ctx: DurableContext) -> Any:
    """5-15: the payload goes through a custom SerDes."""
    config = InvokeConfig[Any, Any](serdes_payload=UppercasePayloadSerDes())
    return await ctx.invoke(ECHO, event, config=config)


class UppercaseResultSerDes(SerDes[str]):
    """Read a result upper-cased."""

    def serialize(self, value: str, serdes_context: SerDesContext) -> str:
        return value

    def deserialize(self, data: str, serdes_context: SerDesContext) -> str:
        return data.upper()


@durable_execution
async def invoke_custom_result_serdes(event: Any, ctx: DurableContext) -> Any:
    """5-16: the result comes back through a custom SerDes."""
    config = InvokeConfig[Any, Any](serdes_result=UppercaseResultSerDes())
    return await ctx.invoke(ECHO, event, config=config)
