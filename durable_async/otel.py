"""OpenTelemetry spans for durable executions (``pip install 'durable-async[otel]'``).

Register :data:`OTEL_PLUGIN_FACTORY` (or an :class:`OtelPluginFactory` of your own provider)::

    @durable_execution(plugins=[OTEL_PLUGIN_FACTORY])
    async def handler(event, ctx): ...

or set ``DURABLE_EXECUTION_PLUGINS=otel``. One execution is one trace, however many invocations
it takes::

    durable execution <function>            once, when the execution ends (SUCCEEDED or FAILED)
    ├── durable invocation <function>       one per invocation
    ├── <operation>                         one per operation, from its recorded start to end
    │   ├── <step> attempt 1                one per run of user code (steps, condition checks)
    │   └── <child operations ...>
    └── <child context>
        ├── <child context> run             one per invocation that ran the child's function
        └── ...

Spans that outlive an invocation get ids derived from the execution ARN and the operation id,
so each invocation can parent new spans under them before they exist: the operation span is
emitted once, by the invocation that sees the operation end, with the start and end times the
service recorded (a wait started in one invocation and ended in the next is one span). An
operation replayed from its terminal checkpoint emits nothing. The trace id comes from the
invocation's ``X-Amzn-Trace-Id`` when it has one (a chained invoke's, or Lambda's
``_X_AMZN_TRACE_ID``), else from the ARN and the execution's start time, so every invocation
of one execution joins one trace; a chained invoke carries its operation's span as the parent
of the invoked execution.
"""

from __future__ import annotations

import contextvars
import datetime
import hashlib
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

try:
    from opentelemetry import context as otel_context
    from opentelemetry import trace
    from opentelemetry.sdk.trace import Tracer as SdkTracer
    from opentelemetry.sdk.trace.id_generator import IdGenerator
    from opentelemetry.sdk.trace.sampling import Decision
    from opentelemetry.trace import (
        Link,
        NonRecordingSpan,
        Span,
        SpanContext,
        SpanKind,
        StatusCode,
        TraceFlags,
        TracerProvider,
    )
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "durable_async.otel needs the OpenTelemetry API and SDK, which are not installed; "
        "install them with: pip install 'durable-async[otel]'"
    ) from exc

from durable_async._models import ErrorObject, OperationStatus, OperationType
from durable_async.plugin import (
    DurableInstrumentationPlugin,
    InvocationEndInfo,
    InvocationStartInfo,
    InvocationStatus,
    OperationEndInfo,
    OperationStartInfo,
    PropagationInput,
    PropagationMetadata,
    UserFunctionEndInfo,
    UserFunctionOutcome,
    UserFunctionStartInfo,
)

__all__ = [
    "OTEL_PLUGIN_FACTORY",
    "OtelPlugin",
    "OtelPluginFactory",
    "TraceHeader",
    "execution_span_id",
    "execution_trace_id",
    "operation_span_id",
]

INSTRUMENTATION_NAME = "durable_async"
_log = logging.getLogger("durable_async")
_Attributes = dict[str, str | bool | int]


# -- ids ---------------------------------------------------------------------------------------


def _hash(text: str, hex_digits: int) -> int:
    value = int(hashlib.blake2b(text.encode()).hexdigest()[:hex_digits], 16)
    return value or 1  # zero is OpenTelemetry's "invalid"


def operation_span_id(execution_arn: str, operation_id: str) -> int:
    """Return the span id of an operation's span (the reference plugin's derivation)."""
    return _hash(f"{execution_arn}:{operation_id}", 16)


def execution_span_id(execution_arn: str) -> int:
    """Return the span id of the execution's span."""
    return _hash(f"execution:{execution_arn}", 16)


def execution_trace_id(execution_arn: str, start_time: datetime.datetime | None) -> int:
    """Return the trace id of an execution started without a trace header.

    The first 8 hex digits are the start time in epoch seconds, as X-Ray trace ids have them.
    """
    if start_time is None:
        return _hash(f"trace:{execution_arn}", 32)
    return int(f"{int(start_time.timestamp()) & 0xFFFFFFFF:08x}{_hash(execution_arn, 24):024x}", 16)


