"""Measure one case in this process: ``python -m benchmarks._measure '<Case as JSON>'``.

The parent runs every case in a fresh interpreter so that imports, caches, threads and heap
of one case never colour another. Prints one line: the Measurement as JSON.
"""

from __future__ import annotations

import gc
import sys
import tracemalloc
from collections.abc import Callable

from benchmarks._spec import Case, Measurement, Sample, Sdk

__all__ = ["main", "measure_case"]

Measure = Callable[[Case], Sample]


def measure_case(case: Case) -> Measurement:
    """Warm up once, measure the repetitions, then trace one more execution for the peak."""
    measure = _measure_for(case.sdk)
    measure(case)
    samples = []
    for _ in range(case.repetitions):
        gc.collect()
        samples.append(measure(case))
    return Measurement(samples, _peak_bytes(measure, case))


def _measure_for(sdk: Sdk) -> Measure:
    # Import only the SDK under test, so the other one's modules cost this process nothing.
    if sdk is Sdk.OURS:
        from benchmarks import _ours

        return _ours.measure
    from benchmarks import _reference

    return _reference.measure


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
