"""Measure one case in this process: ``python -m benchmarks._measure '<Case as JSON>'``.

The parent runs every case in a fresh interpreter so that imports, caches, threads and heap
of one case never colour another. Prints one line: the Measurement as JSON. A timed execution
that outlives the case's cap ends the process with exit status 3 and says so on stderr.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from benchmarks._spec import Case, Measurement, Sample, Sdk

__all__ = ["CAPPED_EXIT_STATUS", "main", "measure_case"]

Measure = Callable[[Case], Sample]

CAPPED_EXIT_STATUS = 3
# Items of the small execution that imports and initialises everything lazy first.
_PRIMER_STEPS = 2
_PROC = Path("/proc/self")


def measure_case(case: Case) -> Measurement:
    """Prime, measure the resident-set growth of the first full-size execution, time, trace.

    The first full-size execution is the warm-up, or the first timed one without a warm-up.
    """
    measure = _measure_for(case.sdk)
    measure(replace(case, steps=min(case.steps, _PRIMER_STEPS)))
    gc.collect()
    rss = _ResidentSet()
    with _capped(case):
        first = measure(case)
    growth = rss.growth()
    samples = [] if case.warm_up else [first]
    while len(samples) < case.repetitions:
        gc.collect()
        with _capped(case):
            samples.append(measure(case))
    return Measurement(samples, _peak_bytes(measure, case) if case.trace else None, growth)


def _measure_for(sdk: Sdk) -> Measure:
    # Import only the SDK under test, so the other one's modules cost this process nothing.
    if sdk is Sdk.OURS:
        from benchmarks import _ours

        return _ours.measure
    from benchmarks import _reference

    return _reference.measure


@contextmanager
def _capped(case: Case) -> Iterator[None]:
    """Stop the whole process if the block runs longer than the case's cap."""
    if case.cap_seconds is None:
        yield
        return
    cap = case.cap_seconds

    def give_up() -> None:
        print(f"an execution did not finish within the {cap:g} s cap", file=sys.stderr)
        sys.stderr.flush()
        os._exit(CAPPED_EXIT_STATUS)

    timer = threading.Timer(cap, give_up)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


class _ResidentSet:
    """The rise of the resident set's high-water mark (all threads) above its current level.

    Linux only: reads /proc/self/status and resets the mark through /proc/self/clear_refs.
    """

    def __init__(self) -> None:
        self.base = _status_bytes("VmRSS")
        try:
            (_PROC / "clear_refs").write_text("5")
        except OSError:
            self.base = None

    def growth(self) -> int | None:
        peak = _status_bytes("VmHWM")
        if self.base is None or peak is None:
            return None
        return max(0, peak - self.base)


def _status_bytes(field: str) -> int | None:
    try:
        status = (_PROC / "status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024  # kB
    return None


def _peak_bytes(measure: Measure, case: Case) -> int:
    """Return the peak of Python allocations (all threads) during one execution."""
    gc.collect()
    tracemalloc.start()
    try:
        measure(case)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main() -> None:
    print(measure_case(Case.from_json(sys.argv[1])).to_json())


if __name__ == "__main__":
    main()
