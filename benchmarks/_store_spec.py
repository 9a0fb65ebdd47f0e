"""The embedded store against DBOS: workloads, cases, and what one measuring process returns."""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum

__all__ = [
    "STORE_ROWS",
    "QUICK_STORE_ROWS",
    "StoreCase",
    "StoreMeasurement",
    "StoreResult",
    "StoreRow",
    "StoreSample",
    "StoreSide",
    "StoreWorkload",
]


class StoreSide(StrEnum):
    OURS = "ours"
    DBOS = "dbos"


class StoreWorkload(StrEnum):
    SEQUENTIAL = "sequential"  # one execution of n steps in a row
    GATHERED = "gathered"  # one execution of n steps at once
    MAP = "map"  # one execution mapping over n items (DBOS: a child workflow per item)
    WORKFLOWS = "workflows"  # w executions of n sequential steps, started at once


@dataclass(frozen=True, slots=True)
class StoreRow:
    """One workload at one size: ``workflows`` executions of ``steps`` steps (or items) each.

    ``target`` is the issue's target for our speed over DBOS's (wall time), None without one.
    ``sides`` lists who runs it: a size DBOS would take many minutes for is ours alone.
    """

    workload: StoreWorkload
    steps: int
    workflows: int = 1
    target: float | None = None
    sides: tuple[StoreSide, ...] = (StoreSide.OURS, StoreSide.DBOS)

    @property
    def id(self) -> str:
        if self.workload is StoreWorkload.WORKFLOWS:
            return f"store-{self.workflows}x{self.steps}"
        return f"store-{self.workload}-{self.steps}"

    @property
    def title(self) -> str:
        if self.workload is StoreWorkload.WORKFLOWS:
            return f"{self.workflows:,} workflows x {self.steps} steps"
        noun = {"sequential": "sequential steps", "gathered": "gathered steps"}
        return f"{self.steps:,} {noun.get(self.workload, 'map items')}"

    @property
    def units(self) -> int:
        """Steps (or items) the row runs in all."""
        return self.steps * self.workflows


_BOTH = (StoreSide.OURS, StoreSide.DBOS)
_OURS = (StoreSide.OURS,)

STORE_ROWS = (
    StoreRow(StoreWorkload.SEQUENTIAL, 200, target=4.0),
    StoreRow(StoreWorkload.GATHERED, 1_000, target=30.0),
    StoreRow(StoreWorkload.MAP, 1_000, target=15.0),
    StoreRow(StoreWorkload.MAP, 10_000, sides=_OURS),
    StoreRow(StoreWorkload.WORKFLOWS, 3, 100, target=5.0),
    StoreRow(StoreWorkload.WORKFLOWS, 3, 1_000, target=5.0),
)
QUICK_STORE_ROWS = (
    StoreRow(StoreWorkload.SEQUENTIAL, 50, target=4.0),
    StoreRow(StoreWorkload.GATHERED, 200, target=30.0),
    StoreRow(StoreWorkload.MAP, 100, target=15.0),
    StoreRow(StoreWorkload.WORKFLOWS, 3, 30, target=5.0),
)


@dataclass(frozen=True, slots=True)
class StoreCase:
    """One row on one side, as handed to a measuring subprocess."""

    side: StoreSide
    row: StoreRow
    repetitions: int

    @property
    def workload(self) -> StoreWorkload:
        return self.row.workload

    @property
    def steps(self) -> int:
        return self.row.steps

    @property
    def workflows(self) -> int:
        return self.row.workflows

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> StoreCase:
        data = json.loads(text)
        row = data["row"]
        return cls(
            StoreSide(data["side"]),
            StoreRow(
                StoreWorkload(row["workload"]),
                row["steps"],
                row["workflows"],
                row["target"],
                tuple(StoreSide(side) for side in row["sides"]),
            ),
            data["repetitions"],
        )


@dataclass(frozen=True, slots=True)
class StoreSample:
    """One repetition: wall and process CPU seconds, checkpoint calls, SQLite transactions.

    ``calls`` is ours only (DBOS has no checkpoint call: each step is its own transaction).
    """

    wall: float
    cpu: float
    calls: int
    transactions: int


@dataclass(frozen=True, slots=True)
class StoreMeasurement:
    """What one measuring process sends back: its samples and its resident-set peak growth."""

    samples: list[StoreSample]
    rss_growth_bytes: int | None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> StoreMeasurement:
        data = json.loads(text)
        return cls([StoreSample(**s) for s in data["samples"]], data["rss_growth_bytes"])


@dataclass(frozen=True, slots=True)
class StoreResult:
    """A side's figures for a row: medians, and every sample's wall for the spread."""

    walls: list[float]
    cpu: float
    calls: float
    transactions: float
    rss_growth_bytes: float | None

    @property
    def wall(self) -> float:
        return statistics.median(self.walls)

    @classmethod
    def of(cls, measurements: Sequence[StoreMeasurement]) -> StoreResult:
        samples = [s for m in measurements for s in m.samples]
        rss = [m.rss_growth_bytes for m in measurements if m.rss_growth_bytes is not None]
        return cls(
            walls=[s.wall for s in samples],
            cpu=statistics.median(s.cpu for s in samples),
            calls=statistics.median(s.calls for s in samples),
            transactions=statistics.median(s.transactions for s in samples),
            rss_growth_bytes=statistics.median(rss) if rss else None,
        )
