"""Step mocks: run a test double in place of a named step's function, as Temporal mocks activities.

The runner sets :data:`durable_async._overrides.step_override` around each invocation to
:meth:`StepMocks.override`, which the step operation asks once per attempt. A pattern with ``/``
is matched against the step's whole name path, which needs the names of its enclosing contexts:
those started in this invocation are heard through an instrumentation plugin (their START may
still be queued when the step runs), those recorded before are in the invocation's state.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from durable_async._execution import DurableHandler
from durable_async._ids import operation_id
from durable_async._testkit import paths
from durable_async._user import call_user
from durable_async.plugin import (
    DurableInstrumentationPlugin,
    InvocationStartInfo,
    OperationStartInfo,
)

if TYPE_CHECKING:
    from durable_async._context import OperationRef, StepContext

__all__ = ["StepCall", "StepMock", "StepMocks", "lineage_handler"]

#: An operation as the lineage knows it: name, parent id, subtype.
_Heard = tuple[str | None, str | None, str | None]

#: What the operations started in the current invocation are called: id -> (name, parent id).
_lineage: ContextVar[dict[str, _Heard] | None] = ContextVar(
    "durable_async_testing_lineage", default=None
)
#: The default of ``result=``: no result given (None is a result).
UNSET: Any = object()
_ITEMS = frozenset({"MapIteration", "ParallelBranch"})


@dataclass(frozen=True, slots=True)
class StepCall:
    """One attempt of a mocked step: its path, operation id and attempt number (1-based)."""

    path: str
    operation_id: str
    attempt: int


@dataclass(eq=False)
class StepMock:
    """A test double in place of the steps ``pattern`` matches, until :meth:`remove`.

    ``calls`` lists each attempt it ran. Use it as a context manager to remove it on exit.
    """

    pattern: str
    replacement: Callable[..., Any]
    calls: list[StepCall] = field(default_factory=list)
    _registry: StepMocks | None = field(default=None, repr=False)

    @property
    def called(self) -> bool:
        """Whether any step attempt ran this mock."""
        return bool(self.calls)

    def remove(self) -> None:
        """Let the matched steps run their own functions again."""
        if self._registry is not None:
            self._registry.remove(self)
            self._registry = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.remove()


class StepMocks:
    """The mocks of one runner, the latest added first, and the override that applies them."""

    def __init__(self) -> None:
        self._mocks: list[StepMock] = []
        self._lock = threading.Lock()  # calls are recorded from step threads too

    def add(
        self,
        pattern: str,
        fn: Callable[[StepContext], Any] | None = None,
        *,
        result: Any = UNSET,
        raises: BaseException | type[BaseException] | None = None,
    ) -> StepMock:
        """Mock the steps ``pattern`` matches (see ``DurableTestRunner.mock_step``)."""
        paths.split(pattern)  # a malformed pattern fails here, not when a step runs
        given = sum(x is not None for x in (fn, raises)) + (result is not UNSET)
        if given != 1:
            raise TypeError(
                "mock_step takes exactly one of fn, result= or raises=: the function to run "
                "instead of the step's, the value it returns, or the exception it raises."
            )
        mock = StepMock(pattern, _replacement(fn, result, raises), _registry=self)
        with self._lock:
            self._mocks.insert(0, mock)
        return mock

    def remove(self, mock: StepMock) -> None:
        """Forget ``mock``."""
        with self._lock:
            self._mocks = [m for m in self._mocks if m is not mock]

    @property
    def needs_lineage(self) -> bool:
        """Whether steps' paths are needed (to match patterns and to record calls)."""
        return bool(self._mocks)

    def lineage(self) -> dict[str, _Heard]:
        """Start hearing of the operations the current invocation starts; return the record."""
        heard: dict[str, _Heard] = {}
        _lineage.set(heard)
        return heard

    def override(self, ref: OperationRef) -> Callable[..., Any] | None:
        """The step override: the function of the mock that matches ``ref``, or None."""
        if not self._mocks:
            return None
        segments = _segments(ref)
        for mock in self._mocks:
            patterns = paths.split(mock.pattern)
            hit = (
                paths.matches(patterns[0], segments[-1])
                if len(patterns) == 1
                else paths.matches_path(patterns, segments)
            )
            if hit:
                return self._recording(mock, paths.join(segments), ref.op_id)
        return None

    def _recording(self, mock: StepMock, path: str, op_id: str) -> Callable[..., Any]:
        async def run(step: StepContext) -> Any:
            with self._lock:
                mock.calls.append(StepCall(path, op_id, step.attempt))
            return await call_user(mock.replacement, step)

        return run


def lineage_handler(handler: DurableHandler[Any, Any]) -> DurableHandler[Any, Any]:
    """Return a copy of ``handler`` that also reports the operations it starts to the mocks."""
    clone = copy.copy(handler)
    clone.plugins = [*handler.plugins, _LineageFactory()]
    return clone


class _LineagePlugin(DurableInstrumentationPlugin):
    def __init__(self, heard: dict[str, _Heard]) -> None:
        self.heard = heard

    def on_operation_start(self, info: OperationStartInfo) -> None:
        self.heard[info.operation_id] = (info.name, info.parent_id, info.sub_type)


class _LineageFactory:
    def create_plugin(self, info: InvocationStartInfo, /) -> DurableInstrumentationPlugin:
        heard = _lineage.get()
        return _LineagePlugin(heard if heard is not None else {})


def _segments(ref: OperationRef) -> list[paths.Segment]:
    """The step's path, root first: its enclosing contexts' names (and indexes), then its own."""
    state = ref.ctx.runtime.state
    heard = _lineage.get() or {}
    segments = [paths.Segment(ref.name, ref.op_id)]
    parent_id = ref.ctx.parent_id
    while parent_id:
        recorded = state.get(parent_id)
        if recorded is not None:
            name, grandparent, sub_type = recorded.name, recorded.parent_id, recorded.sub_type
        else:
            name, grandparent, sub_type = heard.get(parent_id, (None, None, None))
        index = _index(parent_id, grandparent, name) if sub_type in _ITEMS else None
        segments.insert(0, paths.Segment(name, parent_id, index))
        parent_id = grandparent
    return segments


def _index(op_id: str, parent_id: str | None, name: str | None) -> int | None:
    """The index of item or branch ``op_id`` of the map or parallel ``parent_id``."""
    if not parent_id:
        return None
    # Unless a namer named it, an item is "map-item-<index>" (a branch "parallel-branch-...").
    tail = (name or "").rpartition("-")[2]
    if tail.isdigit() and operation_id(parent_id, int(tail)) == op_id:
        return int(tail)
    for index in range(100_000):
        if operation_id(parent_id, index) == op_id:
            return index
    return None


def _replacement(
    fn: Callable[..., Any] | None,
    result: Any,
    raises: BaseException | type[BaseException] | None,
) -> Callable[..., Any]:
    if fn is not None:
        return fn
    if raises is not None:

        async def fail(step: StepContext) -> Any:
            raise raises

        return fail

    async def succeed(step: StepContext) -> Any:
        return result

    return succeed
