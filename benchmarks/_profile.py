"""Profile our side of a row with cProfile (main-thread CPU) and say whose code spends it.

Standard library and built-in functions (``json``, ``dataclasses``, ``dict.get``, ...) are
charged to the first-party function that called them, directly or through other library code,
so the tables answer "whose code asked for this CPU". The SQLite store's own thread is not
profiled; its CPU shows in the run's service column.
"""

from __future__ import annotations

import cProfile
import pstats
import time
from collections import defaultdict
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
    """Return Markdown: CPU per component and the first-party functions that spend most."""
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
    return "\n".join(
        [
            f"#### Profile of ours, {row.id} ({executions} executions of {steps} steps)",
            "",
            *_components(charged, per_step),
            "",
            *_hotspots(stats, charged, per_step, top),
            "",
            "cProfile inflates absolute CPU several times over; read the shares. It counts every "
            "resumption of a coroutine as a call.",
            "",
        ]
    )


def _charge(stats: dict[Func, Any]) -> dict[Func, float]:
    """Return the CPU seconds charged to each owner (a first-party function or a bucket)."""
    owners = _Owners(stats)
    charged: dict[Func, float] = defaultdict(float)
    for func, (_, _, own, _, _) in stats.items():
        for owner, share in owners.of(func).items():
            charged[owner] += own * share
    return charged


def _components(charged: dict[Func, float], per_step: float) -> list[str]:
    totals: dict[str, float] = defaultdict(float)
    for owner, seconds in charged.items():
        totals[_component(owner) or owner[2]] += seconds
    grand = sum(totals.values())
    lines = ["| charged to | CPU ms / step | share |", "|---|---:|---:|"]
    for name, seconds in sorted(totals.items(), key=lambda item: -item[1]):
        lines.append(f"| {name} | {seconds * per_step:.4f} | {seconds / grand:.0%} |")
    return lines


def _hotspots(
    stats: dict[Func, Any], charged: dict[Func, float], per_step: float, top: int
) -> list[str]:
    lines = [
        "| function (own time + library code it called) | component | calls / step | "
        "CPU ms / step |",
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
