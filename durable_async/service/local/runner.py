"""Invoke a function's handler until its durable execution ends, as Lambda would.

An invoker takes the Lambda input event and returns the handler's wire output. Between
invocations the runner sleeps on the clock until the next timer is due, or until the service
reports a change (a callback, a chained invoke's end); a skip clock makes those sleeps free.

Chained invokes: while it drives an execution, the runner also runs the targets of its
chained invokes. The engine records each START and signals it
(:meth:`LocalDurableService.watch_chained_invokes`); the drive's dispatcher task takes the
pending invokes and runs each target in a task the drive owns. A function registered with
:meth:`LocalRunner.register` runs as its own durable execution (started idempotently by the
engine, driven like any other); one registered with :meth:`LocalRunner.register_function` is
called once. Either way its end is recorded on the caller's operation, which wakes the caller.

One driver per execution: a drive holds the execution's lease in the store (:mod:`._lease`)
while it invokes it, so two runners, in one process or two, never invoke it at once.
:meth:`LocalRunner.run` and :meth:`LocalRunner.drive` raise :class:`ExecutionLeasedError`
naming the holder; a drive in the background (:meth:`LocalRunner.start`) waits for the holder
to let go instead.

A waiting drive wakes on events: the engine's change notification for what this process does
(a callback answered, a chained invoke ended), and, for what other processes write to the
same SQLite file, one watcher per runner that reads the store's data version every quarter
second while any drive waits and wakes only the drives whose execution may have changed, so a
thousand suspended executions cost one read per poll, not a thousand wake-ups.

A failed invocation is recorded with the error type the exception names (``error_type``) or
its class name. ``SystemExit`` from an invoker or a plain function counts as Lambda counts a
process that exits mid-invocation: a failed invocation of type ``Runtime.ExitError``.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import traceback
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AbstractContextManager, nullcontext
from contextvars import ContextVar
from types import TracebackType
from typing import Any, Self

from durable_async.service import ServiceError
from durable_async.service.local._batch import TargetKind
from durable_async.service.local._invokes import INTERRUPTED_ERROR, unknown_target_error
from durable_async.service.local._lease import ExecutionLeasedError, Lease, LeaseKeeper
from durable_async.service.local.clock import Clock, SkipClock, wait_event_or_time
from durable_async.service.local.engine import LocalDurableService

__all__ = ["ExecutionLeasedError", "Invoker", "LocalRunner", "PlainFunction", "trace_header"]

Invoker = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
#: While an invoker runs: the ``X-Amzn-Trace-Id`` its invocation carries, as Lambda hands it to
#: the function (``_X_AMZN_TRACE_ID``); for the target of a chained invoke, the header the
#: caller's START carried (``ChainedInvokeOptions.XAmznTraceId``), else None.
trace_header: ContextVar[str | None] = ContextVar("trace_header", default=None)
# A chained-invoke target that is not durable: called once with the decoded payload.
PlainFunction = Callable[[Any], Any]

_log = logging.getLogger(__name__)
_CLEANUP_SECONDS = 5.0
# Real seconds between looks at the store for writes by other processes while a drive waits.
_POLL_SECONDS = 0.25
# Real seconds between attempts to take a lease another runner holds (background drives).
_LEASE_RETRY_SECONDS = 0.5
_EXIT_ERROR = "Runtime.ExitError"


class LocalRunner:
    """Drive executions on a :class:`LocalDurableService` with registered invokers.

    The runner tells its service which functions it can run, so a chained invoke of a function
    registered with neither :meth:`register` nor :meth:`register_function` fails at once.
    """

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
        # The trace header of each chained invoke's durable target (for this process's drives).
        self._trace_headers: dict[str, str] = {}
        self._functions: dict[str, PlainFunction] = {}
        self._fallback: Callable[[str], Invoker | None] | None = None
        self._group: asyncio.TaskGroup | None = None
        self._drives: dict[str, asyncio.Task[dict[str, Any]]] = {}
        self._leases = LeaseKeeper(service.store)
        self._elsewhere = _StoreWatch(self._data_version)
        service.set_target_resolver(self.target_kind)

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
        """Use ``invoker`` for every invocation of the durable function ``function_name``."""
        self._functions.pop(function_name, None)
        self._invokers[function_name] = invoker

    def register_function(self, function_name: str, fn: PlainFunction) -> None:
        """Make the plain function ``fn`` a chained-invoke target named ``function_name``.

        ``fn(payload)`` gets the decoded JSON payload and runs once per invoke; a sync ``fn``
        runs in a worker thread. Its return value, JSON-encoded, is the invoke's result; an
        exception fails the invoke.
        """
        self._invokers.pop(function_name, None)
        self._functions[function_name] = fn

    def set_fallback(self, fallback: Callable[[str], Invoker | None] | None) -> None:
        """Ask ``fallback`` for the invoker of a durable function registered with neither method.

        It is asked when an execution of that function is started or driven, not for chained
        invokes: a target must be registered, so an invoke of a misspelt name fails at once.
        """
        self._fallback = fallback

    def function(self, function_name: str) -> PlainFunction:
        """Return the plain function registered as ``function_name`` (LookupError when none is)."""
        fn = self._functions.get(function_name)
        if fn is None:
            raise LookupError(
                f"No plain function is registered as {function_name!r}; call "
                f"runner.register_function({function_name!r}, fn) first."
            )
        return fn

    def target_kind(self, function_name: str) -> TargetKind | None:
        """Return how ``function_name`` runs as a chained-invoke target, None if it cannot."""
        if function_name in self._invokers:
            return "durable"
        if function_name in self._functions:
            return "function"
        return None

    async def run(
        self,
        function_name: str,
        input_payload: str | None,
        *,
        name: str | None = None,
        timeout: float | None = None,
        execution_timeout: int | None = None,
    ) -> dict[str, Any]:
        """Start (or resume, when ``name`` exists) an execution and drive it to its end.

        ``timeout`` bounds the real time this call waits; ``execution_timeout`` is the
        execution's own ExecutionTimeout in seconds, after which it ends TIMED_OUT.
        Raises :class:`ExecutionLeasedError` when another runner drives that execution.
        """
        self.invoker(function_name)
        arn = await self._start(function_name, input_payload, name, execution_timeout)
        return await self.drive(arn, timeout)

    async def start(
        self,
        function_name: str,
        input_payload: str | None,
        *,
        name: str | None = None,
        execution_timeout: int | None = None,
    ) -> str:
        """Start (or resume) an execution, drive it in the background and return its ARN.

        ``execution_timeout`` is the execution's ExecutionTimeout in seconds.
        """
        self.invoker(function_name)
        self._require_group()
        arn = await self._start(function_name, input_payload, name, execution_timeout)
        self._spawn(arn)
        return arn

    def resume(self, arn: str) -> None:
        """Drive the existing execution ``arn`` in the background (after a restart, say).

        Raises LookupError when no invoker is registered for its function.
        """
        self.invoker(_function_name(arn))
        self._spawn(arn)

    async def wait_for_result(self, arn: str, timeout: float | None = None) -> dict[str, Any]:
        """Wait until the execution ends and return it (GetDurableExecution shape)."""
        return await _within(timeout, arn, asyncio.shield(self._spawn(arn)))

    async def drive(self, arn: str, timeout: float | None = None) -> dict[str, Any]:
        """Invoke the execution until it ends; ``timeout`` bounds the real time spent.

        Raises :class:`ExecutionLeasedError` when another runner drives that execution.
        """
        return await _within(timeout, arn, self._drive(arn, wait_for_lease=False))

    async def _start(
        self,
        function_name: str,
        input_payload: str | None,
        name: str | None,
        execution_timeout: int | None = None,
    ) -> str:
        try:
            return await self.service.start_execution(
                function_name, input_payload, name=name, timeout_seconds=execution_timeout
            )
        except ServiceError as exc:
            # Another process started the same name between the engine's look-up and insert.
            if name is None or exc.code != "ResourceConflictException":
                raise
            found = await self.service.find_execution(function_name, name)
            if found is None:
                raise
            return found

    async def _drive(self, arn: str, *, wait_for_lease: bool) -> dict[str, Any]:
        invoker = self.invoker(_function_name(arn))
        lease = await self._take_lease(arn, wait_for_lease)
        ended: dict[str, Any] | None = None
        if lease is not None:
            try:
                async with _Tasks() as tasks:
                    tasks.spawn(self._dispatch_invokes(arn, tasks), f"dispatch {arn}")
                    ended = await self._invoke_until_ended(arn, invoker, lease)
            finally:
                async with asyncio.timeout(_CLEANUP_SECONDS):
                    with self._hold():
                        await self._leases.release(lease)
        # An execution's end is final: what the last invocation's end reported stands.
        return ended if ended is not None else await self.service.describe_execution(arn)

    async def _take_lease(self, arn: str, wait: bool) -> Lease | None:
        """Take the execution's lease, or return None once it has ended.

        When another runner holds the lease, raise ExecutionLeasedError, or with ``wait``
        try again until that runner lets go or the execution ends.
        """
        while await self._running(arn):
            try:
                with self._hold():
                    return await self._leases.take(arn)
            except ExecutionLeasedError:
                if not wait:
                    raise
            await asyncio.sleep(_LEASE_RETRY_SECONDS)
        return None

    async def _invoke_until_ended(
        self, arn: str, invoker: Invoker, lease: Lease
    ) -> dict[str, Any] | None:
        """Invoke until the execution ends; return it as its last invocation's end left it.

        Returns None when it ended some other way (stopped, timed out, failed for good).
        The lease was just taken from a running execution, so the first invocation needs no
        look-up and no confirmation; the ExecutionTimeout is fixed at the start, so its
        deadline is read once.
        """
        failures, first = 0, True
        deadline = await self.service.execution_deadline(arn)
        # The lease was taken from a running execution: the first round asks nothing again.
        while first or await self._running(arn):
            if not first:
                with self._hold():
                    await self._leases.confirm(lease)
            first = False
            error, execution = await self._invoke(arn, invoker, deadline)
            if execution is not None and execution["Status"] != "RUNNING":
                return execution  # ended by this invocation: nothing to look up or wait for
            failures = 0 if error is None else failures + 1
            if error is None:
                await self._wait_for_work(arn)
            elif failures >= self.max_invocation_attempts:
                await self._give_up(arn, error)
            else:
                delay = self.invocation_retry_delay * failures
                await self.clock.sleep_until(self.clock.now() + delay)
        return None

    async def _invoke(
        self, arn: str, invoker: Invoker, deadline: float | None
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """Run one invocation; return the error that failed it, and the execution after it.

        Either may be None: no error, or an execution this call did not see the end of.
        """
        try:
            event = await self.service.begin_invocation(arn)
        except ServiceError as exc:
            if exc.code == "ResourceConflictException":  # it ended meanwhile
                return None, None
            raise
        try:
            output = await self._call(arn, invoker, event, deadline)
        except (Exception, SystemExit) as exc:  # a failed invocation is retried, as Lambda does
            return await self._record_failure(arn, _error_of(exc))
        if not isinstance(output, dict):
            message = f"The invoker returned {type(output).__name__}, not the wire output dict."
            return await self._record_failure(arn, _error("InvalidInvocationOutput", message))
        try:
            return None, await self.service.end_invocation(arn, output)
        except ServiceError as exc:
            if not exc.retryable:
                raise
            return _error("InvalidInvocationOutput", exc.message), None

    async def _call(
        self, arn: str, invoker: Invoker, event: dict[str, Any], deadline: float | None
    ) -> dict[str, Any]:
        """Run the invocation; time the execution out if its ExecutionTimeout passes meanwhile.

        The invocation is not cut short: its next checkpoint finds the execution ended, and
        its end is recorded as usual.
        """
        header = trace_header.set(self._trace_headers.get(arn))
        try:
            if deadline is None:
                return await invoker(event)
            call = asyncio.ensure_future(invoker(event))
        finally:
            trace_header.reset(header)
        timer = asyncio.ensure_future(self.clock.sleep_until(deadline))
        try:
            await asyncio.wait({call, timer}, return_when=asyncio.FIRST_COMPLETED)
            if not call.done():
                await self.service.fire_due_timers(arn)
            return await call
        finally:
            for task in (call, timer):
                task.cancel()
            await asyncio.gather(call, timer, return_exceptions=True)

    async def _record_failure(
        self, arn: str, error: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        return error, await self.service.end_invocation(arn, None, error=error)

    async def _wait_for_work(self, arn: str) -> None:
        """Return once the execution is due for an invocation or has ended."""
        while True:
            # Both are read before looking, so a change made after the look still wakes us.
            changed = self.service.watch(arn)
            version = await self._data_version()
            if not await self._running(arn):
                return
            wake = await self.service.next_wakeup(arn)
            if wake is not None and wake <= self.clock.now():
                return
            await _first_of(
                wait_event_or_time(changed, self.clock, wake), self._elsewhere.moved_from(version)
            )

    async def _data_version(self) -> int:
        with self._hold():
            return await self.service.store.data_version()

    def _hold(self) -> AbstractContextManager[None]:
        """Hold a skip clock's time still around a store call, as the engine does for its own."""
        return self.clock.hold() if isinstance(self.clock, SkipClock) else nullcontext()

    async def _give_up(self, arn: str, error: dict[str, Any]) -> None:
        try:
            await self.service.fail_execution(arn, error)
        except ServiceError as exc:
            if exc.code != "ResourceConflictException":  # it ended meanwhile
                raise

    async def _running(self, arn: str) -> bool:
        status = (await self.service.describe_execution(arn))["Status"]
        return bool(status == "RUNNING")

    # Chained invokes.

    async def _dispatch_invokes(self, arn: str, tasks: _Tasks) -> None:
        """Run the target of every chained invoke the execution starts, each once."""
        launched: set[str] = set()
        while True:
            started = self.service.watch_chained_invokes(arn)
            for invoke in await self.service.pending_chained_invokes(arn):
                if invoke["Id"] not in launched:
                    launched.add(invoke["Id"])
                    tasks.spawn(self._run_target(arn, invoke), f"invoke {invoke['Id']} of {arn}")
            await started.wait()

    async def _run_target(self, arn: str, invoke: dict[str, Any]) -> None:
        """Run one chained invoke's target and record how it ended on the caller."""
        operation_id, name = invoke["Id"], invoke["FunctionName"]
        try:
            if name in self._invokers:
                target = await self.service.start_chained_execution(arn, operation_id)
                if invoke.get("XAmznTraceId"):
                    self._trace_headers[target] = invoke["XAmznTraceId"]
                await self._drive_target(target)
                await self.service.settle_chained_invoke(arn, operation_id, target)
            elif name in self._functions:
                await self._call_function(arn, invoke, self._functions[name])
            else:
                error = unknown_target_error(name)
                await self.service.complete_chained_invoke(arn, operation_id, "FAILED", error=error)
        except (Exception, SystemExit) as exc:
            # The caller cannot move on without an outcome, so the failure becomes it.
            _log.warning("Chained invoke %s of %s failed", operation_id, arn, exc_info=True)
            error = _error_of(exc)
            if isinstance(exc, ServiceError):
                error = _error(exc.code, exc.message)
            await self.service.complete_chained_invoke(arn, operation_id, "FAILED", error=error)

    async def _drive_target(self, arn: str) -> None:
        """Wait until the durable target ``arn`` ends, driving it unless a drive is running."""
        if self._group is None:
            # No runner-wide group to own the target's drive: the waiting invoke task owns it.
            await self._drive(arn, wait_for_lease=True)
        else:
            await asyncio.shield(self._spawn(arn))

    async def _call_function(self, arn: str, invoke: dict[str, Any], fn: PlainFunction) -> None:
        operation_id = invoke["Id"]
        if not await self.service.claim_chained_invoke(arn, operation_id):
            error = dict(INTERRUPTED_ERROR)
            await self.service.complete_chained_invoke(arn, operation_id, "FAILED", error=error)
            return
        try:
            result = json.dumps(await _call(fn, json.loads(invoke["Payload"])))
        except (Exception, SystemExit) as exc:  # the function's failure is the invoke's outcome
            await self.service.complete_chained_invoke(
                arn, operation_id, "FAILED", error=_error_of(exc)
            )
            return
        await self.service.complete_chained_invoke(arn, operation_id, "SUCCEEDED", result=result)

    # Tasks.

    def invoker(self, function_name: str) -> Invoker:
        """Return the invoker registered for ``function_name`` (LookupError when none is)."""
        invoker = self._invokers.get(function_name)
        if invoker is None and function_name not in self._functions and self._fallback:
            invoker = self._fallback(function_name)
            if invoker is not None:
                self._invokers[function_name] = invoker
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
        if task is None or task.cancelled():
            drive = self._drive(arn, wait_for_lease=True)
            task = self._require_group().create_task(drive, name=f"drive {arn}")
            self._drives[arn] = task
        return task


