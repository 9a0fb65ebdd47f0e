"""What a benchmark row is, how it is measured, and what one measuring process sends back."""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum

__all__ = [
    "MAP_SIZES",
    "QUICK_MAP_SIZES",
    "ROWS",
    "Case",
    "Measurement",
    "Plan",
    "Result",
    "Row",
    "Sample",
    "Sdk",
    "Store",
    "Workload",
    "map_row",
]


class Sdk(StrEnum):
    OURS = "ours"
    REFERENCE = "reference"


class Workload(StrEnum):
    SEQUENTIAL = "sequential"
    GATHERED = "gathered"
    MAP = "map"


class Store(StrEnum):
    MEMORY = "memory"
    SQLITE = "sqlite"


@dataclass(frozen=True, slots=True)
class Row:
    """One line of a table: a workload on a store behind an injected latency.

    ``size`` fixes the row's N (items of a map); without it the row takes the run's N.
    """

    workload: Workload
    store: Store
    latency_ms: float
    size: int | None = None

    @property
    def id(self) -> str:
        base = f"{self.workload}-{self.store}-{self.latency_ms:g}ms"
        return base if self.size is None else f"{base}-n{self.size}"


def map_row(size: int) -> Row:
    """The like-for-like map row: ``size`` items of one step each, in memory, 0 ms."""
    return Row(Workload.MAP, Store.MEMORY, 0, size)


# Map sizes of a full run and of a quick one.
MAP_SIZES = (1_000, 10_000)
QUICK_MAP_SIZES = (200,)

ROWS = (
    Row(Workload.SEQUENTIAL, Store.MEMORY, 0),
    Row(Workload.SEQUENTIAL, Store.MEMORY, 10),
    Row(Workload.GATHERED, Store.MEMORY, 0),
    Row(Workload.GATHERED, Store.MEMORY, 10),
    Row(Workload.SEQUENTIAL, Store.SQLITE, 0),
    *(map_row(size) for size in MAP_SIZES),
)


@dataclass(frozen=True, slots=True)
class Plan:
    """How one row and side is measured.

    ``processes`` fresh processes each run ``repetitions`` timed executions, after a full-size
    warm-up when ``warm_up`` (else the first timed execution is the process's first full-size
    one). The first ``traced`` processes also run one execution under tracemalloc. A timed
    execution that runs longer than ``cap_seconds`` stops the case: it is reported as capped.
    """

    repetitions: int
    processes: int
    warm_up: bool = True
    traced: int | None = None  # None: every process
    cap_seconds: float | None = None

    @property
    def traced_processes(self) -> int:
        return self.processes if self.traced is None else min(self.traced, self.processes)


@dataclass(frozen=True, slots=True)
class Case:
    """One row for one SDK, as handed to a measuring subprocess."""

    sdk: Sdk
    row: Row
    steps: int
    repetitions: int
    warm_up: bool = True
    trace: bool = True
    cap_seconds: float | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Case:
        data = json.loads(text)
        row = data["row"]
        return cls(
            sdk=Sdk(data["sdk"]),
            row=Row(Workload(row["workload"]), Store(row["store"]), row["latency_ms"], row["size"]),
            steps=data["steps"],
            repetitions=data["repetitions"],
            warm_up=data["warm_up"],
            trace=data["trace"],
            cap_seconds=data["cap_seconds"],
        )


@dataclass(frozen=True, slots=True)
class Sample:
    """One execution, measured: seconds of wall and process CPU, and the checkpoint traffic.

    ``service_cpu`` is the CPU the local service spent applying checkpoints, as far as it can be
    told apart from the SDK's (see README).
    """

    wall: float
    cpu: float
    service_cpu: float
    calls: int
    updates: int


@dataclass(frozen=True, slots=True)
class Measurement:
    """What one measuring process sends back.

    Its samples; the tracemalloc peak of one more execution (None when not traced); and how far
    the process's resident set rose above its level before its first full-size execution
    during that execution (None where the platform cannot tell).
    """

    samples: list[Sample]
    peak_bytes: int | None
    rss_growth_bytes: int | None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Measurement:
        data = json.loads(text)
        return cls(
            [Sample(**sample) for sample in data["samples"]],
            data["peak_bytes"],
            data["rss_growth_bytes"],
        )


@dataclass(frozen=True, slots=True)
class Result:
    """A case's figures: medians over every process's samples, and over its processes' peaks."""

    wall: float
    cpu: float
    service_cpu: float
    calls: float
    updates: float
    peak_bytes: float | None
    rss_growth_bytes: float | None
    samples: int
    processes: int

    @classmethod
    def of(cls, measurements: Sequence[Measurement]) -> Result:
        samples = [sample for m in measurements for sample in m.samples]
        return cls(
            wall=statistics.median(s.wall for s in samples),
            cpu=statistics.median(s.cpu for s in samples),
            service_cpu=statistics.median(s.service_cpu for s in samples),
            calls=statistics.median(s.calls for s in samples),
            updates=statistics.median(s.updates for s in samples),
            peak_bytes=_median([m.peak_bytes for m in measurements]),
            rss_growth_bytes=_median([m.rss_growth_bytes for m in measurements]),
            samples=len(samples),
            processes=len(measurements),
        )


def _median(values: list[int | None]) -> float | None:
    known = [value for value in values if value is not None]
    return statistics.median(known) if known else None
