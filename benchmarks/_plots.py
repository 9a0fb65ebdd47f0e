"""The three plots of docs/benchmarks.md, as PNG files (matplotlib, no display needed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["fan_out", "round_trip", "store_vs_dbos"]

_OURS, _PEER = "#1f77b4", "#d62728"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    return pyplot


def round_trip(
    path: Path,
    latencies: Sequence[float],
    ours: Sequence[tuple[float, float]],
    reference: Sequence[tuple[float, float]],
) -> None:
    """Wall and host CPU ms per sequential step against the injected round trip, both SDKs."""
    plt = _pyplot()
    figure, (wall, cpu) = plt.subplots(1, 2, figsize=(10, 4))
    for axes, index, title in ((wall, 0, "wall ms per step"), (cpu, 1, "host CPU ms per step")):
        axes.plot(latencies, [o[index] for o in ours], "o-", color=_OURS, label="durable_async")
        axes.plot(
            latencies, [r[index] for r in reference], "s-", color=_PEER, label="reference 3.0.0"
        )
        axes.set_xlabel("injected round trip per checkpoint call, ms")
        axes.set_title(title)
        axes.grid(alpha=0.3)
    wall.plot(latencies, latencies, ":", color="grey", label="the round trip itself")
    wall.legend()
    figure.suptitle("Sequential steps over HTTP against the local service")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def fan_out(path: Path, series: Mapping[str, Sequence[tuple[int, float]]]) -> None:
    """Wall µs per item against fan-out size, log axes; one line per workload."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for (name, points), marker in zip(series.items(), "os^v", strict=False):
        sizes = [size for size, _ in points]
        axes.plot(sizes, [cost for _, cost in points], f"{marker}-", label=name)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("items (or steps) in one execution")
    axes.set_ylabel("wall µs per item")
    axes.set_title("Cost per item against fan-out size (in-memory service, 0 ms)")
    axes.grid(alpha=0.3, which="both")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def store_vs_dbos(path: Path, rows: Sequence[tuple[str, float, float | None]]) -> None:
    """Steps per second of each embedded-store workload: ours against DBOS, log scale."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(9, 4.5))
    positions = range(len(rows))
    width = 0.38
    ours = [r[1] for r in rows]
    dbos = [r[2] or 0.0 for r in rows]
    axes.bar([p - width / 2 for p in positions], ours, width, color=_OURS, label="durable_async")
    axes.bar([p + width / 2 for p in positions], dbos, width, color=_PEER, label="DBOS 3.4.0")
    axes.set_xticks(list(positions), [r[0] for r in rows], rotation=15, ha="right")
    axes.set_yscale("log")
    axes.set_ylabel("steps (or items) per second")
    axes.set_title("Embedded SQLite store, fsync at every commit: durable_async against DBOS")
    axes.grid(alpha=0.3, axis="y", which="both")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
