"""The OpenTelemetry plugin: the span tree of real executions, read from the in-memory exporter.

Handlers run on the embedded local service through ``DurableTestRunner``, skipping time, each
with a private ``TracerProvider``. ``LambdaLike`` adds to each invocation what Lambda gives it
and the local service does not yet: ``UpdatedOperationIds`` (operations that changed while the
execution was suspended) and, for a chained invoke's target, the trace header its START carried.
"""

from __future__ import annotations

import datetime
import json
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, TraceIdRatioBased
from opentelemetry.trace import Span, SpanContext, StatusCode, TraceFlags

from durable_async import (
    ChildConfig,
    DurableContext,
    DurableHandler,
    Duration,
    JitterStrategy,
    RetryPresets,
    RetryStrategyConfig,
    StepConfig,
    StepContext,
    WaitForConditionCheckContext,
    WaitForConditionConfig,
    WaitStrategyConfig,
)
from durable_async.otel import (
    OtelPluginFactory,
    TraceHeader,
    execution_span_id,
    execution_trace_id,
    operation_span_id,
)
from durable_async.plugin import DurableInstrumentationPluginFactory
from durable_async.retries import create_retry_strategy
from durable_async.service import DurableService
from durable_async.testing import DurableTestResult, DurableTestRunner, ExecutionStatus
from durable_async.waits import create_wait_strategy

Tree = tuple[tuple[str, "Tree"], ...]
RETRY_ONCE = StepConfig(
    retry_strategy=create_retry_strategy(
        RetryStrategyConfig(max_attempts=3, initial_delay=Duration.from_seconds(1))
    )
)


# -- what Lambda adds to an invocation -----------------------------------------------------------


class Recording:
    """A DurableService that remembers every update sent through it."""

    def __init__(self, inner: DurableService, updates: list[dict[str, Any]]) -> None:
        self.inner = inner
        self.updates = updates

    async def checkpoint(
        self,
        arn: str,
        token: str,
        updates: list[dict[str, Any]],
        client_token: str | None = None,
    ) -> dict[str, Any]:
        self.updates.extend(updates)
        return await self.inner.checkpoint(arn, token, updates, client_token)

    async def get_execution_state(
        self, arn: str, token: str, marker: str, max_items: int = 1000
    ) -> dict[str, Any]:
        return await self.inner.get_execution_state(arn, token, marker, max_items)


class LambdaLike(DurableHandler[Any, Any]):
    """A handler invoked as Lambda invokes it: with UpdatedOperationIds and a trace header."""

    def __init__(
        self,
        func: Any,
        plugins: list[DurableInstrumentationPluginFactory],
        trace_header: Callable[[], str | None] = lambda: None,
    ) -> None:
        super().__init__(func, plugins=plugins)
        self.header = trace_header
        self.updates: list[dict[str, Any]] = []
        self._seen: dict[str, dict[str, str]] = {}

    async def invoke(self, event: Any, **options: Any) -> dict[str, Any]:
        service = options.pop("service")
        arn = event["DurableExecutionArn"]
        seen = self._seen.get(arn)
        if seen is not None and "UpdatedOperationIds" not in event:
            operations = event["InitialExecutionState"]["Operations"]
            changed = [op["Id"] for op in operations if seen.get(op["Id"]) != op["Status"]]
            event = {**event, "UpdatedOperationIds": changed}
        options.setdefault("trace_header", self.header())
        try:
            return await super().invoke(event, service=Recording(service, self.updates), **options)
        finally:
            operations = await service.list_operations(arn)
            self._seen[arn] = {op["Id"]: op["Status"] for op in operations}


# -- reading spans -------------------------------------------------------------------------------


class Spans:
    """The finished spans of one exporter, as a tree."""

    def __init__(self, exporter: InMemorySpanExporter) -> None:
        self.all: Sequence[ReadableSpan] = exporter.get_finished_spans()

    def named(self, name: str) -> list[ReadableSpan]:
        return [span for span in self.all if span.name == name]

    def one(self, name: str) -> ReadableSpan:
        found = self.named(name)
        assert len(found) == 1, f"{len(found)} spans named {name!r}"
        return found[0]

    def by_id(self, span_id: int) -> ReadableSpan:
        (span,) = [s for s in self.all if _ctx(s).span_id == span_id]
        return span

    def children(self, span: ReadableSpan) -> list[ReadableSpan]:
        return [
            s for s in self.all if s.parent is not None and s.parent.span_id == _ctx(span).span_id
        ]

    def roots(self) -> list[ReadableSpan]:
        ids = {_ctx(s).span_id for s in self.all}
        return [s for s in self.all if s.parent is None or s.parent.span_id not in ids]

    def tree(self, span: ReadableSpan) -> Tree:
        return tuple(sorted((child.name, self.tree(child)) for child in self.children(span)))


