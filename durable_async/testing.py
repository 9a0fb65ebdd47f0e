"""Test durable handlers: run them in-process with skipped time, or deployed through the Lambda API.

::

    async with DurableTestRunner(handler, skip_time=True) as runner:
        runner.register_durable_function("pricing-fn", pricing_handler)
        runner.mock_step("charge", result={"charged": 500})
        result = await runner.run(input={"id": "o-1"}, timeout=30)
        assert result.status is ExecutionStatus.SUCCEEDED
        assert result.get_step("price-lines/1/price").value() == 250

        arn = await runner.start(input={"id": "o-2"})
        callback_id = await runner.wait_for_callback(arn, name="approval")
        await runner.send_callback_success(callback_id, {"ok": True})
        result = await runner.wait_for_result(arn)

        report = await check_replay(changed_handler, await runner.record(arn))
        report.assert_compatible()

:class:`DurableCloudTestRunner` has the same API for a deployed function (or ``durable-async
serve``); the ``durable_runner`` pytest fixture makes either.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any

from durable_async._context import StepContext
from durable_async._execution import DurableHandler
from durable_async._models import ErrorObject
from durable_async._overrides import step_override
from durable_async._testkit.cloud import DurableCloudTestRunner
from durable_async._testkit.common import (
    ErrorLike,
    callback_result,
    encode_input,
    error_wire,
    waiting_callback,
)
from durable_async._testkit.mocks import UNSET, StepCall, StepMock, StepMocks, lineage_handler
from durable_async._testkit.replay import (
    Nondeterminism,
    RecordedExecution,
    ReplayReport,
    check_replay,
)
from durable_async._testkit.results import (
    DurableTestResult,
    ExecutionStatus,
    RecordedOperation,
    build_operations,
    decode_result,
)
from durable_async.service.local.clock import RealClock, SkipClock
from durable_async.service.local.engine import LocalDurableService
from durable_async.service.local.runner import LocalRunner, PlainFunction, trace_header
from durable_async.service.local.store import MemoryStore, SqliteStore, Store

__all__ = [
    "DurableCloudTestRunner",
    "DurableTestResult",
    "DurableTestRunner",
    "ExecutionStatus",
    "Nondeterminism",
    "RecordedExecution",
    "RecordedOperation",
    "ReplayReport",
    "StepCall",
    "StepMock",
    "check_replay",
]


class DurableTestRunner:
    """Runs one durable handler (and any you register) on an embedded local service.

    ``store`` is ``"memory"`` (the default), a path to a SQLite file, or a Store. With
    ``skip_time=True`` waits, retry delays and timeouts complete without sleeping, in the
    order the wall clock would complete them: virtual time jumps to the next deadline whenever
    nothing else is running, so a test that answers a callback with a timeout should do so
    right after :meth:`wait_for_callback` returns. ``checkpoint_latency`` adds that many seconds
    to every checkpoint call.
    """

    def __init__(
        self,
        handler: DurableHandler[Any, Any],
        *,
        skip_time: bool = True,
        store: str | os.PathLike[str] | Store = "memory",
        checkpoint_latency: float = 0.0,
        function_name: str | None = None,
    ) -> None:
        self._handler = handler
        self._clock = SkipClock() if skip_time else RealClock()
        self._store = _make_store(store)
        self.service = LocalDurableService(
            self._store, self._clock, checkpoint_latency=checkpoint_latency
        )
        self.function_name: str = function_name or str(getattr(handler, "__name__", "handler"))
        self._runner = LocalRunner(self.service, clock=self._clock)
        self._mocks = StepMocks()
        #: Whether the runner is open (between ``__aenter__`` and ``__aexit__``).
        self.is_open = False
        self.register_durable_function(self.function_name, handler)

    async def __aenter__(self) -> DurableTestRunner:
        await self._store.open()
        await self._runner.__aenter__()
        self.is_open = True
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        try:
            await self._runner.__aexit__(*exc_info)
        finally:
            self.is_open = False
            await self._store.close()

    def register_durable_function(self, name: str, handler: DurableHandler[Any, Any]) -> None:
        """Make ``handler`` invocable as ``name`` on this runner's service."""
        traced = lineage_handler(handler)

        async def invoke(event: dict[str, Any]) -> dict[str, Any]:
            # Set here, in the task that runs the invocation, so every task it starts sees it.
            token = step_override.set(self._mocks.override)
            try:
                chosen = traced if self._mocks.needs_lineage else handler
                if self._mocks.needs_lineage:
                    self._mocks.lineage()
                header = trace_header.get()
                if header is None:  # a handler class may override invoke without trace_header
                    return await chosen.invoke(event, service=self.service, clock=self._clock)
                return await chosen.invoke(
                    event, service=self.service, clock=self._clock, trace_header=header
                )
            finally:
                step_override.reset(token)

        self._runner.register(name, invoke)

    def register_function(self, name: str, fn: PlainFunction) -> None:
        """Make the plain function ``fn`` invocable as ``name`` (``ctx.invoke`` runs it once).

        ``fn(payload)`` gets the decoded payload, sync or async; its return value is the
        invoke's result and an exception it raises fails the invoke.
        """
        self._runner.register_function(name, fn)

    def mock_step(
        self,
        path: str,
        fn: Callable[[StepContext], Any] | None = None,
        *,
        result: Any = UNSET,
        raises: BaseException | type[BaseException] | None = None,
    ) -> StepMock:
        """Run a test double in place of the function of every step ``path`` matches.

        Give exactly one of ``fn`` (called as the step's function would be, with the
        ``StepContext``; sync or async), ``result`` (the value each attempt returns) or
        ``raises`` (the exception each attempt raises; the step's retry strategy applies).
        ``path`` is a step name, matching such steps at any depth, or a name path from the
        handler (``"price-lines/1/price"``, ``"price-lines/*/price"``). Applies to every
        durable function of this runner, later mocks first, until the returned
        :class:`StepMock` is removed (it is also a context manager). Replayed steps are not
        run again, mocked or not.
        """
        return self._mocks.add(path, fn, result=result, raises=raises)

    async def run(
        self, input: Any = None, *, timeout: float = 30, name: str | None = None
    ) -> DurableTestResult:
        """Start an execution and drive it to its end; return what was recorded."""
        arn = await self.start(input=input, name=name)
        return await self.wait_for_result(arn, timeout=timeout)

    async def start(self, input: Any = None, *, name: str | None = None) -> str:
        """Start an execution in the background and return its ARN at once."""
        return await self._runner.start(self.function_name, encode_input(input), name=name)

    async def wait_for_result(self, arn: str, *, timeout: float = 30) -> DurableTestResult:
        """Wait until the execution ends and describe it; TimeoutError after ``timeout`` s."""
        await self._runner.wait_for_result(arn, timeout=timeout)
        return await self.describe(arn)

    async def wait_for_callback(
        self, arn: str, name: str | None = None, timeout: float = 30
    ) -> str:
        """Wait until a callback of the execution waits for its result; return its callback id.

        With ``name``, only a callback whose own name, or whose enclosing
        ``wait_for_callback``'s name, is ``name`` counts. TimeoutError after ``timeout``
        seconds; LookupError when the execution ends first.
        """
        scope = asyncio.timeout(timeout)
        try:
            async with scope:
                return await self._callback_id(arn, name)
        except TimeoutError as exc:
            if not scope.expired():
                raise
            what = "a callback" if name is None else f"a callback named {name!r}"
            raise TimeoutError(
                f"Execution {arn} started no {what} within {timeout} s; check the name, or "
                "pass a longer timeout."
            ) from exc

    async def send_callback_success(self, callback_id: str, payload: Any = None) -> None:
        """Complete the callback with ``payload``: bytes and str as they are, else as JSON."""
        await self.service.send_callback_success(callback_id, callback_result(payload))

    async def send_callback_failure(self, callback_id: str, error: ErrorLike = None) -> None:
        """Fail the callback with ``error``: an ErrorObject, its dict, a message or an exception."""
        await self.service.send_callback_failure(callback_id, error_wire(error))

    async def send_callback_heartbeat(self, callback_id: str) -> None:
        """Tell the callback its caller is still working, pushing its heartbeat deadline."""
        await self.service.send_callback_heartbeat(callback_id)

    async def describe(self, arn: str) -> DurableTestResult:
        """Describe the execution as recorded now."""
        service = self.service
        execution = await service.describe_execution(arn)
        return DurableTestResult(
            arn=arn,
            status=ExecutionStatus(execution["Status"]),
            result=decode_result(execution.get("Result")),
            error=ErrorObject.from_wire(execution.get("Error")),
            operations=build_operations(await service.list_operations(arn)),
            invocations=await service.invocations(arn),
            checkpoint_calls=await service.checkpoint_calls(arn),
        )

    async def record(self, arn: str) -> RecordedExecution:
        """Return the execution's operations as recorded now, for :func:`check_replay`."""
        execution = await self.service.describe_execution(arn)
        operations = await self.service.list_operations(arn)
        return RecordedExecution(arn, ExecutionStatus(execution["Status"]), operations)

    async def check_replay(
        self,
        recorded: RecordedExecution | str,
        handler: DurableHandler[Any, Any] | None = None,
        *,
        timeout: float = 30,
    ) -> ReplayReport:
        """Replay a recording (or this runner's execution ``arn``) with ``handler``.

        ``handler`` defaults to this runner's; see :func:`check_replay`.
        """
        if isinstance(recorded, str):
            recorded = await self.record(recorded)
        return await check_replay(handler or self._handler, recorded, timeout=timeout)

    async def get_invoked_execution_arn(self, result: DurableTestResult, name: str) -> str:
        """Return the ARN of the durable execution that ``result``'s invoke ``name`` started."""
        op_id = result.get_invoke(name).id
        for event in await self.get_history(result.arn):
            details = event.get("ChainedInvokeStartedDetails") or {}
            if event.get("Id") == op_id and "DurableExecutionArn" in details:
                return str(details["DurableExecutionArn"])
        raise KeyError(
            f"The chained invoke {name!r} started no durable execution; its target is a plain "
            "function or could not be found."
        )

    async def get_history(self, arn: str) -> list[dict[str, Any]]:
        """Return the execution's GetDurableExecutionHistory events, oldest first."""
        events: list[dict[str, Any]] = (await self.service.get_history(arn))["Events"]
        return events

    async def _callback_id(self, arn: str, name: str | None) -> str:
        while True:
            changed = self.service.watch(arn)
            operations = await self.service.list_operations(arn)
            found = waiting_callback(operations, name)
            if found is not None:
                return found
            if (await self.service.describe_execution(arn))["Status"] != "RUNNING":
                what = "callback" if name is None else f"callback named {name!r}"
                raise LookupError(f"Execution {arn} ended without a waiting {what}.")
            await changed.wait()


def _make_store(store: str | os.PathLike[str] | Store) -> Store:
    if store == "memory":
        return MemoryStore()
    if isinstance(store, str | os.PathLike):
        return SqliteStore(store)
    return store
