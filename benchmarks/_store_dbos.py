"""The embedded-store workloads on DBOS Transact 3.4.0 over SQLite, in this process.

DBOS runs on a fresh SQLite file per repetition, in a temporary folder, with its defaults:
SQLite's rollback journal and ``synchronous=FULL`` (SQLite's default, which DBOS keeps), so
every commit is fsync'd, as ours at ``durability="full"``. Steps and workflows are async, as
ours: a step is ``@DBOS.step() async def echo(i): return i``. The map has no DBOS primitive:
each item is a child workflow that runs one step, all started at once and awaited, which is
what DBOS documents for fan-out with durable per-item results. Nothing leaves 127.0.0.1:
DBOS's telemetry and conductor are off unless configured, and they are not.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

from dbos import DBOS

from benchmarks._store_spec import StoreCase, StoreSample, StoreWorkload

__all__ = ["measure", "pragmas"]

_NAME = "durable-bench"


@DBOS.step()
async def echo(value: int) -> int:
    """Return ``value``: a step that costs nothing."""
    return value


@DBOS.workflow()
async def sequential(n: int) -> int:
    """Run ``n`` steps one after the other."""
    total = 0
    for i in range(n):
        total += await echo(i)
    return total


@DBOS.workflow()
async def gathered(n: int) -> int:
    """Run ``n`` steps at once with ``asyncio.gather``."""
    return sum(await asyncio.gather(*(echo(i) for i in range(n))))


@DBOS.workflow()
async def item(value: int) -> int:
    """One map item: a child workflow of one step."""
    return await echo(value)


@DBOS.workflow()
async def mapped(n: int) -> int:
    """Start a child workflow per item at once and add up their results."""
    handles = await asyncio.gather(*(DBOS.start_workflow_async(item, i) for i in range(n)))
    return sum(await asyncio.gather(*(handle.get_result() for handle in handles)))


_WORKFLOWS: dict[StoreWorkload, Any] = {
    StoreWorkload.SEQUENTIAL: sequential,
    StoreWorkload.GATHERED: gathered,
    StoreWorkload.MAP: mapped,
    StoreWorkload.WORKFLOWS: sequential,
}


def _launch(path: Path) -> DBOS:
    logging.getLogger("dbos").setLevel(logging.WARNING)
    url = f"sqlite:///{path}"
    instance = DBOS(config={"name": _NAME, "system_database_url": url, "log_level": "WARNING"})
    DBOS.launch()
    return instance


async def run_once(case: StoreCase, folder: Path) -> StoreSample:
    """Run the case's workflows on a fresh DBOS database in ``folder`` and measure them."""
    workflow = _WORKFLOWS[case.workload]
    path = folder / f"dbos-{time.monotonic_ns()}.sqlite3"
    _launch(path)
    try:
        counter = _Commits(path)
        wall, cpu = time.perf_counter(), time.process_time()
        handles = await asyncio.gather(
            *(DBOS.start_workflow_async(workflow, case.steps) for _ in range(case.workflows))
        )
        results = await asyncio.gather(*(handle.get_result() for handle in handles))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        transactions = counter.commits()
    finally:
        DBOS.destroy(destroy_registry=False)
    expected = case.steps * (case.steps - 1) // 2
    if any(result != expected for result in results):
        raise RuntimeError(f"A DBOS workflow returned {results[:3]}..., expected {expected}.")
    return StoreSample(wall, cpu, 0, transactions)


class _Commits:
    """Count the write transactions DBOS committed, from the database file's change counter.

    SQLite bumps the header's file change counter (bytes 24-27) at every commit in
    rollback-journal mode, which DBOS uses.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._start = self._read()

    def _read(self) -> int:
        with self._path.open("rb") as file:
            header = file.read(28)
        return int.from_bytes(header[24:28], "big")

    def commits(self) -> int:
        return self._read() - self._start


def measure(case: StoreCase, folder: Path) -> StoreSample:
    """Run one measured repetition on a fresh event loop."""
    return asyncio.run(run_once(case, folder))


def pragmas(folder: Path) -> dict[str, str]:
    """Return the journal mode and synchronous setting of DBOS's own SQLite connection."""
    path = folder / "dbos-pragmas.sqlite3"
    instance = _launch(path)
    try:
        # A connection from DBOS's own engine: the pragmas it set on connect apply.
        with instance._sys_db.engine.connect() as connection:
            journal = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
            synchronous = connection.exec_driver_sql("PRAGMA synchronous").scalar()
    finally:
        DBOS.destroy(destroy_registry=False)
    names = {0: "off", 1: "normal", 2: "full", 3: "extra"}
    return {"journal_mode": str(journal), "synchronous": names[int(str(synchronous))]}
