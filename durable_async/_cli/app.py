"""The ``durable-async`` commands, built with click; each command's work lives in its module."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

import click

from durable_async._cli.common import DEFAULT_STORE, EXIT_USAGE, CliError
from durable_async._loader import function_name

__all__ = ["cli", "main"]

_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_CONTEXT: dict[str, Any] = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

EXIT_STATUS = """\b
Exit status:
  0    the execution SUCCEEDED (run); the command did what it was asked
  1    the execution FAILED
  2    bad usage: a flag, target, --input, --name or --store that cannot be used
  3    run --timeout ran out; the execution goes on when run again with the same --name
  4    another process is running this execution; the message names its pid and host
  5    the execution TIMED_OUT (its ExecutionTimeout passed)
  6    the execution was STOPPED
  7    not found or refused: no such store, execution or callback, or it already ended
  130  interrupted (Ctrl-C); run again with the same --name to resume
  143  terminated (SIGTERM); run again with the same --name to resume
"""


class _Command(click.Command):
    """A command whose unknown flags are named as argparse named them."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as exc:
            raise _unrecognized(exc, ctx) from exc


class _Group(click.Group):
    command_class = _Command

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as exc:
            raise _unrecognized(exc, ctx) from exc


_Group.group_class = _Group


def _unrecognized(exc: click.NoSuchOption, ctx: click.Context) -> click.UsageError:
    maybe = sorted(exc.possibilities or [])
    hint = f" (did you mean {' or '.join(maybe)}?)" if maybe else ""
    return click.UsageError(f"unrecognized arguments: {exc.option_name}{hint}", ctx)


_F = TypeVar("_F", bound=Callable[..., Any])


def _store_option(help_text: str) -> Callable[[_F], _F]:
    return click.option(
        "--store",
        default=DEFAULT_STORE,
        show_default=True,
        metavar="PATH",
        help=help_text,
    )


_DURABILITY: Callable[[_F], _F] = click.option(
    "--durability",
    type=click.Choice(["full", "normal"]),
    help="SQLite fsync at every commit (full) or at WAL checkpoints (normal, faster); "
    "default $DURABLE_ASYNC_DURABILITY, else full",
)
_READ_STORE: Callable[[_F], _F] = _store_option("the SQLite store the executions ran in")
_JSON: Callable[[_F], _F] = click.option(
    "--json", "as_json", is_flag=True, help="print JSON for programs to read"
)


def _execute(work: Coroutine[Any, Any, int]) -> int:
    return asyncio.run(work)


@click.group(
    cls=_Group,
    context_settings=_CONTEXT,
    epilog=EXIT_STATUS,
    help="""Run, inspect and answer durable functions on the local service.

    \b
      durable-async run app.py:handler --input '{"order_id": "o-1"}' --name o-1
      durable-async list --status RUNNING
      durable-async show o-1
      durable-async callback succeed --execution o-1 --name approval --payload '{"ok": true}'
      durable-async stop o-1

    Executions live in a SQLite file, .durable/durable.sqlite3 by default (readable by its
    owner only), so every command finds what `run` left there with no other flag.
    """,
)
def cli() -> None:
    """The command group."""


# run


def _check_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not _NAME.fullmatch(value):
        raise CliError(
            f"--name {value!r} is not a valid name; use 1 to 64 letters, digits, '-' or '_'."
        )
    return value


@cli.command(
    epilog=EXIT_STATUS,
    short_help="Run a durable function to its end; the same --name resumes it.",
    help="""Run a durable function to completion; the same --name resumes it.

    TARGET is path/to/file.py:handler or package.module:handler. The file's folder (or the
    current one, for a module) goes on sys.path, so the handler's own imports work.

    While it runs, progress goes to stderr: a live table of operations on a terminal (with
    rich installed), one line per event elsewhere. The result (or error) is printed on stdout
    as JSON. The local service also answers the Lambda API on 127.0.0.1, and
    AWS_ENDPOINT_URL_LAMBDA points there, so code in the run can call it.
    """,
)
@click.argument("target")
@click.option("--input", "input_", metavar="JSON|@FILE", help="the event, as JSON (@- reads stdin)")
@click.option(
    "--name",
    callback=_check_name,
    help="execution name; running the same name again resumes that execution",
)
@_store_option("SQLite file the execution lives in, or 'memory'")
@click.option("--skip-time", is_flag=True, help="complete waits and retry delays without sleeping")
@click.option(
    "--latency-ms", type=float, default=0.0, metavar="MS", help="latency added to each checkpoint"
)
@click.option(
    "--timeout",
    type=float,
    metavar="SECONDS",
    help="stop waiting after this much real time (exit 3)",
)
@click.option(
    "--execution-timeout",
    type=click.IntRange(min=1),
    metavar="SECONDS",
    help="the execution's own ExecutionTimeout: past it, it ends TIMED_OUT (exit 5)",
)
@click.option(
    "--port", type=click.IntRange(0, 65535), default=0, help="port of the Lambda API (0: any free)"
)
@click.option(
    "--function",
    "functions",
    multiple=True,
    metavar="NAME=FILE.py:ATTR",
    help="make a durable handler or plain function invocable as NAME by ctx.invoke (repeatable)",
)
@click.option(
    "--progress",
    type=click.Choice(["auto", "table", "lines", "off"]),
    default="auto",
    show_default=True,
    help="auto: a live table on a terminal, lines elsewhere",
)
@_DURABILITY
@_JSON
def run(
    target: str,
    input_: str | None,
    name: str | None,
    store: str,
    skip_time: bool,
    latency_ms: float,
    timeout: float | None,
    execution_timeout: int | None,
    port: int,
    functions: tuple[str, ...],
    progress: str,
    durability: Literal["full", "normal"] | None,
    as_json: bool,
) -> int:
    from durable_async._cli.run import RunOptions
    from durable_async._cli.run import run as run_execution

    options = RunOptions(
        target=target,
        input=input_,
        name=name,
        store=store,
        skip_time=skip_time,
        latency_ms=latency_ms,
        timeout=timeout,
        execution_timeout=execution_timeout,
        port=port,
        functions=list(functions),
        progress=progress,
        json=as_json,
        durability=durability,
    )
    return run_execution(options)


