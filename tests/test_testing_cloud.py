"""DurableCloudTestRunner against `durable-async serve`: the local runner's API over the Lambda API.

The same test bodies run on both runners, and a recording read from serve's history replays
like one read from the local store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from durable_async import DurableContext, durable_execution
from durable_async.testing import (
    DurableCloudTestRunner,
    DurableTestRunner,
    ExecutionStatus,
    check_replay,
)
from tests.serving import served
from tests.testing_handlers import shop

pytestmark = pytest.mark.asyncio(loop_scope="module")

SHOP = Path(shop.__file__)
FUNCTIONS = ("order", "quote", "refuse")
LINES = [{"sku": "apple", "quantity": 2}, {"sku": "pear", "quantity": 1}]
Runner = DurableTestRunner | DurableCloudTestRunner


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def serve_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """One `durable-async serve --skip-time` process hosting the shop's functions."""
    args = [a for name in FUNCTIONS for a in ("--function", f"{name}={SHOP}:{name}")]
    cwd = tmp_path_factory.mktemp("serve")
    async with served("--store", ":memory:", "--skip-time", *args, cwd=cwd) as server:
        yield server.url


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any identity will do for serve; the runner signs requests as it would for Lambda."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


def _runners(serve_url: str, function: str) -> list[Runner]:
    handler = getattr(shop, function)
    return [
        DurableTestRunner(handler),
        DurableCloudTestRunner(function, endpoint_url=serve_url, poll_interval=0.05),
    ]


async def _on_both(serve_url: str, function: str, body: Callable[[Runner], Awaitable[Any]]) -> Any:
    outcomes = []
    for runner in _runners(serve_url, function):
        async with runner:
            outcomes.append(await body(runner))
    return outcomes


async def _approve(runner: Runner) -> Any:
    arn = await runner.start(input={"lines": LINES})
    callback_id = await runner.wait_for_callback(arn, name="approval")
    await runner.send_callback_success(callback_id, {"approved": True})
    result = await runner.wait_for_result(arn, timeout=60)
    assert result.arn == arn
    assert result.status is ExecutionStatus.SUCCEEDED
    assert result.result == {
        "total": 105,
        "receipt": {"charged": 105, "attempt": 2},
        "approved": True,
    }
    assert [result.get_step(f"price-lines/{i}/price").value() for i in (0, 1)] == [60, 45]
    assert result.get_step("charge").attempt == 2
    items = result.get_context("price-lines").child_operations
    assert [item.get_step("price").value() for item in items] == [60, 45]
    assert result.get_wait("cool-off").status.value == "SUCCEEDED"
    assert result.get_callback("approval/approval create callback id").callback_id == callback_id
    return [(op.path, op.type, op.status, op.result) for op in result.get_all_operations()]


async def test_an_approved_order_reads_the_same_on_both_runners(serve_url: str) -> None:
    """Start, answer the callback, wait: every path, status and result matches across runners."""
    local, cloud = await _on_both(serve_url, "order", _approve)
    assert local == cloud


async def test_run_fails_with_the_handlers_error_on_both(serve_url: str) -> None:
    """A failing handler ends FAILED with its error type and message on both runners."""

    async def body(runner: Runner) -> Any:
        result = await runner.run(input={"id": "o-9"}, timeout=60)
        assert result.status is ExecutionStatus.FAILED
        assert result.result is None
        assert result.error is not None
        assert result.get_step("reserve").value() == "reserved"
        return result.error.error_type, result.error.error_message

    local, cloud = await _on_both(serve_url, "refuse", body)
    assert local == cloud == ("LookupError", "no such order: o-9")


async def test_an_execution_that_ends_without_the_callback(serve_url: str) -> None:
    """wait_for_callback raises LookupError once the execution ends without such a callback."""

    async def body(runner: Runner) -> None:
        arn = await runner.start(input={"lines": LINES})
        with pytest.raises(LookupError, match="ended without a waiting callback named 'nope'"):
            await runner.wait_for_callback(arn, name="nope", timeout=60)

    await _on_both(serve_url, "quote", body)


async def test_callback_failure_and_named_executions(serve_url: str) -> None:
    """A failed callback fails the order; starting a name again returns that execution."""

    async def body(runner: Runner) -> Any:
        arn = await runner.start(input={"lines": LINES}, name="o-denied")
        assert await runner.start(input={"lines": LINES}, name="o-denied") == arn
        callback_id = await runner.wait_for_callback(arn)
        await runner.send_callback_heartbeat(callback_id)
        await runner.send_callback_failure(callback_id, PermissionError("manager said no"))
        result = await runner.wait_for_result(arn, timeout=60)
        assert result.status is ExecutionStatus.FAILED
        assert result.error is not None
        return result.error.error_message

    local, cloud = await _on_both(serve_url, "order", body)
    assert local == cloud
    assert "manager said no" in cloud


async def test_history_recordings_replay_like_store_recordings(serve_url: str) -> None:
    """Operations rebuilt from serve's history equal the local store's, and replay the same."""

    async def body(runner: Runner) -> Any:
        result = await runner.run(input={"lines": LINES}, timeout=60)
        return await runner.record(result.arn)

    local, cloud = await _on_both(serve_url, "quote", body)
    # As sets: map items run concurrently, so creation order varies between runs.
    assert sorted(map(_key, cloud.operations), key=repr) == sorted(
        map(_key, local.operations), key=repr
    )
    assert (await check_replay(shop.quote, cloud)).compatible

    @durable_execution
    async def quote_changed(event: dict[str, Any], ctx: DurableContext) -> int:
        return await ctx.step(lambda _: 0, name="price-lines")

    for recording in (local, cloud):
        report = await check_replay(quote_changed, recording)
        assert report.nondeterminism is not None
        assert report.nondeterminism.path == "price-lines"
        assert report.nondeterminism.recorded == "type 'CONTEXT', subtype 'Map'"


async def test_the_cloud_runner_refuses_mocks_and_unknown_functions(serve_url: str) -> None:
    """mock_step says why it cannot mock a deployed step; an unknown function is an AWS error."""
    async with DurableCloudTestRunner("missing", endpoint_url=serve_url) as runner:
        with pytest.raises(NotImplementedError, match="durable_local"):
            runner.mock_step("price", result=1)
        with pytest.raises(Exception, match="ResourceNotFoundException"):
            await runner.run(timeout=5)


async def test_stop_ends_a_waiting_execution(serve_url: str) -> None:
    """stop() stops an execution that waits for its callback; it ends STOPPED."""
    async with DurableCloudTestRunner("order", endpoint_url=serve_url) as runner:
        arn = await runner.start(input={"lines": LINES})
        await runner.wait_for_callback(arn, name="approval")
        await runner.stop(arn)
        result = await runner.wait_for_result(arn, timeout=60)
    assert result.status is ExecutionStatus.STOPPED


def _key(op: dict[str, Any]) -> tuple[Any, ...]:
    """What a recording must agree on; an execution's id and name are its own."""
    details = next((v for k, v in op.items() if k.endswith("Details")), {})
    if op["Type"] == "EXECUTION":
        return op["Type"], op["Status"], details.get("InputPayload")
    fields = ("Id", "Type", "SubType", "Name", "ParentId", "Status")
    return (*(op.get(k) for k in fields), details.get("Result"), details.get("Attempt"))
