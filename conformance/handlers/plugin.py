"""Suite 10: instrumentation plugins (requirements 10-1 to 10-7).

Each handler registers plugin factories with ``durable_execution(plugins=[...])``, the
reference SDK's plugin API as :mod:`durable_async.plugin` has it. As the suite's YAML asks, a
plugin writes each record as one JSON object on a line of plain stdout (not through
``logging``), and stamps every record with the ``durableExecutionArn`` its invocation-start
hook received, so the execution-scoped log query finds it. On Lambda the runtime sends stdout
to CloudWatch line by line; locally :mod:`conformance.handlers._logs` captures the process's
stdout lines next to its JSON log records, which is where the harness reads both.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from conformance.handlers import _logs  # noqa: F401 - JSON log lines and stdout for ExpectedLogs
from durable_async import (
    DurableContext,
    Duration,
    JitterStrategy,
    StepConfig,
    StepContext,
    durable_execution,
    durable_step,
)
from durable_async.plugin import (
    DurableInstrumentationPlugin,
    InvocationEndInfo,
    InvocationStartInfo,
    OperationEndInfo,
    OperationStartInfo,
    OperationType,
    UserFunctionEndInfo,
    UserFunctionStartInfo,
)
from durable_async.retries import RetryPresets, RetryStrategyConfig, create_retry_strategy


def emit(record: dict[str, Any]) -> None:
    """Write ``record`` as one JSON line on plain stdout, at once (one write per line)."""
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


class ConformancePlugin(DurableInstrumentationPlugin):
    """Logs the hooks the suite asks for, as ``{"plugin": label, "hook": ..., ...}`` records.

    ``invocation`` logs invocation-start (with ``first``) and invocation-end (with ``status``);
    ``operations`` logs operation-start and operation-end of steps (with ``op`` and
    ``status``); ``attempts`` logs attempt-start and attempt-end of step attempts (with ``n``,
    ``op`` and, at the end, ``outcome``).
    """

    def __init__(
        self,
        label: str,
        *,
        invocation: bool = True,
        operations: bool = False,
        attempts: bool = False,
    ) -> None:
        self.label = label
        self.invocation, self.operations, self.attempts = invocation, operations, attempts
        self.arn: str | None = None

    def log(self, hook: str, **fields: Any) -> None:
        emit({"plugin": self.label, "hook": hook, **fields, "durableExecutionArn": self.arn})

    def on_invocation_start(self, info: InvocationStartInfo) -> None:
        self.arn = info.execution_arn
        if self.invocation:
            self.log("invocation-start", first=info.is_first_invocation)

    def on_invocation_end(self, info: InvocationEndInfo) -> None:
        if self.invocation:
            self.log("invocation-end", status=info.status.value)

    def on_operation_start(self, info: OperationStartInfo) -> None:
        if self.operations and info.operation_type == OperationType.STEP:
            self.log("operation-start", op=info.operation_id)

    def on_operation_end(self, info: OperationEndInfo) -> None:
        if self.operations and info.operation_type == OperationType.STEP:
            self.log("operation-end", op=info.operation_id, status=info.status.value)

    def on_user_function_start(self, info: UserFunctionStartInfo) -> None:
        if self.attempts and info.operation_type == OperationType.STEP:
            self.log("attempt-start", n=info.attempt, op=info.operation_id)

    def on_user_function_end(self, info: UserFunctionEndInfo) -> None:
        if self.attempts and info.operation_type == OperationType.STEP:
            fields = {"n": info.attempt, "outcome": info.outcome.value, "op": info.operation_id}
            self.log("attempt-end", **fields)


class FaultyPlugin(DurableInstrumentationPlugin):
    """10-4: every hook logs ``{"plugin": "CONFPLUGIN-FAULTY", "hook": ...}``, then raises."""

    label = "CONFPLUGIN-FAULTY"

    def __init__(self) -> None:
        self.arn: str | None = None

    def fail(self, hook: str) -> None:
        emit({"plugin": self.label, "hook": hook, "durableExecutionArn": self.arn})
        raise RuntimeError(f"{self.label} fails in its {hook} hook")

    def on_invocation_start(self, info: InvocationStartInfo) -> None:
        self.arn = info.execution_arn
        self.fail("invocation-start")

    def on_invocation_end(self, info: InvocationEndInfo) -> None:
        self.fail("invocation-end")

    def on_operation_start(self, info: OperationStartInfo) -> None:
        if info.operation_type == OperationType.STEP:
            self.fail("operation-start")

    def on_operation_end(self, info: OperationEndInfo) -> None:
        if info.operation_type == OperationType.STEP:
            self.fail("operation-end")

    def on_user_function_start(self, info: UserFunctionStartInfo) -> None:
        if info.operation_type == OperationType.STEP:
            self.fail("attempt-start")

    def on_user_function_end(self, info: UserFunctionEndInfo) -> None:
        if info.operation_type == OperationType.STEP:
            self.fail("attempt-end")


class Factory:
    """Builds one :class:`ConformancePlugin` per invocation, configured as given."""

    def __init__(self, label: str, **hooks: bool) -> None:
        self.label, self.hooks = label, hooks

    def create_plugin(self, info: InvocationStartInfo, /) -> ConformancePlugin:
        return ConformancePlugin(self.label, **self.hooks)


class FaultyFactory:
    """Builds one :class:`FaultyPlugin` per invocation."""

    def create_plugin(self, info: InvocationStartInfo, /) -> FaultyPlugin:
        return FaultyPlugin()


@durable_step
def greet(step: StepContext, name: str) -> str:
    return f"Hello, {name}!"


@durable_step
def greet_logged(step: StepContext, name: str) -> str:
    step.logger.info(f"Greeting step running for: {name}")
    return f"Hello, {name}!"


@durable_execution(plugins=[Factory("CONFPLUGIN")])
async def plugin_invocation_hooks(event: Any, ctx: DurableContext) -> str:
    """10-1: the invocation hooks bracket the handler, whose step logs between them."""
    return await ctx.step(greet_logged(event))


@durable_execution(plugins=[Factory("CONFPLUGIN", invocation=False, operations=True)])
async def plugin_operation_hooks(event: Any, ctx: DurableContext) -> str:
    """10-2: the step's operation hooks carry the id the history records."""
    return await ctx.step(greet(event))


