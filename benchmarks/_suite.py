"""The sections `make bench` adds to the reference comparison, as jobs of measuring processes.

A job is one row on one side, measured by ``processes`` fresh interpreters (one per round of
the run, so the rows of every section interleave and a slow spell of the machine spreads over
all of them). Each process prints one JSON line; the job keeps each process's line apart, so
ratios can be taken round by round and their spread reported.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from benchmarks._fanout import FANOUT_ROWS, QUICK_FANOUT_ROWS, FanoutCase, FanoutRow
from benchmarks._http import (
    HTTP_PROCESSES,
    HTTP_ROWS,
    QUICK_HTTP_PROCESSES,
    QUICK_HTTP_ROWS,
    HttpCase,
    HttpRow,
)
from benchmarks._store_spec import (
    QUICK_STORE_ROWS,
    STORE_ROWS,
    StoreCase,
    StoreRow,
    StoreSide,
    StoreWorkload,
)

__all__ = ["Job", "jobs"]

# Processes per store row and side, and repetitions per process, by workload size.
_STORE_PROCESSES, _QUICK_STORE_PROCESSES = 3, 1


@dataclass(eq=False)
class Job:
    """A row on one side; ``lines`` collects each measuring process's JSON line, by round."""

    section: str
    label: str
    module: str
    payload: str
    processes: int
    row: object
    side: str = ""
    lines: list[str] = field(default_factory=list)
    failure: str | None = None

    def command(self) -> list[str]:
        return [sys.executable, "-m", self.module, self.payload]


def _store_repetitions(row: StoreRow, side: StoreSide, quick: bool) -> int:
    if quick:
        return 1
    # DBOS takes 10 to 60 s on the largest rows: one timed repetition per process there.
    if side is StoreSide.DBOS and (row.units >= 1_000 or row.workload is StoreWorkload.MAP):
        return 1
    return 3 if row.units <= 1_000 else 2


def _store_jobs(quick: bool) -> list[Job]:
    rows: Sequence[StoreRow] = QUICK_STORE_ROWS if quick else STORE_ROWS
    processes = _QUICK_STORE_PROCESSES if quick else _STORE_PROCESSES
    return [
        Job(
            "store",
            f"{row.id} / {side}",
            "benchmarks._store_measure",
            StoreCase(side, row, _store_repetitions(row, side, quick)).to_json(),
            processes,
            row,
            str(side),
        )
        for row in rows
        for side in row.sides
    ]


def _fanout_jobs(quick: bool) -> list[Job]:
    rows: Sequence[FanoutRow] = QUICK_FANOUT_ROWS if quick else FANOUT_ROWS
    return [
        Job(
            "fanout",
            row.id,
            "benchmarks._fanout",
            FanoutCase(row).to_json(),
            row.processes,
            row,
            "ours",
        )
        for row in rows
    ]


def _http_jobs(quick: bool) -> list[Job]:
    rows: Sequence[HttpRow] = QUICK_HTTP_ROWS if quick else HTTP_ROWS
    processes = QUICK_HTTP_PROCESSES if quick else HTTP_PROCESSES
    return [
        Job("http", row.id, "benchmarks._http", HttpCase(row).to_json(), processes, row, row.sdk)
        for row in rows
    ]


def jobs(sections: Sequence[str], quick: bool) -> list[Job]:
    """Return the jobs of ``sections`` (store, fanout, http) in the order a round runs them."""
    made = {"store": _store_jobs, "fanout": _fanout_jobs, "http": _http_jobs}
    return [job for section in sections if section in made for job in made[section](quick)]