def _ctx(span: ReadableSpan) -> SpanContext:
    context = span.context
    assert context is not None
    return context


def leaf(*names: str) -> Tree:
    return tuple(sorted((name, ()) for name in names))


def node(*children: tuple[str, Tree]) -> Tree:
    return tuple(sorted(children))


def ns(epoch_ms: int | None) -> int:
    assert epoch_ms is not None
    return epoch_ms * 1_000_000


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    yield exporter
    exporter.clear()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()


# -- the handler with every kind of operation ----------------------------------------------------


class Shop:
    """The order handler: a step, a retried step, a wait, a child, a map of 3, a callback."""

    def __init__(self, provider: TracerProvider) -> None:
        self.tracer = provider.get_tracer("shop")
        self.flaky_runs = 0
        self.runner: DurableTestRunner | None = None

    async def one(self, step: StepContext) -> int:
        with self.tracer.start_as_current_span("user span in one"):
            return 1

    def flaky(self, step: StepContext) -> str:  # sync: runs in a worker thread
        self.flaky_runs += 1
        with self.tracer.start_as_current_span("user span in flaky"):
            if self.flaky_runs == 1:
                raise ValueError("the stock service is down")
            return "reserved"

    async def submit(self, callback_id: str, ctx: Any) -> None:
        assert self.runner is not None
        await self.runner.send_callback_success(callback_id, {"approved": True})

    async def handler(self, event: Any, ctx: DurableContext) -> Any:
        with self.tracer.start_as_current_span("user span in handler"):
            pass
        one = await ctx.step(self.one, name="one")
        stock = await ctx.step(self.flaky, name="flaky", config=RETRY_ONCE)
        await ctx.wait(Duration.from_seconds(5), name="pause")

        async def kid(child: DurableContext) -> int:
            return await child.step(lambda _: 2, name="inner")

        two = await ctx.run_in_child_context(kid, name="kid")
        doubled = await ctx.map(
            [1, 2, 3], lambda c, x, i, xs: c.step(lambda _: x * 2, name="dbl"), name="m"
        )
        approval = await ctx.wait_for_callback(self.submit, name="approve")
        return [one, stock, two, doubled.get_results(), approval]


async def run_shop(
    factories: list[DurableInstrumentationPluginFactory],
    provider: TracerProvider,
    history: list[Any] | None = None,
) -> DurableTestResult:
    """Run the shop's handler to its end; append its history's events to ``history``."""
    shop = Shop(provider)
    handler = LambdaLike(shop.handler, factories)
    async with DurableTestRunner(handler, function_name="orders") as runner:
        shop.runner = runner
        result = await runner.run(input={"id": "o-1"}, timeout=30)
        if history is not None:
            events = [_timeless(event) for event in await runner.get_history(result.arn)]
            # Concurrent branches' events interleave as their tasks happen to run: compare sets.
            history.extend(sorted(events, key=lambda event: json.dumps(event, sort_keys=True)))
        return result


def _timeless(value: Any) -> Any:
    """An event less what differs between runs: times, event numbers, request, run, callback ids."""
    if isinstance(value, dict):
        if value.get("EventType", "").startswith("Execution"):
            value = {k: v for k, v in value.items() if k not in ("Id", "Name")}
        return {
            key: _timeless(item)
            for key, item in value.items()
            if not key.endswith("Timestamp") and key not in ("RequestId", "EventId", "CallbackId")
        }
    if isinstance(value, list):
        return [_timeless(item) for item in value]
    return value


EXPECTED_SHOP_TREE: Tree = node(
    *[("durable invocation orders", leaf("user span in handler"))] * 3,
    ("one", node(("one attempt 1", leaf("user span in one")))),
    (
        "flaky",
        node(
            ("flaky attempt 1", leaf("user span in flaky")),
            ("flaky attempt 2", leaf("user span in flaky")),
        ),
    ),
    ("pause", ()),
    ("kid", node(("kid run", ()), ("inner", leaf("inner attempt 1")))),
    (
        "m",
        node(
            ("m run", ()),
            *[
                (f"map-item-{i}", node((f"map-item-{i} run", ()), ("dbl", leaf("dbl attempt 1"))))
                for i in range(3)
            ],
        ),
    ),
    (
        "approve",
        node(
            ("approve run", ()),
            ("approve create callback id", ()),
            ("approve submitter", leaf("approve submitter attempt 1")),
        ),
    ),
)


