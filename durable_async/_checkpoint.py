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
from collections.abc import Awaitable, Callable
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
    """A context as the checkpointer sees it: once completed, its descendants may not checkpoint."""

    __slots__ = ("completed", "parent")

    def __init__(self, parent: Scope | None = None) -> None:
        self.parent = parent
        self.completed = False

    def is_orphaned(self) -> bool:
        """Whether this scope or any ancestor has completed."""
        scope: Scope | None = self
        while scope is not None:
            if scope.completed:
                return True
            scope = scope.parent
        return False


@dataclass(slots=True)
class _Record:
    update: Wire | None  # None for a refresh or a barrier
    size: int
    future: asyncio.Future[None] | None
    scope: Scope | None
    refresh: bool = False


_STOP = _Record(None, 0, None, None)


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
    records: list[_Record] = field(default_factory=list)
    count: int = 0
    size: int = 0
    urgent: bool = False

    def fits(self, record: _Record, config: CheckpointBatcherConfig) -> bool:
        if record.update is None:
            return True
        return (
            self.count < config.max_batch_operations
            and self.size + record.size <= config.max_batch_size_bytes
        )

    def full(self, config: CheckpointBatcherConfig) -> bool:
        return self.count >= config.max_batch_operations

    def add(self, record: _Record) -> None:
        self.records.append(record)
        if record.update is not None:
            self.count += 1
            self.size += record.size + 1
        if record.future is not None:
            self.urgent = True


