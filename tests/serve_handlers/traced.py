"""A caller whose plugin gives its chained invoke a trace header, and a target that reports
the trace header its invocation carried (loaded by serve's workers and by in-process tests)."""

from __future__ import annotations

import os
from typing import Any

from durable_async import DurableContext, durable_execution
from durable_async.plugin import (
    DurableInstrumentationPlugin,
    InvocationStartInfo,
    PropagationInput,
    PropagationMetadata,
)

HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
SEEN: list[str | None] = []


class Propagates(DurableInstrumentationPlugin):
    def provide_propagation_metadata(self, info: PropagationInput) -> PropagationMetadata:
        return PropagationMetadata(x_amzn_trace_id=HEADER)


class Records(DurableInstrumentationPlugin):
    def on_invocation_start(self, info: InvocationStartInfo) -> None:
        SEEN.append(info.trace_header)


class Factory:
    def __init__(self, plugin: type[DurableInstrumentationPlugin]) -> None:
        self.plugin = plugin

    def create_plugin(self, info: InvocationStartInfo, /) -> DurableInstrumentationPlugin:
        return self.plugin()


@durable_execution(plugins=[Factory(Propagates)])
async def traced_caller(event: Any, ctx: DurableContext) -> Any:
    return await ctx.invoke("traced_target", {}, name="call")


@durable_execution(plugins=[Factory(Records)])
async def traced_target(event: Any, ctx: DurableContext) -> Any:
    return {"plugin": SEEN[-1], "environment": os.environ.get("_X_AMZN_TRACE_ID")}
