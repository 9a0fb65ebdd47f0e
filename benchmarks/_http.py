"""Both SDKs' handlers over HTTP against our local service, with an injected round trip.

``python -m benchmarks._http '<HttpCase as JSON>'`` is the measuring (handler) process: it
starts the service in a process of its own (``--serve LATENCY_MS``: the local durable
execution service on the in-memory store over loopback HTTP, every CheckpointDurableExecution
call waiting the latency first), points the AWS SDK at it with ``AWS_ENDPOINT_URL_LAMBDA`` as
Lambda's environment would, and calls the handler's Lambda entry, ``handler(event, context)``,
with an invocation event the service issued. Ours checkpoints through ``AwsDurableService``
(its thin path), the reference through its boto3 client. Wall and CPU are the handler
process's (the host's), the service's CPU is not in them. Prints one JSON line.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["HTTP_ROWS", "QUICK_HTTP_ROWS", "HttpCase", "HttpMeasurement", "HttpRow"]

# Credentials only sign requests to 127.0.0.1: nothing here reaches AWS.
_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_SESSION_TOKEN": "bench-session-token",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


@dataclass(frozen=True, slots=True)
class HttpRow:
    """Sequential steps of one execution behind an injected round trip, on one SDK."""

    sdk: str  # "ours" or "reference"
    latency_ms: float
    steps: int = 50
    repetitions: int = 3

    @property
    def id(self) -> str:
        return f"http-{self.sdk}-{self.latency_ms:g}ms"


_LATENCIES = (0.0, 2.0, 10.0, 30.0)
HTTP_ROWS = tuple(HttpRow(sdk, ms) for ms in _LATENCIES for sdk in ("ours", "reference"))
QUICK_HTTP_ROWS = tuple(
    HttpRow(sdk, ms, steps=20, repetitions=2) for ms in (0.0, 10.0) for sdk in ("ours", "reference")
)
HTTP_PROCESSES, QUICK_HTTP_PROCESSES = 2, 1


@dataclass(frozen=True, slots=True)
class HttpCase:
    row: HttpRow

    def to_json(self) -> str:
        return json.dumps(asdict(self.row))

    @classmethod
    def from_json(cls, text: str) -> HttpCase:
        return cls(HttpRow(**json.loads(text)))


@dataclass(frozen=True, slots=True)
class HttpSample:
    wall: float
    cpu: float
    calls: int
    updates: int


@dataclass(frozen=True, slots=True)
class HttpMeasurement:
    samples: list[HttpSample]

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> HttpMeasurement:
        return cls([HttpSample(**s) for s in json.loads(text)["samples"]])

    @property
    def wall(self) -> float:
        return statistics.median(s.wall for s in self.samples)

    @property
    def cpu(self) -> float:
        return statistics.median(s.cpu for s in self.samples)


# The service process.


async def _serve(latency_ms: float) -> None:
    from durable_async.service.local.engine import LocalDurableService
    from durable_async.service.local.http import LocalHttpServer
    from durable_async.service.local.store import MemoryStore

    service = LocalDurableService(MemoryStore(), checkpoint_latency=latency_ms / 1000)
    sizes: dict[str, list[int]] = {}
    checkpoint = service.checkpoint

    async def counted(
        arn: str, token: str, updates: list[dict[str, Any]], client_token: str | None = None
    ) -> dict[str, Any]:
        sizes.setdefault(arn, []).append(len(updates))
        return await checkpoint(arn, token, updates, client_token)

    service.checkpoint = counted  # type: ignore[method-assign]
    loop = asyncio.get_running_loop()
    async with service, LocalHttpServer(service) as server:
        print(json.dumps({"url": server.url}), flush=True)
        while line := (await loop.run_in_executor(None, sys.stdin.readline)).strip():
            command, argument = line.split(" ", 1)
            if command == "new":
                arn = await service.start_execution("bench", argument)
                answer: Any = await service.begin_invocation(arn)
            else:  # "calls ARN"
                answer = sizes.pop(argument, [])
            print(json.dumps(answer), flush=True)


class _Service:
    """The service process, as the handler process sees it."""

    def __init__(self, latency_ms: float) -> None:
        command = [sys.executable, "-m", "benchmarks._http", "--serve", str(latency_ms)]
        self._process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.url: str = self._ask(None)["url"]

    def _ask(self, line: str | None) -> Any:
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        if line is not None:
            self._process.stdin.write(line + "\n")
            self._process.stdin.flush()
        answer = self._process.stdout.readline()
        if not answer:
            raise RuntimeError("The benchmark's service process ended early; see its stderr.")
        return json.loads(answer)

    def event(self, payload: str) -> dict[str, Any]:
        return dict(self._ask(f"new {payload}"))

    def sizes(self, arn: str) -> list[int]:
        return list(self._ask(f"calls {arn}"))

    def close(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        self._process.wait(timeout=30)


# The handler process.


def _handler(sdk: str) -> Callable[[dict[str, Any], Any], Any]:
    if sdk == "ours":
        from benchmarks._ours import sequential

        return sequential  # the decorated handler is the Lambda entry
    from aws_durable_execution_sdk_python.context import DurableContext, durable_step
    from aws_durable_execution_sdk_python.execution import durable_execution
    from aws_durable_execution_sdk_python.types import StepContext

    @durable_step
    def echo(step_context: StepContext, value: int) -> int:
        return value

    @durable_execution
    def reference_sequential(event: dict[str, int], context: DurableContext) -> int:
        total = 0
        for i in range(event["n"]):
            total += context.step(echo(i))
        return total

    return reference_sequential


def _run(service: _Service, handler: Callable[..., Any], steps: int) -> HttpSample:
    from durable_async._worker import LambdaContext

    event = service.event(json.dumps({"n": steps}))
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    output = handler(event, LambdaContext("bench"))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    expected = json.dumps(steps * (steps - 1) // 2)
    if output.get("Status") != "SUCCEEDED" or output.get("Result") != expected:
        raise RuntimeError(f"The handler's invocation ended {output}, expected {expected}.")
    sizes = service.sizes(event["DurableExecutionArn"])
    return HttpSample(wall, cpu, len(sizes), sum(sizes))


def measure_case(case: HttpCase) -> HttpMeasurement:
    row = case.row
    os.environ.update(_ENVIRONMENT)
    service = _Service(row.latency_ms)
    try:
        os.environ["AWS_ENDPOINT_URL_LAMBDA"] = service.url
        handler = _handler(row.sdk)
        _run(service, handler, row.steps)  # connect, import lazily, fill caches
        samples = [_run(service, handler, row.steps) for _ in range(row.repetitions)]
    finally:
        service.close()
    return HttpMeasurement(samples)


def per_step_ms(measurements: Sequence[HttpMeasurement], steps: int) -> tuple[float, float]:
    """Return the median wall and CPU milliseconds per step over every sample."""
    samples = [s for m in measurements for s in m.samples]
    wall = statistics.median(s.wall for s in samples)
    cpu = statistics.median(s.cpu for s in samples)
    return wall * 1000 / steps, cpu * 1000 / steps


def main() -> None:
    if sys.argv[1] == "--serve":
        asyncio.run(_serve(float(sys.argv[2])))
        return
    print(measure_case(HttpCase.from_json(sys.argv[1])).to_json())


if __name__ == "__main__":
    main()
