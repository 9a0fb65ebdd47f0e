"""The workloads on the reference SDK, run on its DurableFunctionTestRunner.

The latency is injected where the reference SDK's checkpoint thread calls the runner's in-memory
service client, so every CheckpointDurableExecution call sleeps it, like a slow network would.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from aws_durable_execution_sdk_python.context import DurableContext, durable_step
from aws_durable_execution_sdk_python.execution import durable_execution
from aws_durable_execution_sdk_python.lambda_service import (
    CheckpointOutput,
    InvocationStatus,
    OperationUpdate,
)
from aws_durable_execution_sdk_python.types import StepContext
from aws_durable_execution_sdk_python_testing import (
    DurableFunctionTestResult,
    DurableFunctionTestRunner,
)
from aws_durable_execution_sdk_python_testing.client import InMemoryServiceClient
from aws_durable_execution_sdk_python_testing.stores.sqlite import SQLiteExecutionStore
from aws_durable_execution_sdk_python_testing.worker.checkpoint_tasks import (
    CheckpointTask,
    GetStateTask,
)
from aws_durable_execution_sdk_python_testing.worker.status import InvocationState
from aws_durable_execution_sdk_python_testing.worker.task import TaskOutcome, WorkerContext

from benchmarks._spec import Case, Sample, Store, Workload

__all__ = ["HANDLERS", "measure"]

T = TypeVar("T")

# The execution's timeout on the emulated service; generous, the benchmark caps wall time itself.
_TIMEOUT_SECONDS = 3600


@durable_step
def echo(step_context: StepContext, value: int) -> int:
    """Return ``value``: a step that costs nothing, so the SDK's overhead is all there is."""
    return value


@durable_execution
def sequential(event: dict[str, int], context: DurableContext) -> int:
    """Run ``n`` steps one after the other."""
    total = 0
    for i in range(event["n"]):
        total += context.step(echo(i))
    return total


def _map_item(context: DurableContext, item: int, index: int, items: Sequence[int]) -> int:
    return context.step(echo(item))


@durable_execution
def mapped(event: dict[str, int], context: DurableContext) -> int:
    """``context.map`` over ``n`` items, one step each (unlimited concurrency, default completion).

    The gathered workload too: the reference has no concurrent primitive for bare steps.
    """
    return sum(context.map(list(range(event["n"])), _map_item).get_results())


HANDLERS: dict[Workload, Callable[..., Any]] = {
    Workload.SEQUENTIAL: sequential,
    Workload.GATHERED: mapped,
    Workload.MAP: mapped,
}


class _Meter:
    """The injected latency, and what the service client and its worker lane saw."""

    def __init__(self) -> None:
        self.latency = 0.0
        self.sizes: list[int] = []
        self.service_cpu = 0.0

    def reset(self, latency: float) -> None:
        self.latency = latency
        self.sizes = []
        self.service_cpu = 0.0


_meter = _Meter()


def _install() -> None:
    """Route the runner's checkpoint calls through the meter (once per process)."""
    checkpoint = InMemoryServiceClient.checkpoint

    def slow_checkpoint(
        self: InMemoryServiceClient,
        durable_execution_arn: str,
        checkpoint_token: str,
        updates: list[OperationUpdate],
        client_token: str | None,
    ) -> CheckpointOutput:
        _meter.sizes.append(len(updates))
        if _meter.latency > 0:
            time.sleep(_meter.latency)
        return checkpoint(self, durable_execution_arn, checkpoint_token, updates, client_token)

    InMemoryServiceClient.checkpoint = slow_checkpoint  # type: ignore[method-assign]
    CheckpointTask.execute = _metered(CheckpointTask.execute)  # type: ignore[method-assign, assignment]
    GetStateTask.execute = _metered(GetStateTask.execute)  # type: ignore[method-assign, assignment]


def _metered(
    execute: Callable[[Any, InvocationState, WorkerContext], TaskOutcome[T]],
) -> Callable[[Any, InvocationState, WorkerContext], TaskOutcome[T]]:
    """Add the CPU of a task on the execution's worker thread to the service's share."""

    def run(self: Any, status: InvocationState, worker: WorkerContext) -> TaskOutcome[T]:
        start = time.thread_time()
        try:
            return execute(self, status, worker)
        finally:
            _meter.service_cpu += time.thread_time() - start

    return run


_install()


def measure(case: Case) -> Sample:
    """Run one execution of the case's workload and measure it."""
    row = case.row
    with tempfile.TemporaryDirectory(prefix="durable-bench-", ignore_cleanup_errors=True) as folder:
        store = (
            None
            if row.store is Store.MEMORY
            else SQLiteExecutionStore.create_and_initialize(Path(folder) / "executions.db")
        )
        with DurableFunctionTestRunner(HANDLERS[row.workload], store=store) as runner:
            _meter.reset(row.latency_ms / 1000)
            wall, cpu = time.perf_counter(), time.process_time()
            result = runner.run(
                input=json.dumps({"n": case.steps}), execution_timeout=_TIMEOUT_SECONDS
            )
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            service_cpu = _meter.service_cpu
    _check(result, case.steps)
    sizes = _meter.sizes
    return Sample(wall, cpu, service_cpu, len(sizes), sum(sizes))


def _check(result: DurableFunctionTestResult, steps: int) -> None:
    expected = steps * (steps - 1) // 2
    value = json.loads(result.result) if result.result else None
    if result.status is not InvocationStatus.SUCCEEDED or value != expected:
        raise RuntimeError(
            f"The reference execution ended {result.status} with {value!r} "
            f"(expected SUCCEEDED with {expected}); error: {result.error}."
        )
