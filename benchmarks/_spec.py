"""What a benchmark row is, and what one measurement of it sends back to the parent process."""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum

__all__ = [
    "ROWS",
    "Case",
    "Measurement",
    "Result",
    "Row",
    "Sample",
    "Sdk",
    "Store",
    "Workload",
]


class Sdk(StrEnum):
    OURS = "ours"
    REFERENCE = "reference"


class Workload(StrEnum):
    SEQUENTIAL = "sequential"
    GATHERED = "gathered"


class Store(StrEnum):
    MEMORY = "memory"
    SQLITE = "sqlite"


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the table: a workload on a store behind an injected latency."""

    workload: Workload
    store: Store
    latency_ms: float

    @property
    def id(self) -> str:
        return f"{self.workload}-{self.store}-{self.latency_ms:g}ms"


ROWS = (
    Row(Workload.SEQUENTIAL, Store.MEMORY, 0),
    Row(Workload.SEQUENTIAL, Store.MEMORY, 10),
    Row(Workload.GATHERED, Store.MEMORY, 0),
    Row(Workload.GATHERED, Store.MEMORY, 10),
    Row(Workload.SEQUENTIAL, Store.SQLITE, 0),
)


@dataclass(frozen=True, slots=True)
class Case:
    """One row for one SDK, as handed to a measuring subprocess."""

    sdk: Sdk
    row: Row
    steps: int
    repetitions: int

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Case:
        data = json.loads(text)
        row = data["row"]
        return cls(
            sdk=Sdk(data["sdk"]),
            row=Row(Workload(row["workload"]), Store(row["store"]), row["latency_ms"]),
            steps=data["steps"],
            repetitions=data["repetitions"],
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
    """What one measuring process sends back: its samples and one traced execution's peak."""

    samples: list[Sample]
    peak_bytes: int

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Measurement:
        data = json.loads(text)
        return cls([Sample(**sample) for sample in data["samples"]], data["peak_bytes"])


@dataclass(frozen=True, slots=True)
class Result:
    """A case's figures: medians over every process's samples, and the median peak."""

    wall: float
    cpu: float
    service_cpu: float
    calls: float
    updates: float
    peak_bytes: float

    @classmethod
    def of(cls, measurements: Sequence[Measurement]) -> Result:
        samples = [sample for m in measurements for sample in m.samples]
        return cls(
            wall=statistics.median(s.wall for s in samples),
            cpu=statistics.median(s.cpu for s in samples),
            service_cpu=statistics.median(s.service_cpu for s in samples),
            calls=statistics.median(s.calls for s in samples),
            updates=statistics.median(s.updates for s in samples),
            peak_bytes=statistics.median(m.peak_bytes for m in measurements),
        )
