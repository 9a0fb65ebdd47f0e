"""The embedded-store workloads on durable_async: a LocalRunner over a SQLite store, real clock.

Each workload starts ``workflows`` executions at once on one runner and waits for all of them;
the single-execution workloads are the case ``workflows == 1``. Nothing is in memory that
would not be on a real `durable-async run` or `serve`: the store is a SQLite file with the
durability asked for, the clock is real, and every execution is driven through its lease.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from benchmarks._ours import gathered, mapped, sequential
from benchmarks._store_spec import StoreCase, StoreSample, StoreWorkload
from durable_async import DurableHandler
from durable_async.service.local import LocalDurableService, LocalRunner, SqliteStore

__all__ = ["HANDLERS", "measure", "run_once"]

_TIMEOUT_SECONDS = 900
_FUNCTION = "bench"


HANDLERS: dict[StoreWorkload, DurableHandler] = {
    StoreWorkload.SEQUENTIAL: sequential,
    StoreWorkload.GATHERED: gathered,
    StoreWorkload.MAP: mapped,
    StoreWorkload.WORKFLOWS: sequential,
}


async def run_once(case: StoreCase, folder: Path) -> StoreSample:
    """Run the case's executions on a fresh store file in ``folder`` and measure them."""
    handler = HANDLERS[case.workload]
    store = SqliteStore(folder / f"ours-{time.monotonic_ns()}.sqlite3", durability="full")
    async with store, LocalDurableService(store) as service, LocalRunner(service) as runner:
        runner.register(_FUNCTION, _invoker(handler, service))
        payload = json.dumps({"n": case.steps})
        commits = store.commits
        wall, cpu = time.perf_counter(), time.process_time()
        arns = await asyncio.gather(
            *(runner.start(_FUNCTION, payload) for _ in range(case.workflows))
        )
        ended = await asyncio.gather(
            *(runner.wait_for_result(arn, _TIMEOUT_SECONDS) for arn in arns)
        )
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        transactions = store.commits - commits
        calls = sum([await service.checkpoint_calls(arn) for arn in arns])
    _check(ended, case.steps)
    return StoreSample(wall, cpu, calls, transactions)


def _invoker(handler: DurableHandler, service: LocalDurableService) -> Any:
    async def invoke(event: dict[str, Any]) -> dict[str, Any]:
        return await handler.invoke(event, service=service)

    return invoke


def measure(case: StoreCase, folder: Path) -> StoreSample:
    """Run one measured repetition on a fresh event loop."""
    return asyncio.run(run_once(case, folder))


def _check(ended: list[dict[str, Any]], steps: int) -> None:
    expected = json.dumps(steps * (steps - 1) // 2)
    for execution in ended:
        if execution["Status"] != "SUCCEEDED" or execution.get("Result") != expected:
            raise RuntimeError(
                f"A benchmark execution ended {execution['Status']} with "
                f"{execution.get('Result')!r} (expected SUCCEEDED with {expected}): {execution}."
            )
