"""``durable-async serve``: the local durable execution service over HTTP, running functions.

The service answers the Lambda API (the durable execution routes, ``Invoke``) and the reference
emulator's routes (``POST /start-durable-execution``, ...), and drives every execution it starts
until it ends. Functions run in one of two ways:

* ``--function NAME=FILE.py:ATTR`` (or ``NAME=pkg.module:ATTR``): each function runs in worker
  processes of its own, as a Lambda sandbox hosts it (``durable_async._worker``). A durable
  handler (durable_async's or the reference SDK's) is started as a durable execution; any other
  function is a plain function, an ``Invoke`` or chained-invoke target. A worker that exits or
  is killed mid-invocation fails that invocation with ``Runtime.ExitError``; the next one runs
  in a fresh worker.
* ``--lambda-endpoint URL`` with ``--function-configs``: every invocation is a Lambda ``Invoke``
  at ``URL`` (``sam local start-lambda``, or any endpoint that speaks Invoke). The configs say
  which functions are durable, in the shape ``dex-local-runner`` takes:
  ``{"Orders": {"DurableConfig": {"ExecutionTimeout": 60}}, "Prices": {}}``.

``--function-configs`` applies to ``--function`` too: a ``DurableConfig`` makes a function
durable and its ``ExecutionTimeout`` is the ExecutionTimeout an ``Invoke`` starts it with.

The first line on stdout is ``serving http://HOST:PORT``, so a script can start ``serve
--port 0`` and read where it listens. Everything else goes to stderr, the functions' own output
included. SIGINT or SIGTERM stops the service and its workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from durable_async._loader import parse_named_target
from durable_async.service import ServiceError
from durable_async.service.local.clock import Clock, RealClock, SkipClock
from durable_async.service.local.engine import LocalDurableService
from durable_async.service.local.http import LocalHttpServer
from durable_async.service.local.runner import Invoker, LocalRunner, trace_header
from durable_async.service.local.store import MemoryStore, SqliteStore, Store

__all__ = ["FunctionConfig", "ServeConfig", "config_from", "parse_function_configs", "serve"]

DEFAULT_STORE = ".durable/durable.sqlite3"
EXIT_USAGE = 2
_EXIT_ERROR = "Runtime.ExitError"
_MEMORY = (":memory:", "memory")
# Lambda's longest invocation; an Invoke that takes longer is abandoned.
_INVOCATION_SECONDS = 900.0
_WORKER_START_SECONDS = 60.0
_WORKER_STOP_SECONDS = 5.0
_INVOKE_PATH = "/2015-03-31/functions/{}/invocations"

_log = logging.getLogger("durable_async.serve")

#: Sends one Invoke: function name, payload, and extra HTTP headers (the trace header).
Backend = Callable[[str, bytes, dict[str, str]], Awaitable[bytes]]


class UsageError(ValueError):
    """A flag or a function cannot be used; the message says what to fix."""


@dataclass(frozen=True)
class FunctionConfig:
    """How a function runs: durable or plain, and a durable one's ExecutionTimeout."""

    durable: bool
    execution_timeout: int | None = None


@dataclass
class ServeConfig:
    """Everything ``serve`` takes from its command line."""

    host: str = "127.0.0.1"
    port: int = 0
    store: str = DEFAULT_STORE
    skip_time: bool = False
    functions: list[tuple[str, str]] = field(default_factory=list)
    lambda_endpoint: str | None = None
    function_configs: dict[str, FunctionConfig] = field(default_factory=dict)


class FunctionError(Exception):
    """The function raised (``X-Amz-Function-Error``), or its worker exited mid-invocation."""

    def __init__(self, error_type: str, message: str, stack_trace: list[str] | None = None):
        super().__init__(message)
        self.error_type = error_type
        self.stack_trace = stack_trace


# Function configurations.


def parse_function_configs(value: str) -> dict[str, FunctionConfig]:
    """Parse ``--function-configs``: JSON text, ``@FILE`` or ``file://FILE`` holding it."""
    text = value
    for prefix in ("@", "file://"):
        if value.startswith(prefix):
            path = Path(value[len(prefix) :])
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise UsageError(f"--function-configs: cannot read {path}: {exc}") from exc
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--function-configs is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise UsageError(
            "--function-configs must be a JSON object mapping function names to their "
            'configuration, e.g. {"Orders": {"DurableConfig": {"ExecutionTimeout": 60}}}.'
        )
    return {str(name): _function_config(str(name), entry) for name, entry in raw.items()}