class _DeterministicIds(IdGenerator):
    """The tracer's id generator, except for the next span this plugin starts with chosen ids.

    The choice sits in a context variable and is used once, so a span a processor starts while
    ours is being created gets ids of its own.
    """

    _lock = threading.Lock()

    def __init__(self, fallback: IdGenerator) -> None:
        self.fallback = fallback
        self._next: contextvars.ContextVar[list[int | None] | None] = contextvars.ContextVar(
            "durable_async_otel_ids", default=None
        )

    @classmethod
    def install(cls, tracer: SdkTracer) -> _DeterministicIds:
        """Return the id generator of ``tracer`` (one per scope), wrapping it the first time."""
        with cls._lock:
            current = tracer.id_generator
            if isinstance(current, cls):
                return current
            wrapped = cls(current)
            tracer.id_generator = wrapped
            return wrapped

    @contextmanager
    def chosen(self, trace_id: int | None, span_id: int | None) -> Iterator[None]:
        token = self._next.set([trace_id, span_id])
        try:
            yield
        finally:
            self._next.reset(token)

    def generate_trace_id(self) -> int:
        chosen = self._next.get()
        if chosen is not None and chosen[0] is not None:
            trace_id, chosen[0] = chosen[0], None
            return trace_id
        return self.fallback.generate_trace_id()

    def generate_span_id(self) -> int:
        chosen = self._next.get()
        if chosen is not None and chosen[1] is not None:
            span_id, chosen[1] = chosen[1], None
            chosen[0] = None  # the span is made: nothing more is ours
            return span_id
        return self.fallback.generate_span_id()

    def is_trace_id_random(self) -> bool:
        chosen = self._next.get()
        if chosen is not None and chosen[1] is not None:
            return False  # asked between the trace id and the span id of our span
        return bool(getattr(self.fallback, "is_trace_id_random", lambda: False)())


# -- the X-Ray trace header --------------------------------------------------------------------

_ROOT = re.compile(r"1-([0-9a-fA-F]{8})-([0-9a-fA-F]{24})")
_SPAN = re.compile(r"[0-9a-fA-F]{16}")


@dataclass(frozen=True)
class TraceHeader:
    """The parts of an ``X-Amzn-Trace-Id`` header the plugin uses (None: absent or malformed)."""

    trace_id: int | None = None
    parent_span_id: int | None = None
    sampled: bool | None = None

    @classmethod
    def parse(cls, header: str | None) -> TraceHeader:
        """Read ``Root=1-…-…;Parent=…;Sampled=0|1``; anything unreadable is left out."""
        fields: dict[str, str] = {}
        for segment in (header or "").split(";"):
            key, sep, value = segment.partition("=")
            if sep:
                fields.setdefault(key.strip(), value.strip())
        root = _ROOT.fullmatch(fields.get("Root", ""))
        trace_id = int(root[1] + root[2], 16) if root else None
        parent = fields.get("Parent", "")
        span_id = int(parent, 16) if _SPAN.fullmatch(parent) else None
        sampled = {"1": True, "0": False}.get(fields.get("Sampled", ""))
        return cls(trace_id or None, span_id or None, sampled)

    @staticmethod
    def format(span_context: SpanContext) -> str:
        """The header that makes ``span_context`` the parent of the receiver's spans."""
        trace_hex = f"{span_context.trace_id:032x}"
        sampled = int(span_context.trace_flags.sampled)
        return (
            f"Root=1-{trace_hex[:8]}-{trace_hex[8:]};Parent={span_context.span_id:016x};"
            f"Sampled={sampled}"
        )


# -- the factory -------------------------------------------------------------------------------


