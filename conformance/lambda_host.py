"""A Lambda Invoke endpoint for ``dex-local-runner``: each invocation runs in a fresh process.

``dex-local-runner`` drives an execution by invoking the function through a Lambda endpoint
(``sam local start-lambda`` in the reference's setup) with the durable invocation event; the
handler checkpoints back to the runner. This endpoint answers
``POST /2015-03-31/functions/{name}/invocations`` by running ``module:attribute`` of that
function in a new Python process, a sandbox as on Lambda: a handler that crashes
(``os._exit``) ends only its own process, and the answer names ``Runtime.ExitError`` as Lambda's
does. Each function's process imports its module from the function's code directory (the
template's ``CodeUri``) with the function's environment variables set, and every log record it
writes at INFO or above is kept as a JSON line, as Lambda's JSON log format keeps any logger's
records (:mod:`conformance.handlers._logs`), whichever SDK the handler uses.

``python -m conformance.lambda_host --functions '{"Name": {"target": "module:attr", "code":
"DIR", "environment": {"KEY": "VALUE"}}}'`` (or ``{"Name": "module:attr"}``) prints ``serving
URL`` and serves on 127.0.0.1 until terminated.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import signal
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from aiohttp import web

INVOCATION_TIMEOUT = 900.0


def _function_name(path_name: str) -> str:
    """``arn:...:function:Name:$LATEST``, ``Name:$LATEST`` or ``Name`` -> ``Name``."""
    name = path_name.rsplit(":function:", 1)[-1]
    return name.split(":", 1)[0]


class _Context:
    """The few LambdaContext attributes a handler reads."""

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.aws_request_id = str(uuid.uuid4())
        self.invoked_function_arn = (
            f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        )
        self.memory_limit_in_mb = 128
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        return int(INVOCATION_TIMEOUT * 1000)


def run_once(target: str, name: str, event_path: Path, result_path: Path) -> None:
    """Run one invocation of ``target``; write ``{"ok": output}`` or ``{"error": ...}``."""
    from conformance.handlers import _logs

    _logs.install()
    module, _, attribute = target.partition(":")
    handler = getattr(importlib.import_module(module), attribute)
    event = json.loads(event_path.read_text())
    try:
        outcome: dict[str, Any] = {"ok": handler(event, _Context(name))}
    except Exception as exc:
        outcome = {"error": {"errorType": type(exc).__name__, "errorMessage": str(exc)}}
    result_path.write_text(json.dumps(outcome))


def _spec(raw: str | dict[str, Any]) -> dict[str, Any]:
    """A function's target, code and environment, from either form ``--functions`` takes."""
    spec: dict[str, Any] = {"target": raw} if isinstance(raw, str) else dict(raw)
    spec.setdefault("code", None)
    spec.setdefault("environment", {})
    return spec


def _child_environment(spec: dict[str, Any]) -> dict[str, str]:
    env = {**os.environ, **spec["environment"]}
    if spec["code"]:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [spec["code"], env.get("PYTHONPATH")]))
    return env


async def _invoke(request: web.Request) -> web.Response:
    functions: dict[str, dict[str, Any]] = request.app["functions"]
    name = _function_name(request.match_info["function"])
    if name not in functions:
        missing = {"Type": "User", "message": f"Function not found: {name}"}
        return web.json_response(
            missing, status=404, headers={"X-Amzn-ErrorType": "ResourceNotFoundException"}
        )
    body = await request.read() or b"{}"
    with tempfile.TemporaryDirectory() as scratch:
        event_path, result_path = Path(scratch, "event.json"), Path(scratch, "result.json")
        await asyncio.to_thread(event_path.write_bytes, body)
        spec = functions[name]
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "conformance.lambda_host", "--run", spec["target"],
            "--name", name, str(event_path), str(result_path),
            env=_child_environment(spec),
        )  # fmt: skip
        try:
            code = await asyncio.wait_for(child.wait(), INVOCATION_TIMEOUT)
        except TimeoutError:
            child.kill()
            await child.wait()
            return _function_error("Sandbox.Timedout", "Task timed out")
        outcome = await asyncio.to_thread(_read_outcome, result_path)
    if outcome is None:
        return _function_error(
            "Runtime.ExitError", f"Runtime exited with error: exit status {code}"
        )
    if "error" in outcome:
        return _function_error(outcome["error"]["errorType"], outcome["error"]["errorMessage"])
    return web.json_response(outcome["ok"], headers={"X-Amz-Executed-Version": "$LATEST"})


def _read_outcome(path: Path) -> dict[str, Any] | None:
    """The invocation's outcome, or None when its process ended without writing one (a crash)."""
    if not path.exists():
        return None
    outcome: dict[str, Any] = json.loads(path.read_text())
    return outcome


def _function_error(error_type: str, message: str) -> web.Response:
    body = {"errorType": error_type, "errorMessage": message}
    headers = {"X-Amz-Function-Error": "Unhandled", "X-Amz-Executed-Version": "$LATEST"}
    return web.json_response(body, headers=headers)


async def _serve(functions: dict[str, dict[str, Any]]) -> None:
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app["functions"] = functions
    app.router.add_post("/2015-03-31/functions/{function}/invocations", _invoke)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    print(f"serving http://127.0.0.1:{port}", flush=True)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    try:
        await stopping.wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m conformance.lambda_host")
    parser.add_argument("--functions", help="JSON object: function name -> module:attribute")
    parser.add_argument("--run", help="run one invocation of module:attribute (internal)")
    parser.add_argument("--name", default="function")
    parser.add_argument("paths", nargs="*")
    args = parser.parse_args()
    if args.run:
        run_once(args.run, args.name, Path(args.paths[0]), Path(args.paths[1]))
        # Lambda answers when the handler returns and freezes the sandbox: no interpreter
        # teardown (joining an SDK's threads, finalizers) may delay the answer. The outcome and
        # every log line are written and flushed by now.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    else:
        raw: dict[str, Any] = json.loads(args.functions)
        asyncio.run(_serve({name: _spec(spec) for name, spec in raw.items()}))


if __name__ == "__main__":
    main()
