"""Profile our side of a row: cProfile (main-thread CPU) and tracemalloc (memory at the peak).

Standard library and built-in functions (``json``, ``dataclasses``, ``dict.get``, ...) are
charged to the first-party function that called them, directly or through other library code,
so the tables answer "whose code asked for this CPU". The SQLite store's own thread is not
profiled; its CPU shows in the run's service column. Memory is charged the same way: each live
block at the peak to the innermost first-party line on its allocation traceback.
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import linecache
import pstats
import time
import tracemalloc
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from benchmarks import _ours
from benchmarks._spec import Case, Row, Sdk

__all__ = ["profile_row"]

Func = tuple[str, int, str]

_COMPONENTS = (
    ("/durable_async/service/local/", "local service (engine, store, runner)"),
    ("/durable_async/testing.py", "DurableTestRunner"),
    ("/durable_async/", "SDK core"),
    ("/benchmarks/", "benchmark handler and harness"),
)
# Owners that are not first-party functions.
_EVENT_LOOP: Func = ("~", 0, "event loop (asyncio internals)")
_UNATTRIBUTED: Func = ("~", 0, "unattributed")


def profile_row(row: Row, steps: int, executions: int, top: int = 15) -> str:
    """Return Markdown: CPU per component, the first-party functions that spend most, memory."""
    case = Case(Sdk.OURS, row, steps, executions)
    _ours.measure(case)
    profiler = cProfile.Profile(time.thread_time)
    profiler.enable()
    for _ in range(executions):
        _ours.measure(case)
    profiler.disable()
    stats: dict[Func, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    charged = _charge(stats)
    per_step = 1000 / (steps * executions)
    unit = "step" if row.size is None else "item"
    return "\n".join(
        [
            f"#### Profile of ours, {row.id} ({executions} execution(s) of {steps} {unit}s)",
            "",
            *_components(charged, per_step, unit),
            "",
            *_hotspots(stats, charged, per_step, top, unit),
            "",
            "cProfile inflates absolute CPU several times over; read the shares. It counts every "
            "resumption of a coroutine as a call.",
            "",
            *_collector(case, unit),
            *_memory(case),
        ]
    )


_OBJECT_TYPES_TOP = 12


def _collector(case: Case, unit: str) -> list[str]:
    """Return Markdown: the cyclic GC's share of one execution, and what it has to scan."""
    spent = {generation: [0, 0.0] for generation in range(3)}
    started = 0.0

    def clock(phase: str, info: dict[str, int]) -> None:
        nonlocal started
        if phase == "start":
            started = time.perf_counter()
        else:
            entry = spent[info["generation"]]
            entry[0] += 1
            entry[1] += time.perf_counter() - started

    gc.collect()
    gc.callbacks.append(clock)
    try:
        sample = _ours.measure(case)
    finally:
        gc.callbacks.remove(clock)
    gc.collect()
    before = Counter(type(o).__qualname__ for o in gc.get_objects())
    peak, types = asyncio.run(_tracked_at_peak(case, before))
    total = sum(seconds for _, seconds in spent.values())
    per = case.steps
    lines = [
        f"Cyclic GC in one unprofiled execution: {total:.2f} s of {sample.wall:.2f} s wall "
        f"({total / sample.wall:.0%}); "
        + ", ".join(
            f"generation {g}: {count} collections, {seconds:.3f} s"
            for g, (count, seconds) in spent.items()
        )
        + f". GC-tracked objects at the peak seen from the event loop: {peak:,}, "
        f"{(peak - before.total()) / per:.1f} per {unit} above the {before.total():,} before "
        f"the execution; the most common of those, per {unit}: "
        + ", ".join(f"{name} {count / per:.2f}" for name, count in types)
        + ".",
        "",
    ]
    return lines