class OtelPluginFactory:
    """Builds one :class:`OtelPlugin` per invocation.

    ``tracer_provider`` defaults to the global one (read at each invocation, so a provider set
    after the handler module was imported is used). ``flush`` calls the provider's
    ``force_flush`` when an invocation ends, as Lambda needs before it freezes the sandbox.
    """

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        *,
        flush: bool = True,
        instrumentation_name: str = INSTRUMENTATION_NAME,
    ) -> None:
        self.tracer_provider = tracer_provider
        self.flush = flush
        self.instrumentation_name = instrumentation_name
        self._warned = False

    def create_plugin(self, info: InvocationStartInfo, /) -> DurableInstrumentationPlugin:
        """Return the plugin for the invocation ``info`` describes (a no-op one without tracing)."""
        provider = self.tracer_provider or trace.get_tracer_provider()
        tracer = provider.get_tracer(self.instrumentation_name)
        if not isinstance(tracer, SdkTracer):
            # The API's default provider traces nothing; anything else cannot take our ids.
            if not isinstance(provider, trace.ProxyTracerProvider) and not self._warned:
                self._warned = True
                _log.warning(
                    "durable_async.otel needs an OpenTelemetry SDK TracerProvider, not %s; "
                    "durable executions are not traced.",
                    type(provider).__name__,
                )
            return DurableInstrumentationPlugin()
        if not info.execution_arn:
            return DurableInstrumentationPlugin()
        flush = getattr(provider, "force_flush", None) if self.flush else None
        return OtelPlugin(tracer, _DeterministicIds.install(tracer), info, flush=flush)


# -- the plugin --------------------------------------------------------------------------------


