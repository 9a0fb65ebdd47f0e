"""DurableTestRunner: run durable handlers on the embedded local service, in-process.

::

    async with DurableTestRunner(handler, skip_time=True) as runner:
        runner.register_durable_function("pricing-fn", pricing_handler)
        result = await runner.run(input={"id": "o-1"}, timeout=30)
        assert result.status is ExecutionStatus.SUCCEEDED

        arn = await runner.start(input={"id": "o-2"})
        callback_id = await runner.wait_for_callback(arn, name="approval")
        await runner.send_callback_success(callback_id, {"ok": True})
        result = await runner.wait_for_result(arn)
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from durable_async._execution import DurableHandler
from durable_async._models import ErrorObject, Operation, OperationType
from durable_async.service.local.clock import RealClock, SkipClock
from durable_async.service.local.engine import LocalDurableService
from durable_async.service.local.runner import LocalRunner, PlainFunction
from durable_async.service.local.store import MemoryStore, SqliteStore, Store

__all__ = ["DurableTestResult", "DurableTestRunner", "ExecutionStatus"]


class ExecutionStatus(StrEnum):
    """How an execution ended (RUNNING while it has not)."""

    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"
    STOPPED = "STOPPED"


@dataclass
class DurableTestResult:
    """An execution as the local service recorded it."""

    arn: str
    status: ExecutionStatus
    result: Any
    error: ErrorObject | None
    operations: list[Operation]
    invocations: int
    checkpoint_calls: int

    def get_step(self, name: str) -> Operation:
        """Return the step named ``name``."""
        return self._get(OperationType.STEP, name)

    def get_wait(self, name: str) -> Operation:
        """Return the wait named ``name``."""
        return self._get(OperationType.WAIT, name)

    def get_callback(self, name: str) -> Operation:
        """Return the callback named ``name``."""
        return self._get(OperationType.CALLBACK, name)

    def get_context(self, name: str) -> Operation:
        """Return the child context named ``name``."""
        return self._get(OperationType.CONTEXT, name)

    def get_invoke(self, name: str) -> Operation:
        """Return the chained invoke named ``name``."""
        return self._get(OperationType.CHAINED_INVOKE, name)

    def _get(self, op_type: OperationType, name: str) -> Operation:
        for op in self.operations:
            if op.type is op_type and op.name == name:
                return op
        names = sorted(op.name or op.id for op in self.operations if op.type is op_type)
        raise KeyError(
            f"No {op_type.value} operation named {name!r} in this execution; it has {names}."
        )


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
        self.register_durable_function(self.function_name, handler)

    async def __aenter__(self) -> DurableTestRunner:
        await self._store.open()
        await self._runner.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        try:
            await self._runner.__aexit__(*exc_info)
        finally:
            await self._store.close()

    def register_durable_function(self, name: str, handler: DurableHandler[Any, Any]) -> None:
        """Make ``handler`` invocable as ``name`` on this runner's service."""

        async def invoke(event: dict[str, Any]) -> dict[str, Any]:
            return await handler.invoke(event, service=self.service, clock=self._clock)

        self._runner.register(name, invoke)

    def register_function(self, name: str, fn: PlainFunction) -> None:
        """Make the plain function ``fn`` invocable as ``name`` (``ctx.invoke`` runs it once).

        ``fn(payload)`` gets the decoded payload, sync or async; its return value is the
        invoke's result and an exception it raises fails the invoke.
        """
        self._runner.register_function(name, fn)

    async def run(
        self, input: Any = None, *, timeout: float = 30, name: str | None = None
    ) -> DurableTestResult:
        """Start an execution and drive it to its end; return what was recorded."""
        arn = await self.start(input=input, name=name)
        return await self.wait_for_result(arn, timeout=timeout)

    async def start(self, input: Any = None, *, name: str | None = None) -> str:
        """Start an execution in the background and return its ARN at once."""
        return await self._runner.start(self.function_name, _encode(input), name=name)

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
        if isinstance(payload, bytes):
            result = payload.decode()
        elif isinstance(payload, str):
            result = payload
        else:
            result = json.dumps(payload)
        await self.service.send_callback_success(callback_id, result)

    async def send_callback_failure(
        self,
        callback_id: str,
        error: ErrorObject | dict[str, Any] | str | BaseException | None = None,
    ) -> None:
        """Fail the callback with ``error``: an ErrorObject, its dict, a message or an exception."""
        await self.service.send_callback_failure(callback_id, _error_wire(error))

    async def send_callback_heartbeat(self, callback_id: str) -> None:
        """Tell the callback its caller is still working, pushing its heartbeat deadline."""
        await self.service.send_callback_heartbeat(callback_id)

    async def describe(self, arn: str) -> DurableTestResult:
        """Describe the execution as recorded now."""
        service = self.service
        execution = await service.describe_execution(arn)
        result = execution.get("Result")
        return DurableTestResult(
            arn=arn,
            status=ExecutionStatus(execution["Status"]),
            result=json.loads(result) if result else None,
            error=ErrorObject.from_wire(execution.get("Error")),
            operations=[Operation.from_wire(op) for op in await service.list_operations(arn)],
            invocations=await service.invocations(arn),
            checkpoint_calls=await service.checkpoint_calls(arn),
        )

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
            found = _waiting_callback(operations, name)
            if found is not None:
                return found
            if (await self.service.describe_execution(arn))["Status"] != "RUNNING":
                what = "callback" if name is None else f"callback named {name!r}"
                raise LookupError(f"Execution {arn} ended without a waiting {what}.")
            await changed.wait()


def _waiting_callback(operations: list[dict[str, Any]], name: str | None) -> str | None:
    """Return the id of the first started callback named ``name``, or whose wait is."""
    waits = {
        op["Id"]: op.get("Name")
        for op in operations
        if op["Type"] == "CONTEXT" and op.get("SubType") == "WaitForCallback"
    }
    for op in operations:
        if op["Type"] != "CALLBACK" or op["Status"] != "STARTED":
            continue
        if name is None or name in (op.get("Name"), waits.get(op.get("ParentId", ""))):
            return str(op["CallbackDetails"]["CallbackId"])
    return None


def _error_wire(
    error: ErrorObject | dict[str, Any] | str | BaseException | None,
) -> dict[str, Any] | None:
    if error is None or isinstance(error, dict):
        return error
    if isinstance(error, ErrorObject):
        return error.to_wire()
    if isinstance(error, BaseException):
        return ErrorObject.from_exception(error).to_wire()
    return {"ErrorMessage": error}


def _make_store(store: str | os.PathLike[str] | Store) -> Store:
    if store == "memory":
        return MemoryStore()
    if isinstance(store, str | os.PathLike):
        return SqliteStore(store)
    return store


def _encode(value: Any) -> str | None:
    return None if value is None else json.dumps(value)