async def _tracked_at_peak(case: Case, before: Counter[str]) -> tuple[int, list[tuple[str, int]]]:
    """Run the case; return the most GC-tracked objects seen at once, and the commonest types
    among those above ``before``."""
    most = 0
    types: Counter[str] = Counter()

    async def watch() -> None:
        nonlocal most, types
        while True:
            objects = gc.get_objects()
            if len(objects) > most:
                most = len(objects)
                types = Counter(type(o).__qualname__ for o in objects) - before
            del objects
            await asyncio.sleep(0)

    watcher = asyncio.ensure_future(watch())
    try:
        await _ours.run_once(case)
    finally:
        watcher.cancel()
    return most, types.most_common(_OBJECT_TYPES_TOP)


# Frames kept per allocation: enough to reach first-party code from inside asyncio or json.
# Every frame costs: a 10,000-item map takes about 3 s, 18 s traced with 1 frame, 40 s with 6.
_TRACE_FRAMES = 6
# Once past half the peak a first (1-frame) traced run found, a snapshot is taken from the
# event loop whenever the traced memory has grown this much since the last one.
_SNAPSHOT_GROWTH = 1.05
_MEMORY_TOP = 10
_NOWHERE = "(no first-party frame: interpreter, asyncio or library internals)"


def _memory(case: Case) -> list[str]:
    """Return Markdown: what is live at (near) the peak of one execution, by first-party line."""
    tracemalloc.start(1)
    try:
        _ours.measure(case)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    tracemalloc.start(_TRACE_FRAMES)
    try:
        snapshot = asyncio.run(_snapshot_near(case, peak))
    finally:
        tracemalloc.stop()
    if snapshot is None:
        return ["(No snapshot: the event loop never ran while memory was near its peak.)", ""]
    snapshot = snapshot.filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
    charged: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
    for stat in snapshot.statistics("traceback"):
        entry = charged[_first_party(stat.traceback)]
        entry[0] += stat.size
        entry[1] += stat.count
    total = sum(size for size, _ in charged.values())
    by_component: dict[str, int] = defaultdict(int)
    for (path, _), (size, _) in charged.items():
        by_component[_component((path, 0, "")) or "unattributed"] += size
    mib = 2**20
    lines = [
        f"Memory: {total / mib:.1f} MiB of Python allocations live at the snapshot nearest the "
        f"peak (tracemalloc peak {peak / mib:.1f} MiB; {_TRACE_FRAMES}-frame tracebacks), "
        "charged to the innermost first-party line that asked for them:",
        "",
        "| charged to | MiB | share | per item, bytes |",
        "|---|---:|---:|---:|",
    ]
    for name, size in sorted(by_component.items(), key=lambda item: -item[1]):
        lines.append(
            f"| {name} | {size / mib:.1f} | {size / total:.0%} | {size / case.steps:,.0f} |"
        )
    lines += [
        "",
        "| allocated under | MiB | share | blocks | per item, bytes |",
        "|---|---:|---:|---:|---:|",
    ]
    ranked = sorted(charged.items(), key=lambda item: -item[1][0])[:_MEMORY_TOP]
    for (path, line), (size, count) in ranked:
        code = linecache.getline(path, line).strip() if line else ""
        where = f"`{_short(path)}:{line}` `{code}`" if line else path
        lines.append(
            f"| {where} | {size / mib:.1f} | {size / total:.0%} | {count:,} | "
            f"{size / case.steps:,.0f} |"
        )
    return [*lines, ""]


async def _snapshot_near(case: Case, peak: int) -> tracemalloc.Snapshot | None:
    """Run the case, snapshotting from the event loop as memory approaches ``peak``."""
    taken: list[tracemalloc.Snapshot] = []
    threshold = peak / 2

    async def watch() -> None:
        nonlocal threshold
        while True:
            current = tracemalloc.get_traced_memory()[0]
            if current >= threshold:
                taken[:] = [tracemalloc.take_snapshot()]
                threshold = current * _SNAPSHOT_GROWTH
            await asyncio.sleep(0)

    watcher = asyncio.ensure_future(watch())
    try:
        await _ours.run_once(case)
    finally:
        watcher.cancel()
    return taken[0] if taken else None


