"""Turn measurements into the Markdown tables of README.md and results/latest.md."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from benchmarks._spec import Result, Row, Sdk, Store, Workload

__all__ = ["Capped", "Outcome", "render"]

# Our targets: a sequential step costs the service round trip and almost nothing more; the
# SDK's CPU per step is a small fraction of the reference's.
WALL_FACTOR = 1.05
WALL_ALLOWANCE_MS = 0.3
CPU_FACTOR = 0.3
# Map targets: at 1,000 items our wall is at most this share of the reference's; at 10,000
# items at most this many seconds, and both memory figures at most this many bytes (200 MB).
MAP_WALL_FACTOR = {1_000: 0.3}
MAP_WALL_LIMIT_SECONDS = {10_000: 2.0}
MAP_MEMORY_LIMIT_BYTES = {10_000: 200_000_000}


@dataclass(frozen=True, slots=True)
class Capped:
    """A side stopped because one of its executions outran the case's cap."""

    seconds: float


# A side's figures, that it was capped, or why it has none (listed under the tables).
Outcome = Result | Capped | str

_TITLES = {
    Workload.SEQUENTIAL: (
        "Sequential steps: the same operations on both sides (START + SUCCEED per step)"
    ),
    Workload.GATHERED: (
        "Fan-out, not like for like: ours `asyncio.gather` of N `ctx.step`; the reference "
        "`context.map` over N items with one step each, which also records a CONTEXT per item "
        "and one for the map (2N + 2 updates more)"
    ),
}
_MAP_TITLE = (
    "Map, like for like: `map` over N items, one step per item (a CONTEXT per item and one "
    "for the map on both sides: 4N + 2 updates); unlimited concurrency, default completion, "
    "in-memory store, 0 ms"
)

_LEGEND = (
    "Cells read ours / reference (ratio ours ÷ reference). Wall target: a sequential step on "
    f"the in-memory store takes at most {WALL_FACTOR} * latency + {WALL_ALLOWANCE_MS} ms. "
    f"CPU target: our CPU per step (all threads) is at most {CPU_FACTOR} * the reference's."
)
_MAP_LEGEND = (
    "Cells read ours / reference (ratio ours ÷ reference). Peak: tracemalloc peak of Python "
    "allocations (all threads) in one more execution. RSS: how far the process's resident-set "
    "high-water mark rose above its level before its first full-size execution, during that "
    "execution (all threads, native memory and thread stacks included). Targets: at N = 1,000 "
    "our wall is at most 0.3 * the reference's; at N = 10,000 our wall is at most 2 s and both "
    "memory figures at most 200 MB (190.7 MiB). A '-' was not measured: the reference's "
    "10,000-item map runs once, untraced (see the method in benchmarks/README.md)."
)
_SPLIT_LEGEND = (
    "Service: CPU inside the local service applying calls (ours: Store.transact on the "
    "in-memory store, the store's thread on SQLite; reference: its runner's per-execution "
    "checkpoint and get-state tasks). SDK + runner: the rest of the process CPU (the SDK, "
    "its event loop or threads, the test runner, the handler)."
)
_MIB = 2**20


@dataclass(frozen=True, slots=True)
class _Pair:
    """Both sides of a row; ``ms`` turns seconds into milliseconds per step (or item)."""

    row: Row
    steps: int
    ours: Result
    ref: Result

    def ms(self, seconds: float) -> float:
        return seconds * 1000 / self.steps


def render(
    outcomes: Mapping[Row, Mapping[Sdk, Outcome]],
    *,
    steps: int,
    environment: Iterable[str],
) -> str:
    """Return the report: environment, one table per workload, the CPU split, any errors."""
    lines = [*(f"- {item}" for item in environment)]
    pairs = [_pair(row, steps, sides) for row, sides in outcomes.items()]
    complete = [p for p in pairs if p is not None]
    base = [p for p in complete if p.row.workload is not Workload.MAP]
    if base:
        lines += ["", _sampling(f"N = {steps} steps per execution.", base)]
    for workload, title in _TITLES.items():
        group = [p for p in base if p.row.workload is workload]
        if group:
            lines += ["", f"### {title}", "", *_figures(group)]
    if base:
        lines += ["", _LEGEND]
    maps = {row: sides for row, sides in outcomes.items() if row.workload is Workload.MAP}
    if maps:
        lines += ["", f"### {_MAP_TITLE}", "", *_map_section(maps)]
    if complete:
        lines += ["", "### Where the CPU goes (ms per step or item)", "", *_split(complete)]
        lines += ["", _SPLIT_LEGEND]
    errors = [
        f"- {row.id} / {sdk}: {outcome}"
        for row, sides in outcomes.items()
        for sdk, outcome in sides.items()
        if isinstance(outcome, str)
    ]
    if errors:
        lines += ["", "### Errors", "", *errors]
    return "\n".join(lines) + "\n"


