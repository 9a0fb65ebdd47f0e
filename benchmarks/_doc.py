"""Render what `make bench` measured into docs/benchmarks.md: targets, tables, plots.

The generated text goes between ``<!-- bench:begin -->`` and ``<!-- bench:end -->``; the rest
of the page (the method, the checkpoint call's own section) is left as it is.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks import _plots
from benchmarks._fanout import FanoutMeasurement, FanoutResult, FanoutRow
from benchmarks._http import HttpMeasurement, HttpRow, per_step_ms
from benchmarks._store_spec import StoreMeasurement, StoreResult, StoreRow, StoreWorkload

__all__ = ["Measured", "render", "write"]

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
_CHECKPOINT_VERDICT = re.compile(r"\*\*Target \(at most 300 µs[^)]*\): (met|missed)\*\*([^\n]*)")
_MIB = 2**20
# "Flat" per-item cost: the larger size costs at most this many times the smaller's per item.
FLAT_FACTOR = 1.25


@dataclass
class Measured:
    """Every section's measurements: one entry per measuring process (round), by row."""

    store: dict[StoreRow, dict[str, list[StoreMeasurement]]]
    fanout: dict[FanoutRow, list[FanoutMeasurement]]
    http: dict[HttpRow, list[HttpMeasurement]]
    failures: list[str]


@dataclass(frozen=True)
class _Target:
    item: str
    target: str
    measured: str
    met: bool | None  # None: not measured in this run

    def cells(self) -> str:
        verdict = {True: "**met**", False: "**missed**", None: "not measured"}[self.met]
        return f"| {self.item} | {self.target} | {self.measured} | {verdict} |"


def _ratios(
    ours: Sequence[StoreMeasurement], peer: Sequence[StoreMeasurement], what: str = "wall"
) -> list[float]:
    """Each round's peer figure over ours (median of each process's samples)."""

    def median(m: StoreMeasurement) -> float:
        return float(statistics.median(getattr(s, what) for s in m.samples))

    return [median(p) / median(o) for o, p in zip(ours, peer, strict=False)]


def _spread(values: Sequence[float], digits: int = 1) -> str:
    if not values:
        return "-"
    mid = statistics.median(values)
    if len(values) == 1:
        return f"{mid:.{digits}f}x"
    return f"{mid:.{digits}f}x ({min(values):.{digits}f}-{max(values):.{digits}f})"


def _mib(value: float | None) -> str:
    return "-" if value is None else f"{value / _MIB:.1f}"


_Bar = tuple[str, float, float | None]
_Series = dict[str, list[tuple[int, float]]]
_Points = dict[str, list[tuple[float, float, float]]]


def _store_section(measured: Measured) -> tuple[list[str], list[_Target], list[_Bar]]:
    lines = [
        "| workload | side | checkpoint calls | SQLite transactions | wall s | CPU s | "
        "peak RSS growth MiB | steps / s | DBOS ÷ ours: wall (spread over rounds) | "
        "DBOS ÷ ours: CPU | target (on wall) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---|---|",
    ]
    targets: list[_Target] = []
    bars: list[_Bar] = []
    per_item: dict[int, float] = {}
    for row, sides in measured.store.items():
        ours, dbos = sides.get("ours", []), sides.get("dbos", [])
        if not ours:
            continue
        mine = StoreResult.of(ours)
        theirs = StoreResult.of(dbos) if dbos else None
        ratios = _ratios(ours, dbos) if dbos else []
        cpu_ratios = _ratios(ours, dbos, "cpu") if dbos else []
        if row.workload is StoreWorkload.MAP:
            per_item[row.steps] = mine.wall / row.units
        verdict = "-"
        if row.target is not None and ratios:
            met = statistics.median(ratios) >= row.target
            verdict = f"≥ {row.target:g}x: {'met' if met else 'missed'}"
            targets.append(
                _Target(
                    "5. embedded store",
                    f"{row.title}: ≥ {row.target:g}x DBOS",
                    _spread(ratios),
                    met,
                )
            )
        for name, result in (("durable_async", mine), ("DBOS 3.4.0", theirs)):
            if result is None:
                continue
            ours_side = result is mine
            lines.append(
                f"| {row.title} | {name} | {f'{result.calls:g}' if ours_side else '-'} | "
                f"{result.transactions:g} | {result.wall:.3f} | {result.cpu:.3f} | "
                f"{_mib(result.rss_growth_bytes)} | {row.units / result.wall:,.0f} | "
                f"{_spread(ratios) if ours_side and ratios else ''} | "
                f"{_spread(cpu_ratios) if ours_side and cpu_ratios else ''} | "
                f"{verdict if ours_side else ''} |"
            )
        bars.append((row.title, row.units / mine.wall, row.units / theirs.wall if theirs else None))
    if 1_000 in per_item and 10_000 in per_item:
        growth = per_item[10_000] / per_item[1_000]
        targets.append(
            _Target(
                "5. embedded store",
                f"map flat from 1k to 10k items (per-item wall at 10k ≤ {FLAT_FACTOR}x 1k's)",
                f"{growth:.2f}x ({per_item[1_000] * 1e6:.0f} → {per_item[10_000] * 1e6:.0f} µs)",
                growth <= FLAT_FACTOR,
            )
        )
    return lines, targets, bars