def _function_config(name: str, entry: Any) -> FunctionConfig:
    if entry is None:
        return FunctionConfig(durable=False)
    if not isinstance(entry, dict):
        raise UsageError(f"--function-configs: the entry of {name!r} must be an object or null.")
    durable = entry.get("DurableConfig")
    if durable is None:
        return FunctionConfig(durable=False)
    if not isinstance(durable, dict):
        raise UsageError(f"--function-configs: DurableConfig of {name!r} must be an object.")
    timeout = durable.get("ExecutionTimeout")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1
    ):
        raise UsageError(
            f"--function-configs: ExecutionTimeout of {name!r} must be a whole number of "
            f"seconds of at least 1, got {timeout!r}."
        )
    return FunctionConfig(durable=True, execution_timeout=timeout)


# Lambda Invoke over HTTP.


async def _post_invoke(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str] | None = None
) -> bytes:
    """POST one Invoke; return the payload, or raise FunctionError for a function error."""
    timeout = aiohttp.ClientTimeout(total=_INVOCATION_SECONDS)
    async with session.post(url, data=body, headers=headers, timeout=timeout) as response:
        payload = await response.read()
        if response.status >= 300:
            raise _invoke_refused(response.status, response.headers, payload)
        if response.headers.get("X-Amz-Function-Error"):
            raise _function_error(payload)
    return payload


def _invoke_refused(status: int, headers: Any, payload: bytes) -> FunctionError:
    code = str(headers.get("X-Amzn-ErrorType", "")).split(":", 1)[0] or f"HTTP{status}"
    try:
        body = json.loads(payload)
        message = body.get("message") or body.get("Message") or payload.decode()
    except (ValueError, AttributeError, UnicodeDecodeError):
        message = payload.decode(errors="replace")
    return FunctionError(code, f"The Lambda endpoint refused the Invoke ({status}): {message}")


def _function_error(payload: bytes) -> FunctionError:
    try:
        body = json.loads(payload)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return FunctionError("Unhandled", payload.decode(errors="replace"))
    trace = body.get("stackTrace")
    return FunctionError(
        str(body.get("errorType") or "Unhandled"),
        str(body.get("errorMessage") or ""),
        [str(line) for line in trace] if isinstance(trace, list) else None,
    )


class EndpointBackend:
    """Invokes functions at a Lambda Invoke endpoint (``sam local start-lambda``, ...)."""

    def __init__(self, session: aiohttp.ClientSession, endpoint: str) -> None:
        self.session = session
        self.endpoint = endpoint.rstrip("/")

    def set_endpoint(self, endpoint: str) -> None:
        """Send later invocations to ``endpoint``."""
        if not endpoint.startswith(("http://", "https://")):
            raise ServiceError(
                f"EndpointUrl {endpoint!r} is not an http:// or https:// URL.",
                code="InvalidParameterValueException",
                retryable=False,
                status_code=400,
            )
        self.endpoint = endpoint.rstrip("/")

    async def __call__(self, function_name: str, body: bytes, headers: dict[str, str]) -> bytes:
        url = self.endpoint + _INVOKE_PATH.format(function_name)
        return await _post_invoke(self.session, url, body, headers)


# Worker processes.


@dataclass(eq=False)
class _Worker:
    process: asyncio.subprocess.Process
    url: str


class WorkerPool:
    """The worker processes of one function: one invocation at a time each, as sandboxes."""

    def __init__(
        self,
        function_name: str,
        target: str,
        session: aiohttp.ClientSession | None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.function_name = function_name
        self.target = target
        self.session = session
        self.env = env or dict(os.environ)
        self.durable: bool | None = None
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()

    async def start(self) -> None:
        """Start the first worker; learn whether the function is durable (UsageError if bad)."""
        self._idle.append(await self._spawn())

    async def __call__(self, function_name: str, body: bytes, headers: dict[str, str]) -> bytes:
        worker = self._idle.pop() if self._idle else await self._spawn()
        url = worker.url + _INVOKE_PATH.format(function_name)
        if self.session is None:
            raise RuntimeError("The pool has no HTTP session; serve sets one before it starts.")
        try:
            payload = await _post_invoke(self.session, url, body, headers)
        except aiohttp.ClientError as exc:
            raise await self._lost(worker, exc) from exc
        except BaseException:
            await self._stop(worker)  # cancelled mid-invocation: the sandbox goes too
            raise
        self._idle.append(worker)
        return payload

    async def close(self) -> None:
        """Stop every worker."""
        await asyncio.gather(*(self._stop(worker) for worker in list(self._all)))

    async def _spawn(self) -> _Worker:
        listening = socket.create_server(("127.0.0.1", 0))
        read_fd, write_fd = os.pipe()
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "durable_async._worker",
                self.target,
                *("--function-name", self.function_name),
                *("--listen-fd", str(listening.fileno())),
                *("--status-fd", str(write_fd)),
                pass_fds=(listening.fileno(), write_fd),
                stdin=asyncio.subprocess.DEVNULL,
                # Out of the terminal's process group: Ctrl-C stops serve, which stops them.
                start_new_session=True,
                stdout=sys.stderr.fileno(),  # stdout is serve's own: the functions print to stderr
                env=self.env,
            )
        finally:
            port = listening.getsockname()[1]
            listening.close()
            os.close(write_fd)
        worker = _Worker(process, f"http://127.0.0.1:{port}")
        self._all.add(worker)
        try:
            status = await asyncio.wait_for(
                asyncio.to_thread(_read_status, read_fd), _WORKER_START_SECONDS
            )
        except BaseException:
            await self._stop(worker)
            raise
        if "error" in status:
            await self._stop(worker)
            raise UsageError(f"--function {self.function_name}: {status['error']}")
        if self.durable is None:
            self.durable = bool(status.get("durable"))
        return worker

    async def _lost(self, worker: _Worker, cause: Exception) -> FunctionError:
        """Return the error of an invocation whose worker went away (or stopped answering)."""
        process = worker.process
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), _WORKER_STOP_SECONDS)
        code = process.returncode
        await self._stop(worker)
        if code is None:
            return FunctionError(
                _EXIT_ERROR, f"The worker of {self.function_name} stopped answering: {cause}"
            )
        return FunctionError(_EXIT_ERROR, _exit_message(code))

    async def _stop(self, worker: _Worker) -> None:
        self._all.discard(worker)
        with contextlib.suppress(ValueError):
            self._idle.remove(worker)
        process = worker.process
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                await asyncio.wait_for(process.wait(), _WORKER_STOP_SECONDS)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()