def _sampling(prefix: str, pairs: list[_Pair]) -> str:
    plans = {(r.samples, r.processes) for p in pairs for r in (p.ours, p.ref)}
    if len(plans) == 1:
        samples, processes = plans.pop()
        how = f"the median of {samples} executions measured in {processes} fresh process(es)"
    else:
        how = "a median over executions in fresh processes (counts vary by row)"
    return (
        f"{prefix} Each figure is {how} per row and side, each process warmed up by one "
        "execution first; peak memory is the median over the processes."
    )


def _pair(row: Row, steps: int, sides: Mapping[Sdk, Outcome]) -> _Pair | None:
    ours, ref = sides.get(Sdk.OURS), sides.get(Sdk.REFERENCE)
    if isinstance(ours, Result) and isinstance(ref, Result):
        return _Pair(row, row.size or steps, ours, ref)
    return None


def _figures(pairs: list[_Pair]) -> list[str]:
    header = (
        "| store | latency | checkpoint calls | updates / call | wall ms / step | "
        "CPU ms / step | peak MiB | wall target | CPU target |"
    )
    lines = [header, "|---|---:|---:|---:|---:|---:|---:|---|---|"]
    for p in pairs:
        ours, ref = p.ours, p.ref
        cells = [
            p.row.store.value,
            f"{p.row.latency_ms:g} ms",
            f"{ours.calls:g} / {ref.calls:g}",
            f"{_per_call(ours):.1f} / {_per_call(ref):.1f}",
            _versus(p.ms(ours.wall), p.ms(ref.wall)),
            _versus(p.ms(ours.cpu), p.ms(ref.cpu)),
            f"{_mib(ours.peak_bytes)} / {_mib(ref.peak_bytes)}",
            _wall_target(p),
            _cpu_target(p.ms(ours.cpu), p.ms(ref.cpu)),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _map_section(outcomes: Mapping[Row, Mapping[Sdk, Outcome]]) -> list[str]:
    lines = [
        "| N | checkpoint calls | updates / call | wall s | wall ms / item | CPU ms / item | "
        "peak MiB | RSS MiB | executions (processes) | wall target | memory target |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    notes: list[str] = []
    for row, sides in outcomes.items():
        ours, ref = sides.get(Sdk.OURS), sides.get(Sdk.REFERENCE)
        if not isinstance(ours, Result):
            continue
        size = row.size or 1
        per_item = 1000 / size
        if isinstance(ref, Capped):
            notes.append(
                f"At N = {size:,} the reference was stopped after {ref.seconds:g} s without "
                "finishing an execution, so it has no figures; its wall is a lower bound."
            )
        known = ref if isinstance(ref, Result) else None
        cells = [
            f"{size:,}",
            _side(f"{ours.calls:g}", None if known is None else f"{known.calls:g}"),
            _side(f"{_per_call(ours):.1f}", None if known is None else f"{_per_call(known):.1f}"),
            _map_wall(ours.wall, ref),
            _versus_or_alone(
                ours.wall * per_item, None if known is None else known.wall * per_item
            ),
            _versus_or_alone(ours.cpu * per_item, None if known is None else known.cpu * per_item),
            _memory(ours.peak_bytes, None if known is None else known.peak_bytes),
            _memory(ours.rss_growth_bytes, None if known is None else known.rss_growth_bytes),
            _side(_executions(ours), None if known is None else _executions(known)),
            _map_wall_target(size, ours, ref),
            _map_memory_target(size, ours),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, "", _MAP_LEGEND, *(f"\n{note}" for note in notes)]


def _versus_or_alone(ours: float, ref: float | None) -> str:
    return _side(_num(ours), None) if ref is None else _versus(ours, ref)


def _side(ours: str, ref: str | None) -> str:
    return f"{ours} / {ref if ref is not None else '-'}"


def _map_wall(ours: float, ref: Outcome | None) -> str:
    if isinstance(ref, Result):
        return f"{_num(ours)} / {_num(ref.wall)} ({ours / ref.wall:.2f}x)"
    if isinstance(ref, Capped):
        return f"{_num(ours)} / > {ref.seconds:g} (< {ours / ref.seconds:.3f}x)"
    return _side(_num(ours), None)


def _memory(ours: float | None, ref: float | None) -> str:
    if ours is not None and ref:
        return f"{_mib(ours)} / {_mib(ref)} ({ours / ref:.2f}x)"
    return _side(_mib(ours), _mib(ref) if ref is not None else None)


def _executions(result: Result) -> str:
    return f"{result.samples} ({result.processes})"


def _map_wall_target(size: int, ours: Result, ref: Outcome | None) -> str:
    factor = MAP_WALL_FACTOR.get(size)
    if factor is not None:
        if isinstance(ref, Result):
            return _check(ours.wall, factor * ref.wall, " s")
        if isinstance(ref, Capped):
            return _check(ours.wall, factor * ref.seconds, " s") + " (vs the cap)"
        return "no reference figure"
    limit = MAP_WALL_LIMIT_SECONDS.get(size)
    return "n/a" if limit is None else _check(ours.wall, limit, " s")


def _map_memory_target(size: int, ours: Result) -> str:
    limit = MAP_MEMORY_LIMIT_BYTES.get(size)
    if limit is None:
        return "n/a"
    figures = [b for b in (ours.peak_bytes, ours.rss_growth_bytes) if b is not None]
    if not figures:
        return "not measured"
    shown = " and ".join(_mib(b) for b in figures)
    verdict = "PASS" if max(figures) <= limit else "MISS"
    relation = "≤" if verdict == "PASS" else "vs"
    return f"{verdict} {shown} {relation} {_mib(limit)} MiB"


def _split(pairs: list[_Pair]) -> list[str]:
    lines = [
        "| row | ours: SDK + runner / service | reference: SDK + runner / service | "
        "SDK + runner ratio | CPU target on SDK + runner |",
        "|---|---:|---:|---:|---|",
    ]
    for p in pairs:
        ours_sdk = p.ms(p.ours.cpu - p.ours.service_cpu)
        ref_sdk = p.ms(p.ref.cpu - p.ref.service_cpu)
        cells = [
            p.row.id,
            f"{_num(ours_sdk)} / {_num(p.ms(p.ours.service_cpu))}",
            f"{_num(ref_sdk)} / {_num(p.ms(p.ref.service_cpu))}",
            f"{ours_sdk / ref_sdk:.2f}x",
            _cpu_target(ours_sdk, ref_sdk),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _per_call(result: Result) -> float:
    return result.updates / result.calls if result.calls else 0.0


def _versus(ours: float, ref: float) -> str:
    return f"{_num(ours)} / {_num(ref)} ({ours / ref:.2f}x)"


def _wall_target(p: _Pair) -> str:
    if p.row.workload is not Workload.SEQUENTIAL or p.row.store is not Store.MEMORY:
        return "n/a"
    limit = WALL_FACTOR * p.row.latency_ms + WALL_ALLOWANCE_MS
    wall = p.ms(p.ours.wall)
    return _check(wall, limit)


def _cpu_target(ours: float, ref: float) -> str:
    return _check(ours, CPU_FACTOR * ref)


def _check(value: float, limit: float, unit: str = "") -> str:
    if value <= limit:
        return f"PASS {_num(value)} ≤ {_num(limit)}{unit}"
    return f"MISS {_num(value)} > {_num(limit)}{unit}"


def _mib(value: float | None) -> str:
    if value is None:
        return "-"
    mib = value / _MIB
    return f"{mib:.2f}" if mib < 10 else f"{mib:.1f}"


def _num(value: float) -> str:
    return f"{value:.3f}" if abs(value) < 10 else f"{value:.2f}"
