"""``durable-async``: run a durable function to completion on the embedded local service.

    durable-async run examples/orders.py:handler --input '{"order_id": "o-1", "cents": 500}'
    durable-async serve --function orders=examples/orders.py:handler --port 8080

``serve`` is the local service over HTTP with functions in worker processes (docs/serve.md).

Executions live in a SQLite file (``.durable/durable.sqlite3`` by default), readable by its
owner only. Running again with the same ``--name`` resumes that execution where it stopped
(after a crash or Ctrl-C) instead of starting a new one; a finished execution just prints its
result again. Names belong to one handler: its file (by resolved path) and attribute make the
function name, ``orders-handler-<hash of the path>``, so ``one/orders.py:handler`` and
``two/orders.py:handler`` never share a ``--name``.

One process drives an execution at a time. A second ``run`` of a name that another live process
is running exits with status 4 and names that process (pid and host); once the holder ends, or
is killed, the name can be run again at once to resume it.

``--function NAME=FILE.py:ATTR`` (repeatable) makes a durable handler or a plain function
invocable as NAME by ``ctx.invoke``. While it runs, the local service also answers the Lambda
API over HTTP on 127.0.0.1, and ``AWS_ENDPOINT_URL_LAMBDA`` points there, so code in the run can
complete callbacks with ``SendDurableExecutionCallbackSuccess`` as it would on AWS. A
callback answered by another process on the same store file wakes the run within a second.

Exit status:

* 0 - the execution SUCCEEDED; its result is printed as JSON.
* 1 - it ended otherwise (FAILED, TIMED_OUT, STOPPED); its error is printed as JSON.
* 2 - bad usage: a bad target, ``--input``, ``--name``, or a ``--store`` that is not a usable
  SQLite store (a text file, a folder, a corrupt database).
* 3 - ``--timeout`` ran out; the execution goes on when run again with the same ``--name``.
* 4 - another process is running this execution; the message names its pid and host.
* 130 - interrupted (Ctrl-C); run again with the same ``--name`` to resume.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
from typing import Any

from durable_async import _serve
from durable_async._execution import DurableHandler
from durable_async._loader import function_name, load, parse_named_target
from durable_async.service import ServiceError
from durable_async.service.local.clock import Clock, RealClock, SkipClock
from durable_async.service.local.engine import LocalDurableService
from durable_async.service.local.http import LocalHttpServer
from durable_async.service.local.runner import ExecutionLeasedError, LocalRunner
from durable_async.service.local.store import MemoryStore, SqliteStore, Store

__all__ = ["function_name", "main"]

DEFAULT_STORE = ".durable/durable.sqlite3"
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_TIMEOUT = 3
EXIT_LEASED = 4
EXIT_INTERRUPTED = 130
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    args = _parser().parse_args(argv)
    if args.command == "port":
        return _port(args)
    if args.command == "serve":
        return _serve_command(args)
    try:
        handler, function_name = load_handler(args.target)
        args.functions = load_functions(args.function)
        payload = _input_payload(args.input)
        _check_name("--name", args.name)
    except (ValueError, ImportError, OSError) as exc:
        return _fail(str(exc), EXIT_USAGE)
    try:
        execution = asyncio.run(_run(handler, function_name, payload, args))
    except KeyboardInterrupt:
        resume = f" with --name {args.name}" if args.name else " with the same --name"
        return _fail(f"interrupted; run again{resume} to resume the execution", EXIT_INTERRUPTED)
    except TimeoutError as exc:
        return _fail(str(exc), EXIT_TIMEOUT)
    except ExecutionLeasedError as exc:
        return _fail(str(exc), EXIT_LEASED)
    except (ServiceError, OSError) as exc:
        return _fail(str(exc), EXIT_USAGE)
    return _report(execution)


def _port(args: argparse.Namespace) -> int:
    """Port reference handlers to durable_async: print a diff, or write with --write."""
    try:
        from durable_async._port import port_files
    except ImportError:
        return _fail("port needs libcst; install it with: pip install 'durable-async[port]'", 2)
    return port_files(args.files, write=args.write, out=sys.stdout, err=sys.stderr)


def _serve_command(args: argparse.Namespace) -> int:
    """Serve the local durable execution service with the functions named on the command line."""
    try:
        config = _serve.config_from(args)
    except ValueError as exc:
        return _fail(str(exc), EXIT_USAGE)
    return _serve.run(config)


def _fail(message: str, code: int) -> int:
    print(f"durable-async: {message}", file=sys.stderr)
    return code


def _check_name(option: str, name: str | None) -> None:
    if name is not None and not _NAME.fullmatch(name):
        raise ValueError(
            f"{option} {name!r} is not a valid name; use 1 to 64 letters, digits, '-' or '_'."
        )


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


async def _run(
    handler: DurableHandler[Any, Any],
    function_name: str,
    payload: str | None,
    args: argparse.Namespace,
) -> dict[str, Any]:
    clock: Clock = SkipClock() if args.skip_time else RealClock()
    store: Store = MemoryStore() if args.store == "memory" else SqliteStore(args.store)
    async with store:
        service = LocalDurableService(store, clock, checkpoint_latency=args.latency_ms / 1000)
        async with LocalRunner(service, clock=clock) as runner:
            for name, function in [(function_name, handler), *args.functions.items()]:
                _register(runner, name, function, service, clock)
            async with LocalHttpServer(service, runner=runner) as server:
                _point_aws_clients_at(server.url)
                return await runner.run(
                    function_name, payload, name=args.name, timeout=args.timeout
                )


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
    print(f"durable-async: local service at {url}", file=sys.stderr)
    os.environ["AWS_ENDPOINT_URL_LAMBDA"] = url
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


def _report(execution: dict[str, Any]) -> int:
    status = execution.get("Status")
    print(f"{execution.get('DurableExecutionArn')}: {status}", file=sys.stderr)
    if status == "SUCCEEDED":
        result = execution.get("Result")
        print(json.dumps(json.loads(result), indent=2) if result else "null")
        return 0
    print(json.dumps(execution.get("Error") or {}, indent=2))
    return EXIT_FAILED


def _input_payload(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--input is not valid JSON: {exc}") from exc
    return text


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="durable-async", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run",
        help="run a durable function to completion",
        description="Run a durable function to completion; the same --name resumes it.",
        epilog=__doc__[__doc__.index("Exit status:") :].replace("``", ""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("target", help="path/to/file.py:handler or package.module:handler")
    run.add_argument("--input", help="the event, as JSON")
    run.add_argument("--name", help="execution name; the same name resumes that execution")
    run.add_argument("--store", default=DEFAULT_STORE, help="SQLite file, or 'memory'")
    run.add_argument("--skip-time", action="store_true", help="complete waits without sleeping")
    run.add_argument("--latency-ms", type=float, default=0.0, help="added to each checkpoint")
    run.add_argument("--timeout", type=float, default=None, help="give up after this many s")
    run.add_argument(
        "--function",
        action="append",
        default=[],
        metavar="NAME=FILE.py:ATTR",
        help="make a durable handler or plain function invocable as NAME (ctx.invoke targets)",
    )
    _port_parser(commands)
    serve = commands.add_parser(
        "serve",
        help="serve the local durable execution service over HTTP, running functions",
        description=(_serve.__doc__ or "").replace("``", ""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _serve.add_arguments(serve)
    return parser


def _port_parser(commands: Any) -> None:
    port = commands.add_parser(
        "port",
        help="port handlers written for aws-durable-execution-sdk-python to durable_async",
        description=(
            "Rename the package in imports, make durable functions async def and await every "
            "durable call. Prints a unified diff unless --write is given. Exit status 0 when "
            "everything was ported, 1 when some places need a hand (one line each on stderr)."
        ),
    )
    port.add_argument("files", nargs="+", metavar="FILE", help="Python files to port")
    port.add_argument("--write", action="store_true", help="write the files in place")


if __name__ == "__main__":
    raise SystemExit(main())
