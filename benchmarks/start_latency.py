"""How long a start request waits while many executions exist and many are in flight.

The local service serves one SQLite store over loopback HTTP with a :class:`LocalRunner`, as
``durable-async`` does. First ``--executions`` minus ``--in-flight`` executions are run to their
end (the store's size), then ``--in-flight`` executions are started that keep checkpointing
(steps and one-second waits) for the whole measurement, and then ``--starts`` start requests
(``POST /start-durable-execution``) arrive ``--rate`` a second, at most ``--clients`` at a time,
each timed from request to response. Each timed start runs a two-step execution to its end in
the background, so the in-flight load stays about ``--in-flight``. The checkpoint calls made
meanwhile are counted too, so a faster start that slowed everything else down would show.

    .venv/bin/python -m benchmarks.start_latency                 # 2,000 executions, 280 in flight
    .venv/bin/python -m benchmarks.start_latency --executions 500 --in-flight 50 --starts 100
    .venv/bin/python -m benchmarks.start_latency --rate 0 --clients 32   # as fast as 32 clients go
    .venv/bin/python -m benchmarks.start_latency --profile       # cProfile of the measured phase

The figures are printed; nothing here asserts on speed.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from durable_async import DurableContext, DurableHandler, Duration, StepContext, durable_execution
from durable_async import durable_step as _durable_step
from durable_async.service.local import LocalDurableService, LocalRunner, SqliteStore
from durable_async.service.local.clock import RealClock
from durable_async.service.local.http import LocalHttpServer

__all__ = ["main"]

Invoker = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


@_durable_step
async def _echo(step_context: StepContext, value: int) -> int:
    return value


@durable_execution
async def quick(event: dict[str, int], ctx: DurableContext) -> int:
    """Two steps and done: what the executions that already ended ran."""
    first: int = await ctx.step(_echo(1))
    second: int = await ctx.step(_echo(2))
    return first + second


@durable_execution
async def busy(event: dict[str, int], ctx: DurableContext) -> int:
    """Checkpoint steadily for ``rounds`` seconds: a few steps, then a one-second wait, again."""
    total = 0
    for round_ in range(event["rounds"]):
        for i in range(event["steps"]):
            total += await ctx.step(_echo(round_ + i))
        await ctx.wait(Duration.from_seconds(1))
    return total


class _CountingService(LocalDurableService):
    """The engine, counting its checkpoint calls: the measure of the in-flight work done."""

    checkpoints = 0

    async def checkpoint(
        self,
        arn: str,
        token: str,
        updates: list[dict[str, Any]],
        client_token: str | None = None,
    ) -> dict[str, Any]:
        response = await super().checkpoint(arn, token, updates, client_token)
        self.checkpoints += 1
        return response


def _invoker(handler: DurableHandler, service: LocalDurableService) -> Invoker:
    async def invoke(event: dict[str, Any]) -> dict[str, Any]:
        return await handler.invoke(event, service=service, clock=service.clock)

    return invoke


async def _start(
    session: aiohttp.ClientSession, url: str, function: str, payload: Any
) -> tuple[float, str]:
    """Start an execution over HTTP; return the seconds the request took and the ARN."""
    began = time.perf_counter()
    body = {"FunctionName": function, "Input": payload}
    async with session.post(f"{url}/start-durable-execution", json=body) as response:
        answer = await response.json()
        if response.status != 201:
            raise RuntimeError(f"start answered {response.status}: {answer}")
    return time.perf_counter() - began, str(answer["ExecutionArn"])


async def _seed(
    session: aiohttp.ClientSession, url: str, runner: LocalRunner, count: int, clients: int
) -> None:
    """Run ``count`` quick executions to their end, ``clients`` starts at a time."""
    semaphore = asyncio.Semaphore(clients)

    async def one() -> None:
        async with semaphore:
            _, arn = await _start(session, url, "quick", {})
            await runner.wait_for_result(arn)

    await asyncio.gather(*(one() for _ in range(count)))


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Seed, load, time the starts; return the figures."""
    folder = Path(tempfile.mkdtemp(prefix="durable-start-latency-"))
    store = SqliteStore(folder / "durable.sqlite3")
    busy_input = {"rounds": args.rounds, "steps": args.steps}
    async with _CountingService(store, RealClock()) as service, LocalRunner(service) as runner:
        runner.register("quick", _invoker(quick, service))
        runner.register("busy", _invoker(busy, service))
        async with (
            LocalHttpServer(service, runner=runner) as server,
            aiohttp.ClientSession() as session,
        ):
            seeded = time.perf_counter()
            await _seed(session, server.url, runner, args.executions - args.in_flight, args.clients)
            seed_seconds = time.perf_counter() - seeded
            for _ in range(args.in_flight):
                await _start(session, server.url, "busy", busy_input)
            await asyncio.sleep(args.settle)  # let the in-flight load reach its steady state
            before = service.checkpoints
            timed = time.perf_counter()
            latencies = await _timed_starts(session, server.url, args)
            timed_seconds = time.perf_counter() - timed
            checkpoints = service.checkpoints - before
        # Leaving the runner cancels the executions still in flight: the measurement is over.
    return {
        "executions": args.executions,
        "in_flight": args.in_flight,
        "starts": len(latencies),
        "clients": args.clients,
        "seed_seconds": seed_seconds,
        "p50": statistics.median(latencies),
        "p99": _percentile(latencies, 0.99),
        "max": max(latencies),
        "checkpoints_per_second": checkpoints / timed_seconds,
    }


async def _timed_starts(
    session: aiohttp.ClientSession, url: str, args: argparse.Namespace
) -> list[float]:
    semaphore = asyncio.Semaphore(args.clients)
    profile = cProfile.Profile() if args.profile else None

    async def one(n: int) -> float:
        if args.rate > 0:
            await asyncio.sleep(n / args.rate)  # arrivals at a steady rate, whatever the answers
        async with semaphore:
            return (await _start(session, url, "quick", {}))[0]

    if profile is not None:
        profile.enable()
    try:
        return list(await asyncio.gather(*(one(n) for n in range(args.starts))))
    finally:
        if profile is not None:
            profile.disable()
            pstats.Stats(profile).sort_stats("cumulative").print_stats(40)


def main(argv: list[str] | None = None) -> None:
    """Print start latency figures for the given load."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.start_latency")
    parser.add_argument("--executions", type=int, default=2000, help="executions in the store")
    parser.add_argument("--in-flight", type=int, default=280, help="executions checkpointing")
    parser.add_argument("--starts", type=int, default=200, help="start requests timed")
    parser.add_argument("--rate", type=float, default=20, help="starts a second (0: no pause)")
    parser.add_argument("--clients", type=int, default=32, help="start requests at a time")
    parser.add_argument("--rounds", type=int, default=60, help="seconds an in-flight one runs")
    parser.add_argument("--steps", type=int, default=5, help="steps per round")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds before timing")
    parser.add_argument("--profile", action="store_true", help="cProfile the timed phase")
    args = parser.parse_args(argv)
    figures = asyncio.run(measure(args))
    print(
        f"{figures['executions']} executions, {figures['in_flight']} in flight, "
        f"{figures['starts']} starts ({args.rate:g}/s, at most {figures['clients']} at a time): "
        f"p50 {figures['p50'] * 1000:.0f} ms, p99 {figures['p99'] * 1000:.0f} ms, "
        f"max {figures['max'] * 1000:.0f} ms; "
        f"{figures['checkpoints_per_second']:.0f} checkpoint calls/s meanwhile "
        f"(seeding took {figures['seed_seconds']:.1f} s)"
    )


if __name__ == "__main__":
    main()