def _read_status(fd: int) -> dict[str, Any]:
    with os.fdopen(fd, encoding="utf-8") as pipe:
        line = pipe.readline()
    if not line:
        return {"error": "the worker exited before it loaded the function; see its stderr."}
    status: dict[str, Any] = json.loads(line)
    return status


def _exit_message(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"The function's process was killed by {name} during the invocation."
    return f"The function exited with status {code} during the invocation."


# The service.


class _Functions:
    """Which functions the service runs and how: what serve registers on its runner."""

    def __init__(self, config: ServeConfig, runner: LocalRunner, clock: Clock) -> None:
        self.config = config
        self.runner = runner
        self.clock = clock
        self.backends: dict[str, Backend] = {}

    def add(self, name: str, backend: Backend, durable: bool) -> None:
        override = self.config.function_configs.get(name)
        if override is not None:
            durable = override.durable
        self.backends[name] = backend
        if durable:
            self.runner.register(name, self._invoker(name, backend))
        else:
            self.runner.register_function(name, self._function(name, backend))

    def fallback(self, backend: Backend) -> Callable[[str], Invoker | None]:
        """Treat an unconfigured function at the endpoint as durable, as dex-local-runner does."""

        def invoker(function_name: str) -> Invoker | None:
            return self._invoker(function_name, backend)

        return invoker

    def _invoker(self, name: str, backend: Backend) -> Invoker:
        async def invoke(event: dict[str, Any]) -> dict[str, Any]:
            header = trace_header.get()
            headers = {"X-Amzn-Trace-Id": header} if header else {}
            with self._hold():
                payload = await backend(name, json.dumps(event).encode(), headers)
            try:
                output = json.loads(payload)
            except ValueError:
                output = None
            if not isinstance(output, dict):
                raise FunctionError(
                    "InvalidInvocationOutput",
                    f"{name} returned {payload[:200]!r}, not a durable invocation's output; "
                    "is it a durable handler?",
                )
            return output

        return invoke

    def _function(self, name: str, backend: Backend) -> Callable[[Any], Awaitable[Any]]:
        async def call(payload: Any) -> Any:
            with self._hold():
                result = await backend(name, json.dumps(payload).encode(), {})
            return json.loads(result) if result.strip() else None

        return call

    def _hold(self) -> contextlib.AbstractContextManager[None]:
        # Virtual time stands still while a function runs elsewhere, as it does around a step.
        return self.clock.hold() if isinstance(self.clock, SkipClock) else contextlib.nullcontext()


def _execution_timeout(config: ServeConfig, function_name: str) -> int | None:
    """The ExecutionTimeout ``--function-configs`` gives the function, if any."""
    function = config.function_configs.get(function_name)
    return None if function is None else function.execution_timeout


def _worker_env(url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "AWS_ENDPOINT_URL_LAMBDA": url,
            "AWS_ACCESS_KEY_ID": env.get("AWS_ACCESS_KEY_ID", "local"),
            "AWS_SECRET_ACCESS_KEY": env.get("AWS_SECRET_ACCESS_KEY", "local"),
            "AWS_DEFAULT_REGION": env.get("AWS_DEFAULT_REGION", "us-east-1"),
            "AWS_REGION": env.get("AWS_REGION", env.get("AWS_DEFAULT_REGION", "us-east-1")),
        }
    )
    return env


