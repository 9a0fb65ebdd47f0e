"""The checkpointer: batches OperationUpdates on the event loop, one request in flight.

Operations put records on one ``asyncio.Queue``; one flusher task drains it into batches and is
the only caller of ``DurableService.checkpoint``. A record somebody awaits (a blocking update or a
refresh) makes its batch go out as soon as the loop has run every task that was ready; only a
batch of non-blocking updates lingers, up to ``max_batch_time_seconds``, for company. Whatever
arrives while a request is in flight forms the next batch (group commit).
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from durable_async._signals import Orphaned, Suspend
from durable_async.config import CheckpointBatcherConfig
from durable_async.exceptions import CheckpointError, ValidationError
from durable_async.service import DurableService, ServiceError

__all__ = ["CheckpointStats", "Checkpointer", "Scope", "check_payload_size"]

Wire = dict[str, Any]
MAX_PAYLOAD_BYTES = 256 * 1024


class Scope:
    """A context as the checkpointer sees it.

    A scope is *completed* the moment its context's SUCCEED/FAIL update is created: from then on
    nothing of its descendants is sent, queued or not. A scope is *abandoned* when a map or
    parallel reached its completion policy without it: no operation starts in it any more, but
    one already running (a step body) still records its outcome, so it no longer follows its
    ancestors' completion.
    """

    __slots__ = ("abandoned", "completed", "parent")

    def __init__(self, parent: Scope | None = None) -> None:
        self.parent = parent
        self.completed = False
        self.abandoned = False

    def complete(self) -> None:
        """Mark the context completed: its descendants may not checkpoint any more."""
        self.completed = True

    def abandon(self) -> None:
        """Refuse new operations here; let running ones record, whatever the ancestors do."""
        self.abandoned = True
        self.parent = None

    def is_orphaned(self) -> bool:
        """Whether this scope or any ancestor has completed (nothing of it may be sent)."""
        scope: Scope | None = self
        while scope is not None:
            if scope.completed:
                return True
            scope = scope.parent
        return False

    def is_closed(self) -> bool:
        """Whether no new operation may start here (orphaned or abandoned)."""
        scope: Scope | None = self
        while scope is not None:
            if scope.completed or scope.abandoned:
                return True
            scope = scope.parent
        return False


# The records on the queue, one type per kind, so no path can mistake one kind for another.


@dataclass(slots=True)
class _Update:
    """An operation update; ``future`` is set when somebody waits until it is persisted."""

    body: Wire
    size: int
    future: asyncio.Future[None] | None
    scope: Scope | None


@dataclass(slots=True)
class _Refresh:
    """A request for a call made after it was asked; shared by every refresh asked meanwhile."""

    future: asyncio.Future[None]


@dataclass(slots=True)
class _Barrier:
    """Resolves once everything queued before it is answered; makes no call of its own."""

    future: asyncio.Future[None]


class _Stop:
    """Send what is queued before it, then stop the flusher."""


_Record = _Update | _Refresh | _Barrier | _Stop
_STOP = _Stop()


@dataclass
class CheckpointStats:
    """What the checkpointer did, for tests and benchmarks."""

    calls: int = 0
    updates: int = 0
    batch_sizes: list[int] = field(default_factory=list)
    lingers: int = 0
    lingers_expired: int = 0


@dataclass(slots=True)
class _Batch:
    """Records for one call; ``size`` is the encoded ``Updates`` array, brackets and commas
    (each ", ": the body is measured as botocore writes it, as the reference SDK measures it).
    """

    limit_bytes: int
    limit_count: int
    records: list[_Record] = field(default_factory=list)
    updates: list[_Update] = field(default_factory=list)
    size: int = 2  # "[]"
    urgent: bool = False
    refresh: bool = False
    stop: bool = False

    def fits(self, record: _Record) -> bool:
        if not isinstance(record, _Update) or not self.updates:
            return True  # an update too large for any batch goes alone; the service judges it
        return (
            len(self.updates) < self.limit_count and self.size + 2 + record.size <= self.limit_bytes
        )

    def full(self) -> bool:
        return len(self.updates) >= self.limit_count

    def add(self, record: _Record) -> None:
        self.records.append(record)
        if isinstance(record, _Update):
            self.size += record.size + (2 if self.updates else 0)
            self.updates.append(record)
            self.urgent = self.urgent or record.future is not None
        elif isinstance(record, _Stop):
            self.stop = self.urgent = True
        else:
            self.refresh = self.refresh or isinstance(record, _Refresh)
            self.urgent = True


class Checkpointer:
    """Batches checkpoint records and sends them, strictly one request at a time."""

    def __init__(
        self,
        service: DurableService,
        arn: str,
        token: str,
        *,
        merge: Callable[[list[Wire], Collection[str]], None],
        config: CheckpointBatcherConfig | None = None,
        page: Callable[[str, str], Awaitable[Wire]] | None = None,
    ) -> None:
        self._service = service
        self._arn = arn
        self._token: str | None = token
        self._merge = merge
        self._page = page
        self._config = config or CheckpointBatcherConfig()
        self._queue: asyncio.Queue[_Record] = asyncio.Queue()
        self._wakeup = asyncio.Event()
        # The refresh record still on the queue, which later refreshes join.
        self._refresh: _Refresh | None = None
        # Tasks waiting in make_room for the queue to hold less than a batch, first come first.
        self._room_waiters: deque[asyncio.Future[None]] = deque()
        # Why checkpointing ended: a CheckpointError, or Suspend once the service sent no token.
        self._ended: BaseException | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._state_read = True
        self.stats = CheckpointStats()

    # -- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> Checkpointer:
        self._task = asyncio.create_task(self._flush_forever(), name=f"checkpointer {self._arn}")
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        if exc_type is not None and issubclass(exc_type, asyncio.CancelledError):
            await self.abort()
        else:
            await self.close()

    async def close(self) -> None:
        """Send everything queued, then stop the flusher; if cancelled meanwhile, abort."""
        if self._task is None:
            return
        self._closed = True
        self._put(_STOP)
        try:
            await asyncio.shield(self._task)
        except asyncio.CancelledError:
            await self.abort()
            raise
        self._task = None

    async def abort(self) -> None:
        """Stop at once: cancel a call in flight and fail every waiter (retryably)."""
        self._closed = True
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        await asyncio.wait([task])

    @property
    def token(self) -> str | None:
        """The current checkpoint token; None once the service has ended checkpointing."""
        return self._token

    @property
    def failure(self) -> CheckpointError | None:
        """The CheckpointError that ended checkpointing, if a call failed."""
        return self._ended if isinstance(self._ended, CheckpointError) else None

    @property
    def suspended(self) -> bool:
        """Whether the service ended checkpointing by answering without a token."""
        return isinstance(self._ended, Suspend)

    # -- enqueueing -----------------------------------------------------------------------

    def enqueue(
        self, update: Wire, *, blocking: bool = False, scope: Scope | None = None
    ) -> asyncio.Future[None] | None:
        """Queue ``update``; return a future resolved once it is persisted when ``blocking``."""
        if scope is not None and scope.is_orphaned():
            op_id = str(update.get("Id"))
            raise Orphaned(f"operation {op_id} belongs to a completed context", op_id)
        self._raise_if_ended()
        size = _size_of(update)
        future = asyncio.get_running_loop().create_future() if blocking else None
        self._put(_Update(update, size, future, scope))
        return future

    async def send(self, update: Wire, *, scope: Scope | None = None) -> None:
        """Queue ``update`` and wait until the service has persisted it."""
        future = self.enqueue(update, blocking=True, scope=scope)
        assert future is not None
        await future

    def state_unread(self) -> None:
        """Nobody reads the execution's state from now on (the handler has ended).

        Later responses update only the token: the operations they carry, perhaps thousands
        in the response that answers the last batch, are not parsed.
        """
        self._state_read = False

    async def make_room(self) -> None:
        """Wait while a full batch is already queued, so it leaves before more is queued.

        Called first by operations that many tasks start at once (gathered steps): without it,
        every task queues its update before the flusher runs even once, and the first call
        leaves only after the last task started. Waiters are let in first come, first served,
        as many as the queue has room for, when the flusher takes a batch.
        """
        if self._queue.qsize() < self._config.max_batch_operations and not self._room_waiters:
            return
        if self._closed or self._ended is not None or self._task is None or self._task.done():
            return  # nothing will take the queue: enqueueing says why
        waiter = asyncio.get_running_loop().create_future()
        self._room_waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            self._let_in()  # pass on the room this waiter may have been given
            raise

    def _let_in(self) -> None:
        """Wake as many make_room waiters as the queue has room for (all once it stops)."""
        stopped = self._closed or self._ended is not None
        room = self._config.max_batch_operations - self._queue.qsize()
        while self._room_waiters and (room > 0 or stopped):
            waiter = self._room_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                room -= 1

    async def refresh(self) -> None:
        """Wait for a checkpoint call made after now; concurrent refreshes share one call."""
        self._raise_if_ended()
        if self._refresh is None:
            self._refresh = _Refresh(asyncio.get_running_loop().create_future())
            self._put(self._refresh)
        # Shielded: a waiter that is cancelled must not cancel the others' shared future.
        await asyncio.shield(self._refresh.future)

    async def drain(self) -> None:
        """Wait until everything queued so far has been answered; adds no call of its own."""
        if self._task is None or self._task.done():
            return
        barrier = _Barrier(asyncio.get_running_loop().create_future())
        self._put(barrier)
        await asyncio.wait([barrier.future])

    def _put(self, record: _Record) -> None:
        self._queue.put_nowait(record)
        self._wakeup.set()  # a lingering flusher looks at every arrival

    def _raise_if_ended(self) -> None:
        if self._closed:
            raise Suspend("this invocation has ended; the operation will run on replay")
        if self._ended is not None:
            raise self._ended

    # -- the flusher ----------------------------------------------------------------------

    async def _flush_forever(self) -> None:
        batch: _Batch | None = None
        carry: _Record | None = None
        try:
            while True:
                batch = self._new_batch()
                batch.add(carry if carry is not None else self._taken(await self._queue.get()))
                carry = None
                carry = await self._assemble(batch)
                await self._send(batch)
                if batch.stop:
                    return
        finally:
            # Stopped early (cancelled): whatever was not answered is settled, never left hanging.
            error = self._ended or CheckpointError("The checkpointer has stopped.", retryable=True)
            unsent = [*(batch.records if batch is not None else ()), *([carry] if carry else ())]
            while not self._queue.empty():
                unsent.append(self._queue.get_nowait())
            self._let_in()
            for record in unsent:
                _settle_one(record, error)

    def _new_batch(self) -> _Batch:
        # The request body is {"CheckpointToken": "<token>", "Updates": [...]}.
        envelope = len('{"CheckpointToken": , "Updates": }') + _encoded_size(self._token or "")
        config = self._config
        return _Batch(config.max_batch_size_bytes - envelope, config.max_batch_operations)

    def _taken(self, record: _Record) -> _Record:
        """Note that ``record`` left the queue: a later refresh needs a later call."""
        if record is self._refresh:
            self._refresh = None
        return record

    async def _assemble(self, batch: _Batch) -> _Record | None:
        """Fill ``batch``; return a record that did not fit (it starts the next batch)."""
        carry = self._take(batch)
        if carry is None and not batch.urgent and not batch.full():
            carry = await self._linger(batch)
        if carry is None and batch.urgent and not batch.stop and not self._first_full(batch):
            # Let every task that is ready run once, so siblings finishing together share a call
            # and those an answer woke queue what they do next before the service is busy again.
            await asyncio.sleep(0)
            carry = self._take(batch)
        return carry

    def _first_full(self, batch: _Batch) -> bool:
        """Whether ``batch`` is full and the first: the service is idle, no answer woke anyone,
        and the tasks that would run first (a thousand gathered steps) can queue nothing more.
        """
        return batch.full() and self.stats.calls == 0

    def _take(self, batch: _Batch) -> _Record | None:
        """Move queued records into ``batch`` until one does not fit or a stop; return that one."""
        try:
            while not batch.stop and not self._queue.empty():
                record = self._taken(self._queue.get_nowait())
                if not batch.fits(record):
                    return record
                batch.add(record)
            return None
        finally:
            if self._room_waiters:
                self._let_in()

    async def _linger(self, batch: _Batch) -> _Record | None:
        """Wait up to max_batch_time for company: until the batch is full or somebody waits."""
        self.stats.lingers += 1
        try:
            async with asyncio.timeout(self._config.max_batch_time_seconds):
                while True:
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    carry = self._take(batch)
                    if carry is not None or batch.urgent or batch.full():
                        return carry
        except TimeoutError:
            self.stats.lingers_expired += 1
            return self._take(batch)

    async def _send(self, batch: _Batch) -> None:
        updates = [u.body for u in self._keep_live(batch.updates)]
        if self._ended is not None:
            self._settle(batch.records, self._ended)
            return
        if not updates and not batch.refresh:
            self._settle(batch.records, None)  # barriers: everything before them is answered
            return
        try:
            response = await self._service.checkpoint(self._arn, self._token or "", updates)
            outcome = await self._absorb(response, updates)
        except ServiceError as exc:
            outcome = self._end(
                CheckpointError(_describe(exc), retryable=exc.retryable, code=exc.code)
            )
        except Exception as exc:  # a transport or backend fault: let the service retry
            message = f"The checkpoint call failed: {exc!r}."
            outcome = self._end(CheckpointError(message, retryable=True))
        except asyncio.CancelledError:
            cancelled = CheckpointError("The checkpoint call was cancelled.", retryable=True)
            self._settle(batch.records, cancelled)
            raise
        finally:
            self.stats.calls += 1
            self.stats.updates += len(updates)
            self.stats.batch_sizes.append(len(updates))
        self._settle(batch.records, outcome)

    async def _absorb(self, response: Wire, updates: list[Wire]) -> BaseException | None:
        """Merge the response's state (every page of it), then take its token.

        Return what this batch's waiters get when the response ends checkpointing: nothing when
        the batch carried the execution's own end (it is recorded), Suspend otherwise.
        """
        state = response.get("NewExecutionState") or {}
        token = response.get("CheckpointToken")
        if self._state_read:
            settled = {u["Id"] for u in updates if u.get("Action") in _ENDING}
            self._merge(state.get("Operations") or [], settled)
            marker = state.get("NextMarker")
            while marker and token and self._page is not None:
                page = await self._page(token, marker)
                self._merge(page.get("Operations") or [], settled)
                marker = page.get("NextMarker")
        self._token = token
        if token:
            return None
        if any(update.get("Type") == "EXECUTION" for update in updates):
            self._end(Orphaned("the execution has completed; nothing more is checkpointed"))
            return None
        return self._end(Suspend("the service ended checkpointing for this invocation"))

    def _end(self, reason: BaseException) -> BaseException:
        """End checkpointing for ``reason``; every later record and caller gets it."""
        self._ended = reason
        return reason

    def _keep_live(self, updates: list[_Update]) -> list[_Update]:
        """Drop (and settle) updates whose context completed after they were queued."""
        live = []
        for update in updates:
            if update.scope is not None and update.scope.is_orphaned():
                op_id = str(update.body.get("Id"))
                _settle_one(update, Orphaned("the operation's context has completed", op_id))
            else:
                live.append(update)
        return live

    def _settle(self, records: list[_Record], error: BaseException | None) -> None:
        for record in records:
            _settle_one(record, error)


def _settle_one(record: _Record, error: BaseException | None) -> None:
    future = getattr(record, "future", None)
    if future is None or future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
        # Its awaiter (if still there) gets the error; one that was cancelled must not log it.
        future.exception()


def check_payload_size(payload: str | None, label: str) -> None:
    """Raise ValidationError when ``payload`` is over the service's 256 KB per operation."""
    if payload is None or len(payload) <= MAX_PAYLOAD_BYTES // 4:
        return  # at most 4 UTF-8 bytes a character: certainly small enough
    size = len(payload.encode())
    if size > MAX_PAYLOAD_BYTES:
        raise ValidationError(
            f"Operation {label} has a payload of {size} bytes; the limit is {MAX_PAYLOAD_BYTES} "
            "bytes. Return less data from the operation, or store it elsewhere and return a "
            "reference to it."
        )


# The actions that end an operation: the invocation that sends one never reads it again.
_ENDING = frozenset({"SUCCEED", "FAIL"})

# The JSON of the request body as botocore writes it (json.dumps with every default: ", " and
# ": ", non-ASCII escaped), which is what the reference SDK measures its batches by too. Its
# text is ASCII, so its length is its size in bytes.
_ENCODER = json.JSONEncoder()


def _size_of(update: Wire) -> int:
    if update.get("Type") != "EXECUTION":
        check_payload_size(update.get("Payload"), update.get("Name") or update["Id"])
    return len(_ENCODER.encode(update))


def _encoded_size(text: str) -> int:
    """Bytes of ``text`` as a JSON string in a request body: quoted and escaped."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return len(text) + 2  # the common case (tokens), without encoding it
    return len(_ENCODER.encode(text))


def _describe(exc: ServiceError) -> str:
    kind = "retryable" if exc.retryable else "not retryable"
    return f"The checkpoint call was refused ({exc.code}, {kind}): {exc.message}"