class _StoreWatch:
    """Wake drives when another process (or connection) writes the store.

    SQLite tells no one about commits, so one task reads the data version every
    ``_POLL_SECONDS`` while at least one drive waits, and stops when none does; it is the
    watch's own task, as the lease keeper's renewer is the keeper's.
    """

    def __init__(self, read: Callable[[], Awaitable[int]]) -> None:
        self._read = read
        self._last: int | None = None
        self._moved = asyncio.Event()
        self._waiters = 0
        self._poller: asyncio.Task[None] | None = None

    async def moved_from(self, version: int) -> None:
        """Return once the data version read is no longer ``version``."""
        self._waiters += 1
        if self._poller is None:
            loop = asyncio.get_running_loop()
            self._poller = loop.create_task(self._poll(), name="watch the store")
        try:
            # Only a read made after this call began counts, so a stale one never spins.
            while True:
                await self._moved.wait()
                if self._last != version:
                    return
        finally:
            self._waiters -= 1
            if not self._waiters and self._poller is not None:
                poller, self._poller = self._poller, None
                poller.cancel()
                await asyncio.gather(poller, return_exceptions=True)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(_POLL_SECONDS)
            version = await self._read()
            if version != self._last:
                self._last = version
                moved, self._moved = self._moved, asyncio.Event()
                moved.set()  # each waiter checks whether it moved from the version it read


