"""The boundary between the SDK core and a durable execution service.

The core talks to a service through :class:`DurableService`: two coroutines whose arguments and
results are the wire shapes of the Lambda durable functions API as JSON-compatible dicts
(``PROTOCOL.md``), with every timestamp as integer epoch milliseconds. Two backends implement it:

* :mod:`durable_async.service.aws` - AWS Lambda through aiobotocore (imported only when used);
* :mod:`durable_async.service.local` - the embedded local service (engine, stores, runner, HTTP).

A backend reports every failure as :class:`ServiceError`, saying whether retrying the invocation
may succeed (throttling, 5xx, network, an invalid or expired checkpoint token) or not.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

__all__ = ["DurableService", "ServiceError"]


class ServiceError(Exception):
    """A durable execution service refused or failed a call.

    ``retryable`` is True when the same invocation may succeed if Lambda retries it
    (throttling, server errors, network failures, an invalid or expired checkpoint token), and
    False when the request itself is wrong (any other 4xx), which fails the execution.
    """

    def __init__(
        self, message: str, *, code: str, retryable: bool, status_code: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.retryable = retryable
        self.status_code = status_code

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_service_error, (self.message, self.code, self.retryable, self.status_code))


def _rebuild_service_error(
    message: str, code: str, retryable: bool, status_code: int | None
) -> ServiceError:
    return ServiceError(message, code=code, retryable=retryable, status_code=status_code)


@runtime_checkable
class DurableService(Protocol):
    """What the SDK core needs from a durable execution service."""

    async def checkpoint(
        self,
        arn: str,
        token: str,
        updates: list[dict[str, Any]],
        client_token: str | None = None,
    ) -> dict[str, Any]:
        """Apply ``updates`` (CheckpointDurableExecution) and return the response dict.

        The response is ``{"CheckpointToken"?: str, "NewExecutionState": {"Operations": [...],
        "NextMarker"?: str}}``. An empty ``updates`` list refreshes state.
        """
        ...

    async def get_execution_state(
        self, arn: str, token: str, marker: str, max_items: int = 1000
    ) -> dict[str, Any]:
        """Return one page of operations (GetDurableExecutionState).

        The page is ``{"Operations": [...], "NextMarker"?: str}``.
        """
        ...
