"""A chained invoke carries the caller's trace header to its target's invocations, as Lambda
does: in ``ChainedInvokeOptions.XAmznTraceId``, then as the target invocation's trace header
(``InvocationStartInfo.trace_header`` in process; ``_X_AMZN_TRACE_ID`` in serve's workers)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "serve_handlers"))

import traced
from serving import invoke, lambda_client, served

from durable_async.testing import DurableTestRunner

pytestmark = pytest.mark.timeout(120)


async def test_the_target_of_a_chained_invoke_gets_the_callers_trace_header() -> None:
    async with DurableTestRunner(traced.traced_caller) as runner:
        runner.register_durable_function("traced_target", traced.traced_target)
        result = await runner.run()
    assert result.result == {"plugin": traced.HEADER, "environment": None}


async def test_a_target_started_without_a_header_gets_none() -> None:
    async with DurableTestRunner(traced.traced_target) as runner:
        result = await runner.run()
    assert result.result == {"plugin": None, "environment": None}


async def test_serve_hands_the_header_to_the_targets_worker(tmp_path: Path) -> None:
    app = Path(traced.__file__)
    functions = [
        arg
        for name in ("traced_caller", "traced_target")
        for arg in ("--function", f"{name}={app}:{name}")
    ]
    async with (
        served("--store", ":memory:", "--skip-time", *functions, cwd=tmp_path) as serve,
        lambda_client(serve.url) as client,
    ):
        response = await invoke(client, "traced_caller", {})
    assert json.loads(response["Body"]) == {"plugin": traced.HEADER, "environment": traced.HEADER}
