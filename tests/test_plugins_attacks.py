"""Plugins that misbehave, registrations that are wrong, and the promises hooks keep.

A plugin observes; it never takes part. Whatever a factory or a hook does (raise anything, be
``async def``, return junk, mutate what it is handed), the execution's outcome and history are
those of the same handler run without it, and the other plugins hear everything.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from durable_async import (
    ChildConfig,
    DurableContext,
    DurableHandler,
    Duration,
    StepConfig,
    WaitForConditionConfig,
    WaitForConditionDecision,
    durable_execution,
)
from durable_async.exceptions import PluginLoadError, StepError, SuspendExecution
from durable_async.plugin import (
    DurableInstrumentationPlugin,
    InvocationEndInfo,
    InvocationStartInfo,
    InvocationStatus,
    OperationChangeInfo,
    OperationEndInfo,
    OperationInfo,
    PropagationInput,
    PropagationMetadata,
)
from durable_async.retries import RetryStrategyConfig, create_retry_strategy
from durable_async.service import ServiceError
from durable_async.service.local.engine import LocalDurableService
from durable_async.service.local.store import MemoryStore
from durable_async.testing import DurableTestResult, DurableTestRunner
from tests import plugin_recording
from tests.conftest import Harness
from tests.plugin_recording import HOOKS, RecordingFactory, per_operation
from tests.side_by_side import our_history

RETRY_ONCE = StepConfig(
    retry_strategy=create_retry_strategy(
        RetryStrategyConfig(max_attempts=2, initial_delay=Duration.from_seconds(1))
    )
)
NO_RETRY = StepConfig(retry_strategy=create_retry_strategy(RetryStrategyConfig(max_attempts=1)))


def everything(plugins: list[Any]) -> DurableHandler[Any, Any]:
    """A handler that uses every operation kind, with fresh state (a flaky step's counter)."""
    tries = [0]

    def flaky(_: Any) -> int:
        tries[0] += 1
        if tries[0] < 2:
            raise ValueError("first try fails")
        return tries[0]

    def boom(_: Any) -> None:
        raise StepError("boom", stack_trace=["at boom", "at handler"])

    async def inner(c: DurableContext) -> int:
        return await c.step(lambda _: 1, name="inner-step")

    async def item(c: DurableContext, x: int, i: int, xs: Any) -> int:
        return await c.step(lambda _: x * 10, name=f"item-{i}")

    def poll(state: int, attempt: int) -> WaitForConditionDecision:
        if state >= 2:
            return WaitForConditionDecision.stop_polling()
        return WaitForConditionDecision.continue_waiting(Duration.from_seconds(1))

    @durable_execution(plugins=plugins)
    async def handler(event: Any, ctx: DurableContext) -> Any:
        a = await ctx.step(lambda _: event["n"], name="first")
        b = await ctx.step(flaky, name="flaky", config=RETRY_ONCE)
        try:
            await ctx.step(boom, name="boom", config=NO_RETRY)
        except StepError as exc:
            trace = exc.stack_trace
        await ctx.wait(Duration.from_seconds(2), name="nap")
        c = await ctx.run_in_child_context(inner, name="child")
        d = await ctx.run_in_child_context(
            inner, name="virtual", config=ChildConfig(is_virtual=True)
        )
        m = await ctx.map([1, 2], item, name="map")
        p = await ctx.parallel([lambda pc: pc.step(lambda _: "p", name="p")], name="par")
        n = await ctx.wait_for_condition(
            lambda s, _: s + 1, WaitForConditionConfig(wait_strategy=poll, initial_state=0)
        )
        doubled = await ctx.invoke("double", a, name="double")
        return [a, b, trace, c, d, m.get_results(), p.get_results(), n, doubled]

    return handler


@dataclass
class Run:
    """What an execution recorded, as far as a plugin must not change it.

    Not the number of checkpoint calls: sync step bodies run on worker threads, so how map
    branches' updates share calls depends on thread timing.
    """

    status: str
    result: Any
    error: Any
    history: list[tuple[Any, ...]]
    invocations: int


async def run(handler: DurableHandler[Any, Any], event: Any = None) -> Run:
    """Run ``handler`` to its end on the embedded service, skipping time."""
    result = await raw_run(handler, event)
    return Run(
        result.status.value,
        result.result,
        result.error,
        our_history(result),
        result.invocations,
    )


async def raw_run(handler: DurableHandler[Any, Any], event: Any = None) -> DurableTestResult:
    async with DurableTestRunner(handler, skip_time=True) as runner:
        runner.register_function("double", lambda n: n * 2)
        return await runner.run(input={"n": 4} if event is None else event, timeout=30)


_BASELINE: dict[str, Any] = {}


def baseline() -> tuple[Run, RecordingFactory]:
    """The execution with only a recording plugin (computed once)."""
    if not _BASELINE:
        recorder = plugin_recording.ours()
        _BASELINE["run"] = asyncio.run(run(everything([recorder])))
        _BASELINE["recorder"] = recorder
    return _BASELINE["run"], _BASELINE["recorder"]


# -- a plugin whose hooks raise ------------------------------------------------------------------

FAULTS: dict[str, Callable[[], BaseException] | None] = {
    "ValueError": lambda: ValueError("plugin bug"),
    "CancelledError": asyncio.CancelledError,
    "SuspendExecution": lambda: SuspendExecution("a plugin pretends to suspend"),
    "group": lambda: BaseExceptionGroup("many", [ValueError("a"), asyncio.CancelledError()]),
    "StopIteration": StopIteration,
    "async": None,  # the hook is `async def`: it returns a coroutine nobody awaits
}
TARGETS = (*HOOKS, "provide_propagation_metadata", "create_plugin")


def faulty_factory(targets: frozenset[str], fault: str) -> Any:
    """A factory whose plugin fails in every hook of ``targets`` (``create_plugin`` too)."""
    make = FAULTS[fault]

    def failing(name: str) -> Callable[..., Any]:
        if make is None:

            async def coroutine(self: Any, info: Any) -> None:
                raise AssertionError("never awaited")

            return coroutine

        def raising(self: Any, info: Any) -> None:
            raise make()

        return raising

    namespace = {name: failing(name) for name in targets if name != "create_plugin"}
    plugin_class = type("Faulty", (DurableInstrumentationPlugin,), namespace)

    class Factory:
        def create_plugin(self, info: InvocationStartInfo, /) -> DurableInstrumentationPlugin:
            if "create_plugin" in targets:  # raises, or returns a coroutine (async)
                return failing("create_plugin")(self, info)  # type: ignore[no-any-return]
            return plugin_class()  # type: ignore[no-any-return]

    return Factory()


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    targets=st.frozensets(st.sampled_from(TARGETS), min_size=1),
    fault=st.sampled_from(sorted(FAULTS)),
    first=st.booleans(),
)
def test_a_failing_plugin_changes_neither_outcome_nor_history_nor_what_others_hear(
    targets: frozenset[str], fault: str, first: bool
) -> None:
    """Any hooks raising anything but a stop (or being async) are contained, one by one."""
    expected, expected_recorder = baseline()
    recorder = plugin_recording.ours()
    faulty = faulty_factory(targets, fault)
    plugins = [faulty, recorder] if first else [recorder, faulty]
    logging.disable(logging.ERROR)  # each contained failure is logged: thousands of tracebacks
    try:
        got = asyncio.run(run(everything(plugins)))
    finally:
        logging.disable(logging.NOTSET)
    assert got == expected
    assert [per_operation(i) for i in recorder.events()] == [
        per_operation(i) for i in expected_recorder.events()
    ]
    assert recorder.changes() == expected_recorder.changes()