class OtelPlugin(DurableInstrumentationPlugin):
    """The spans of one invocation (see the module's docs for the tree)."""

    def __init__(
        self,
        tracer: SdkTracer,
        ids: _DeterministicIds,
        info: InvocationStartInfo,
        *,
        flush: Callable[[], object] | None = None,
    ) -> None:
        self._tracer = tracer
        self._ids = ids
        self._flush = flush
        self._arn = info.execution_arn or ""
        self._function = _function_name(self._arn)
        header = TraceHeader.parse(info.trace_header)
        self._trace_id = header.trace_id or execution_trace_id(self._arn, info.execution_start_time)
        self._remote_parent: SpanContext | None = None
        if header.trace_id is not None and header.parent_span_id is not None:
            flags = TraceFlags(TraceFlags.SAMPLED if header.sampled is not False else 0)
            self._remote_parent = SpanContext(
                self._trace_id, header.parent_span_id, is_remote=True, trace_flags=flags
            )
        self._sampled = header.sampled if header.sampled is not None else self._root_sampled()
        self._execution = self._placeholder(execution_span_id(self._arn))
        self._start_info = info
        self._invocation: Span | None = None
        self._invocation_token: object | None = None
        self._runs: dict[tuple[str, int | None], tuple[Span, object]] = {}
        self._started_here: set[str] = set()  # operations whose START this invocation sent
        self._resumed: set[str] = set()  # operations this invocation found in progress

    # -- invocation ------------------------------------------------------------------------

    def on_invocation_start(self, info: InvocationStartInfo) -> None:
        attributes: _Attributes = {
            "durable.execution.arn": self._arn,
            "durable.invocation.first": info.is_first_invocation,
        }
        if info.request_id:
            attributes["faas.invocation_id"] = info.request_id
        ambient = trace.get_current_span().get_span_context()
        same_trace = ambient.is_valid and ambient.trace_id == self._trace_id
        parent = trace.get_current_span() if same_trace else self._execution
        links = [Link(ambient)] if ambient.is_valid and not same_trace else []
        self._invocation = self._tracer.start_span(
            f"durable invocation {self._function}",
            context=trace.set_span_in_context(parent),
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            links=links,
        )
        # The handler's task copies this context: the user's own spans nest here.
        self._invocation_token = otel_context.attach(trace.set_span_in_context(self._invocation))

    def on_invocation_end(self, info: InvocationEndInfo) -> None:
        try:
            # Runs whose end hook never came (their tasks are gone, and so are their contexts).
            for span, _token in reversed(list(self._runs.values())):
                span.set_attribute("durable.attempt.outcome", UserFunctionOutcome.INCOMPLETE.value)
                span.end()
            self._runs.clear()
            if self._invocation is not None:
                self._end_invocation(self._invocation, info)
            if info.status in (InvocationStatus.SUCCEEDED, InvocationStatus.FAILED):
                self._emit_execution(info)
        finally:
            if self._invocation_token is not None:
                _detach(self._invocation_token)
                self._invocation_token = None
            if self._flush is not None:
                try:
                    self._flush()
                except Exception:
                    _log.exception("the tracer provider failed to flush; spans may be lost")

    def _end_invocation(self, span: Span, info: InvocationEndInfo) -> None:
        status = "RETRYING" if info.status is InvocationStatus.RETRY else info.status.value
        span.set_attribute("durable.invocation.status", status)
        if info.status in (InvocationStatus.SUCCEEDED, InvocationStatus.PENDING):
            span.set_status(StatusCode.OK)
        else:
            _record_error(span, info.error, f"the invocation ended {status}")
        span.end()

    def _emit_execution(self, info: InvocationEndInfo) -> None:
        """Emit the execution's span: started when it was, ended now."""
        if not self._sampled:
            return  # a root span: the sampler would decide afresh, against the header's Sampled=0
        start = info.execution_start_time
        ends = [op.end_time for op in info.operations.values() if op.end_time is not None]
        end = max([datetime.datetime.now(datetime.UTC), *ends, *([start] if start else [])])
        parent = self._remote_parent
        context = trace.set_span_in_context(NonRecordingSpan(parent)) if parent else None
        with self._ids.chosen(self._trace_id if parent is None else None, self._execution_id):
            span = self._tracer.start_span(
                f"durable execution {self._function}",
                context=context or otel_context.Context(),
                attributes={
                    "durable.execution.arn": self._arn,
                    "durable.execution.status": info.status.value,
                },
                start_time=_ns(start),
            )
        if info.status is InvocationStatus.SUCCEEDED:
            span.set_status(StatusCode.OK)
        else:
            _record_error(span, info.error, "the execution failed")
        span.end(_ns(end))

    # -- operations ------------------------------------------------------------------------

    def on_operation_start(self, info: OperationStartInfo) -> None:
        if info.is_replayed:
            self._resumed.add(info.operation_id)
        else:
            self._started_here.add(info.operation_id)

    def on_operation_end(self, info: OperationEndInfo) -> None:
        if info.start_time is None or info.is_replayed:
            # A child that records nothing (virtual), or one rebuilt from an ended record
            # (ReplayChildren): its run span is all there is, the operation's is out already.
            return
        now = datetime.datetime.now(datetime.UTC)
        start = info.start_time
        end = max(info.end_time or now, start)
        attributes = self._operation_attributes(info)
        attributes["durable.operation.status"] = info.status.value
        attributes["durable.operation.replayed"] = info.operation_id not in self._started_here
        if info.operation_type is OperationType.STEP and info.attempt:
            attributes["durable.attempt.number"] = info.attempt
        with self._ids.chosen(None, operation_span_id(self._arn, info.operation_id)):
            span = self._tracer.start_span(
                _label(info),
                context=trace.set_span_in_context(self._parent(info.parent_id)),
                attributes=attributes,
                links=self._invocation_link(),
                start_time=_ns(start),
            )
        if info.status is OperationStatus.SUCCEEDED:
            span.set_status(StatusCode.OK)
        else:
            _record_error(span, info.error, f"the operation ended {info.status.value}")
        span.end(_ns(end))

    def provide_propagation_metadata(self, info: PropagationInput) -> PropagationMetadata | None:
        if info.execution_arn != self._arn:
            return None
        return PropagationMetadata(TraceHeader.format(self._operation_context(info.operation_id)))

    # -- user code -------------------------------------------------------------------------

    def on_user_function_start(self, info: UserFunctionStartInfo) -> None:
        attributes = self._operation_attributes(info)
        if info.operation_type is OperationType.CONTEXT:
            name = f"{_label(info)} run"
            replayed = info.is_replay_children or info.operation_id in self._resumed
            attributes["durable.operation.replayed"] = replayed
        else:
            name = f"{_label(info)} attempt {info.attempt or 1}"
            attributes["durable.attempt.number"] = info.attempt or 1
        span = self._tracer.start_span(
            name,
            context=trace.set_span_in_context(self._run_parent(info)),
            attributes=attributes,
            links=self._invocation_link(),
            start_time=_ns(info.start_time),
        )
        token = otel_context.attach(trace.set_span_in_context(span))
        self._runs[(info.operation_id, info.attempt)] = (span, token)

    def on_user_function_end(self, info: UserFunctionEndInfo) -> None:
        run = self._runs.pop((info.operation_id, info.attempt), None)
        if run is None:
            return
        span, token = run
        _detach(token)
        span.set_attribute("durable.attempt.outcome", info.outcome.value)
        if info.outcome is UserFunctionOutcome.SUCCEEDED:
            span.set_status(StatusCode.OK)
        elif info.outcome is UserFunctionOutcome.FAILED:
            _record_error(span, info.error, "the user code raised")
        span.end(_ns(info.end_time))

    # -- helpers ---------------------------------------------------------------------------

    @property
    def _execution_id(self) -> int:
        return execution_span_id(self._arn)

    def _run_parent(self, info: UserFunctionStartInfo) -> NonRecordingSpan:
        """The operation's span; for a child that records nothing (virtual), its parent's."""
        op_id = info.operation_id
        recorded = (
            op_id in self._started_here
            or op_id in self._resumed
            or op_id in self._start_info.operations
        )
        if not recorded:
            return self._parent(info.parent_id)
        return self._placeholder(operation_span_id(self._arn, op_id))

    def _placeholder(self, span_id: int) -> NonRecordingSpan:
        return NonRecordingSpan(self._context(span_id))

    def _context(self, span_id: int) -> SpanContext:
        flags = TraceFlags(TraceFlags.SAMPLED if self._sampled else TraceFlags.DEFAULT)
        return SpanContext(self._trace_id, span_id, is_remote=False, trace_flags=flags)

    def _operation_context(self, operation_id: str) -> SpanContext:
        return self._context(operation_span_id(self._arn, operation_id))

    def _parent(self, parent_id: str | None) -> NonRecordingSpan:
        if parent_id is None:
            return self._execution
        return self._placeholder(operation_span_id(self._arn, parent_id))

    def _invocation_link(self) -> list[Link]:
        if self._invocation is None:
            return []
        return [Link(self._invocation.get_span_context())]

    def _root_sampled(self) -> bool:
        """What the tracer's sampler decides for the execution's span (once per invocation)."""
        parent = self._remote_parent
        # An explicit context: None would make the sampler read whatever span is current.
        context = (
            trace.set_span_in_context(NonRecordingSpan(parent), otel_context.Context())
            if parent
            else otel_context.Context()
        )
        result = self._tracer.sampler.should_sample(
            context, self._trace_id, f"durable execution {self._function}"
        )
        return result.decision is Decision.RECORD_AND_SAMPLE

    def _operation_attributes(self, info: Any) -> _Attributes:
        attributes: _Attributes = {
            "durable.execution.arn": self._arn,
            "durable.operation.id": info.operation_id,
            "durable.operation.type": info.operation_type.value,
        }
        if info.sub_type is not None:
            attributes["durable.operation.subtype"] = str(
                getattr(info.sub_type, "value", info.sub_type)
            )
        if info.name is not None:
            attributes["durable.operation.name"] = info.name
        return attributes