def _open_store(spec: str) -> Store:
    if spec in _MEMORY:
        return MemoryStore()
    return SqliteStore(Path(spec))  # it creates its folder, readable by its owner only


async def serve(
    config: ServeConfig,
    *,
    ready: Callable[[str], None],
    stop: asyncio.Event,
) -> None:
    """Serve until ``stop`` is set; call ``ready(url)`` once every function's worker is up."""
    clock: Clock = SkipClock() if config.skip_time else RealClock()
    pools = [WorkerPool(name, target, session=None) for name, target in config.functions]
    try:
        async with (
            _open_store(config.store) as store,
            aiohttp.ClientSession() as session,
        ):
            # A function's ExecutionTimeout applies however its executions start: by Invoke,
            # start-durable-execution or another execution's chained invoke.
            timeout = functools.partial(_execution_timeout, config)
            service = LocalDurableService(store, clock, execution_timeout=timeout)
            runner = LocalRunner(service, clock=clock)
            functions = _Functions(config, runner, clock)
            endpoint = (
                EndpointBackend(session, config.lambda_endpoint) if config.lambda_endpoint else None
            )
            server = LocalHttpServer(
                service,
                host=config.host,
                port=config.port,
                runner=runner,
                execution_timeout=timeout,
                on_lambda_endpoint=endpoint.set_endpoint if endpoint else None,
            )
            # The runner closes first: its drives end (no invocation is left half recorded)
            # while the server still answers the workers' checkpoints.
            async with server, runner:
                for pool in pools:
                    pool.session, pool.env = session, _worker_env(server.url)
                await asyncio.gather(*(pool.start() for pool in pools))
                for pool in pools:
                    functions.add(pool.function_name, pool, bool(pool.durable))
                if endpoint is not None:
                    for name, function in config.function_configs.items():
                        if name not in functions.backends:
                            functions.add(name, endpoint, function.durable)
                    runner.set_fallback(functions.fallback(endpoint))
                await _resume(service, runner, set(functions.backends))
                ready(server.url)
                await stop.wait()
    finally:
        await asyncio.gather(*(pool.close() for pool in pools))


async def _resume(service: LocalDurableService, runner: LocalRunner, names: set[str]) -> None:
    """Drive again the running executions of the functions served (a store serve used before)."""
    for execution in await service.list_executions():
        arn = execution["DurableExecutionArn"]
        if execution["Status"] == "RUNNING" and _function_of(arn) in names:
            runner.resume(arn)


def _function_of(arn: str) -> str:
    return arn.split(":function:", 1)[-1].split(":", 1)[0]


# Configuration from the command line (``durable-async serve``, in durable_async._cli.app).


def config_from(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    store: str = DEFAULT_STORE,
    skip_time: bool = False,
    functions: Sequence[str] = (),
    lambda_endpoint: str | None = None,
    function_configs: str | None = None,
) -> ServeConfig:
    """Return the ServeConfig of serve's flags; raise UsageError for a bad one."""
    if not 0 <= port <= 65535:
        raise UsageError(f"--port must be from 0 to 65535, got {port}.")
    named = [parse_named_target(spec) for spec in functions]
    names = [name for name, _ in named]
    if len(set(names)) != len(names):
        raise UsageError(f"--function names each function once; got {', '.join(names)}.")
    if lambda_endpoint and named:
        raise UsageError(
            "--function and --lambda-endpoint exclude each other: run functions in workers, "
            "or invoke them at an endpoint."
        )
    if lambda_endpoint and not lambda_endpoint.startswith(("http://", "https://")):
        raise UsageError(f"--lambda-endpoint {lambda_endpoint!r} is not an http:// URL.")
    configs = parse_function_configs(function_configs) if function_configs else {}
    return ServeConfig(
        host=host,
        port=port,
        store=store,
        skip_time=skip_time,
        functions=named,
        lambda_endpoint=lambda_endpoint,
        function_configs=configs,
    )


def run(config: ServeConfig) -> int:
    """Serve ``config`` until SIGINT or SIGTERM; return the exit code."""
    # The server's warnings (a host beyond loopback) and failures go to stderr.
    logging.basicConfig(format="durable-async: %(levelname)s: %(message)s")

    def ready(url: str) -> None:
        print(f"serving {url}", flush=True)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await serve(config, ready=ready, stop=stop)

    try:
        asyncio.run(main())
    except UsageError as exc:
        print(f"durable-async: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (ServiceError, OSError) as exc:
        print(f"durable-async: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return 0
