"""Profile our side of the hottest embedded-store workload: ``python -m benchmarks._store_profile``.

cProfile on the event loop's thread (CPU time), each function's time charged to the
first-party function that asked for it (as ``benchmarks._profile`` does), with the unprofiled
run's wall, CPU (all threads) and transactions for scale. Prints Markdown.
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import _store_ours
from benchmarks._profile import _charge, _components, _hotspots
from benchmarks._store_spec import StoreCase, StoreRow, StoreSide, StoreWorkload

__all__ = ["profile"]


def profile(row: StoreRow) -> str:
    """Return Markdown: where one run of ``row`` on our side spends its CPU."""
    case = StoreCase(StoreSide.OURS, row, 1)
    with tempfile.TemporaryDirectory(prefix="store-profile-") as name:
        folder = Path(name)
        _store_ours.measure(case, folder)  # imports, caches
        plain = _store_ours.measure(case, folder)
        profiler = cProfile.Profile(time.thread_time)
        profiler.enable()
        profiled = _store_ours.measure(case, folder)
        profiler.disable()
    stats: dict[Any, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    charged = _charge(stats)
    per_step = 1000 / row.units
    return "\n".join(
        [
            f"Ours, {row.title}, cProfile of the event loop's thread. "
            f"Unprofiled: {plain.wall:.2f} s wall, {plain.cpu:.2f} s CPU (all threads), "
            f"{plain.calls} checkpoint calls in {plain.transactions} SQLite transactions. "
            f"Profiled: {profiled.wall:.2f} s wall.",
            "",
            *_components(charged, per_step, "step"),
            "",
            *_hotspots(stats, charged, per_step, 12, "step"),
        ]
    )


def main() -> None:
    """``python -m benchmarks._store_profile WORKFLOWS STEPS``."""
    workflows, steps = int(sys.argv[1]), int(sys.argv[2])
    print(profile(StoreRow(StoreWorkload.WORKFLOWS, steps, workflows)))


if __name__ == "__main__":
    main()