@durable_step
def fails_first(step: StepContext) -> str:
    if step.attempt < 2:
        raise RuntimeError(f"Attempt {step.attempt} failed")
    return "Operation succeeded"


RETRY_ONCE = StepConfig(
    retry_strategy=create_retry_strategy(
        RetryStrategyConfig(
            max_attempts=3,
            initial_delay=Duration.from_seconds(1),
            jitter_strategy=JitterStrategy.NONE,
            retryable_error_types=[RuntimeError],
        )
    )
)


@durable_execution(plugins=[Factory("CONFPLUGIN", invocation=False, attempts=True)])
async def plugin_attempt_hooks(event: Any, ctx: DurableContext) -> str:
    """10-3: one attempt fails, the retry a second later succeeds; each is bracketed."""
    return await ctx.step(fails_first(), config=RETRY_ONCE)


@durable_execution(plugins=[FaultyFactory()])
async def plugin_error_isolation(event: Any, ctx: DurableContext) -> str:
    """10-4: every hook raises; the execution is as it would be without the plugin."""
    return await ctx.step(greet(event))


@durable_execution(plugins=[Factory("CONFPLUGIN-A"), Factory("CONFPLUGIN-B")])
async def plugin_multiple(event: Any, ctx: DurableContext) -> str:
    """10-5: two plugins, each sees both invocation hooks."""
    return await ctx.step(greet(event))


@durable_execution(plugins=[Factory("CONFPLUGIN")])
async def plugin_first_invocation(event: Any, ctx: DurableContext) -> None:
    """10-6: a two-second wait: the first invocation, then a replay that ends it."""
    await ctx.wait(Duration.from_seconds(2))


@durable_step
def always_fails(step: StepContext) -> str:
    raise RuntimeError("Always fails")


@durable_execution(plugins=[Factory("CONFPLUGIN")])
async def plugin_terminal_failure(event: Any, ctx: DurableContext) -> str:
    """10-7: a step that fails without retry fails the execution; the end hook says FAILED."""
    return await ctx.step(always_fails(), config=StepConfig(retry_strategy=RetryPresets.none()))