async def test_a_contained_failure_is_logged_naming_the_plugin_and_hook(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The log says which plugin failed in which hook, with the traceback."""
    faulty = faulty_factory(frozenset({"on_operation_end"}), "ValueError")
    with caplog.at_level(logging.ERROR, logger="durable_async"):
        await run(everything([faulty]))
    messages = [r for r in caplog.records if "on_operation_end" in r.getMessage()]
    assert messages
    assert "Faulty" in messages[0].getMessage()
    assert messages[0].exc_info is not None
    assert str(messages[0].exc_info[1]) == "plugin bug"


class Stops(DurableInstrumentationPlugin):
    """Raises KeyboardInterrupt from on_operation_start: a stop, which propagates."""

    def on_operation_start(self, info: Any) -> None:
        raise KeyboardInterrupt


def test_a_stop_raised_by_a_hook_propagates_and_every_plugin_still_hears_the_end() -> None:
    """KeyboardInterrupt is not contained; on_invocation_end still reaches every plugin (RETRY).

    asyncio lets a KeyboardInterrupt out of the loop that runs it, so the invocation runs on a
    loop of its own, on a thread of its own.
    """
    recorder = plugin_recording.ours()

    class StopsFactory:
        def create_plugin(self, info: InvocationStartInfo, /) -> DurableInstrumentationPlugin:
            return Stops()

    @durable_execution(plugins=[recorder, StopsFactory()])
    async def handler(event: Any, ctx: DurableContext) -> int:
        return await ctx.step(lambda _: 1, name="one")

    async def invoke() -> None:
        async with LocalDurableService(MemoryStore()) as service:
            arn = await service.start_execution("fn", "{}")
            event = await service.begin_invocation(arn)
            await handler.invoke(event, service=service)

    def in_thread() -> BaseException | None:
        try:
            asyncio.run(invoke())
        except BaseException as exc:
            return exc
        return None

    with ThreadPoolExecutor(1) as pool:
        raised = pool.submit(in_thread).result()
    assert isinstance(raised, KeyboardInterrupt)
    (events,) = recorder.events()
    assert events[-1] == ("on_invocation_end", "RETRY")


# -- factories that misbehave at invocation time ------------------------------------------------


class Plain:
    """Not a plugin: no hooks at all."""


@pytest.mark.parametrize(
    "create",
    [
        pytest.param(
            lambda info: (_ for _ in ()).throw(RuntimeError("no plugin today")), id="raises"
        ),
        pytest.param(lambda info: None, id="returns-None"),
        pytest.param(lambda info: Plain(), id="returns-a-non-plugin"),
        pytest.param(lambda info: DurableInstrumentationPlugin, id="returns-the-class"),
    ],
)
async def test_a_factory_that_fails_or_returns_no_plugin_is_skipped_and_logged(
    create: Callable[[Any], Any], caplog: pytest.LogCaptureFixture
) -> None:
    """The invocation runs without that plugin; the others hear everything; the log names it."""

    class Broken:
        def create_plugin(self, info: InvocationStartInfo, /) -> Any:
            return create(info)

    expected, expected_recorder = await_baseline()
    recorder = plugin_recording.ours()
    with caplog.at_level(logging.ERROR, logger="durable_async"):
        got = await run(everything([Broken(), recorder]))
    assert got == expected
    assert [per_operation(i) for i in recorder.events()] == [
        per_operation(i) for i in expected_recorder.events()
    ]
    named = [r for r in caplog.records if "Broken" in r.getMessage()]
    assert len(named) == expected.invocations  # once per invocation


def await_baseline() -> tuple[Run, RecordingFactory]:
    """The baseline, computed on a thread of its own when the caller runs on an event loop."""
    if not _BASELINE:
        with ThreadPoolExecutor(1) as pool:
            pool.submit(baseline).result()
    return baseline()


# -- registration mistakes: PluginLoadError when the handler is built ---------------------------


class GoodPlugin(DurableInstrumentationPlugin):
    pass


class GoodFactory:
    def create_plugin(self, info: InvocationStartInfo, /) -> GoodPlugin:
        return GoodPlugin()


class TwoArguments:
    def create_plugin(self, info: InvocationStartInfo, extra: int, /) -> GoodPlugin:
        return GoodPlugin()


class NotCallable:
    create_plugin = "GoodPlugin"


class RaisingAttribute:
    @property
    def create_plugin(self) -> Any:
        raise RuntimeError("a descriptor that raises")


class ClassFactory:
    @classmethod
    def create_plugin(cls, info: InvocationStartInfo, /) -> GoodPlugin:
        return GoodPlugin()


class StaticFactory:
    @staticmethod
    def create_plugin(info: InvocationStartInfo, /) -> GoodPlugin:
        return GoodPlugin()


@pytest.mark.parametrize(
    ("entry", "named"),
    [
        pytest.param(GoodPlugin, f"the class {__name__}.GoodPlugin", id="plugin-class"),
        pytest.param(GoodPlugin(), f"an instance of {__name__}.GoodPlugin", id="plugin"),
        pytest.param(GoodFactory, f"the class {__name__}.GoodFactory", id="factory-class"),
        pytest.param(
            lambda info: GoodPlugin(),
            f"the function {__name__}.<lambda>",
            id="lambda",
        ),
        pytest.param(
            NotCallable(),
            f"an instance of {__name__}.NotCallable",
            id="not-callable",
        ),
        pytest.param(TwoArguments(), f"an instance of {__name__}.TwoArguments", id="two-args"),
        pytest.param(
            RaisingAttribute(),
            f"an instance of {__name__}.RaisingAttribute",
            id="raising-attr",
        ),
        pytest.param(None, "an instance of builtins.NoneType", id="None"),
    ],
)
def test_a_wrong_registration_fails_at_decoration_naming_the_entry(entry: Any, named: str) -> None:
    """plugins=[...] takes factory instances; anything else raises PluginLoadError at once."""
    with pytest.raises(PluginLoadError) as raised:

        @durable_execution(plugins=[GoodFactory(), entry])
        async def handler(event: Any, ctx: DurableContext) -> None: ...

    message = str(raised.value)
    assert "plugins[1]" in message
    assert named in message
    assert "plugins=[MyPluginFactory()]" in message


@pytest.mark.parametrize(
    "factory",
    [
        pytest.param(GoodFactory(), id="instance"),
        pytest.param(ClassFactory, id="class-with-classmethod"),
        pytest.param(StaticFactory, id="class-with-staticmethod"),
    ],
)
async def test_factories_of_every_accepted_shape_build_plugins(factory: Any) -> None:
    """An instance, or a class whose create_plugin is a class or static method, is a factory."""
    seen: list[str] = []

    class Seen(DurableInstrumentationPlugin):
        def on_invocation_end(self, info: InvocationEndInfo) -> None:
            seen.append(info.status.value)

    GoodPlugin.on_invocation_end = Seen.on_invocation_end  # type: ignore[method-assign]
    try:

        @durable_execution(plugins=[factory])
        async def handler(event: Any, ctx: DurableContext) -> int:
            return 1

        await raw_run(handler)
    finally:
        del GoodPlugin.on_invocation_end
    assert seen == ["SUCCEEDED"]


# -- what plugins are handed ----------------------------------------------------------------------


class Mutator(DurableInstrumentationPlugin):
    """Mutates everything it is handed that can be mutated."""

    def on_invocation_start(self, info: InvocationStartInfo) -> None:
        info.execution_input["n"] = 999
        info.execution_input.setdefault("extra", []).append("plugin")
        for op in info.operations.values():
            if op.error is not None and op.error.stack_trace is not None:
                op.error.stack_trace[:] = ["rewritten by a plugin"]
        info.operations.clear()

    def on_operation_end(self, info: OperationEndInfo) -> None:
        if info.error is not None and info.error.stack_trace is not None:
            info.error.stack_trace.append("a plugin was here")
            info.error.stack_trace[0] = "rewritten"

    def on_operation_change(self, info: OperationChangeInfo) -> None:
        for op in (*info.operations.values(), *info.updated_operations.values()):
            if op.error is not None and op.error.stack_trace is not None:
                op.error.stack_trace.clear()
        info.operations.clear()


class MutatorFactory:
    def __init__(self) -> None:
        self.inputs: list[Any] = []

    def create_plugin(self, info: InvocationStartInfo, /) -> Mutator:
        self.inputs.append(info.execution_input)
        return Mutator()


async def test_what_a_plugin_mutates_changes_nothing_of_the_execution() -> None:
    """The execution input is a copy, the maps are fresh, an error's stack trace is the plugin's."""
    expected, _ = await_baseline()
    factory = MutatorFactory()
    got = await run(everything([factory]))
    assert got == expected
    assert got.result[2] == ["at boom", "at handler"]  # the stack trace user code caught
    assert factory.inputs[0] == {"n": 999, "extra": ["plugin"]}
    assert all(i is not factory.inputs[0] for i in factory.inputs[1:])


async def test_the_handler_mutating_its_event_does_not_change_what_plugins_were_handed() -> None:
    """The input plugins get is copied before the handler runs, so its end info is unchanged."""
    recorder = plugin_recording.ours()

    @durable_execution(plugins=[recorder])
    async def handler(event: Any, ctx: DurableContext) -> None:
        event["n"] = "changed by the handler"

    await raw_run(handler, {"n": 1})
    ((_, start), *_, (_, end)) = recorder.invocations[0].infos
    assert start.execution_input == {"n": 1}
    assert end.execution_input == {"n": 1}


async def test_each_change_notification_carries_exactly_the_operations_whose_status_changed() -> (
    None
):
    """Between notifications no status changes unreported, and none is reported unchanged."""
    recorder = plugin_recording.ours()
    await run(everything([recorder]))
    notified = 0
    for invocation in recorder.invocations:
        view: dict[str, str] | None = None
        for hook, info in invocation.infos:
            if hook == "on_invocation_start":
                view = {i: op.status.value for i, op in info.operations.items()}
            if hook != "on_operation_change":
                continue
            notified += 1
            assert view is not None
            after = {i: op.status.value for i, op in info.operations.items()}
            changed = {i for i in after if view.get(i) != after[i]}
            assert set(info.updated_operations) == changed
            for op_id, op in info.updated_operations.items():
                assert isinstance(op, OperationInfo)
                assert op.status.value == after[op_id]
            view = after
    assert notified >= 10


# -- an invocation that raises to the service ----------------------------------------------------


async def test_an_invocation_that_raises_to_the_service_ends_with_retry(harness: Harness) -> None:
    """A retryable checkpoint failure: the plugin hears RETRY with the error, then a retry."""
    recorder = plugin_recording.ours()
    harness.recorder.fail_calls[1] = ServiceError(
        "the service is busy", code="ServiceException", retryable=True, status_code=500
    )

    @durable_execution(plugins=[recorder])
    async def handler(event: Any, ctx: DurableContext) -> int:
        a = await ctx.step(lambda _: 1, name="a")
        return a + await ctx.step(lambda _: 2, name="b")

    outcome = await harness.run(handler)
    assert outcome["Status"] == "SUCCEEDED"
    ends = [info for _, info in (i.infos[-1] for i in recorder.invocations)]
    assert [e.status for e in ends] == [InvocationStatus.RETRY, InvocationStatus.SUCCEEDED]
    assert ends[0].error is not None
    assert "busy" in (ends[0].error.error_message or "")
    assert ends[0].execution_result is None


# -- exactly one end per terminal operation per invocation ---------------------------------------

STEPS = ("step", "fail", "retry", "wait", "child", "virtual", "map", "condition")


def program_handler(program: list[str], plugins: list[Any]) -> DurableHandler[Any, Any]:
    """A handler that runs ``program``'s operations in order (nested ones inside a child)."""
    tries: dict[int, int] = {}

    async def run_one(ctx: DurableContext, index: int, kind: str) -> Any:
        name = f"{kind}-{index}"
        if kind == "step":
            return await ctx.step(lambda _: index, name=name)
        if kind == "fail":
            try:
                await ctx.step(_fails, name=name, config=NO_RETRY)
            except StepError:
                return "failed"
        if kind == "retry":

            def flaky(_: Any) -> int:
                tries[index] = tries.get(index, 0) + 1
                if tries[index] < 2:
                    raise ValueError("again")
                return index

            return await ctx.step(flaky, name=name, config=RETRY_ONCE)
        if kind == "wait":
            return await ctx.wait(Duration.from_seconds(1), name=name)
        if kind in ("child", "virtual"):

            async def body(c: DurableContext) -> Any:
                return await run_one(c, index + 100, "step")

            config = ChildConfig(is_virtual=kind == "virtual")
            return await ctx.run_in_child_context(body, name=name, config=config)
        if kind == "map":

            async def item(c: DurableContext, x: int, i: int, xs: Any) -> int:
                return await c.step(lambda _: x, name=f"{name}-{i}")

            return (await ctx.map([1, 2], item, name=name)).get_results()
        config: WaitForConditionConfig[int] = WaitForConditionConfig(
            wait_strategy=lambda s, _: (
                WaitForConditionDecision.stop_polling()
                if s >= 2
                else WaitForConditionDecision.continue_waiting(Duration.from_seconds(1))
            ),
            initial_state=0,
        )
        return await ctx.wait_for_condition(lambda s, _: s + 1, config, name=name)

    @durable_execution(plugins=plugins)
    async def handler(event: Any, ctx: DurableContext) -> list[Any]:
        return [await run_one(ctx, index, kind) for index, kind in enumerate(program)]

    return handler


def _fails(_: Any) -> None:
    raise ValueError("no")


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.sampled_from(STEPS), min_size=1, max_size=6))
def test_each_operation_that_ends_in_an_invocation_is_reported_there_exactly_once(
    program: list[str],
) -> None:
    """Per invocation: no end hook twice, and an end for exactly the operations that ended in it.

    An operation ended in an invocation when it was not terminal at the invocation's start (the
    start info's map) and is at its end (the end info's map), or when it ended while the
    execution was suspended (the start info's ``updated_operations``). Unrecorded children
    (virtual) are reported each run and are not in the maps.
    """
    recorder = plugin_recording.ours()
    result = asyncio.run(raw_run(program_handler(program, [recorder])))
    assert result.status.value == "SUCCEEDED"
    terminal = {"SUCCEEDED", "FAILED", "TIMED_OUT", "CANCELLED", "STOPPED"}
    for invocation in recorder.invocations:
        start = invocation.infos[0][1].operations
        updated = invocation.infos[0][1].updated_operations
        end = invocation.infos[-1][1].operations
        ended = [info.operation_id for hook, info in invocation.infos if hook == "on_operation_end"]
        assert len(ended) == len(set(ended))
        expected = {
            op_id
            for op_id, op in end.items()
            if op.status.value in terminal
            and op.operation_type.value != "EXECUTION"
            and (
                op_id not in start or start[op_id].status.value not in terminal or op_id in updated
            )
        }
        assert {i for i in ended if i in end} == expected
        assert all(i not in end for i in set(ended) - expected)  # only unrecorded ones


