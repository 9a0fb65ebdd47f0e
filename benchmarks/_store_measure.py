"""Measure one embedded-store case in this process: ``python -m benchmarks._store_measure JSON``.

The parent runs each case in a fresh interpreter, so DBOS and durable_async never share a
process and one repetition's heap never colours another side. A small repetition first
(imports, schema creation), then the first full-size repetition with the resident set's
high-water mark reset before it (its growth is reported), then the timed repetitions, each on
a fresh SQLite file in the run's scratch folder (``TMPDIR``). Prints one line: the
StoreMeasurement as JSON.
"""

from __future__ import annotations

import gc
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from benchmarks._measure import _ResidentSet
from benchmarks._store_spec import StoreCase, StoreMeasurement, StoreSample, StoreSide

__all__ = ["measure_case"]


def measure_case(case: StoreCase) -> StoreMeasurement:
    """Prime, measure the first full-size repetition's RSS growth, then time the rest."""
    if case.side is StoreSide.OURS:
        from benchmarks._store_ours import measure
    else:
        from benchmarks._store_dbos import measure
    with tempfile.TemporaryDirectory(prefix="store-bench-", ignore_cleanup_errors=True) as name:
        folder = Path(name)
        primer = replace(case.row, steps=min(case.row.steps, 3), workflows=1)
        measure(replace(case, row=primer), folder)
        gc.collect()
        rss = _ResidentSet()
        samples: list[StoreSample] = [measure(case, folder)]
        growth = rss.growth()
        while len(samples) < case.repetitions:
            gc.collect()
            samples.append(measure(case, folder))
    return StoreMeasurement(samples, growth)


def main() -> None:
    print(measure_case(StoreCase.from_json(sys.argv[1])).to_json())


if __name__ == "__main__":
    main()
