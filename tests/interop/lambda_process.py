"""A Lambda-like process that serves Invoke on loopback for the durable handlers in handlers.py.

Run ``python -m tests.interop.lambda_process --port 9001`` from the repository root (or run the
file by path). Like the Lambda Python runtime, it calls ``handler(event, context)`` synchronously
on the main thread, where no event loop runs, one invocation at a time, and stays warm between
invocations. The handlers reach the durable execution service through
``AWS_ENDPOINT_URL_LAMBDA`` and the credentials in the environment.

Routes:

- ``POST /2015-03-31/functions/{name}/invocations``: Lambda Invoke. The handler's output is the
  JSON body; a raised exception is a function error (HTTP 200, ``X-Amz-Function-Error:
  Unhandled``, the runtime's error body); an unknown name is a 404 ``ResourceNotFoundException``.
- ``GET /health``: 200 once the process serves.
- ``GET /invocations``: what every invocation so far did, for the tests to assert on.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import sys
import threading
import traceback
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import unquote

INVOKE_PREFIX = "/2015-03-31/functions/"
INVOKE_SUFFIX = "/invocations"

Json = dict[str, Any]


def load_handlers() -> ModuleType:
    """Import tests.interop.handlers, also when this file is run by path."""
    if not __package__:
        sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    return importlib.import_module("tests.interop.handlers")


class Invocations:
    """Runs handlers as the Lambda runtime does and keeps a record of each invocation."""

    def __init__(self, handlers: ModuleType) -> None:
        self.handlers = handlers
        self.records: list[Json] = []

    def invoke(self, function: str, event: Json, request_id: str) -> tuple[Json, bool]:
        """Call the handler synchronously; return its output, or the runtime's error body."""
        handler = self.handlers.FUNCTIONS[function]
        loops = self.handlers.observed_loops
        seen = len(loops)
        record: Json = {
            "function": function,
            "arn": event.get("DurableExecutionArn"),
            "pid": os.getpid(),
            "thread": threading.current_thread().name,
            "loop_running": _loop_running(),
        }
        try:
            output: Json = handler(event, None)
        except Exception as exc:
            traceback.print_exc()  # what the runtime would log for an unhandled error
            output, failed = _error_body(exc, request_id), True
            record["status"] = "Unhandled"
        else:
            failed = False
            record["status"] = output.get("Status")
        record["loops"] = [id(loop) for loop in loops[seen:]]
        self.records.append(record)
        return output, failed


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _error_body(exc: Exception, request_id: str) -> Json:
    """The body the Lambda Python runtime returns for an unhandled exception."""
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": request_id,
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


def _function_name(path: str) -> str | None:
    if not (path.startswith(INVOKE_PREFIX) and path.endswith(INVOKE_SUFFIX)):
        return None
    identifier = unquote(path[len(INVOKE_PREFIX) : -len(INVOKE_SUFFIX)])
    # name or name:qualifier; one registration serves every qualifier.
    return identifier.split(":", 1)[0]


def make_request_handler(invocations: Invocations) -> type[BaseHTTPRequestHandler]:
    """Build the HTTP request handler class bound to ``invocations``."""

    class LambdaRequestHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/health":
                self.reply(HTTPStatus.OK, {"status": "ok"})
            elif self.path == "/invocations":
                self.reply(HTTPStatus.OK, {"invocations": invocations.records})
            else:
                self.reply(HTTPStatus.NOT_FOUND, {"message": f"No route for GET {self.path}"})

        def do_POST(self) -> None:
            function = _function_name(self.path)
            if function is None:
                self.reply(HTTPStatus.NOT_FOUND, {"message": f"No route for POST {self.path}"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            event = json.loads(self.rfile.read(length) or b"{}")
            if function not in invocations.handlers.FUNCTIONS:
                self.reply(
                    HTTPStatus.NOT_FOUND,
                    {"Type": "User", "message": f"Function not found: {function}"},
                    {"X-Amzn-ErrorType": "ResourceNotFoundException"},
                )
                return
            request_id = str(uuid.uuid4())
            output, failed = invocations.invoke(function, event, request_id)
            headers = {"X-Amzn-RequestId": request_id, "X-Amz-Executed-Version": "$LATEST"}
            if failed:
                headers["X-Amz-Function-Error"] = "Unhandled"
            self.reply(HTTPStatus.OK, output, headers)

        def reply(
            self, status: HTTPStatus, body: Json, headers: dict[str, str] | None = None
        ) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # one line per request would drown the handlers' own logs

    return LambdaRequestHandler


def main(argv: list[str] | None = None) -> None:
    """Serve Invoke on ``--host``/``--port`` until terminated."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    invocations = Invocations(load_handlers())
    # Single-threaded on purpose: like one Lambda execution environment, one invocation at a
    # time, each on the main thread.
    server = HTTPServer((args.host, args.port), make_request_handler(invocations))
    with server:
        server.serve_forever()


if __name__ == "__main__":
    main()
