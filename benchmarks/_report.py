"""Turn measurements into the Markdown tables of README.md and results/latest.md."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from benchmarks._spec import Result, Row, Sdk, Store, Workload

__all__ = ["Outcome", "render"]

# Our targets: a sequential step costs the service round trip and almost nothing more; the
# SDK's CPU per step is a small fraction of the reference's.
WALL_FACTOR = 1.05
WALL_ALLOWANCE_MS = 0.3
CPU_FACTOR = 0.3

# A side's figures, or why it has none (listed under the tables).
Outcome = Result | str

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


_LEGEND = (
    "Cells read ours / reference (ratio ours ÷ reference). Wall target: a sequential step on "
    f"the in-memory store takes at most {WALL_FACTOR} * latency + {WALL_ALLOWANCE_MS} ms. "
    f"CPU target: our CPU per step (all threads) is at most {CPU_FACTOR} * the reference's."
)
_SPLIT_LEGEND = (
    "Service: CPU inside the local service applying calls (ours: Store.transact on the "
    "in-memory store, the store's thread on SQLite; reference: its runner's per-execution "
    "checkpoint and get-state tasks). SDK + runner: the rest of the process CPU (the SDK, "
    "its event loop or threads, the test runner, the handler)."
)


@dataclass(frozen=True, slots=True)
class _Pair:
    """Both sides of a row, in per-step milliseconds where a figure is a time."""

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
    samples: int,
    processes: int,
    environment: Iterable[str],
) -> str:
    """Return the report: environment, one table per workload, the CPU split, any errors."""
    lines = [
        f"N = {steps} steps per execution. Each figure is the median of {samples} executions "
        f"measured in {processes} fresh process(es) per row and side, each process warmed up "
        "by one execution first; peak memory is the median over the processes.",
        "",
        *(f"- {item}" for item in environment),
    ]
    pairs = [_pair(row, steps, sides) for row, sides in outcomes.items()]
    for workload, title in _TITLES.items():
        group = [p for p in pairs if p is not None and p.row.workload is workload]
        if group:
            lines += ["", f"### {title}", "", *_figures(group)]
    complete = [p for p in pairs if p is not None]
    if complete:
        lines += ["", _LEGEND, "", "### Where the CPU goes (ms per step)", "", *_split(complete)]
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


def _pair(row: Row, steps: int, sides: Mapping[Sdk, Outcome]) -> _Pair | None:
    ours, ref = sides.get(Sdk.OURS), sides.get(Sdk.REFERENCE)
    if isinstance(ours, Result) and isinstance(ref, Result):
        return _Pair(row, steps, ours, ref)
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
            f"{ours.peak_bytes / 2**20:.2f} / {ref.peak_bytes / 2**20:.2f}",
            _wall_target(p),
            _cpu_target(p.ms(ours.cpu), p.ms(ref.cpu)),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


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


def _check(value: float, limit: float) -> str:
    if value <= limit:
        return f"PASS {_num(value)} ≤ {_num(limit)}"
    return f"MISS {_num(value)} > {_num(limit)}"


def _num(value: float) -> str:
    return f"{value:.3f}" if abs(value) < 10 else f"{value:.2f}"