# -- without plugins, nothing is built -----------------------------------------------------------


@contextmanager
def counting_plugin_code() -> Iterator[list[str]]:
    """Count calls into plugin machinery (durable_async.plugin, _instrument), save the no-op."""
    calls: list[str] = []
    watched = ("durable_async/plugin.py", "durable_async/_instrument.py")

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event != "call":
            return
        code = frame.f_code
        if code.co_filename.endswith(watched) and code.co_name != "instrumented":
            calls.append(code.co_name)
        elif code.co_name == "__init__":
            owner = type(frame.f_locals.get("self")).__module__
            if owner == "durable_async.plugin":
                calls.append(f"{owner}.__init__")

    sys.setprofile(profile)
    try:
        yield calls
    finally:
        sys.setprofile(None)


async def test_without_plugins_no_plugin_object_is_built_and_no_hook_code_runs() -> None:
    """No plugins: zero calls into the plugin machinery; one plugin: many (so this can fail)."""
    with counting_plugin_code() as without:
        await run(everything([]))
    with counting_plugin_code() as with_one:
        await run(everything([GoodFactory()]))
    assert without == []
    assert len(with_one) > 100


# -- trace context on chained invokes ------------------------------------------------------------


def tracer(header: Any, log: list[PropagationInput] | None = None) -> Any:
    """A factory whose plugin proposes ``header`` (a value, or what to return as metadata)."""

    class Tracer(DurableInstrumentationPlugin):
        def provide_propagation_metadata(self, info: PropagationInput) -> Any:
            if log is not None:
                log.append(info)
            if isinstance(header, BaseException):
                raise header
            if header is None or isinstance(header, PropagationMetadata | dict):
                return header
            return PropagationMetadata(x_amzn_trace_id=header)

    class Factory:
        def create_plugin(self, info: InvocationStartInfo, /) -> Tracer:
            return Tracer()

    return Factory()


