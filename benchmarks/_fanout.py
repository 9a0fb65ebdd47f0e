"""Fan-out and scale on our side: ``python -m benchmarks._fanout '<FanoutCase as JSON>'``.

One execution of a workload on the in-memory local service, 0 ms, in this process, timed at the
SDK's boundary: when the invoker hands the event to the handler (the invocation's start), when
the first checkpoint call reaches the service, when the last one is answered, and when the
handler returns its output. From those: the first call's delay (issue 9 item 2), the tail
(item 3), and wall, CPU and resident-set growth per item (item 4). Prints one JSON line.
"""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["FANOUT_ROWS", "QUICK_FANOUT_ROWS", "FanoutCase", "FanoutResult", "FanoutSample"]


@dataclass(frozen=True, slots=True)
class FanoutRow:
    """A workload (sequential, gathered or map) at ``size`` steps or items."""

    workload: str
    size: int
    repetitions: int = 3
    processes: int = 2
    warm_up: bool = True

    @property
    def id(self) -> str:
        return f"fanout-{self.workload}-{self.size}"


FANOUT_ROWS = (
    FanoutRow("sequential", 100),
    FanoutRow("gathered", 100),
    FanoutRow("gathered", 1_000),
    FanoutRow("gathered", 10_000, repetitions=2),
    FanoutRow("map", 1_000),
    FanoutRow("map", 10_000, repetitions=2),
    FanoutRow("map", 100_000, repetitions=1, processes=2, warm_up=False),
)
QUICK_FANOUT_ROWS = (
    FanoutRow("sequential", 100, 2, 1),
    FanoutRow("gathered", 1_000, 2, 1),
    FanoutRow("map", 1_000, 2, 1),
    FanoutRow("map", 10_000, 1, 1, warm_up=False),
)


@dataclass(frozen=True, slots=True)
class FanoutCase:
    row: FanoutRow

    def to_json(self) -> str:
        return json.dumps(asdict(self.row))

    @classmethod
    def from_json(cls, text: str) -> FanoutCase:
        return cls(FanoutRow(**json.loads(text)))


@dataclass(frozen=True, slots=True)
class FanoutSample:
    """Seconds: wall and process CPU of the run; first call's delay and tail of the invocation."""

    wall: float
    cpu: float
    first_call: float
    tail: float
    calls: int
    updates: int
    # Gathered rows: how long asyncio.gather of N coroutines that do nothing takes to run each
    # one's first slice, in the same process: the floor under the first call's delay.
    gather_floor: float = 0.0


@dataclass(frozen=True, slots=True)
class FanoutMeasurement:
    samples: list[FanoutSample]
    rss_growth_bytes: int | None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> FanoutMeasurement:
        data = json.loads(text)
        return cls([FanoutSample(**s) for s in data["samples"]], data["rss_growth_bytes"])


@dataclass(frozen=True, slots=True)
class FanoutResult:
    """Medians over every sample; the largest first-call delay and tail seen, too."""

    wall: float
    cpu: float
    first_call: float
    tail: float
    worst_first_call: float
    worst_tail: float
    calls: float
    updates: float
    rss_growth_bytes: float | None
    gather_floor: float = 0.0
    samples: int = field(default=0)

    @classmethod
    def of(cls, measurements: Sequence[FanoutMeasurement]) -> FanoutResult:
        samples = [s for m in measurements for s in m.samples]
        rss = [m.rss_growth_bytes for m in measurements if m.rss_growth_bytes is not None]
        return cls(
            wall=statistics.median(s.wall for s in samples),
            cpu=statistics.median(s.cpu for s in samples),
            first_call=statistics.median(s.first_call for s in samples),
            tail=statistics.median(s.tail for s in samples),
            worst_first_call=max(s.first_call for s in samples),
            worst_tail=max(s.tail for s in samples),
            gather_floor=statistics.median(s.gather_floor for s in samples),
            calls=statistics.median(s.calls for s in samples),
            updates=statistics.median(s.updates for s in samples),
            rss_growth_bytes=statistics.median(rss) if rss else None,
            samples=len(samples),
        )


async def _gather_floor(size: int) -> float:
    """Seconds from asyncio.gather of ``size`` idle coroutines until each ran its first slice."""

    async def idle() -> None:
        await asyncio.sleep(0)

    start = time.perf_counter()
    everyone = asyncio.gather(*(idle() for _ in range(size)))
    await asyncio.sleep(0)  # resumes after every task's first slice, queued before it
    floor = time.perf_counter() - start
    await everyone
    return floor


async def _run_once(workload: str, size: int) -> FanoutSample:
    from benchmarks._ours import gathered, mapped, sequential
    from durable_async.service.local import LocalDurableService, LocalRunner, MemoryStore

    handler = {"sequential": sequential, "gathered": gathered, "map": mapped}[workload]
    service = LocalDurableService(MemoryStore())
    marks: dict[str, float] = {}
    sizes: list[int] = []
    checkpoint = service.checkpoint

    async def timed(
        arn: str, token: str, updates: list[dict[str, Any]], client_token: str | None = None
    ) -> dict[str, Any]:
        marks.setdefault("first", time.perf_counter())
        sizes.append(len(updates))
        response = await checkpoint(arn, token, updates, client_token)
        marks["answered"] = time.perf_counter()
        return response

    service.checkpoint = timed  # type: ignore[method-assign]

    async def invoke(event: dict[str, Any]) -> dict[str, Any]:
        marks["start"] = time.perf_counter()
        output = await handler.invoke(event, service=service)
        marks["end"] = time.perf_counter()
        return dict(output)

    async with service, LocalRunner(service) as runner:
        runner.register("bench", invoke)
        wall, cpu = time.perf_counter(), time.process_time()
        ended = await runner.run("bench", json.dumps({"n": size}), timeout=900)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    expected = json.dumps(size * (size - 1) // 2)
    if ended["Status"] != "SUCCEEDED" or ended.get("Result") != expected:
        raise RuntimeError(f"The fan-out execution ended {ended['Status']}: {ended}.")
    floor = await _gather_floor(size) if workload == "gathered" else 0.0
    return FanoutSample(
        wall,
        cpu,
        marks["first"] - marks["start"],
        marks["end"] - marks["answered"],
        len(sizes),
        sum(sizes),
        floor,
    )


def measure_case(case: FanoutCase) -> FanoutMeasurement:
    from benchmarks._measure import _ResidentSet

    row = case.row
    asyncio.run(_run_once(row.workload, 2))  # imports and lazy set-up
    gc.collect()
    rss = _ResidentSet()
    first = asyncio.run(_run_once(row.workload, row.size))
    growth = rss.growth()
    samples = [] if row.warm_up else [first]
    while len(samples) < row.repetitions:
        gc.collect()
        samples.append(asyncio.run(_run_once(row.workload, row.size)))
    return FanoutMeasurement(samples, growth)


def main() -> None:
    print(measure_case(FanoutCase.from_json(sys.argv[1])).to_json())


if __name__ == "__main__":
    main()
