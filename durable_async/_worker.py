"""A worker process of ``durable-async serve``: one function hosted as a Lambda sandbox hosts it.

``python -m durable_async._worker TARGET --listen-fd N --status-fd M`` loads ``TARGET`` with the
one loader, writes one JSON line on the status pipe (``{"durable": bool}``, or ``{"error":
message}`` when the target does not load), and serves Lambda ``Invoke`` on the listening socket
it inherited: each request body is the event, handed to the function as the Lambda runtime hands
it, ``function(event, context)``, and the response is what it returned, as JSON. An exception
answers 200 with ``X-Amz-Function-Error: Unhandled`` and Lambda's error shape, as Lambda does.

A durable handler checkpoints through the Lambda API like on Lambda: ``AWS_ENDPOINT_URL_LAMBDA``
(set by ``serve``) points its client at the service. One invocation runs at a time, as in a
sandbox; ``serve`` starts more workers when it needs them. When the worker exits mid-invocation
(``sys.exit``, ``os._exit``, a crash, a kill), ``serve`` sees the connection drop and records the
invocation as ``Runtime.ExitError``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import json
import os
import socket
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from durable_async._execution import DurableHandler
from durable_async._loader import LoadError, load

__all__ = ["is_durable", "main"]

_REFERENCE_EXECUTION = os.path.join("aws_durable_execution_sdk_python", "execution.py")
# Lambda's longest invocation: what get_remaining_time_in_millis counts down from.
_INVOCATION_SECONDS = 900
# How often a worker checks that serve, its parent, is still alive.
_PARENT_POLL_SECONDS = 1.0


def is_durable(value: Any) -> bool:
    """Return True for a durable handler: durable_async's, or the reference SDK's decorator's."""
    if isinstance(value, DurableHandler):
        return True
    code = getattr(value, "__code__", None)
    return code is not None and code.co_filename.endswith(_REFERENCE_EXECUTION)


@dataclass
class LambdaContext:
    """The context object the Lambda runtime passes a handler, as far as a local run has one."""

    function_name: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 128
    log_group_name: str = ""
    log_stream_name: str = ""
    invoked_function_arn: str = ""
    tenant_id: str | None = None
    _deadline: float = field(default_factory=lambda: time.time() + _INVOCATION_SECONDS)

    def get_remaining_time_in_millis(self) -> int:
        """Return the milliseconds left before Lambda would end this invocation."""
        return max(0, int((self._deadline - time.time()) * 1000))


def _call_shape(function: Callable[..., Any]) -> Callable[[Any, LambdaContext], Any]:
    """Return a caller passing ``(event, context)``, or ``(event)`` to a one-parameter function."""
    try:
        inspect.signature(function).bind(None, None)
    except TypeError:
        return lambda event, context: function(event)
    except ValueError:  # a builtin without a signature
        pass
    return lambda event, context: function(event, context)


class _Host:
    """Runs the hosted function for each Invoke request, one at a time."""

    def __init__(self, function: Callable[..., Any], function_name: str) -> None:
        self.call = _call_shape(function)
        self.function_name = function_name
        self.lock = asyncio.Lock()

    async def invoke(self, request: web.Request) -> web.Response:
        raw = await request.read()
        event = json.loads(raw) if raw.strip() else {}
        context = LambdaContext(
            function_name=request.match_info["function"],
            invoked_function_arn=request.headers.get("X-Durable-Function-Arn", ""),
            tenant_id=request.headers.get("X-Amz-Tenant-Id"),
        )
        async with self.lock:
            # As Lambda does: the invocation's trace header in the environment while it runs
            # (one invocation at a time, so the process-wide variable is this invocation's).
            trace = request.headers.get("X-Amzn-Trace-Id")
            if trace:
                os.environ["_X_AMZN_TRACE_ID"] = trace
            else:
                os.environ.pop("_X_AMZN_TRACE_ID", None)
            try:
                # A thread of its own: a durable handler's sync entry runs its own event loop.
                result = await asyncio.to_thread(self._run, event, context)
            except Exception as exc:
                body = {
                    "errorType": type(exc).__name__,
                    "errorMessage": str(exc),
                    "stackTrace": traceback.format_exception(exc),
                }
                return web.json_response(body, headers={"X-Amz-Function-Error": "Unhandled"})
        return web.Response(body=json.dumps(result), content_type="application/json")

    def _run(self, event: Any, context: LambdaContext) -> Any:
        result = self.call(event, context)
        if inspect.isawaitable(result):
            return asyncio.run(_awaited(result))
        return result


async def _awaited(result: Any) -> Any:
    return await result


async def _serve(host: _Host, listening: socket.socket) -> None:
    app = web.Application(client_max_size=8 * 1024 * 1024)
    app.router.add_post("/2015-03-31/functions/{function}/invocations", host.invoke)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.SockSite(runner, listening).start()
    parent = os.getppid()
    try:
        # Until serve terminates this process, or dies without doing so (SIGKILL).
        while os.getppid() == parent:  # noqa: ASYNC110 (no event tells of a parent's death)
            await asyncio.sleep(_PARENT_POLL_SECONDS)
    finally:
        await runner.cleanup()


def _report(status_fd: int, status: dict[str, Any]) -> None:
    with os.fdopen(status_fd, "w") as pipe:
        pipe.write(json.dumps(status) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Load the target, report how it loaded, and serve Invoke until terminated."""
    parser = argparse.ArgumentParser(prog="python -m durable_async._worker")
    parser.add_argument("target")
    parser.add_argument("--function-name", required=True)
    parser.add_argument("--listen-fd", type=int, required=True)
    parser.add_argument("--status-fd", type=int, required=True)
    args = parser.parse_args(argv)
    listening = socket.socket(fileno=args.listen_fd)
    try:
        function = load(args.target).value
        if not callable(function):
            raise LoadError(f"{args.target} is not a function or a durable handler.")
    except LoadError as exc:
        _report(args.status_fd, {"error": str(exc)})
        return 2
    _report(args.status_fd, {"durable": is_durable(function)})
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(_Host(function, args.function_name), listening))
    return 0


if __name__ == "__main__":
    sys.exit(main())
