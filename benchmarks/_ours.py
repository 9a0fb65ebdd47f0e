"""The workloads on durable_async, run on its DurableTestRunner (embedded local service)."""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any, TypeVar

from benchmarks._spec import Case, Sample, Store, Workload
from durable_async import (
    BatchResult,
    DurableContext,
    DurableHandler,
    StepContext,
    durable_execution,
    durable_step,
)
from durable_async.service.local import LocalDurableService, MemoryStore, SqliteStore
from durable_async.service.local.store import Changes, Snapshot
from durable_async.testing import DurableTestResult, DurableTestRunner, ExecutionStatus

__all__ = ["HANDLERS", "measure", "run_once"]

T = TypeVar("T")

# Generous: a traced 10,000-item map takes several times its untraced wall time.
_TIMEOUT_SECONDS = 900
_SQLITE_THREAD_PREFIX = "durable-sqlite"


@durable_step
async def echo(step_context: StepContext, value: int) -> int:
    """Return ``value``: a step that costs nothing, so the SDK's overhead is all there is."""
    return value


@durable_execution
async def sequential(event: dict[str, int], ctx: DurableContext) -> int:
    """Run ``n`` steps one after the other."""
    total = 0
    for i in range(event["n"]):
        total += await ctx.step(echo(i))
    return total


@durable_execution
async def gathered(event: dict[str, int], ctx: DurableContext) -> int:
    """Run ``n`` steps at once with ``asyncio.gather``."""
    return sum(await asyncio.gather(*(ctx.step(echo(i)) for i in range(event["n"]))))


async def _map_item(ctx: DurableContext, item: int, index: int, items: Sequence[int]) -> int:
    return await ctx.step(echo(item))


@durable_execution
async def mapped(event: dict[str, int], ctx: DurableContext) -> int:
    """``ctx.map`` over ``n`` items, one step each (unlimited concurrency, default completion)."""
    # Annotated: without it mypy infers the item result as Never for an async item function.
    batch: BatchResult[int] = await ctx.map(list(range(event["n"])), _map_item)
    return sum(batch.get_results())


HANDLERS: dict[Workload, DurableHandler] = {
    Workload.SEQUENTIAL: sequential,
    Workload.GATHERED: gathered,
    Workload.MAP: mapped,
}


class _MeteredMemoryStore(MemoryStore):
    """A MemoryStore that adds up the CPU its transactions take (they never yield)."""

    def __init__(self) -> None:
        super().__init__()
        self.cpu_seconds = 0.0

    async def transact(
        self,
        arn: str,
        ids: Collection[str],
        now_ms: int,
        work: Callable[[Snapshot | None], tuple[T, Changes | None]],
    ) -> T:
        start = time.thread_time()
        try:
            return await super().transact(arn, ids, now_ms, work)
        finally:
            self.cpu_seconds += time.thread_time() - start

    def meter(self) -> Callable[[], float]:
        start = self.cpu_seconds
        return lambda: self.cpu_seconds - start


class _MeteredSqliteStore(SqliteStore):
    """A SqliteStore whose CPU is that of its own thread, where every query and apply runs."""

    def meter(self) -> Callable[[], float]:
        start = _store_thread_cpu()
        if not start:
            raise RuntimeError(
                f"No thread named {_SQLITE_THREAD_PREFIX}* runs the open SqliteStore; update "
                "_SQLITE_THREAD_PREFIX in benchmarks/_ours.py to the store's thread name."
            )
        return lambda: sum(
            cpu - start.get(ident, 0.0) for ident, cpu in _store_thread_cpu().items()
        )


def _store_thread_cpu() -> dict[int, float]:
    return {
        thread.ident: time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
        for thread in threading.enumerate()
        if thread.name.startswith(_SQLITE_THREAD_PREFIX) and thread.ident is not None
    }


def _count_updates(service: LocalDurableService) -> list[int]:
    """Record the number of updates of every checkpoint call ``service`` answers."""
    sizes: list[int] = []
    checkpoint = service.checkpoint

    async def counted(
        arn: str, token: str, updates: list[dict[str, Any]], client_token: str | None = None
    ) -> dict[str, Any]:
        sizes.append(len(updates))
        return await checkpoint(arn, token, updates, client_token)

    service.checkpoint = counted  # type: ignore[method-assign]
    return sizes


async def run_once(case: Case) -> Sample:
    """Run one execution of the case's workload and measure it."""
    row = case.row
    with tempfile.TemporaryDirectory(prefix="durable-bench-", ignore_cleanup_errors=True) as folder:
        store = (
            _MeteredMemoryStore()
            if row.store is Store.MEMORY
            else _MeteredSqliteStore(Path(folder) / "durable.sqlite3")
        )
        runner = DurableTestRunner(
            HANDLERS[row.workload], store=store, checkpoint_latency=row.latency_ms / 1000
        )
        async with runner:
            sizes = _count_updates(runner.service)
            service_cpu = store.meter()
            wall, cpu = time.perf_counter(), time.process_time()
            result = await runner.run(input={"n": case.steps}, timeout=_TIMEOUT_SECONDS)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            service = service_cpu()
    _check(result, case.steps, sizes)
    return Sample(wall, cpu, service, result.checkpoint_calls, sum(sizes))


def measure(case: Case) -> Sample:
    """Run one execution on a fresh event loop."""
    return asyncio.run(run_once(case))


def _check(result: DurableTestResult, steps: int, sizes: list[int]) -> None:
    expected = steps * (steps - 1) // 2
    if result.status is not ExecutionStatus.SUCCEEDED or result.result != expected:
        raise RuntimeError(
            f"The benchmark execution ended {result.status} with {result.result!r} "
            f"(expected SUCCEEDED with {expected}); error: {result.error}."
        )
    if result.invocations != 1 or result.checkpoint_calls != len(sizes):
        raise RuntimeError(
            f"The execution took {result.invocations} invocations and {result.checkpoint_calls} "
            f"checkpoint calls ({len(sizes)} seen); the benchmark expects one invocation."
        )
