"""Invoke a function's handler until its durable execution ends, as Lambda would.

An invoker takes the Lambda input event and returns the handler's wire output. Between
invocations the runner sleeps on the clock until the next timer is due, or until the service
reports a change (a callback, later); a skip clock makes those sleeps free.
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Self

from durable_async.service import ServiceError
from durable_async.service.local.clock import Clock, wait_event_or_time
from durable_async.service.local.engine import LocalDurableService

__all__ = ["Invoker", "LocalRunner"]

Invoker = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class LocalRunner:
    """Drive executions on a :class:`LocalDurableService` with registered invokers."""

    def __init__(
        self,
        service: LocalDurableService,
        *,
        clock: Clock | None = None,
        max_invocation_attempts: int = 3,
        invocation_retry_delay: float = 1.0,
    ) -> None:
        if max_invocation_attempts < 1:
            raise ValueError(
                f"max_invocation_attempts must be at least 1, got {max_invocation_attempts}."
            )
        self.service = service
        self.clock: Clock = clock if clock is not None else service.clock
        self.max_invocation_attempts = max_invocation_attempts
        self.invocation_retry_delay = invocation_retry_delay
        self._invokers: dict[str, Invoker] = {}
        self._group: asyncio.TaskGroup | None = None
        self._drives: dict[str, asyncio.Task[dict[str, Any]]] = {}

    async def __aenter__(self) -> Self:
        """Open the task group that owns executions started with :meth:`start`."""
        group = asyncio.TaskGroup()
        await group.__aenter__()
        self._group = group
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Cancel executions still being driven and wait for their tasks to end."""
        group, self._group = self._group, None
        for task in self._drives.values():
            task.cancel()
        if group is not None:
            # The body's own exception must reach the caller as it is, not in an ExceptionGroup.
            cancelled = isinstance(e, asyncio.CancelledError)
            await group.__aexit__(t, e, tb) if cancelled else await group.__aexit__(
                None, None, None
            )

    def register(self, function_name: str, invoker: Invoker) -> None:
        """Use ``invoker`` for every invocation of ``function_name``."""
        self._invokers[function_name] = invoker

    async def run(
        self,
        function_name: str,
        input_payload: str | None,
        *,
        name: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Start (or resume, when ``name`` exists) an execution and drive it to its end."""
        self.invoker(function_name)
        arn = await self.service.start_execution(function_name, input_payload, name=name)
        return await self.drive(arn, timeout)

    async def start(
        self, function_name: str, input_payload: str | None, *, name: str | None = None
    ) -> str:
        """Start (or resume) an execution, drive it in the background and return its ARN."""
        self.invoker(function_name)
        self._require_group()
        arn = await self.service.start_execution(function_name, input_payload, name=name)
        self._spawn(arn)
        return arn

    async def wait_for_result(self, arn: str, timeout: float | None = None) -> dict[str, Any]:
        """Wait until the execution ends and return it (GetDurableExecution shape)."""
        task = self._drives.get(arn) or self._spawn(arn)
        return await _within(timeout, arn, asyncio.shield(task))

    async def drive(self, arn: str, timeout: float | None = None) -> dict[str, Any]:
        """Invoke the execution until it ends; ``timeout`` bounds the real time spent."""
        return await _within(timeout, arn, self._drive(arn))

    async def _drive(self, arn: str) -> dict[str, Any]:
        invoker = self.invoker(_function_name(arn))
        failures = 0
        while await self._running(arn):
            error = await self._invoke(arn, invoker)
            failures = 0 if error is None else failures + 1
            if error is None:
                await self._wait_for_work(arn)
            elif failures >= self.max_invocation_attempts:
                await self._give_up(arn, error)
            else:
                delay = self.invocation_retry_delay * failures
                await self.clock.sleep_until(self.clock.now() + delay)
        return await self.service.describe_execution(arn)

    async def _invoke(self, arn: str, invoker: Invoker) -> dict[str, Any] | None:
        """Run one invocation; return the error that failed it, if any."""
        try:
            event = await self.service.begin_invocation(arn)
        except ServiceError as exc:
            if exc.code == "ResourceConflictException":  # it ended meanwhile
                return None
            raise
        try:
            output = await invoker(event)
        except Exception as exc:  # a failed invocation is retried, as Lambda does
            return await self._record_failure(arn, _error_of(exc))
        if not isinstance(output, dict):
            message = f"The invoker returned {type(output).__name__}, not the wire output dict."
            return await self._record_failure(arn, _error("InvalidInvocationOutput", message))
        try:
            await self.service.end_invocation(arn, output)
        except ServiceError as exc:
            if not exc.retryable:
                raise
            return _error("InvalidInvocationOutput", exc.message)
        return None

    async def _record_failure(self, arn: str, error: dict[str, Any]) -> dict[str, Any]:
        await self.service.end_invocation(arn, None, error=error)
        return error

    async def _wait_for_work(self, arn: str) -> None:
        """Return once the execution is due for an invocation or has ended."""
        while True:
            changed = self.service.watch(arn)
            if not await self._running(arn):
                return
            wake = await self.service.next_wakeup(arn)
            if wake is not None and wake <= self.clock.now():
                return
            await wait_event_or_time(changed, self.clock, wake)

    async def _give_up(self, arn: str, error: dict[str, Any]) -> None:
        try:
            await self.service.fail_execution(arn, error)
        except ServiceError as exc:
            if exc.code != "ResourceConflictException":  # it ended meanwhile
                raise

    async def _running(self, arn: str) -> bool:
        status = (await self.service.describe_execution(arn))["Status"]
        return bool(status == "RUNNING")

    def invoker(self, function_name: str) -> Invoker:
        """Return the invoker registered for ``function_name`` (LookupError when none is)."""
        invoker = self._invokers.get(function_name)
        if invoker is None:
            raise LookupError(
                f"No invoker is registered for function {function_name!r}; call "
                f"runner.register({function_name!r}, invoker) first."
            )
        return invoker

    def _require_group(self) -> asyncio.TaskGroup:
        if self._group is None:
            raise RuntimeError(
                "The runner is not open; use `async with LocalRunner(...) as runner:` so it "
                "can own the executions it drives in the background."
            )
        return self._group

    def _spawn(self, arn: str) -> asyncio.Task[dict[str, Any]]:
        task = self._drives.get(arn)
        if task is None:
            task = self._require_group().create_task(self.drive(arn), name=f"drive {arn}")
            self._drives[arn] = task
        return task


async def _within(
    timeout: float | None, arn: str, work: Awaitable[dict[str, Any]]
) -> dict[str, Any]:
    scope = asyncio.timeout(timeout)
    try:
        async with scope:
            return await work
    except TimeoutError as exc:
        if not scope.expired():
            raise
        raise TimeoutError(
            f"Execution {arn} did not end within {timeout} s; pass a longer timeout, or "
            "inspect what it waits for with describe_execution and list_operations."
        ) from exc


def _function_name(arn: str) -> str:
    # arn:aws:lambda:{region}:{account}:function:{name}:{version}/durable-execution/...
    return arn.split(":function:", 1)[-1].split(":", 1)[0]


def _error(error_type: str, message: str) -> dict[str, Any]:
    return {"ErrorType": error_type, "ErrorMessage": message}


def _error_of(exc: BaseException) -> dict[str, Any]:
    error = _error(type(exc).__name__, str(exc))
    error["StackTrace"] = traceback.format_exception(exc)
    return error