class Checkpointer:
    """Batches checkpoint records and sends them, strictly one request at a time."""

    def __init__(
        self,
        service: DurableService,
        arn: str,
        token: str,
        *,
        merge: Callable[[list[Wire]], None],
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
        self._refresh: asyncio.Future[None] | None = None
        self._failure: BaseException | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.stats = CheckpointStats()

    # -- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> Checkpointer:
        self._task = asyncio.create_task(self._flush_forever(), name=f"checkpointer {self._arn}")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Send everything queued, then stop the flusher."""
        if self._task is None:
            return
        self._closed = True
        self._put(_STOP)
        task, self._task = self._task, None
        await task

    @property
    def token(self) -> str | None:
        """The current checkpoint token; None once the service has ended checkpointing."""
        return self._token

    @property
    def failure(self) -> BaseException | None:
        """The error that ended checkpointing, if any."""
        return self._failure

    # -- enqueueing -----------------------------------------------------------------------

    def enqueue(
        self, update: Wire, *, blocking: bool = False, scope: Scope | None = None
    ) -> asyncio.Future[None] | None:
        """Queue ``update``; return a future resolved once it is persisted when ``blocking``."""
        if scope is not None and scope.is_orphaned():
            raise Orphaned(f"operation {update.get('Id')} belongs to a completed context")
        self._raise_if_ended()
        size = _size_of(update)
        future = asyncio.get_running_loop().create_future() if blocking else None
        self._put(_Record(update, size, future, scope))
        return future

    async def send(self, update: Wire, *, scope: Scope | None = None) -> None:
        """Queue ``update`` and wait until the service has persisted it."""
        future = self.enqueue(update, blocking=True, scope=scope)
        assert future is not None
        await future

    async def refresh(self) -> None:
        """Wait for a checkpoint call made after now; concurrent refreshes share one call."""
        self._raise_if_ended()
        if self._refresh is None:
            self._refresh = asyncio.get_running_loop().create_future()
            self._put(_Record(None, 0, self._refresh, None, refresh=True))
        await self._refresh

    async def drain(self) -> None:
        """Wait until everything queued so far has been answered; adds no call of its own."""
        if self._task is None or self._task.done():
            return
        barrier = asyncio.get_running_loop().create_future()
        self._put(_Record(None, 0, barrier, None))
        await asyncio.wait([barrier])

    def _put(self, record: _Record) -> None:
        self._queue.put_nowait(record)
        self._wakeup.set()  # a lingering flusher looks at every arrival

    def _raise_if_ended(self) -> None:
        if self._closed:
            raise Suspend("this invocation has ended; the operation will run on replay")
        if self._failure is not None:
            raise self._failure
        if self._token is None:
            raise Suspend("checkpointing has ended for this invocation")

    # -- the flusher ----------------------------------------------------------------------

    async def _flush_forever(self) -> None:
        carry: _Record | None = None
        try:
            while carry is not _STOP:
                record = carry if carry is not None else await self._queue.get()
                if record is _STOP:
                    return
                batch = _Batch()
                batch.add(record)
                carry = await self._assemble(batch)
                await self._send(batch)
        finally:
            self._fail(
                CheckpointError("The checkpointer has stopped.", retryable=True), final=False
            )

    async def _assemble(self, batch: _Batch) -> _Record | None:
        """Fill ``batch``; return a record that did not fit (it starts the next batch)."""
        carry = self._take(batch)
        if carry is None and not batch.urgent:
            carry = await self._linger(batch)
        if carry is None and batch.urgent:
            # Let every task that is ready run once, so siblings finishing together share a call.
            await asyncio.sleep(0)
            carry = self._take(batch)
        return carry

    def _take(self, batch: _Batch) -> _Record | None:
        """Move queued records into ``batch`` until one does not fit; return that one."""
        while not self._queue.empty():
            record = self._queue.get_nowait()
            if record.future is not None and record.future is self._refresh:
                self._refresh = None  # later refreshes need a later call
            if record is _STOP or not batch.fits(record, self._config):
                return record
            batch.add(record)
        return None

    async def _linger(self, batch: _Batch) -> _Record | None:
        """Wait up to max_batch_time for company: until the batch is full or somebody waits."""
        self.stats.lingers += 1
        try:
            async with asyncio.timeout(self._config.max_batch_time_seconds):
                while True:
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    carry = self._take(batch)
                    if carry is not None or batch.urgent or batch.full(self._config):
                        return carry
        except TimeoutError:
            self.stats.lingers_expired += 1
            return self._take(batch)

    async def _send(self, batch: _Batch) -> None:
        records = self._drop_orphans(batch.records)
        updates = [r.update for r in records if r.update is not None]
        if not updates and not any(r.refresh for r in records):
            self._settle(records, None)  # only barriers: everything before them is answered
            return
        if self._failure is not None or self._token is None:
            self._settle(records, self._failure or Suspend("checkpointing has ended"))
            return
        try:
            response = await self._service.checkpoint(self._arn, self._token, updates)
            await self._absorb(response)
        except ServiceError as exc:
            self._fail(CheckpointError(_describe(exc), retryable=exc.retryable, code=exc.code))
        except Exception as exc:  # a transport or backend fault: let the service retry
            self._fail(CheckpointError(f"The checkpoint call failed: {exc!r}.", retryable=True))
        except asyncio.CancelledError:
            self._settle(
                records, CheckpointError("The checkpoint call was cancelled.", retryable=True)
            )
            raise
        finally:
            self.stats.calls += 1
            self.stats.updates += len(updates)
            self.stats.batch_sizes.append(len(updates))
        self._settle(records, self._failure)

    async def _absorb(self, response: Wire) -> None:
        state = response.get("NewExecutionState") or {}
        self._merge(state.get("Operations") or [])
        marker = state.get("NextMarker")
        token = response.get("CheckpointToken")
        while marker and token and self._page is not None:
            page = await self._page(token, marker)
            self._merge(page.get("Operations") or [])
            marker = page.get("NextMarker")
        self._token = token

    def _drop_orphans(self, records: list[_Record]) -> list[_Record]:
        kept = []
        for record in records:
            if record.scope is not None and record.scope.is_orphaned():
                _settle_one(record, Orphaned("the operation's context has completed"))
            else:
                kept.append(record)
        return kept

    def _fail(self, error: CheckpointError, *, final: bool = True) -> None:
        """Fail every queued waiter; with ``final``, every later one too."""
        if final:
            self._failure = error
        while not self._queue.empty():
            _settle_one(self._queue.get_nowait(), self._failure or error)

    def _settle(self, records: list[_Record], error: BaseException | None) -> None:
        for record in records:
            _settle_one(record, error)


def _settle_one(record: _Record, error: BaseException | None) -> None:
    future = record.future
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


# One encoder for every update: json.dumps with non-default options builds a new one per call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _size_of(update: Wire) -> int:
    if update.get("Type") != "EXECUTION":
        check_payload_size(update.get("Payload"), update.get("Name") or update["Id"])
    text = _ENCODER.encode(update)
    return len(text) if text.isascii() else len(text.encode())


def _describe(exc: ServiceError) -> str:
    kind = "retryable" if exc.retryable else "not retryable"
    return f"The checkpoint call was refused ({exc.code}, {kind}): {exc.message}"