async def test_a_handler_of_every_operation_makes_exactly_this_tree(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """Three invocations make one trace: one span per operation, per run of user code, per
    invocation, and one for the execution; replays add none."""
    result = await run_shop([OtelPluginFactory(provider)], provider)
    assert result.status is ExecutionStatus.SUCCEEDED, result.error
    assert result.result == [1, "reserved", 2, [2, 4, 6], '{"approved": true}']
    assert result.invocations == 3  # the retry's delay and the wait suspend it
    spans = Spans(exporter)
    (root,) = spans.roots()
    assert root.name == "durable execution orders"
    assert root.parent is None
    assert spans.tree(root) == EXPECTED_SHOP_TREE
    assert {_ctx(s).trace_id for s in spans.all} == {_ctx(root).trace_id}


async def test_operation_spans_are_the_recorded_operations_one_to_one(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """Each recorded operation has one span, with its derived id, its parent's span as parent,
    the recorded start and end, and its attributes."""
    result = await run_shop([OtelPluginFactory(provider)], provider)
    spans = Spans(exporter)
    arn = result.arn
    operation_spans = [
        s for s in spans.all if s.attributes and "durable.operation.status" in s.attributes
    ]
    recorded = [op for op in result.operations if op.type.value != "EXECUTION"]
    assert len(operation_spans) == len(recorded) == 15
    for op in recorded:
        span = spans.by_id(operation_span_id(arn, op.id))
        parent_id = operation_span_id(arn, op.parent_id) if op.parent_id else None
        assert span.parent is not None
        assert span.parent.span_id == (parent_id or execution_span_id(arn))
        assert (span.start_time, span.end_time) == (ns(op.start_timestamp), ns(op.end_timestamp))
        expected = {
            "durable.execution.arn": arn,
            "durable.operation.id": op.id,
            "durable.operation.type": op.type.value,
            "durable.operation.subtype": op.sub_type,
            "durable.operation.name": op.name,
            "durable.operation.status": "SUCCEEDED",
        }
        assert {k: v for k, v in (span.attributes or {}).items() if k in expected} == expected
        assert span.status.status_code is StatusCode.OK


async def test_an_operation_that_spans_invocations_is_one_span_under_the_execution(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """The retried step and the wait start in one invocation and end in the next: each is one
    span from the recorded start to the recorded end, emitted by the invocation that saw the
    end (its link), and marked replayed; each attempt links to the invocation that ran it."""
    result = await run_shop([OtelPluginFactory(provider)], provider)
    spans = Spans(exporter)
    invocations = spans.named("durable invocation orders")
    first = [s for s in invocations if (s.attributes or {})["durable.invocation.first"]]
    later = [s for s in invocations if not (s.attributes or {})["durable.invocation.first"]]
    assert len(first) == 1
    (second,) = [s for s in later if (s.attributes or {})["durable.invocation.status"] == "PENDING"]
    (third,) = [
        s for s in later if (s.attributes or {})["durable.invocation.status"] == "SUCCEEDED"
    ]
    assert (first[0].attributes or {})["durable.invocation.status"] == "PENDING"

    flaky, pause = spans.one("flaky"), spans.one("pause")
    assert (flaky.attributes or {})["durable.operation.replayed"] is True
    assert (flaky.attributes or {})["durable.attempt.number"] == 2
    assert [link.context for link in flaky.links] == [_ctx(second)]
    assert [link.context for link in spans.one("flaky attempt 1").links] == [_ctx(first[0])]
    assert [link.context for link in spans.one("flaky attempt 2").links] == [_ctx(second)]
    recorded = result.get_step("flaky")
    assert flaky.start_time == ns(recorded.start_timestamp)  # attempt 1's, in invocation 1
    assert (pause.attributes or {})["durable.operation.replayed"] is True
    assert [link.context for link in pause.links] == [_ctx(third)]
    wait = result.get_wait("pause")
    assert (pause.start_time, pause.end_time) == (ns(wait.start_timestamp), ns(wait.end_timestamp))
    assert (spans.one("one").attributes or {})["durable.operation.replayed"] is False


async def test_a_failed_attempt_records_its_error_and_the_retry_succeeds(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """The failed attempt is ERROR with an exception event; the step's span is OK."""
    await run_shop([OtelPluginFactory(provider)], provider)
    spans = Spans(exporter)
    failed, retried = spans.one("flaky attempt 1"), spans.one("flaky attempt 2")
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.status.description == "the stock service is down"
    (event,) = failed.events
    assert event.name == "exception"
    assert dict(event.attributes or {}) == {
        "exception.type": "ValueError",
        "exception.message": "the stock service is down",
    }
    assert (failed.attributes or {})["durable.attempt.outcome"] == "FAILED"
    assert (failed.attributes or {})["error.type"] == "ValueError"
    assert retried.status.status_code is StatusCode.OK
    assert (retried.attributes or {})["durable.attempt.outcome"] == "SUCCEEDED"
    assert spans.one("flaky").status.status_code is StatusCode.OK


async def test_user_spans_nest_under_the_attempt_that_runs_them(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """A span the step body starts (async on the loop, sync in a worker thread) is a child of
    that attempt's span; the handler's own spans are children of their invocation's span."""
    await run_shop([OtelPluginFactory(provider)], provider)
    spans = Spans(exporter)
    parents = {
        spans.by_id(s.parent.span_id).name
        for s in spans.named("user span in flaky")
        if s.parent is not None
    }
    assert parents == {"flaky attempt 1", "flaky attempt 2"}
    (in_one,) = spans.named("user span in one")
    assert in_one.parent is not None
    assert in_one.parent.span_id == _ctx(spans.one("one attempt 1")).span_id
    invocation_ids = {_ctx(s).span_id for s in spans.named("durable invocation orders")}
    handler_parents = {
        s.parent.span_id for s in spans.named("user span in handler") if s.parent is not None
    }
    assert handler_parents == invocation_ids


async def test_the_plugin_changes_neither_outcome_nor_history(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """The same handler with and without the plugin records the same history, calls and result."""
    plain_history: list[Any] = []
    traced_history: list[Any] = []
    plain = await run_shop([], provider, plain_history)
    assert exporter.get_finished_spans()  # the handler's own spans, without the plugin
    exporter.clear()
    traced = await run_shop([OtelPluginFactory(provider)], provider, traced_history)
    assert len(exporter.get_finished_spans()) > len(plain.operations)
    # Not checkpoint_calls: how updates group into calls depends on timing (group commit).
    for attribute in ("status", "result", "error", "invocations"):
        assert getattr(traced, attribute) == getattr(plain, attribute), attribute
    assert _shape(traced) == _shape(plain)
    assert traced_history == plain_history
    assert len(plain_history) > 30


def _shape(result: DurableTestResult) -> list[tuple[Any, ...]]:
    return sorted(
        (op.id, op.parent_id, op.type, op.sub_type, op.name, op.status, op.attempt, op.result)
        for op in result.operations
        if op.type.value != "EXECUTION"
    )


# -- child contexts that suspend, rebuild, or record nothing --------------------------------------


def run_attributes(spans: Spans, name: str) -> list[tuple[Any, Any]]:
    """(outcome, replayed) of each run span named ``name``, in the order they started."""
    runs = sorted(spans.named(name), key=lambda s: s.start_time or 0)
    return [
        (
            (s.attributes or {})["durable.attempt.outcome"],
            (s.attributes or {})["durable.operation.replayed"],
        )
        for s in runs
    ]


async def test_a_child_that_suspends_has_a_run_per_invocation_and_one_operation_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """The child's function runs in both invocations (INCOMPLETE, then replaying); its steps
    and its wait have one span each."""

    async def handler(event: Any, ctx: DurableContext) -> int:
        async def kid(child: DurableContext) -> int:
            first = await child.step(lambda _: 1, name="before")
            await child.wait(Duration.from_seconds(2), name="nap")
            return first + await child.step(lambda _: 1, name="after")

        return await ctx.run_in_child_context(kid, name="kid")

    async with DurableTestRunner(
        LambdaLike(handler, [OtelPluginFactory(provider)]), function_name="orders"
    ) as runner:
        result = await runner.run(timeout=30)
    assert result.result == 2
    spans = Spans(exporter)
    assert spans.tree(spans.one("durable execution orders")) == node(
        *[("durable invocation orders", ())] * 2,
        (
            "kid",
            node(
                *[("kid run", ())] * 2,
                ("before", leaf("before attempt 1")),
                ("nap", ()),
                ("after", leaf("after attempt 1")),
            ),
        ),
    )
    assert run_attributes(spans, "kid run") == [("INCOMPLETE", False), ("SUCCEEDED", True)]
    assert [s.status.status_code for s in sorted(spans.named("kid run"), key=_start)] == [
        StatusCode.UNSET,
        StatusCode.OK,
    ]


def _start(span: ReadableSpan) -> int:
    return span.start_time or 0


async def test_a_child_rebuilt_from_its_children_adds_a_run_and_no_operation_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """A child whose result is too large to record (ReplayChildren) runs again on replay to
    rebuild it: a second run span, marked replayed, and nothing else new."""
    half = "x" * (150 * 1024)

    async def handler(event: Any, ctx: DurableContext) -> int:
        async def kid(child: DurableContext) -> str:
            first = await child.step(lambda _: half, name="part")
            return first + await child.step(lambda _: half, name="part")

        value = await ctx.run_in_child_context(kid, name="big")
        await ctx.wait(Duration.from_seconds(1), name="tick")
        return len(value)

    async with DurableTestRunner(
        LambdaLike(handler, [OtelPluginFactory(provider)]), function_name="orders"
    ) as runner:
        result = await runner.run(timeout=30)
    assert result.result == 2 * len(half)
    assert result.get_context("big").replay_children is True
    spans = Spans(exporter)
    assert spans.tree(spans.one("durable execution orders")) == node(
        *[("durable invocation orders", ())] * 2,
        ("big", node(*[("big run", ())] * 2, *[("part", leaf("part attempt 1"))] * 2)),
        ("tick", ()),
    )
    assert run_attributes(spans, "big run") == [("SUCCEEDED", False), ("SUCCEEDED", True)]


async def test_a_virtual_child_is_a_run_span_under_its_parents_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """A virtual child records no operation: its run hangs under the enclosing span, and its
    operations under the enclosing operation, as the service records them."""

    async def handler(event: Any, ctx: DurableContext) -> int:
        async def inner(child: DurableContext) -> int:
            return await child.step(lambda _: 5, name="five")

        async def outer(child: DurableContext) -> int:
            config = ChildConfig(is_virtual=True)
            return await child.run_in_child_context(inner, name="virtual", config=config)

        return await ctx.run_in_child_context(outer, name="outer")

    async with DurableTestRunner(
        LambdaLike(handler, [OtelPluginFactory(provider)]), function_name="orders"
    ) as runner:
        result = await runner.run(timeout=30)
    assert result.result == 5
    spans = Spans(exporter)
    assert spans.tree(spans.one("durable execution orders")) == node(
        ("durable invocation orders", ()),
        (
            "outer",
            node(("outer run", ()), ("virtual run", ()), ("five", leaf("five attempt 1"))),
        ),
    )


# -- errors ---------------------------------------------------------------------------------------


async def test_a_failed_execution_marks_its_step_invocation_and_execution_spans(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """A step that fails for good fails the execution: every span on the way up is ERROR."""

    def out_of_stock(step: StepContext) -> None:
        raise RuntimeError("no stock for o-9")

    async def handler(event: Any, ctx: DurableContext) -> None:
        await ctx.step(
            out_of_stock, name="reserve", config=StepConfig(retry_strategy=RetryPresets.none())
        )

    async with DurableTestRunner(
        LambdaLike(handler, [OtelPluginFactory(provider)]), function_name="orders"
    ) as runner:
        result = await runner.run(timeout=30)
    assert result.status is ExecutionStatus.FAILED
    spans = Spans(exporter)
    reserve, attempt = spans.one("reserve"), spans.one("reserve attempt 1")
    execution, invocation = (
        spans.one("durable execution orders"),
        spans.one("durable invocation orders"),
    )
    for span in (reserve, attempt, execution, invocation):
        assert span.status.status_code is StatusCode.ERROR, span.name
    assert (reserve.attributes or {})["durable.operation.status"] == "FAILED"
    assert [e.attributes["exception.message"] for e in reserve.events if e.attributes] == [
        "no stock for o-9"
    ]
    assert (execution.attributes or {})["durable.execution.status"] == "FAILED"
    assert (invocation.attributes or {})["durable.invocation.status"] == "FAILED"
    assert spans.tree(execution) == node(
        ("durable invocation orders", ()),
        ("reserve", leaf("reserve attempt 1")),
    )


async def test_condition_checks_are_attempts_of_their_operation(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """Each check of wait_for_condition, one per invocation, is an attempt span of its operation."""
    strategy = create_wait_strategy(
        WaitStrategyConfig(
            should_continue_polling=lambda state: state < 3,
            initial_delay=Duration.from_seconds(2),
            jitter_strategy=JitterStrategy.NONE,
        )
    )

    def check(state: int, check_ctx: WaitForConditionCheckContext) -> int:
        return state + 1

    async def handler(event: Any, ctx: DurableContext) -> int:
        config = WaitForConditionConfig(wait_strategy=strategy, initial_state=0)
        return await ctx.wait_for_condition(check, config, name="stock-arrived")

    async with DurableTestRunner(
        LambdaLike(handler, [OtelPluginFactory(provider)]), function_name="orders"
    ) as runner:
        result = await runner.run(timeout=30)
    assert result.result == 3
    spans = Spans(exporter)
    assert spans.tree(spans.one("durable execution orders")) == node(
        *[("durable invocation orders", ())] * 3,
        ("stock-arrived", leaf(*(f"stock-arrived attempt {n}" for n in (1, 2, 3)))),
    )
    assert (spans.one("stock-arrived").attributes or {})["durable.attempt.number"] == 3


# -- chained invoke ------------------------------------------------------------------------------


async def test_a_chained_invoke_carries_the_trace_into_the_invoked_execution(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """The invoke's START carries an X-Ray header naming the invoke's span; the invoked
    execution, invoked with it, joins the trace under that span, across its invocations."""
    factory = OtelPluginFactory(provider)

    async def shop(event: Any, ctx: DurableContext) -> Any:
        await ctx.step(lambda _: 1, name="price")
        return await ctx.invoke("billing", {"cents": 250}, name="bill")

    async def billing(event: Any, ctx: DurableContext) -> str:
        await ctx.step(lambda _: None, name="charge")
        await ctx.wait(Duration.from_seconds(3), name="settle")
        return f"charged {event['cents']}"

    parent = LambdaLike(shop, [factory])

    def carried() -> str | None:
        starts = [u for u in parent.updates if u["Type"] == "CHAINED_INVOKE"]
        return str(starts[0]["ChainedInvokeOptions"]["XAmznTraceId"]) if starts else None

    child = LambdaLike(billing, [factory], trace_header=carried)
    async with DurableTestRunner(parent, function_name="shop") as runner:
        runner.register_durable_function("billing", child)
        result = await runner.run(timeout=30)
        child_arn = await runner.get_invoked_execution_arn(result, "bill")
        child_result = await runner.describe(child_arn)
    assert result.result == "charged 250"
    assert child_result.invocations == 2

    spans = Spans(exporter)
    root = spans.one("durable execution shop")
    bill = spans.one("bill")
    header = TraceHeader.parse(carried())
    assert header == TraceHeader(_ctx(root).trace_id, _ctx(bill).span_id, True)
    assert _ctx(bill).span_id == operation_span_id(result.arn, result.get_invoke("bill").id)
    assert {_ctx(s).trace_id for s in spans.all} == {_ctx(root).trace_id}
    assert spans.roots() == [root]
    assert spans.tree(bill) == node(
        (
            "durable execution billing",
            node(
                *[("durable invocation billing", ())] * 2,
                ("charge", leaf("charge attempt 1")),
                ("settle", ()),
            ),
        )
    )


@pytest.mark.parametrize(
    ("header", "exported"),
    [
        pytest.param("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1", True, id="root-only"),
        pytest.param(
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
            True,
            id="root-and-parent",
        ),
        pytest.param(
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0",
            False,
            id="not-sampled",
        ),
        pytest.param(
            "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0", False, id="root-not-sampled"
        ),
        pytest.param("Root=garbage;Parent=xyz", True, id="unreadable"),
    ],
)
async def test_the_trace_header_sets_trace_parent_and_sampling(
    provider: TracerProvider, exporter: InMemorySpanExporter, header: str, exported: bool
) -> None:
    """The header's Root is the trace, its Parent the execution span's parent, its Sampled the
    decision for every span; an unreadable header leaves the derived trace."""

    async def handler(event: Any, ctx: DurableContext) -> int:
        await ctx.wait(Duration.from_seconds(1), name="tick")
        return await ctx.step(lambda _: 7, name="seven")

    async with DurableTestRunner(
        LambdaLike(handler, [OtelPluginFactory(provider)], trace_header=lambda: header),
        function_name="orders",
    ) as runner:
        result = await runner.run(timeout=30)
    assert result.result == 7
    spans = Spans(exporter)
    if not exported:
        assert spans.all == ()
        return
    parsed = TraceHeader.parse(header)
    execution = spans.one("durable execution orders")
    trace_id = parsed.trace_id or _ctx(execution).trace_id
    assert {_ctx(s).trace_id for s in spans.all} == {trace_id}
    if parsed.trace_id is None:
        (execution_op,) = [op for op in result.operations if op.type.value == "EXECUTION"]
        started = execution_op.start_timestamp
        assert started is not None
        moment = datetime.datetime.fromtimestamp(started / 1000, datetime.UTC)
        assert trace_id == execution_trace_id(result.arn, moment)
    expected_parent = parsed.parent_span_id if parsed.trace_id else None
    assert (execution.parent.span_id if execution.parent else None) == expected_parent
    assert len(spans.all) == 1 + 2 + 2 + 1  # execution, invocations, operations, attempt


# -- sampling, flushing, concurrency --------------------------------------------------------------


async def test_sampling_is_decided_once_per_execution(exporter: InMemorySpanExporter) -> None:
    """With a ratio sampler each execution is traced whole or not at all, across invocations."""
    provider = TracerProvider(sampler=TraceIdRatioBased(0.5))
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    async def handler(event: Any, ctx: DurableContext) -> int:
        await ctx.wait(Duration.from_seconds(1), name="tick")
        return await ctx.step(lambda _: event, name="echo")

    async with DurableTestRunner(
        LambdaLike(handler, [OtelPluginFactory(provider)]), function_name="orders"
    ) as runner:
        arns = [await runner.start(input=n) for n in range(24)]
        for arn in arns:
            await runner.wait_for_result(arn, timeout=30)
    provider.shutdown()
    traced = Counter(
        (span.attributes or {})["durable.execution.arn"] for span in exporter.get_finished_spans()
    )
    assert set(traced.values()) == {6}  # execution, 2 invocations, 2 operations, 1 attempt
    assert 0 < len(traced) < len(arns)  # at 50%, all 24 alike is a 1 in 8 million chance


async def test_an_always_off_sampler_exports_nothing_and_changes_nothing(
    exporter: InMemorySpanExporter,
) -> None:
    """Unsampled, the spans are non-recording and the execution runs as without the plugin."""
    provider = TracerProvider(sampler=ALWAYS_OFF)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    result = await run_shop([OtelPluginFactory(provider)], provider)
    provider.shutdown()
    assert result.status is ExecutionStatus.SUCCEEDED
    assert exporter.get_finished_spans() == ()


@pytest.mark.parametrize("flush", [True, False])
async def test_spans_are_flushed_when_each_invocation_ends(
    exporter: InMemorySpanExporter, flush: bool
) -> None:
    """With a batching processor that would hold spans for minutes, flush=True exports them at
    the end of each invocation; flush=False leaves them to the processor."""
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=600_000))
    try:

        async def handler(event: Any, ctx: DurableContext) -> int:
            return await ctx.step(lambda _: 1, name="one")

        async with DurableTestRunner(
            LambdaLike(handler, [OtelPluginFactory(provider, flush=flush)])
        ) as runner:
            await runner.run(timeout=30)
        assert len(exporter.get_finished_spans()) == (4 if flush else 0)
    finally:
        provider.shutdown()


async def test_concurrent_executions_keep_their_spans_apart(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """Executions running at once on one loop and one provider each get their own trace."""

    async def handler(event: Any, ctx: DurableContext) -> int:
        values = await ctx.map(
            list(range(4)), lambda c, x, i, xs: c.step(lambda _: x + event, name="add"), name="m"
        )
        await ctx.wait(Duration.from_seconds(1), name="tick")
        return sum(values.get_results())

    async with DurableTestRunner(
        LambdaLike(handler, [OtelPluginFactory(provider)]), function_name="orders"
    ) as runner:
        arns = [await runner.start(input=n) for n in range(5)]
        results = [await runner.wait_for_result(arn, timeout=30) for arn in arns]
    assert [r.result for r in results] == [6 + 4 * n for n in range(5)]
    spans = Spans(exporter)
    for result in results:
        mine = [
            s for s in spans.all if (s.attributes or {}).get("durable.execution.arn") == result.arn
        ]
        assert len({_ctx(s).trace_id for s in mine}) == 1
        operations = [s for s in mine if "durable.operation.status" in (s.attributes or {})]
        assert len(operations) == len(result.operations) - 1  # all but EXECUTION
        for span in mine:
            if span.parent is not None:
                assert span.parent.trace_id == _ctx(span).trace_id


class FailingProcessor(SpanProcessor):
    """A processor that raises whenever a span ends (a broken exporter pipeline)."""

    def on_end(self, span: ReadableSpan) -> None:
        raise RuntimeError("the collector is down")


async def test_a_failing_span_pipeline_changes_nothing_in_the_execution(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """Spans that fail to end are the plugin's problem: the execution records what it would."""
    plain = await run_shop([], provider)
    broken = TracerProvider()
    broken.add_span_processor(FailingProcessor())
    try:
        traced = await run_shop([OtelPluginFactory(broken)], provider)
    finally:
        broken.shutdown()
    assert (traced.status, traced.result) == (ExecutionStatus.SUCCEEDED, plain.result)
    assert _shape(traced) == _shape(plain)


# -- ids and headers -------------------------------------------------------------------------------


class SpawningProcessor(SpanProcessor):
    """Starts a span of its own whenever a durable span starts (as some vendor processors do)."""

    def __init__(self, provider: TracerProvider) -> None:
        self.tracer = provider.get_tracer("durable_async")
        self.spawned: list[Span] = []

    def on_start(self, span: Any, parent_context: Context | None = None) -> None:
        if span.name.startswith("kid"):
            self.spawned.append(self.tracer.start_span("spawned", context=Context()))


async def test_a_span_a_processor_starts_meanwhile_gets_ids_of_its_own(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """The chosen ids are used once: a span started inside ours does not take them."""
    processor = SpawningProcessor(provider)
    provider.add_span_processor(processor)
    result = await run_shop([OtelPluginFactory(provider)], provider)
    kid = Spans(exporter).one("kid")
    assert _ctx(kid).span_id == operation_span_id(result.arn, result.get_context("kid").id)
    assert len(processor.spawned) == 2  # the kid's run and its operation span
    for span in processor.spawned:
        context = span.get_span_context()
        assert context.span_id != _ctx(kid).span_id
        assert context.trace_id != _ctx(kid).trace_id


def test_a_trace_header_round_trips() -> None:
    """format then parse gives back the trace, the parent and the sampled flag."""
    for sampled in (True, False):
        flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
        context = SpanContext(0x5759E988BD862E3FE1BE46A994272793, 0x53995C3F42CD8AD8, False, flags)
        header = TraceHeader.format(context)
        assert header == (
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;"
            f"Sampled={int(sampled)}"
        )
        assert TraceHeader.parse(header) == TraceHeader(context.trace_id, context.span_id, sampled)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param(None, TraceHeader(), id="none"),
        pytest.param("", TraceHeader(), id="empty"),
        pytest.param(
            " Root = 1-5759e988-bd862e3fe1be46a994272793 ; Lineage=a:1 ;Sampled=1",
            TraceHeader(0x5759E988BD862E3FE1BE46A994272793, None, True),
            id="spaces-and-other-fields",
        ),
        pytest.param(
            "Root=1-00000000-000000000000000000000000;Parent=0000000000000000",
            TraceHeader(),
            id="zero-ids-are-invalid",
        ),
        pytest.param("Root=2-5759e988-bd862e3fe1be46a994272793", TraceHeader(), id="version-2"),
        pytest.param(
            "Parent=53995c3f42cd8ad8;Sampled=?", TraceHeader(None, 0x53995C3F42CD8AD8, None)
        ),
        pytest.param(
            "Root=1-5759e988-bd862e3fe1be46a99427279;Parent=53995c3f42cd8ad",
            TraceHeader(),
            id="short-ids",
        ),
    ],
)
def test_a_trace_header_is_read_leniently(header: str | None, expected: TraceHeader) -> None:
    """Malformed parts are dropped, never raised."""
    assert TraceHeader.parse(header) == expected


def test_derived_ids_are_stable_distinct_and_valid() -> None:
    """The same ARN and operation give the same ids; execution and operations never collide."""
    arn = "arn:aws:lambda:us-east-1:123456789012:function:orders:$LATEST/durable-execution/a/b"
    started = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    trace_id = execution_trace_id(arn, started)
    assert trace_id == execution_trace_id(arn, started)
    assert f"{trace_id:032x}"[:8] == f"{int(started.timestamp()):08x}"
    assert execution_trace_id(arn, None) != trace_id
    assert operation_span_id(arn, "1") == operation_span_id(arn, "1")
    ids = {execution_span_id(arn), *(operation_span_id(arn, str(n)) for n in range(1000))}
    assert len(ids) == 1001
    assert all(0 < span_id < 2**64 for span_id in ids)
    assert json.dumps(f"{execution_span_id(arn):016x}")  # printable as the header needs


@given(
    st.text(alphabet=st.sampled_from("Root=1-Parent;Sampled0123456789abcdefx ") | st.characters())
)
def test_any_header_text_parses_without_raising(header: str) -> None:
    """Whatever the header holds, parsing gives valid ids or none."""
    parsed = TraceHeader.parse(header)
    assert parsed.trace_id is None or 0 < parsed.trace_id < 2**128
    assert parsed.parent_span_id is None or 0 < parsed.parent_span_id < 2**64
    assert parsed.sampled in (None, True, False)


@given(
    st.integers(1, 2**128 - 1),
    st.integers(1, 2**64 - 1),
    st.booleans(),
    st.text(
        alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789=:-", max_size=20
    ),
)
def test_every_context_round_trips_through_a_header_with_other_fields(
    trace_id: int, span_id: int, sampled: bool, lineage: str
) -> None:
    """format then parse is the identity, whatever other fields Lambda adds after ours."""
    flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
    header = TraceHeader.format(SpanContext(trace_id, span_id, False, flags))
    assert TraceHeader.parse(f"{header};Lineage={lineage}") == TraceHeader(
        trace_id, span_id, sampled
    )