def _label(info: Any) -> str:
    """A span name: the operation's name, else its subtype, else its type."""
    return str(info.name or getattr(info.sub_type, "value", None) or info.operation_type.value)


def _function_name(arn: str) -> str:
    """The function an execution ARN names (``…:function:NAME[:qualifier]/durable-execution/…``)."""
    head = arn.split("/", 1)[0]
    parts = head.split(":")
    if "function" in parts and parts.index("function") + 1 < len(parts):
        return parts[parts.index("function") + 1]
    return os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or "handler"


def _record_error(span: Span, error: ErrorObject | None, fallback: str) -> None:
    """Mark ``span`` failed, with the error as an ``exception`` event when there is one."""
    message = (error.error_message if error else None) or fallback
    span.set_status(StatusCode.ERROR, message)
    if error is None:
        return
    event: Mapping[str, str] = {
        "exception.type": error.error_type or "Error",
        "exception.message": error.error_message or "",
    }
    if error.stack_trace:
        event = {**event, "exception.stacktrace": "".join(error.stack_trace)}
    span.set_attribute("error.type", error.error_type or "Error")
    span.add_event("exception", event)


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def _ns(moment: datetime.datetime | None) -> int | None:
    """Nanoseconds since the epoch, exactly (a float would round recorded milliseconds)."""
    if moment is None:
        return None
    return (moment - _EPOCH) // datetime.timedelta(microseconds=1) * 1000


def _detach(token: object) -> None:
    otel_context.detach(token)  # type: ignore[arg-type]


OTEL_PLUGIN_FACTORY = OtelPluginFactory()
"""What the ``otel`` entry point names: the global tracer provider, flushed per invocation."""
