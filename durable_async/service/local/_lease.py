"""One driver per execution: a lease in the store that a crash releases.

A runner takes an execution's lease before it invokes it, renews it while it drives, and
releases it when it stops. Two runners (two ``durable-async run --name X``, or a run and an
HTTP service in another process) therefore never invoke one execution at once: each new
invocation would revoke the other's checkpoint token.

A lease is free once released, once expired, and at once when its holder is a process of this
host that no longer exists, so a resume right after ``kill -9`` starts without waiting for the
expiry. Lease times are wall-clock epoch seconds, whatever clock the runner drives with: other
processes must read them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol, Self

from durable_async.service import ServiceError

__all__ = [
    "LEASE_SECONDS",
    "RENEW_SECONDS",
    "ExecutionLeasedError",
    "Lease",
    "LeaseKeeper",
    "holder_after",
]

# A holder renews every RENEW_SECONDS; a lease it stopped renewing lasts LEASE_SECONDS more.
LEASE_SECONDS = 15.0
RENEW_SECONDS = 5.0
_HOST = socket.gethostname()

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Lease:
    """Who drives an execution, until when: one row of the store's lease table."""

    arn: str
    token: str
    pid: int
    host: str
    expires: float

    @classmethod
    def for_this_process(cls, arn: str) -> Self:
        """Return a new lease on ``arn`` for this process, expiring LEASE_SECONDS from now."""
        return cls(arn, uuid.uuid4().hex, os.getpid(), _HOST, time.time() + LEASE_SECONDS)

    def renewed(self) -> Lease:
        """Return this lease expiring LEASE_SECONDS from now."""
        return replace(self, expires=time.time() + LEASE_SECONDS)

    def live(self, now: float) -> bool:
        """Return True while the holder may still be driving: unexpired, and not known dead."""
        if self.expires <= now:
            return False
        return self.host != _HOST or _process_exists(self.pid)

    def describe_holder(self) -> str:
        """Return ``process PID on HOST``."""
        return f"process {self.pid} on {self.host}"


def holder_after(held: Lease | None, wanted: Lease, now: float) -> Lease:
    """Return who holds the lease once ``wanted`` asks for it while ``held`` is stored.

    The same token renews; anyone else gets the lease only when ``held`` is no longer live.
    """
    if held is None or held.token == wanted.token or not held.live(now):
        return wanted
    return held


class ExecutionLeasedError(ServiceError):
    """Another runner holds the execution's lease, so this one must not invoke it."""

    def __init__(self, holder: Lease, lost: bool = False) -> None:
        if lost:
            message = (
                f"Execution {holder.arn} was taken over by {holder.describe_holder()} after "
                "this process stopped renewing its lease (was it paused?); this process stops "
                "driving it."
            )
        else:
            message = (
                f"Execution {holder.arn} is being run by {holder.describe_holder()}; wait for "
                "it to end, or stop that process and run again with the same name to resume."
            )
        super().__init__(message, code="ResourceConflictException", retryable=False)
        self.holder = holder
        self.lost = lost

    def __reduce__(self) -> tuple[object, ...]:
        return (ExecutionLeasedError, (self.holder, self.lost))


def _process_exists(pid: int) -> bool:
    """Return False when no process ``pid`` runs on this host (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    # A killed process nobody reaped yet still answers kill(pid, 0); Linux shows its state.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    state = stat.rpartition(")")[2].split()[:1]
    return state in (["Z"], ["X"])


class LeaseStore(Protocol):
    """The part of a store the keeper uses (every ``Store`` has it)."""

    async def take_lease(self, lease: Lease) -> Lease: ...

    async def renew_leases(self, leases: Sequence[Lease]) -> None: ...

    async def release_lease(self, lease: Lease) -> None: ...


class LeaseKeeper:
    """The leases one runner holds: taken before a drive, renewed together, released after.

    One task renews every held lease each RENEW_SECONDS; it runs only while a lease is held,
    and the release of the last lease ends it.
    """

    def __init__(self, store: LeaseStore) -> None:
        self._store = store
        self._held: dict[str, Lease] = {}  # by token
        self._renewer: asyncio.Task[None] | None = None

    async def take(self, arn: str) -> Lease:
        """Take the execution's lease; raise ExecutionLeasedError naming a live holder."""
        lease = Lease.for_this_process(arn)
        holder = await self._store.take_lease(lease)
        if holder.token != lease.token:
            raise ExecutionLeasedError(holder)
        self._held[lease.token] = lease
        if self._renewer is None:
            loop = asyncio.get_running_loop()
            self._renewer = loop.create_task(self._renew(), name="renew execution leases")
        return lease

    async def confirm(self, lease: Lease) -> None:
        """Renew ``lease`` now; raise ExecutionLeasedError when another runner took it over."""
        holder = await self._store.take_lease(lease.renewed())
        if holder.token != lease.token:
            raise ExecutionLeasedError(holder, lost=True)

    async def release(self, lease: Lease) -> None:
        """Free ``lease``; stop renewing once no lease is held."""
        self._held.pop(lease.token, None)
        renewer = None
        if not self._held:
            renewer, self._renewer = self._renewer, None
        try:
            await self._store.release_lease(lease)
        finally:
            if renewer is not None:
                renewer.cancel()
                await asyncio.gather(renewer, return_exceptions=True)

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(RENEW_SECONDS)
            try:
                await self._store.renew_leases([lease.renewed() for lease in self._held.values()])
            except Exception:  # a busy store: the next renewal, or confirm, tries again
                _log.warning("Renewing execution leases failed", exc_info=True)
