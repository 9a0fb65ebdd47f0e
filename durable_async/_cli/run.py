"""``durable-async run``: drive one execution to its end on the embedded local service."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from dataclasses import dataclass, field
from typing import Any

from durable_async._cli.common import (
    EXIT_INTERRUPTED,
    EXIT_LEASED,
    EXIT_TERMINATED,
    EXIT_TIMEOUT,
    EXIT_USAGE,
    CliError,
    exit_code_of,
    open_store,
    print_json,
    read_argument,
)
from durable_async._cli.progress import CallbackHint, follow, make_progress
from durable_async._execution import DurableHandler
from durable_async._loader import load, parse_named_target
from durable_async.service import ServiceError
from durable_async.service.local._sqlite import Durability
from durable_async.service.local.clock import Clock, RealClock, SkipClock
from durable_async.service.local.engine import LocalDurableService
from durable_async.service.local.http import LocalHttpServer
from durable_async.service.local.runner import ExecutionLeasedError, LocalRunner

__all__ = ["RunOptions", "load_functions", "load_handler", "run"]


@dataclass
class RunOptions:
    """Everything ``run`` takes from its command line."""

    target: str
    input: str | None = None
    name: str | None = None
    store: str = ".durable/durable.sqlite3"
    skip_time: bool = False
    latency_ms: float = 0.0
    timeout: float | None = None
    execution_timeout: int | None = None
    port: int = 0
    functions: list[str] = field(default_factory=list)
    progress: str = "auto"
    json: bool = False
    durability: Durability | None = None


def load_handler(target: str) -> tuple[DurableHandler[Any, Any], str]:
    """Import ``FILE.py:ATTR`` or ``pkg.module:ATTR``; return the durable handler and its name."""
    loaded = load(target)
    if not isinstance(loaded.value, DurableHandler):
        raise ValueError(f"{target} is not a durable handler; decorate it with @durable_execution.")
    return loaded.value, loaded.function_name


def load_functions(specs: list[str]) -> dict[str, Any]:
    """Parse ``NAME=FILE.py:ATTR`` specs into durable handlers or plain callables by name."""
    functions: dict[str, Any] = {}
    for spec in specs:
        name, target = parse_named_target(spec)
        function = load(target).value
        if not callable(function):
            raise ValueError(f"{target} is not a function or a durable handler.")
        functions[name] = function
    return functions


def run(options: RunOptions) -> int:
    """Run the execution ``options`` describe; return the exit code."""
    try:
        handler, function_name = load_handler(options.target)
        functions = load_functions(options.functions)
        payload = _input_payload(options.input)
    except (ValueError, ImportError, OSError) as exc:
        raise CliError(str(exc)) from exc
    terminated = _Terminated()
    try:
        execution = asyncio.run(
            _run(options, handler, function_name, functions, payload, terminated)
        )
    except KeyboardInterrupt:
        raise CliError(_resume_hint("interrupted", options), EXIT_INTERRUPTED) from None
    except asyncio.CancelledError:
        if not terminated.signalled:
            raise
        raise CliError(_resume_hint("terminated", options), EXIT_TERMINATED) from None
    except TimeoutError as exc:
        raise CliError(str(exc), EXIT_TIMEOUT) from exc
    except ExecutionLeasedError as exc:
        raise CliError(str(exc), EXIT_LEASED) from exc
    except (ServiceError, OSError) as exc:
        raise CliError(str(exc), EXIT_USAGE) from exc
    return _report(execution, options.json)


def _resume_hint(what: str, options: RunOptions) -> str:
    resume = f" with --name {options.name}" if options.name else " with the same --name"
    return f"{what}; run again{resume} to resume the execution"


class _Terminated:
    """Turns SIGTERM into the cancellation of the run, remembering that it came."""

    signalled = False

    def install(self, task: asyncio.Task[Any]) -> None:
        def on_sigterm() -> None:
            self.signalled = True
            task.cancel()

        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, on_sigterm)


async def _run(
    options: RunOptions,
    handler: DurableHandler[Any, Any],
    function_name: str,
    functions: dict[str, Any],
    payload: str | None,
    terminated: _Terminated,
) -> dict[str, Any]:
    task = asyncio.current_task()
    assert task is not None
    terminated.install(task)
    clock: Clock = SkipClock() if options.skip_time else RealClock()
    async with open_store(options.store, options.durability) as store:
        latency = options.latency_ms / 1000
        service = LocalDurableService(store, clock, checkpoint_latency=latency)
        async with LocalRunner(service, clock=clock) as runner:
            for name, function in [(function_name, handler), *functions.items()]:
                _register(runner, name, function, service, clock)
            async with LocalHttpServer(service, runner=runner, port=options.port) as server:
                _point_aws_clients_at(server.url)
                arn = await _start(service, function_name, payload, options)
                execution_name = (await service.describe_execution(arn))["DurableExecutionName"]
                hint = CallbackHint(execution_name, options.store)
                progress = make_progress(options.progress, sys.stderr, hint)
                async with follow(progress, service, arn):
                    return await runner.drive(arn, timeout=options.timeout)


async def _start(
    service: LocalDurableService, function_name: str, payload: str | None, options: RunOptions
) -> str:
    """Start the execution, or find the one of that name (it resumes)."""
    name = options.name
    try:
        return await service.start_execution(
            function_name, payload, name=name, timeout_seconds=options.execution_timeout
        )
    except ServiceError as exc:
        # Another process started the same name between the engine's look-up and insert.
        if name is None or exc.code != "ResourceConflictException":
            raise
        found = await service.find_execution(function_name, name)
        if found is None:
            raise
        return found


def _register(
    runner: LocalRunner, name: str, function: Any, service: LocalDurableService, clock: Clock
) -> None:
    if not isinstance(function, DurableHandler):
        runner.register_function(name, function)
        return
    durable = function

    async def invoke(event: dict[str, Any]) -> dict[str, Any]:
        return await durable.invoke(event, service=service, clock=clock)

    runner.register(name, invoke)


def _point_aws_clients_at(url: str) -> None:
    """Let code in the run (a submitter, say) call the Lambda API and reach this local service."""
    print(f"durable-async: local service at {url}", file=sys.stderr, flush=True)
    os.environ["AWS_ENDPOINT_URL_LAMBDA"] = url
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


def _report(execution: dict[str, Any], as_json: bool) -> int:
    """Print the outcome: ``ARN: STATUS`` on stderr, the result or error on stdout."""
    status = execution.get("Status")
    print(f"{execution.get('DurableExecutionArn')}: {status}", file=sys.stderr)
    result = execution.get("Result")
    if as_json:
        outcome = {
            "DurableExecutionArn": execution.get("DurableExecutionArn"),
            "DurableExecutionName": execution.get("DurableExecutionName"),
            "Status": status,
            "StartTimestamp": execution.get("StartTimestamp"),
            "EndTimestamp": execution.get("EndTimestamp"),
            "Result": json.loads(result) if result else None,
            "Error": execution.get("Error"),
        }
        print_json(outcome)
    elif status == "SUCCEEDED":
        print(json.dumps(json.loads(result), indent=2) if result else "null")
    else:
        print(json.dumps(execution.get("Error") or {}, indent=2))
    return exit_code_of(str(status))


def _input_payload(text: str | None) -> str | None:
    if text is None:
        return None
    text = read_argument(text, "--input")
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--input is not valid JSON: {exc}") from exc
    return text
