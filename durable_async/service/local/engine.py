"""The embedded durable execution service: the checkpoint API plus what a runner needs.

:class:`LocalDurableService` implements :class:`durable_async.service.DurableService` the way
Lambda does, on JSON-shaped dicts with integer epoch-millisecond timestamps. Every call for
one execution runs under that execution's lock and ends in one atomic store commit.

Besides the checkpoint API it completes callbacks (``send_callback_*``, as the Lambda API
does), and records chained invokes for a runner to run: a runner resolves target names
(:meth:`LocalDurableService.set_target_resolver`), takes the pending invokes of an execution
it drives (:meth:`pending_chained_invokes`, :meth:`watch_chained_invokes`), and reports how
each target ended (:meth:`complete_chained_invoke`).

With a :class:`SkipClock`, every call holds virtual time still while it waits on the store,
so time never skips past a timer that a call in flight is about to arm.

Starts take no global lock (only two starts of the same name wait for each other), and the
engine's store calls pass a gate (:mod:`._admission`) that keeps the store's queue short and
lets client calls (starts, callbacks, reads over HTTP) ahead of the traffic of executions in
flight. Text from callers is made storable at this boundary: lone surrogates are escaped and
error objects are cut to their four members (``_model.clean_text``, ``check_error``).
"""

from __future__ import annotations

import asyncio
import functools
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from contextlib import AbstractContextManager, nullcontext
from functools import partial
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, Self, TypeVar

from durable_async.service import ServiceError
from durable_async.service.clock import SkipClock
from durable_async.service.local import _external, _invokes
from durable_async.service.local._admission import AdmittedStore, Gate, client_calls
from durable_async.service.local._apply import Batch
from durable_async.service.local._batch import TargetKind, TargetResolver
from durable_async.service.local._callbacks import parse_callback_id, unknown_callback
from durable_async.service.local._calls import (
    apply_call,
    close_invocation,
    end_execution,
    fire_due_timers,
    open_invocation,
)
from durable_async.service.local._history import make_event, redact
from durable_async.service.local._model import (
    Changes,
    ExecutionRecord,
    Json,
    Snapshot,
    check_error,
    clean_text,
    conflict,
    dumps,
    error_object,
    invalid,
    not_found,
)
from durable_async.service.local._validate import MAX_PAYLOAD_BYTES
from durable_async.service.local._wire import (
    bad_token,
    check_name,
    describe,
    new_execution,
    parse_marker,
    referenced_ids,
    summary,
)
from durable_async.service.local.clock import Clock, RealClock, wait_event_or_time
from durable_async.service.local.store import Store

__all__ = ["LocalDurableService", "TargetKind", "TargetResolver"]

T = TypeVar("T")
P = ParamSpec("P")

_MAX_PAGE = 1000
# Store calls the engine lets in at once: enough for the SQLite store to commit the writes of
# many executions in one transaction (group commit), few enough that a client call admitted
# next waits for about one such transaction, not for hundreds of calls.
_STORE_CALLS_AT_ONCE = 64


def _held(
    method: Callable[Concatenate[LocalDurableService, P], Awaitable[T]],
) -> Callable[Concatenate[LocalDurableService, P], Coroutine[Any, Any, T]]:
    """Hold a skip clock's time still while the call runs (it never waits on the clock)."""

    @functools.wraps(method)
    async def held(self: LocalDurableService, /, *args: P.args, **kwargs: P.kwargs) -> T:
        with self._hold():
            return await method(self, *args, **kwargs)

    return held