@pytest.mark.parametrize(
    ("proposals", "expected"),
    [
        pytest.param(["Root=1-a"], "Root=1-a", id="one"),
        pytest.param(["Root=1-a", "Root=1-b"], "Root=1-a", id="first-wins"),
        pytest.param([None, "  ", "", "Root=1-b"], "Root=1-b", id="blank-skipped"),
        pytest.param(
            [ValueError("x"), {"x_amzn_trace_id": "no"}, 7, "Root=1-c"],
            "Root=1-c",
            id="junk-contained",
        ),
        pytest.param([PropagationMetadata(None)], None, id="none"),
    ],
)
async def test_a_chained_invoke_start_carries_the_first_trace_header_plugins_give(
    harness: Harness, proposals: list[Any], expected: str | None
) -> None:
    """Asked once, for the START only (not on replay), with the invoke's identity."""
    log: list[PropagationInput] = []
    plugins = [tracer(p, log if i == 0 else None) for i, p in enumerate(proposals)]
    harness.runner.register_function("double", lambda n: n * 2)

    @durable_execution(plugins=plugins)
    async def handler(event: Any, ctx: DurableContext) -> int:
        async def inner(c: DurableContext) -> int:
            return await c.invoke("double", 21, name="double")

        return await ctx.run_in_child_context(inner, name="outer")

    outcome = await harness.run(handler)
    assert json.loads(outcome["Result"]) == 42
    starts = [
        u
        for call in harness.recorder.calls
        for u in call
        if u["Type"] == "CHAINED_INVOKE" and u["Action"] == "START"
    ]
    assert len(starts) == 1
    options = starts[0]["ChainedInvokeOptions"]
    assert options.get("XAmznTraceId") == expected
    assert [(i.operation_id, i.target_function_name) for i in log] == [(starts[0]["Id"], "double")]
    assert log[0].parent_operation_id == starts[0]["ParentId"]
    assert log[0].execution_arn
