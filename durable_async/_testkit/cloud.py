"""DurableCloudTestRunner: the runner's API, pointed at a deployed function through the Lambda API.

It starts executions with ``Invoke`` and reads them back with ``GetDurableExecution`` and
``GetDurableExecutionHistory``, so the same test runs against Lambda, or against
``durable-async serve`` with ``endpoint_url``. aiobotocore is imported when the runner opens.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any, Self, TypeVar

from durable_async._models import ErrorObject
from durable_async._testkit.common import (
    ErrorLike,
    callback_result,
    encode_input,
    error_wire,
    waiting_callback,
)
from durable_async._testkit.events import events_to_operations, invocation_count
from durable_async._testkit.replay import RecordedExecution
from durable_async._testkit.results import (
    DurableTestResult,
    ExecutionStatus,
    build_operations,
    decode_result,
)

__all__ = ["DurableCloudTestRunner"]

T = TypeVar("T")
_NOT_FOUND = "ResourceNotFoundException"


class DurableCloudTestRunner:
    """Run a deployed durable function from a test, with :class:`DurableTestRunner`'s API.

    ``function_name`` is the function's name or ARN (with ``qualifier`` for a version or
    alias). ``endpoint_url`` and ``region`` default to the standard AWS environment
    (``AWS_ENDPOINT_URL_LAMBDA``, ``AWS_REGION``...); credentials come from it too. Results are
    read from the history, so ``checkpoint_calls`` is None. ``client`` takes an open
    aiobotocore ``lambda`` client to use instead of making one.
    """

    def __init__(
        self,
        function_name: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        qualifier: str | None = None,
        poll_interval: float = 0.2,
        client: Any = None,
    ) -> None:
        self.function_name = function_name
        self.endpoint_url = endpoint_url
        self.region = region
        self.qualifier = qualifier
        self.poll_interval = poll_interval
        self._client = client
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> Self:
        if self._client is None:
            from aiobotocore.session import get_session  # type: ignore[import-untyped]

            region = (
                self.region
                or os.environ.get("AWS_REGION")
                or os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
            )
            client = get_session().create_client(
                "lambda", region_name=region, endpoint_url=self.endpoint_url
            )
            self._client = await self._stack.enter_async_context(client)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stack.aclose()

    @property
    def client(self) -> Any:
        """The aiobotocore ``lambda`` client (open while the runner is)."""
        if self._client is None:
            raise RuntimeError("Open the runner first: `async with DurableCloudTestRunner(...)`.")
        return self._client

    def mock_step(self, path: str, *args: Any, **kwargs: Any) -> Any:
        """Refuse: a deployed function's steps run where it is deployed."""
        raise NotImplementedError(
            f"Step mocks run in-process only; the steps of the deployed {self.function_name} "
            "run where it is deployed. Mark the test @pytest.mark.durable_local so runs "
            "against deployed functions skip it."
        )

    async def run(
        self, input: Any = None, *, timeout: float = 60, name: str | None = None
    ) -> DurableTestResult:
        """Start an execution and wait for its end; return what was recorded."""
        arn = await self.start(input=input, name=name)
        return await self.wait_for_result(arn, timeout=timeout)

    async def start(self, input: Any = None, *, name: str | None = None) -> str:
        """Invoke the function asynchronously (``InvocationType=Event``); return the ARN.

        ``name`` is the ``DurableExecutionName``: invoking it again returns that execution.
        """
        params: dict[str, Any] = {
            "FunctionName": self.function_name,
            "InvocationType": "Event",
            "Payload": (encode_input(input) or "null").encode(),
        }
        if name is not None:
            params["DurableExecutionName"] = name
        if self.qualifier is not None:
            params["Qualifier"] = self.qualifier
        response = await self.client.invoke(**params)
        arn = response.get("DurableExecutionArn")
        if not arn:
            raise RuntimeError(
                f"Invoking {self.function_name} started no durable execution (no "
                "DurableExecutionArn in the response); is it a durable function?"
            )
        return str(arn)

    async def wait_for_result(self, arn: str, *, timeout: float = 60) -> DurableTestResult:
        """Poll until the execution ends and describe it; TimeoutError after ``timeout`` s."""

        async def ended() -> DurableTestResult | None:
            result = await self.describe(arn)
            return None if result.status is ExecutionStatus.RUNNING else result

        return await self._poll(ended, timeout, f"Execution {arn} did not end")

    async def wait_for_callback(
        self, arn: str, name: str | None = None, timeout: float = 60
    ) -> str:
        """Poll until a callback of the execution waits for its answer; return its id.

        ``name`` as in :meth:`DurableTestRunner.wait_for_callback`. LookupError when the
        execution ends first.
        """

        async def found() -> str | None:
            events = await self.get_history(arn)
            callback_id = waiting_callback(events_to_operations(events), name)
            if callback_id is None and _ended(events):
                what = "callback" if name is None else f"callback named {name!r}"
                raise LookupError(f"Execution {arn} ended without a waiting {what}.")
            return callback_id

        what = "a callback" if name is None else f"a callback named {name!r}"
        return await self._poll(found, timeout, f"Execution {arn} started no {what}")

    async def send_callback_success(self, callback_id: str, payload: Any = None) -> None:
        """Complete the callback with ``payload``: bytes and str as they are, else as JSON."""
        result = callback_result(payload).encode()
        await self.client.send_durable_execution_callback_success(
            CallbackId=callback_id, Result=result
        )

    async def send_callback_failure(self, callback_id: str, error: ErrorLike = None) -> None:
        """Fail the callback with ``error``: an ErrorObject, its dict, a message or an exception."""
        wire = error_wire(error)
        params: dict[str, Any] = {"CallbackId": callback_id}
        if wire is not None:
            params["Error"] = wire
        await self.client.send_durable_execution_callback_failure(**params)

    async def send_callback_heartbeat(self, callback_id: str) -> None:
        """Tell the callback its caller is still working."""
        await self.client.send_durable_execution_callback_heartbeat(CallbackId=callback_id)

    async def stop(self, arn: str, error: ErrorLike = None) -> None:
        """Stop the execution (``StopDurableExecution``)."""
        params: dict[str, Any] = {"DurableExecutionArn": arn}
        wire = error_wire(error)
        if wire is not None:
            params["Error"] = wire
        await self.client.stop_durable_execution(**params)

    async def describe(self, arn: str) -> DurableTestResult:
        """Describe the execution as recorded now, from its history."""
        execution = await self.client.get_durable_execution(DurableExecutionArn=arn)
        events = await self.get_history(arn)
        error = execution.get("Error")
        return DurableTestResult(
            arn=arn,
            status=ExecutionStatus(execution["Status"]),
            result=decode_result(execution.get("Result")),
            error=ErrorObject.from_wire(error) if error else None,
            operations=build_operations(events_to_operations(events)),
            invocations=invocation_count(events),
            checkpoint_calls=None,
        )

    async def get_history(self, arn: str) -> list[dict[str, Any]]:
        """Return every history event of the execution, oldest first, payloads included."""
        events: list[dict[str, Any]] = []
        marker: str | None = None
        while True:
            params: dict[str, Any] = {"DurableExecutionArn": arn, "IncludeExecutionData": True}
            if marker:
                params["Marker"] = marker
            page = await self.client.get_durable_execution_history(**params)
            events.extend(page.get("Events") or [])
            marker = page.get("NextMarker")
            if not marker:
                return events

    async def record(self, arn: str) -> RecordedExecution:
        """Return the execution's operations as a recording for :func:`check_replay`."""
        execution = await self.client.get_durable_execution(DurableExecutionArn=arn)
        operations = events_to_operations(await self.get_history(arn))
        return RecordedExecution(arn, ExecutionStatus(execution["Status"]), operations)

    async def _poll(
        self, attempt: Callable[[], Awaitable[T | None]], timeout: float, failure: str
    ) -> T:
        scope = asyncio.timeout(timeout)
        try:
            async with scope:
                while True:
                    try:
                        found = await attempt()
                    except Exception as exc:
                        if _error_code(exc) != _NOT_FOUND:  # not visible yet after Invoke
                            raise
                        found = None
                    if found is not None:
                        return found
                    await asyncio.sleep(self.poll_interval)
        except TimeoutError as exc:
            if not scope.expired():
                raise
            raise TimeoutError(f"{failure} within {timeout} s; pass a longer timeout.") from exc


def _ended(events: list[dict[str, Any]]) -> bool:
    return any(
        event.get("EventType", "").startswith("Execution")
        and event.get("EventType") != "ExecutionStarted"
        for event in events
    )


def _error_code(exc: Exception) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = (response.get("Error") or {}).get("Code")
        return str(code) if code is not None else None
    return None