# list and show

_STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED")


@cli.command(
    "list",
    short_help="List executions: status, function, start, duration.",
    help="""List executions, newest first: name, status, function, start and duration.

    \b
      durable-async list --status RUNNING --status FAILED
      durable-async list --function app.py:handler --json
    """,
)
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(_STATUSES, case_sensitive=False),
    help="only executions with this status (repeatable)",
)
@click.option(
    "--function",
    "functions",
    multiple=True,
    metavar="NAME|FILE.py:ATTR",
    help="only executions of this function: its name, with or without the hash (repeatable)",
)
@click.option(
    "--limit", type=click.IntRange(min=0), default=50, show_default=True, help="0 lists all"
)
@_READ_STORE
@_JSON
def list_command(
    statuses: tuple[str, ...], functions: tuple[str, ...], limit: int, store: str, as_json: bool
) -> int:
    from durable_async._cli.inspect import ListOptions, list_executions

    options = ListOptions(
        store=store,
        statuses=tuple(s.upper() for s in statuses),
        functions=tuple(_function_filter(f) for f in functions),
        limit=limit,
        json=as_json,
    )
    return _execute(list_executions(options))


def _function_filter(value: str) -> str:
    """Return the function name ``FILE.py:ATTR`` runs as; any other value as it is."""
    source, sep, attribute = value.rpartition(":")
    if sep and source.endswith(".py"):
        return function_name(Path(source), attribute)
    return value


@cli.command(
    short_help="Show an execution's operations as a tree, or its history.",
    help="""Show an execution: its operations as a tree, or --events for its raw history.

    EXECUTION is the execution's name (as given to run --name) or its ARN.
    Each operation shows its type, status, attempts, duration and a preview of its result or
    error. For a running execution, each callback it waits for is shown with the command that
    answers it.
    """,
)
@click.argument("execution")
@click.option("--events", is_flag=True, help="print the history events instead of the tree")
@_READ_STORE
@_JSON
def show(execution: str, events: bool, store: str, as_json: bool) -> int:
    from durable_async._cli.inspect import ShowOptions, show_execution

    options = ShowOptions(store=store, execution=execution, events=events, json=as_json)
    return _execute(show_execution(options))


# callback and stop


@cli.group(
    cls=_Group,
    short_help="Answer a callback: succeed, fail or heartbeat.",
    help="""Answer a callback an execution waits for: succeed, fail or heartbeat.

    Name the callback by its id (printed by run, shown by show) or by --execution and --name:
    the name given to ctx.wait_for_callback or ctx.create_callback, or a path of names
    (parent/child) when several share it. No AWS credentials are needed: the answer is
    written to the store, and a run waiting in another process wakes within a second.

    \b
      durable-async callback succeed --execution o-1 --name approval --payload '{"ok": true}'
      durable-async callback fail CALLBACK_ID --error-message "not approved"
      durable-async callback heartbeat --execution o-1 --name approval
    """,
)
def callback() -> None:
    """The callback commands."""


def _callback_address(function: Any) -> Any:
    function = click.argument("callback_id", required=False)(function)
    function = click.option(
        "--execution", metavar="NAME|ARN", help="the execution that waits for the callback"
    )(function)
    function = click.option("--name", metavar="CALLBACK_NAME", help="the callback's name")(function)
    function = _READ_STORE(function)
    function = _DURABILITY(function)
    return _JSON(function)


def _answer(action: str, **values: Any) -> int:
    from durable_async._cli.answer import CallbackOptions, answer_callback

    options = CallbackOptions(action=action, json=values.pop("as_json"), **values)
    return _execute(answer_callback(options))


@callback.command(help="Complete the callback as SUCCEEDED with --payload as its result.")
@_callback_address
@click.option("--payload", metavar="JSON|@FILE", help="the result, as JSON (@- reads stdin)")
def succeed(**values: Any) -> int:
    return _answer("succeed", **values)


