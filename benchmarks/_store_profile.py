"""Profile our side of the hottest embedded-store workload: ``python -m benchmarks._store_profile``.

cProfile on the event loop's thread (CPU time), each function's time charged to the
first-party function that asked for it (as ``benchmarks._profile`` does), with the unprofiled
run's wall, CPU (all threads) and transactions for scale. A second profiler, in the same run,
covers the store's writing thread inside its transactions (``GroupCommit._commit``: the
checkpoint calls' work and each COMMIT with its fsync), so the store's share is seen too.
Prints Markdown.
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
from durable_async.service.local._commit import GroupCommit

__all__ = ["profile"]


def profile(row: StoreRow) -> str:
    """Return Markdown: where one run of ``row`` on our side spends its CPU."""
    case = StoreCase(StoreSide.OURS, row, 1)
    with tempfile.TemporaryDirectory(prefix="store-profile-") as name:
        folder = Path(name)
        _store_ours.measure(case, folder)  # imports, caches
        plain = _store_ours.measure(case, folder)
        profiler = cProfile.Profile(time.thread_time)
        store = cProfile.Profile(time.thread_time)
        original = GroupCommit._commit
        GroupCommit._commit = _profiled(original, store)  # type: ignore[method-assign]
        try:
            profiler.enable()
            profiled = _store_ours.measure(case, folder)
            profiler.disable()
        finally:
            GroupCommit._commit = original  # type: ignore[method-assign]
    stats: dict[Any, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    charged = _charge(stats)
    store_stats: dict[Any, Any] = pstats.Stats(store).stats  # type: ignore[attr-defined]
    store_charged = _charge(store_stats)
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
            "",
            "The store's writing thread in the same run, inside its transactions: "
            f"{sum(store_charged.values()) * per_step:.4f} CPU ms / step (the COMMIT, with its "
            "fsync, is charged to `_commit`):",
            "",
            *_hotspots(store_stats, store_charged, per_step, 8, "step"),
        ]
    )


def _profiled(commit: Any, profiler: cProfile.Profile) -> Any:
    """Return ``GroupCommit._commit`` run under ``profiler`` (on the store's thread)."""

    def profiled(self: GroupCommit, jobs: Any) -> None:
        profiler.enable()
        try:
            commit(self, jobs)
        finally:
            profiler.disable()

    return profiled


def main() -> None:
    """``python -m benchmarks._store_profile WORKFLOWS STEPS``."""
    workflows, steps = int(sys.argv[1]), int(sys.argv[2])
    print(profile(StoreRow(StoreWorkload.WORKFLOWS, steps, workflows)))


if __name__ == "__main__":
    main()