class LocalDurableService:
    """A durable execution service that runs inside this process, over a :class:`Store`."""

    def __init__(
        self,
        store: Store,
        clock: Clock | None = None,
        *,
        checkpoint_latency: float = 0.0,
        page_size: int = _MAX_PAGE,
        execution_timeout: Callable[[str], int | None] | None = None,
    ) -> None:
        if not 1 <= page_size <= _MAX_PAGE:
            raise ValueError(f"page_size must be between 1 and {_MAX_PAGE}, got {page_size}.")
        self.store = store
        self.clock: Clock = clock if clock is not None else RealClock()
        self.checkpoint_latency = checkpoint_latency
        self.page_size = page_size
        self._store = AdmittedStore(store, Gate(_STORE_CALLS_AT_ONCE))
        # Weak: a lock nobody holds or waits for is dropped, so these do not grow for ever.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._name_locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._changes: dict[str, asyncio.Event] = {}
        self._invokes: dict[str, asyncio.Event] = {}
        self._targets: TargetResolver | None = None
        # The ExecutionTimeout of a function's executions that no caller gives one (the
        # durable targets of chained invokes), as the function's configuration says.
        self._execution_timeout = execution_timeout

    async def __aenter__(self) -> Self:
        """Open the store."""
        await self.store.open()
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the store."""
        await self.store.close()

    # The DurableService protocol.

    @_held
    async def checkpoint(
        self,
        arn: str,
        token: str,
        updates: list[dict[str, Any]],
        client_token: str | None = None,
    ) -> dict[str, Any]:
        """Apply ``updates`` atomically and return the next token and the changed operations."""
        if self.checkpoint_latency > 0:
            await asyncio.sleep(self.checkpoint_latency)
        async with self._lock(arn):
            return await self._checkpoint(arn, token, updates, client_token)

    @_held
    async def get_execution_state(
        self, arn: str, token: str, marker: str, max_items: int = _MAX_PAGE
    ) -> dict[str, Any]:
        """Return one page of the execution's operations in creation order."""
        execution = await self._execution(arn)
        key = execution.invocation_key
        if not isinstance(token, str) or key is None or not token.startswith(f"{key}z"):
            raise bad_token("it does not belong to the running invocation of this execution")
        limit = min(self.page_size, max_items if max_items > 0 else _MAX_PAGE)
        return await self._page(arn, parse_marker(marker), limit)

    # Driving executions.

    @_held
    async def start_execution(
        self,
        function_name: str,
        input_payload: str | None,
        *,
        name: str | None = None,
        timeout_seconds: int | None = None,
    ) -> str:
        """Create an execution and return its ARN; an existing ``name`` returns that execution.

        ``timeout_seconds`` is the ExecutionTimeout: once it passes, the execution ends
        TIMED_OUT. A start is a client call: its store calls go ahead of the executions in
        flight.
        """
        check_name(function_name, "function name")
        if name is not None:
            check_name(name, "execution name")
        _check_timeout(timeout_seconds)
        if input_payload is not None and not isinstance(input_payload, str):
            raise invalid(
                f"The input payload must be JSON text, not {type(input_payload).__name__}; "
                "encode it with json.dumps first."
            )
        with client_calls():
            return await self._start(
                function_name, input_payload, name=name, timeout_seconds=timeout_seconds
            )

    @_held
    async def begin_invocation(self, arn: str) -> dict[str, Any]:
        """Complete due timers, issue a fresh token and return the Lambda input event."""
        async with self._lock(arn):
            now = self._now_ms()
            opened = partial(open_invocation, now=now)
            token, updated = await self._transact(arn, (), now, opened)
            if token is None:
                raise conflict(f"Execution {arn!r} timed out before this invocation began.")
            state = await self._page(arn, -1, self.page_size)
        return {
            "DurableExecutionArn": arn,
            "CheckpointToken": token,
            "InitialExecutionState": state,
            "UpdatedOperationIds": updated,
        }

    @_held
    async def end_invocation(
        self, arn: str, output: dict[str, Any] | None, error: str | dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Record how an invocation ended: its wire ``output``, or the ``error`` it raised.

        Returns the execution as it stands once the end is recorded (GetDurableExecution
        shape), so a runner knows without asking again whether it ended. An invocation that
        raised leaves the execution RUNNING for the runner to retry. An output of PENDING
        while nothing is pending is recorded as a failed invocation and raised as a retryable
        :class:`ServiceError`.
        """
        pending = error is None and isinstance(output, dict) and output.get("Status") == "PENDING"
        async with self._lock(arn):
            # Only a PENDING output needs to know whether anything waits (one read less else).
            waiting = pending and bool(await self._store.waiting_operations(arn))
            now = self._now_ms()
            close = partial(close_invocation, now=now, output=output, error=error, waiting=waiting)
            failure, execution = await self._transact(
                arn, [_execution_id(arn)], now, _and_describe(close)
            )
        if failure is not None and error is None:
            raise ServiceError(
                str(failure["ErrorMessage"]),
                code="InvalidParameterValueException",
                retryable=True,
                status_code=400,
            )
        return execution

    @_held
    async def fire_due_timers(self, arn: str) -> bool:
        """Fire the execution's timers that are due now; return True once it has ended.

        A runner calls this when the ExecutionTimeout passes while an invocation runs.
        """
        async with self._lock(arn):
            now = self._now_ms()
            ended: bool = await self._transact(arn, (), now, partial(fire_due_timers, now=now))
        return ended

    @_held
    async def execution_deadline(self, arn: str) -> float | None:
        """Return when the execution times out, in epoch seconds; None without a timeout."""
        execution = await self._execution(arn)
        if execution.terminal:
            return None
        rows = await self._store.list_operations(arn, -1, 1)
        due = rows[0].due_ms if rows and rows[0].type == "EXECUTION" else None
        return None if due is None else due / 1000

    @_held
    async def fail_execution(self, arn: str, error: str | dict[str, Any]) -> None:
        """End a running execution as FAILED with ``error``."""
        await self._end(arn, "FAILED", error_object(error))

    @_held
    async def stop_execution(
        self, arn: str, error: str | dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """End a running execution as STOPPED (StopDurableExecution).

        ``error`` is a message or an ErrorObject; an ErrorObject of the wrong shape is refused.
        """
        if isinstance(error, dict):
            error = check_error(error, "The stop's Error")
            _check_size("A stop's error", len(dumps(error).encode()))
        stopped = None if error is None else error_object(error, "Stopped")
        return {"StopTimestamp": await self._end(arn, "STOPPED", stopped)}

    # Callbacks (SendDurableExecutionCallbackSuccess, Failure, Heartbeat).

    @_held
    async def send_callback_success(self, callback_id: str, result: str | None) -> None:
        """Complete the started callback ``callback_id`` as SUCCEEDED with ``result``."""
        if result is not None and not isinstance(result, str):
            raise invalid(f"A callback result is text, not {type(result).__name__}.")
        if result is not None:
            result = clean_text(result)
            _check_size("A callback result", len(result.encode()))
        await self._callback_call(callback_id, _external.complete_callback, result=result or None)

    @_held
    async def send_callback_failure(self, callback_id: str, error: dict[str, Any] | None) -> None:
        """Complete the started callback ``callback_id`` as FAILED with ``error``.

        ``error`` is an ErrorObject; members it does not have are left out, and one of the
        wrong shape is refused.
        """
        # No error leaves the error's fields absent, as the service does.
        checked = check_error(error, "The callback's Error") if error is not None else {}
        _check_size("A callback error", len(dumps(checked).encode()))
        await self._callback_call(callback_id, _external.complete_callback, error=checked)

    @_held
    async def send_callback_heartbeat(self, callback_id: str) -> None:
        """Tell the started callback ``callback_id`` its caller is alive: push its heartbeat."""
        await self._callback_call(callback_id, _external.heartbeat_callback)

    # Chained invokes, for the runner that drives the caller.

    def set_target_resolver(self, resolver: TargetResolver | None) -> None:
        """Resolve chained-invoke targets with ``resolver`` at checkpoint time.

        A START whose target the resolver does not know comes back FAILED in the checkpoint
        response. Without a resolver every target counts as a durable function.
        """
        self._targets = resolver

    def watch_chained_invokes(self, arn: str) -> asyncio.Event:
        """Return an event that is set when the execution next starts a chained invoke."""
        return self._invokes.setdefault(arn, asyncio.Event())

    @_held
    async def pending_chained_invokes(self, arn: str) -> list[dict[str, Any]]:
        """Return the execution's started chained invokes, oldest first.

        Each is ``{"Id", "FunctionName", "Kind", "Payload", "ChildArn", "Claimed",
        "TenantId"?}``: ``Kind`` is ``"durable"`` or ``"function"`` as resolved at START,
        ``ChildArn`` the ARN a durable target runs as, ``Claimed`` whether a plain
        function target was already claimed by :meth:`claim_chained_invoke`.
        """
        rows = await self._store.waiting_operations(arn)
        return [_invokes.pending(row) for row in rows if row.type == "CHAINED_INVOKE"]

    @_held
    async def start_chained_execution(self, arn: str, operation_id: str) -> str:
        """Start the durable target of a started chained invoke and return its ARN.

        The target's name and ARN derive from the caller and the operation, so calling this
        again (after a restart) returns the same execution instead of starting another.
        """
        invoke = await self._pending_invoke(arn, operation_id)
        name, execution_id = _invokes.child_identity(arn, operation_id)
        function = invoke["FunctionName"]
        timeout = self._execution_timeout(function) if self._execution_timeout else None
        return await self._start(
            function,
            invoke["Payload"],
            name=name,
            execution_id=execution_id,
            timeout_seconds=timeout,
        )

    @_held
    async def claim_chained_invoke(self, arn: str, operation_id: str) -> bool:
        """Record that a plain function now runs for this chained invoke; False if one did.

        A runner claims before it calls the function, so a restart never calls it twice.
        """
        async with self._lock(arn):
            now = self._now_ms()
            claim = partial(_external.claim_invoke, now=now, operation_id=operation_id)
            claimed: bool = await self._transact(arn, [operation_id], now, claim)
        return claimed

    @_held
    async def complete_chained_invoke(
        self,
        arn: str,
        operation_id: str,
        status: str,
        *,
        result: str | None = None,
        error: dict[str, Any] | None = None,
    ) -> bool:
        """Record how a chained invoke's target ended: SUCCEEDED, FAILED, TIMED_OUT or STOPPED.

        Returns False, recording nothing, when the operation or its execution already ended.
        """
        result = clean_text(result) if isinstance(result, str) else result
        error = error_object(error) if error is not None else None
        async with self._lock(arn):
            now = self._now_ms()
            complete = partial(
                _external.complete_invoke,
                now=now,
                operation_id=operation_id,
                status=status,
                result=result,
                error=error,
            )
            done: bool = await self._transact(arn, [operation_id], now, complete)
        return done

    async def settle_chained_invoke(self, arn: str, operation_id: str, target_arn: str) -> bool:
        """Record the end of the durable execution ``target_arn`` on the caller's operation."""
        status, result, error = _invokes.outcome_of(await self.describe_execution(target_arn))
        return await self.complete_chained_invoke(
            arn, operation_id, status, result=result, error=error
        )

    # Reading executions.

    @_held
    async def describe_execution(self, arn: str) -> dict[str, Any]:
        """Return the execution in the GetDurableExecution shape."""
        return describe(await self._execution(arn))

    @_held
    async def get_history(
        self,
        arn: str,
        *,
        include_execution_data: bool = True,
        reverse_order: bool = False,
        marker: str | None = None,
        max_items: int | None = None,
    ) -> dict[str, Any]:
        """Return history events in the GetDurableExecutionHistory shape."""
        await self._execution(arn)
        events = await self._store.list_events(arn)
        if not include_execution_data:
            events = [redact(event) for event in events]
        if reverse_order:
            events.reverse()
        start = parse_marker(marker or "") + 1
        end = len(events) if not max_items or max_items < 1 else start + max_items
        page: Json = {"Events": events[start:end]}
        if end < len(events):
            page["NextMarker"] = str(end - 1)
        return page

    @_held
    async def list_operations(self, arn: str) -> list[dict[str, Any]]:
        """Return every operation of the execution in creation order."""
        await self._execution(arn)
        return [row.data for row in await self._store.list_operations(arn)]

    @_held
    async def list_executions(self, function_name: str | None = None) -> list[dict[str, Any]]:
        """Return summaries of every execution (of one function) in start order."""
        return [summary(record) for record in await self._store.list_executions(function_name)]

    @_held
    async def find_execution(self, function_name: str, name: str) -> str | None:
        """Return the ARN of the function's execution called ``name``, if any."""
        return await self._store.find_execution(function_name, name)

    @_held
    async def checkpoint_calls(self, arn: str) -> int:
        """Return how many checkpoint calls the execution accepted."""
        return (await self._execution(arn)).checkpoint_calls

    @_held
    async def invocations(self, arn: str) -> int:
        """Return how many invocations the execution began."""
        return (await self._execution(arn)).invocations

    @_held
    async def next_wakeup(self, arn: str) -> float | None:
        """Return when the execution next needs an invocation, in epoch seconds, if known.

        That is now when a retried step is READY or something changed that the handler has
        not seen, else the earliest pending timer; None when only an outside event (or
        nothing) can move the execution on.
        """
        execution = await self._execution(arn)
        if execution.terminal:
            return None
        waiting = await self._store.waiting_operations(arn)
        if execution.op_seq > execution.delivered_seq or any(r.status == "READY" for r in waiting):
            return self.clock.now()
        due = [row.due_ms for row in waiting if row.due_ms is not None]
        first = min(due) / 1000 if due else None
        deadline = await self.execution_deadline(arn)
        return min((t for t in (first, deadline) if t is not None), default=None)

    # Change notification.

    def watch(self, arn: str) -> asyncio.Event:
        """Return an event that is set at the execution's next change."""
        return self._changes.setdefault(arn, asyncio.Event())

    async def wait_for_change(self, arn: str, deadline: float | None = None) -> bool:
        """Wait for the execution's next change or the clock's ``deadline``; True if it changed."""
        return await wait_event_or_time(self.watch(arn), self.clock, deadline)

    # Internals.

    async def _start(
        self,
        function_name: str,
        input_payload: str | None,
        *,
        name: str | None,
        execution_id: str | None = None,
        timeout_seconds: int | None = None,
    ) -> str:
        create = partial(self._create, timeout_seconds=timeout_seconds)
        if name is None:
            return await create(function_name, input_payload, None, execution_id)
        # Only starts of the same name need to see each other: the first creates, the rest find.
        async with self._name_lock(function_name, name):
            if found := await self._store.find_execution(function_name, name):
                return found
            try:
                return await create(function_name, input_payload, name, execution_id)
            except ServiceError as exc:
                # Another process on the same store created the name between look-up and insert.
                found = await self._store.find_execution(function_name, name)
                if exc.code != "ResourceConflictException" or found is None:
                    raise
                return found

    async def _create(
        self,
        function_name: str,
        input_payload: str | None,
        name: str | None,
        execution_id: str | None,
        *,
        timeout_seconds: int | None = None,
    ) -> str:
        now = self._now_ms()
        payload = None if input_payload is None else clean_text(input_payload)
        execution, operation = new_execution(
            function_name, name, payload, now, execution_id=execution_id
        )
        started = make_event(execution, "ExecutionStarted", execution.start_ms, operation)
        started["ExecutionStartedDetails"] = {
            "Input": {"Payload": execution.input_payload, "Truncated": False}
        }
        if timeout_seconds is not None:
            started["ExecutionStartedDetails"]["ExecutionTimeout"] = timeout_seconds
            operation.meta["TimeoutAt"] = now + timeout_seconds * 1000
        await self._store.create(execution, operation, [started])
        return execution.arn

    async def _checkpoint(
        self, arn: str, token: str, updates: list[Json], client_token: str | None
    ) -> Json:
        now = self._now_ms()
        apply = partial(
            apply_call,
            now=now,
            token=token,
            updates=updates,
            client_token=client_token,
            targets=self._targets,
        )
        response: Json = await self._transact(arn, referenced_ids(updates), now, apply)
        return response

    async def _end(self, arn: str, status: str, error: Json | None) -> int:
        async with self._lock(arn):
            now = self._now_ms()
            end = partial(end_execution, now=now, status=status, error=error)
            return await self._transact(arn, [_execution_id(arn)], now, end)

    async def _page(self, arn: str, after: int, limit: int) -> Json:
        rows = await self._store.list_operations(arn, after, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        marker = str(rows[-1].position) if more else ""
        return {"Operations": [row.data for row in rows], "NextMarker": marker}

    async def _transact(
        self,
        arn: str,
        ids: Iterable[str],
        now_ms: int,
        work: Callable[[Snapshot], tuple[T, Batch | None]],
    ) -> T:
        """Run ``work`` on the execution's snapshot and commit its batch in one transaction."""

        invokes_started = False

        def run(snapshot: Snapshot | None) -> tuple[T, Changes | None]:
            nonlocal invokes_started
            if snapshot is None:
                raise not_found(arn)
            result, batch = work(snapshot)
            if batch is None:
                return result, None
            invokes_started = batch.invokes_started
            return result, batch.changes()

        result = await self._store.transact(arn, list(ids), now_ms, run)
        _notify(self._changes, arn)
        if invokes_started:
            _notify(self._invokes, arn)
        return result

    async def _callback_call(
        self,
        callback_id: str,
        work: Callable[..., tuple[ServiceError | None, Batch]],
        **kwargs: Any,
    ) -> None:
        """Run a callback call's ``work`` on its execution; raise its refusal after the commit."""
        arn, operation_id = parse_callback_id(callback_id)
        if await self._store.get_execution(arn) is None:
            raise unknown_callback(callback_id)
        async with self._lock(arn):
            now = self._now_ms()
            call = partial(
                work, now=now, callback_id=callback_id, operation_id=operation_id, **kwargs
            )
            refusal = await self._transact(arn, [operation_id], now, call)
        if refusal is not None:
            raise refusal

    async def _pending_invoke(self, arn: str, operation_id: str) -> dict[str, Any]:
        for invoke in await self.pending_chained_invokes(arn):
            if invoke["Id"] == operation_id:
                return invoke
        raise invalid(
            f"Operation {operation_id!r} of {arn!r} is not a started chained invoke; only a "
            "chained invoke that waits for its target can start one."
        )

    async def _execution(self, arn: str) -> ExecutionRecord:
        execution = await self._store.get_execution(arn)
        if execution is None:
            raise not_found(arn)
        return execution

    def _lock(self, arn: str) -> asyncio.Lock:
        lock = self._locks.get(arn)
        if lock is None:
            lock = self._locks[arn] = asyncio.Lock()
        return lock

    def _name_lock(self, function_name: str, name: str) -> asyncio.Lock:
        lock = self._name_locks.get((function_name, name))
        if lock is None:
            lock = self._name_locks[(function_name, name)] = asyncio.Lock()
        return lock

    def _hold(self) -> AbstractContextManager[None]:
        return self.clock.hold() if isinstance(self.clock, SkipClock) else nullcontext()

    def _now_ms(self) -> int:
        return round(self.clock.now() * 1000)


def _check_size(what: str, size: int) -> None:
    if size > MAX_PAYLOAD_BYTES:
        raise invalid(
            f"{what} carries at most {MAX_PAYLOAD_BYTES} bytes but this one has {size}; keep "
            "large values elsewhere and send a reference."
        )


# ExecutionTimeout's bounds in Lambda's DurableConfig: 1 second to 366 days.
_MAX_TIMEOUT_SECONDS = 31_622_400


def _check_timeout(seconds: int | None) -> None:
    if seconds is None:
        return
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        raise invalid(f"ExecutionTimeout must be a whole number of seconds, not {seconds!r}.")
    if not 1 <= seconds <= _MAX_TIMEOUT_SECONDS:
        raise invalid(
            f"ExecutionTimeout must be from 1 to {_MAX_TIMEOUT_SECONDS} seconds, got {seconds}."
        )


def _and_describe(
    work: Callable[[Snapshot], tuple[T, Batch | None]],
) -> Callable[[Snapshot], tuple[tuple[T, dict[str, Any]], Batch | None]]:
    """Make ``work`` also return the execution as its batch leaves it (GetDurableExecution)."""

    def described(snapshot: Snapshot) -> tuple[tuple[T, dict[str, Any]], Batch | None]:
        result, batch = work(snapshot)
        execution = snapshot.execution if batch is None else batch.execution
        return (result, describe(execution)), batch

    return described


def _execution_id(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def _notify(events: dict[str, asyncio.Event], arn: str) -> None:
    event = events.pop(arn, None)
    if event is not None:
        event.set()