def _fanout_section(measured: Measured) -> tuple[list[str], list[_Target], _Series]:
    lines = [
        "| workload | N | checkpoint calls | updates / call | wall s | CPU s | wall µs / item | "
        "first call after, ms (worst) | tail, ms (worst) | peak RSS growth MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    targets: list[_Target] = []
    series: _Series = {}
    results: dict[tuple[str, int], FanoutResult] = {}
    for row, measurements in measured.fanout.items():
        if not measurements:
            continue
        result = FanoutResult.of(measurements)
        results[row.workload, row.size] = result
        per_item = result.wall / row.size
        series.setdefault(row.workload, []).append((row.size, per_item * 1e6))
        lines.append(
            f"| {row.workload} | {row.size:,} | {result.calls:g} | "
            f"{result.updates / max(result.calls, 1):.1f} | {result.wall:.3f} | "
            f"{result.cpu:.3f} | {per_item * 1e6:.1f} | {result.first_call * 1e3:.1f} "
            f"({result.worst_first_call * 1e3:.1f}) | {result.tail * 1e3:.2f} "
            f"({result.worst_tail * 1e3:.2f}) | {_mib(result.rss_growth_bytes)} |"
        )
        if row.workload in ("map", "gathered") and row.size in (1_000, 10_000):
            first, worst = result.first_call * 1e3, result.worst_first_call * 1e3
            measured = f"{first:.1f} ms (worst {worst:.1f})"
            if row.workload == "gathered":
                measured += (
                    f"; asyncio.gather alone takes {result.gather_floor * 1e3:.1f} ms to run "
                    "every task's first slice"
                )
            targets.append(
                _Target(
                    "2. pipelined fan-out",
                    f"{row.workload} {row.size:,}: first call ≤ 10 ms after the start",
                    measured,
                    result.first_call <= 0.010,
                )
            )
        targets.append(
            _Target(
                "3. no tail",
                f"{row.workload} {row.size:,}: ≤ 5 ms from the last answer to the return",
                f"{result.tail * 1e3:.2f} ms (worst {result.worst_tail * 1e3:.2f})",
                result.tail <= 0.005,
            )
        )
    targets += _scale_targets(results)
    return lines, targets, series


def _scale_targets(results: Mapping[tuple[str, int], FanoutResult]) -> list[_Target]:
    targets: list[_Target] = []
    maps = {size: r for (workload, size), r in results.items() if workload == "map"}
    if 10_000 in maps:
        wall = maps[10_000].wall
        targets.append(_Target("4. scale", "map 10,000 within 1 s", f"{wall:.2f} s", wall <= 1.0))
    if 100_000 in maps:
        big = maps[100_000]
        rss = big.rss_growth_bytes
        within = big.wall <= 12.0 and rss is not None and rss <= 2**30
        measured = f"{big.wall:.1f} s, RSS growth {_mib(rss)} MiB"
        targets.append(_Target("4. scale", "map 100,000 within 12 s and 1 GB", measured, within))
    spans = ((1_000, 100_000, "2. pipelined fan-out"), (10_000, 100_000, "4. scale"))
    for small, large, item in spans:
        if small in maps and large in maps:
            growth = (maps[large].wall / large) / (maps[small].wall / small)
            what = "per-item cost flat" if item.startswith("2") else "linear"
            targets.append(
                _Target(
                    item,
                    f"map {what} from {small:,} to {large:,} items "
                    f"(per-item wall ≤ {FLAT_FACTOR}x)",
                    f"{growth:.2f}x",
                    growth <= FLAT_FACTOR,
                )
            )
    return targets


def _http_section(measured: Measured) -> tuple[list[str], _Points]:
    lines = [
        "| round trip | checkpoint calls (ours / reference) | updates / call | "
        "wall ms / step (ours / reference) | host CPU ms / step (ours / reference) | "
        "wall: ours ÷ reference (spread over rounds) |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    points: _Points = {"ours": [], "reference": []}
    by_latency: dict[float, dict[str, tuple[HttpRow, list[HttpMeasurement]]]] = {}
    for row, measurements in measured.http.items():
        if measurements:
            by_latency.setdefault(row.latency_ms, {})[row.sdk] = (row, measurements)
    for latency, sides in sorted(by_latency.items()):
        if set(sides) != {"ours", "reference"}:
            continue
        (row, ours), (_, ref) = sides["ours"], sides["reference"]
        ours_wall, ours_cpu = per_step_ms(ours, row.steps)
        ref_wall, ref_cpu = per_step_ms(ref, row.steps)
        points["ours"].append((latency, ours_wall, ours_cpu))
        points["reference"].append((latency, ref_wall, ref_cpu))
        ratios = [o.wall / r.wall for o, r in zip(ours, ref, strict=False)]
        calls = statistics.median(s.calls for m in ours for s in m.samples)
        ref_calls = statistics.median(s.calls for m in ref for s in m.samples)
        updates = statistics.median(s.updates for m in ours for s in m.samples)
        ref_updates = statistics.median(s.updates for m in ref for s in m.samples)
        lines.append(
            f"| {latency:g} ms | {calls:g} / {ref_calls:g} | "
            f"{updates / max(calls, 1):.1f} / {ref_updates / max(ref_calls, 1):.1f} | "
            f"{ours_wall:.2f} / {ref_wall:.2f} | {ours_cpu:.3f} / {ref_cpu:.3f} | "
            f"{_spread(ratios, 2)} |"
        )
    return lines, points


def _checkpoint_target(page: str) -> _Target:
    found = _CHECKPOINT_VERDICT.search(page)
    if found is None:
        return _Target("1. the checkpoint call", "host CPU ≤ 0.3 ms per call", "-", None)
    return _Target(
        "1. the checkpoint call",
        "host CPU ≤ 0.3 ms per call",
        found.group(2).strip(" ,.") + " (section below)",
        found.group(1) == "met",
    )


def render(
    measured: Measured,
    *,
    environment: Sequence[str],
    profile: str,
    reference_report: str,
    page: str,
    images: Path,
    image_prefix: str,
) -> str:
    """Return the generated block (without markers) and draw its plots into ``images``."""
    store_lines, store_targets, bars = _store_section(measured)
    fan_lines, fan_targets, series = _fanout_section(measured)
    http_lines, points = _http_section(measured)
    images.mkdir(parents=True, exist_ok=True)
    pictures: list[str] = []
    if points["ours"]:
        _plots.round_trip(
            images / "round-trip.png",
            [p[0] for p in points["ours"]],
            [(p[1], p[2]) for p in points["ours"]],
            [(p[1], p[2]) for p in points["reference"]],
        )
        pictures.append(f"![ms per step against round trip]({image_prefix}round-trip.png)")
    if series:
        _plots.fan_out(images / "fan-out.png", series)
        pictures.append(f"![cost per item against fan-out size]({image_prefix}fan-out.png)")
    if bars:
        _plots.store_vs_dbos(images / "store-vs-dbos.png", bars)
        pictures.append(f"![steps per second against DBOS]({image_prefix}store-vs-dbos.png)")
    targets = [
        _checkpoint_target(page),
        *fan_targets,
        *store_targets,
        _Target("6. make bench", "one command writes this page", "this page", True),
    ]
    order = {t.item: n for n, t in enumerate(sorted(targets, key=lambda t: t.item))}
    targets.sort(key=lambda t: order[t.item])
    met = sum(t.met is True for t in targets)
    missed = sum(t.met is False for t in targets)
    failures = [f"- {failure}" for failure in measured.failures]
    return "\n".join(
        [
            "## The run",
            "",
            *(f"- {line}" for line in environment),
            "",
            f"## Targets of issue 9: {met} met, {missed} missed",
            "",
            "| item | target | measured (median; spread over rounds) | verdict |",
            "|---|---|---|---|",
            *(t.cells() for t in targets),
            "",
            "## The embedded store against DBOS",
            "",
            *store_lines,
            "",
            *(pictures[-1:] if bars else []),
            "",
            "### Profile of the hottest workload",
            "",
            profile.strip(),
            "",
            "## Fan-out and scale (ours, in-memory service, 0 ms)",
            "",
            *fan_lines,
            "",
            *[p for p in pictures if "fan-out" in p],
            "",
            "## Sequential steps over HTTP: ours and the reference SDK against our local service",
            "",
            *http_lines,
            "",
            *[p for p in pictures if "round-trip" in p],
            "",
            "## In process: ours against the reference SDK's own test runner",
            "",
            reference_report.strip(),
            *(["", "## Failures", "", *failures] if failures else []),
        ]
    )


def write(page_path: Path, block: str) -> None:
    """Replace the text between this command's markers (or add them after the title)."""
    page = page_path.read_text(encoding="utf-8")
    generated = f"{BEGIN}\n{block.strip()}\n{END}"
    # The markers on lines of their own: the page may name them in its prose.
    found = re.search(f"^{re.escape(BEGIN)}$.*?^{re.escape(END)}$", page, re.DOTALL | re.MULTILINE)
    if found is not None:
        page = page[: found.start()] + generated + page[found.end() :]
    else:
        page = page.rstrip("\n") + f"\n\n{generated}\n"
    page_path.write_text(page, encoding="utf-8")
