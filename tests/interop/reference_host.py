"""A Lambda-like process that serves Invoke for the reference SDK's handlers in reference_ops.py.

``dex-local-runner`` drives executions through a Lambda endpoint; this is the one it drives the
reference SDK's handlers (``tests/serve_handlers/reference_ops.py``) through, as
``lambda_process.py`` is for durable_async's. It reuses that module's runtime (handlers are called
``handler(event, context)`` synchronously, an exception is a function error) and differs in two
things: the module is imported from its file's folder, as ``durable-async serve --function
FILE.py:ATTR`` imports it, so both services run the very same code; and each invocation runs on
a thread of its own, as concurrent invocations run in sandboxes of their own on Lambda (a chained
invoke's target runs while its caller is still finishing).

``python -m tests.interop.reference_host --port 9002`` from the repository root.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from http.server import ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

from tests.interop.lambda_process import Invocations, make_request_handler

HANDLERS = Path(__file__).resolve().parents[1] / "serve_handlers"
MODULE = "reference_ops"


def main(argv: list[str] | None = None) -> None:
    """Serve Invoke for reference_ops.FUNCTIONS on ``--host``/``--port`` until terminated."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HANDLERS))
    module = importlib.import_module(MODULE)
    # lambda_process's runtime reads FUNCTIONS, and the loops its own handlers note down.
    handlers = ModuleType("reference_functions")
    vars(handlers).update(FUNCTIONS=module.FUNCTIONS, observed_loops=[])
    request_handler = make_request_handler(Invocations(handlers))
    server = ThreadingHTTPServer((args.host, args.port), request_handler)
    server.daemon_threads = True
    with server:
        server.serve_forever()


if __name__ == "__main__":
    main()