def _first_party(traceback: tracemalloc.Traceback) -> tuple[str, int]:
    for frame in reversed(traceback):  # most recent call first
        if _component((frame.filename, 0, "")) is not None:
            return frame.filename, frame.lineno
    return _NOWHERE, 0


def _short(path: str) -> str:
    return _label((path, 0, "")).rsplit(":", 1)[0]


def _charge(stats: dict[Func, Any]) -> dict[Func, float]:
    """Return the CPU seconds charged to each owner (a first-party function or a bucket)."""
    owners = _Owners(stats)
    charged: dict[Func, float] = defaultdict(float)
    for func, (_, _, own, _, _) in stats.items():
        for owner, share in owners.of(func).items():
            charged[owner] += own * share
    return charged


def _components(charged: dict[Func, float], per_step: float, unit: str) -> list[str]:
    totals: dict[str, float] = defaultdict(float)
    for owner, seconds in charged.items():
        totals[_component(owner) or owner[2]] += seconds
    grand = sum(totals.values())
    lines = [f"| charged to | CPU ms / {unit} | share |", "|---|---:|---:|"]
    for name, seconds in sorted(totals.items(), key=lambda item: -item[1]):
        lines.append(f"| {name} | {seconds * per_step:.4f} | {seconds / grand:.0%} |")
    return lines


def _hotspots(
    stats: dict[Func, Any], charged: dict[Func, float], per_step: float, top: int, unit: str
) -> list[str]:
    lines = [
        f"| function (own time + library code it called) | component | calls / {unit} | "
        f"CPU ms / {unit} |",
        "|---|---|---:|---:|",
    ]
    ranked = sorted(charged.items(), key=lambda item: -item[1])[:top]
    for owner, seconds in ranked:
        calls = stats[owner][1] * per_step / 1000 if owner in stats else 0.0
        component = _component(owner) or "-"
        lines.append(
            f"| `{_label(owner)}` | {component} | {calls:.1f} | {seconds * per_step:.4f} |"
        )
    return lines


class _Owners:
    """Which first-party functions asked for each function's CPU, as shares.

    A first-party function owns its own time. Any other function's time is shared among its
    callers in proportion to the time spent under each call edge, recursively. asyncio code
    that only asyncio called is the event loop's own overhead.
    """

    def __init__(self, stats: dict[Func, Any]) -> None:
        self._stats = stats
        self._known: dict[Func, dict[Func, float]] = {}
        self._visiting: set[Func] = set()

    def of(self, func: Func) -> dict[Func, float]:
        known = self._known.get(func)
        if known is not None:
            return known
        if func in self._visiting:
            return {}
        self._visiting.add(func)
        try:
            shares = self._compute(func)
        finally:
            self._visiting.discard(func)
        self._known[func] = shares
        return shares

    def _compute(self, func: Func) -> dict[Func, float]:
        if _component(func) is not None:
            return {func: 1.0}
        totals: dict[Func, float] = defaultdict(float)
        for caller, edge in self._stats[func][4].items():
            if caller == func:
                continue
            if _is_asyncio(func) and _is_asyncio(caller):
                totals[_EVENT_LOOP] += edge[3]
                continue
            for owner, share in self.of(caller).items():
                totals[owner] += edge[3] * share
        weight = sum(totals.values())
        if weight <= 0:
            return {_EVENT_LOOP if _is_asyncio(func) else _UNATTRIBUTED: 1.0}
        return {owner: value / weight for owner, value in totals.items()}


def _component(func: Func) -> str | None:
    for marker, name in _COMPONENTS:
        if marker in func[0]:
            return name
    return None


def _is_asyncio(func: Func) -> bool:
    return "/asyncio/" in func[0]


def _label(func: Func) -> str:
    path, line, name = func
    if path == "~":
        return name
    parts = Path(path).parts
    if "durable_async" in parts:
        path = "/".join(parts[parts.index("durable_async") :])
    elif "benchmarks" in parts:
        path = "/".join(parts[parts.index("benchmarks") :])
    else:
        path = Path(path).name
    return f"{path}:{line} {name}"