class _Tasks:
    """Tasks one drive owns: cancelled and awaited when the drive ends."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, work: Coroutine[Any, Any, Any], name: str) -> None:
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        for task in self._tasks:
            task.cancel()
        async with asyncio.timeout(_CLEANUP_SECONDS):
            results = await asyncio.gather(*self._tasks, return_exceptions=True)
        errors = [r for r in results if isinstance(r, Exception)]
        if errors and e is None:
            raise errors[0]


async def _call(fn: PlainFunction, payload: Any) -> Any:
    """Call ``fn(payload)``: awaited when async, in a worker thread when sync."""
    if inspect.iscoroutinefunction(fn):
        return await fn(payload)
    result = await asyncio.to_thread(fn, payload)
    if inspect.isawaitable(result):
        return await result
    return result


async def _first_of(*works: Coroutine[Any, Any, Any]) -> None:
    """Run ``works`` until the first of them ends, cancel the rest, and raise what it raised."""
    tasks = [asyncio.ensure_future(work) for work in works]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        task.result()


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
    """Return the ErrorObject of a failed invocation or function: the type it names, or its class.

    An exit (``SystemExit``, or an SDK error of type ``Runtime.ExitError``) carries no stack
    trace: that the process exited is the whole story, as on Lambda.
    """
    if isinstance(exc, SystemExit):
        return _error(_EXIT_ERROR, _exit_message(exc.code))
    error = _error(getattr(exc, "error_type", None) or type(exc).__name__, str(exc))
    # An error from another process (a Lambda Invoke) carries the trace where it was raised.
    remote = getattr(exc, "stack_trace", None)
    if isinstance(remote, list):
        error["StackTrace"] = [str(line) for line in remote]
    elif error["ErrorType"] != _EXIT_ERROR:
        error["StackTrace"] = traceback.format_exception(exc)
    return error


def _exit_message(code: object) -> str:
    # sys.exit(None) is status 0 and sys.exit("text") status 1, as the interpreter has it.
    if code is None or isinstance(code, int):
        return f"The function exited with status {code or 0} during the invocation."
    return f"The function exited with status 1 during the invocation: {code}"