@callback.command(help="Complete the callback as FAILED with an error object.")
@_callback_address
@click.option(
    "--payload",
    metavar="JSON|@FILE",
    help='the error object, e.g. {"ErrorType": "Rejected", "ErrorMessage": "no"}',
)
@click.option("--error-type", metavar="TYPE", help="the error's type")
@click.option("--error-message", metavar="TEXT", help="the error's message")
def fail(**values: Any) -> int:
    return _answer("fail", **values)


@callback.command(help="Tell the callback its answer is still coming (resets its heartbeat).")
@_callback_address
def heartbeat(**values: Any) -> int:
    return _answer("heartbeat", **values)


@cli.command(
    short_help="Stop a running execution.",
    help="""Stop a running execution: it ends STOPPED and its run exits 6.

    EXECUTION is the execution's name or ARN.
    """,
)
@click.argument("execution")
@click.option("--reason", metavar="TEXT", help="the message the STOPPED execution records")
@_store_option("the SQLite store the execution runs in")
@_DURABILITY
@_JSON
def stop(
    execution: str,
    reason: str | None,
    store: str,
    durability: Literal["full", "normal"] | None,
    as_json: bool,
) -> int:
    from durable_async._cli.answer import StopOptions
    from durable_async._cli.answer import stop as stop_execution

    options = StopOptions(
        store=store, execution=execution, error_message=reason, json=as_json, durability=durability
    )
    return _execute(stop_execution(options))


# serve and port


@cli.command(
    short_help="Serve the local service over HTTP, running functions.",
    help="""Serve the local durable execution service over HTTP, running functions.

    The service answers the Lambda API (the durable execution routes and Invoke) and the
    reference emulator's routes, and drives every execution it starts until it ends.
    --function runs each function in worker processes of its own; --lambda-endpoint invokes
    them at a Lambda Invoke endpoint instead (sam local start-lambda), with --function-configs
    saying which are durable. The first line on stdout is `serving http://HOST:PORT`.
    SIGINT or SIGTERM stops it. See docs/serve.md.
    """,
)
@click.option(
    "--host",
    default="127.0.0.1",
    help="address to listen on (default 127.0.0.1); the API has no authentication",
)
@click.option("--port", type=int, default=0, help="port; 0 (default) picks a free one")
@click.option(
    "--store",
    default=DEFAULT_STORE,
    metavar="PATH",
    help=f"SQLite file (default {DEFAULT_STORE}), or :memory:",
)
@click.option(
    "--skip-time/--no-skip-time",
    default=False,
    help="complete waits, retries and timeouts without sleeping (default: real time)",
)
@click.option(
    "--function",
    "functions",
    multiple=True,
    metavar="NAME=FILE.py:ATTR",
    help="run FILE.py:ATTR (or pkg.module:ATTR) as function NAME in worker processes",
)
@click.option(
    "--lambda-endpoint",
    metavar="URL",
    help="invoke functions at this Lambda Invoke endpoint (sam local start-lambda)",
)
@click.option(
    "--function-configs",
    metavar="JSON|@FILE",
    help='which functions are durable: {"Name": {"DurableConfig": {"ExecutionTimeout": 60}}}',
)
@_DURABILITY
def serve(
    host: str,
    port: int,
    store: str,
    skip_time: bool,
    functions: tuple[str, ...],
    lambda_endpoint: str | None,
    function_configs: str | None,
    durability: Literal["full", "normal"] | None,
) -> int:
    from durable_async import _serve
    from durable_async.service.local._sqlite import DURABILITY_ENV

    if durability is not None:
        # serve opens its store with the durability this variable names when given none.
        os.environ[DURABILITY_ENV] = durability

    try:
        config = _serve.config_from(
            host=host,
            port=port,
            store=store,
            skip_time=skip_time,
            functions=list(functions),
            lambda_endpoint=lambda_endpoint,
            function_configs=function_configs,
        )
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    return _serve.run(config)


@cli.command(
    short_help="Port reference-SDK handlers to durable_async.",
    help="""Port handlers written for aws-durable-execution-sdk-python to durable_async.

    Renames the package in imports, makes durable functions async def and awaits every durable
    call. Prints a unified diff unless --write is given. Exit status 0 when everything was
    ported, 1 when some places need a hand (one line each on stderr).
    """,
)
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option("--write", is_flag=True, help="write the files in place")
def port(files: tuple[str, ...], write: bool) -> int:
    try:
        from durable_async._port import port_files
    except ImportError as exc:
        raise CliError(
            "port needs libcst; install it with: pip install 'durable-async[port]'"
        ) from exc
    return port_files(list(files), write=write, out=sys.stdout, err=sys.stderr)


# The entry point.


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    try:
        code = cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="durable-async",
            standalone_mode=False,
        )
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return int(exc.exit_code) if exc.exit_code else EXIT_USAGE
    except click.Abort:
        print("durable-async: aborted", file=sys.stderr)
        return 130
    except CliError as exc:
        print(f"durable-async: {exc}", file=sys.stderr)
        return exc.code
    return code if isinstance(code, int) else 0
