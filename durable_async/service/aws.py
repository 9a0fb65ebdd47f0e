"""AWS Lambda durable functions as a :class:`~durable_async.service.DurableService`.

This module and the thin path it drives (``_thin``) are the only ones that import aiobotocore.
:class:`AwsDurableService` sends ``CheckpointDurableExecution`` and ``GetDurableExecutionState``
for one aiobotocore ``lambda`` client per event loop, created on first use inside the running
loop and reused by every later call and warm invocation on that loop. Responses come back as
the JSON-shaped dicts of ``PROTOCOL.md``: timestamps as integer epoch milliseconds, no
``ResponseMetadata``. Every failure is raised as :class:`~durable_async.service.ServiceError`,
classified as the reference SDK does.

Both calls go by the thin path when the client's configuration allows it (standard retries, no
proxy, no client certificate, SigV4): the client's requests, results and errors for about a
third of its CPU per call (``docs/benchmarks.md``), the client still resolving the endpoint,
holding the credentials and deciding retries. A client passed in sends its calls itself.

Region and endpoint follow the standard environment (``AWS_REGION``/``AWS_DEFAULT_REGION``,
``AWS_ENDPOINT_URL_LAMBDA``, ``AWS_ENDPOINT_URL``) unless the constructor overrides them.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import threading
import weakref
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
from aiobotocore.config import AioConfig  # type: ignore[import-untyped]
from aiobotocore.session import get_session  # type: ignore[import-untyped]
from botocore.exceptions import (  # type: ignore[import-untyped]
    BotoCoreError,
    ClientError,
    ParamValidationError,
)

from durable_async.service import ServiceError
from durable_async.service._thin import ThinLambda
from durable_async.service._thin_model import wire

__all__ = ["AwsDurableService", "default_service", "is_retryable_response"]

_CHECKPOINT = "CheckpointDurableExecution"
_GET_STATE = "GetDurableExecutionState"

# Codes that arrive as HTTP 502 yet need the customer to fix a KMS key, so retrying cannot help.
_NON_RETRYABLE_CODES = frozenset(
    {
        "KMSAccessDeniedException",
        "KMSDisabledException",
        "KMSInvalidStateException",
        "KMSNotFoundException",
    }
)
_INVALID_PARAMETER = "InvalidParameterValueException"
_STALE_TOKEN_PREFIX = "Invalid checkpoint token"
_TOO_MANY_REQUESTS = 429

_DEFAULT_CONFIG = AioConfig(
    connect_timeout=5,
    read_timeout=50,
    retries={"mode": "standard", "max_attempts": 3},
    max_pool_connections=16,
    tcp_keepalive=True,
    user_agent_extra="durable-async",
)
_CLOSE_TIMEOUT_SECONDS = 5.0
# What a call can fail with: the service's answer, or botocore/aiohttp failing to get one.
_FAILURES: tuple[type[BaseException], ...] = (
    ClientError,
    BotoCoreError,
    aiohttp.ClientError,
    TimeoutError,
)


class _LambdaClient(Protocol):
    """The part of an aiobotocore ``lambda`` client this module calls."""

    meta: Any

    async def checkpoint_durable_execution(self, **params: Any) -> dict[str, Any]: ...

    async def get_durable_execution_state(self, **params: Any) -> dict[str, Any]: ...


@dataclass(frozen=True)
class _Connection:
    """A client, its thin path, the loop they belong to and the stack that closes them."""

    loop: asyncio.AbstractEventLoop
    stack: AsyncExitStack
    client: _LambdaClient
    thin: ThinLambda | None


class AwsDurableService:
    """Talk to AWS Lambda durable functions through one shared aiobotocore client.

    ``client`` is an open aiobotocore ``lambda`` client to use instead of one of our own.
    ``region_name`` and ``endpoint_url`` override the environment; ``config`` (a botocore
    ``Config`` or aiobotocore ``AioConfig``) is merged over sensible defaults: 5 s connect and
    50 s read timeouts, standard-mode retries with 3 attempts, keep-alive connections; an option
    it sets (``retries`` as a whole, for instance) replaces the default's. ``thin=False`` sends
    every call through aiobotocore instead of the thin path; a given ``client`` always is.

    The client opens on first use and is bound to the loop that opened it; each event loop
    (one per thread, when the Lambda entry is called from several threads) gets its own.
    """

    def __init__(
        self,
        *,
        region_name: str | None = None,
        endpoint_url: str | None = None,
        config: Any = None,
        client: Any = None,
        thin: bool = True,
    ) -> None:
        self._region_name = region_name
        self._thin = thin
        # A client the user opened (durable_execution(boto3_client=...)): used as it is, on
        # whatever loop it belongs to, and never closed by us.
        self._given_client: _LambdaClient | None = client
        if client is not None:
            client.meta.events.register("before-parse.lambda", _name_error_from_body)
        self._endpoint_url = endpoint_url
        self._config: Any = _DEFAULT_CONFIG if config is None else _DEFAULT_CONFIG.merge(config)
        # One client per live loop; a loop that is gone took its sockets with it.
        self._connections: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Connection] = (
            weakref.WeakKeyDictionary()
        )
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self._guard = threading.Lock()

    async def __aenter__(self) -> AwsDurableService:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def checkpoint(
        self,
        arn: str,
        token: str,
        updates: list[dict[str, Any]],
        client_token: str | None = None,
    ) -> dict[str, Any]:
        """Apply ``updates`` with CheckpointDurableExecution and return the response dict."""
        _require_token(_CHECKPOINT, token)
        params: dict[str, Any] = {
            "DurableExecutionArn": arn,
            "CheckpointToken": token,
            "Updates": updates,
        }
        if client_token is not None:
            params["ClientToken"] = client_token
        try:
            connection = await self._connection()
            if connection.thin is not None:
                return await connection.thin.call(_CHECKPOINT, params)
            response = await connection.client.checkpoint_durable_execution(**params)
        except _FAILURES as exc:
            raise self._service_error(_CHECKPOINT, exc) from exc
        return wire(response)

    async def get_execution_state(
        self, arn: str, token: str, marker: str, max_items: int = 1000
    ) -> dict[str, Any]:
        """Return one page of operations from GetDurableExecutionState."""
        _require_token(_GET_STATE, token)
        params: dict[str, Any] = {
            "DurableExecutionArn": arn,
            "CheckpointToken": token,
            "Marker": marker,
            "MaxItems": max_items,
        }
        try:
            connection = await self._connection()
            if connection.thin is not None:
                return await connection.thin.call(_GET_STATE, params)
            response = await connection.client.get_durable_execution_state(**params)
        except _FAILURES as exc:
            raise self._service_error(_GET_STATE, exc) from exc
        return wire(response)

    async def aclose(self) -> None:
        """Close this loop's client; a later call opens a new one."""
        connection = self._connections.pop(asyncio.get_running_loop(), None)
        if connection is None:
            return
        async with asyncio.timeout(_CLOSE_TIMEOUT_SECONDS):
            await connection.stack.aclose()

    async def _connection(self) -> _Connection:
        loop = asyncio.get_running_loop()
        if self._given_client is not None:
            return _Connection(loop, AsyncExitStack(), self._given_client, thin=None)
        connection = self._connections.get(loop)
        if connection is not None:
            return connection
        with self._guard:  # threads: each loop gets exactly one lock
            lock = self._locks.setdefault(loop, asyncio.Lock())
        async with lock:
            connection = self._connections.get(loop)
            if connection is None:
                connection = await self._connect(loop)
                self._connections[loop] = connection
        return connection

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> _Connection:
        stack = AsyncExitStack()
        session = get_session()
        creator = session.create_client(
            "lambda",
            region_name=self._region_name or _region_from_environment(),
            endpoint_url=self._endpoint_url,
            config=self._config,
        )
        try:
            client = await stack.enter_async_context(creator)
            client.meta.events.register("before-parse.lambda", _name_error_from_body)
            thin = await self._open_thin(session, client)
        except BaseException:
            await stack.aclose()
            raise
        if thin is not None:
            stack.push_async_callback(thin.aclose)
        return _Connection(loop=loop, stack=stack, client=client, thin=thin)

    async def _open_thin(self, session: Any, client: Any) -> ThinLambda | None:
        if not self._thin:
            return None
        # The client's own: the session resolved them for it, and caches them.
        credentials = await session.get_credentials()
        # What botocore gives the client's HTTP session for verify=None.
        verify = session.get_config_variable("ca_bundle") or os.environ.get(
            "REQUESTS_CA_BUNDLE", True
        )
        return await ThinLambda.open(client, credentials, verify)

    def _service_error(self, operation: str, exc: BaseException) -> ServiceError:
        if isinstance(exc, ClientError):
            return _client_error(operation, exc)
        if isinstance(exc, ParamValidationError):
            return ServiceError(
                f"{operation} was not sent because its parameters are invalid: {exc} "
                "Retrying cannot help; fix the updates or arguments passed to the service.",
                code="ParamValidationError",
                retryable=False,
            )
        return ServiceError(
            f"{operation} got no answer from the durable execution service at "
            f"{self._endpoint_description()}: {str(exc) or type(exc).__name__}. "
            "Lambda retries the invocation; if this persists, check the network, endpoint, "
            "region and credentials.",
            code=type(exc).__name__,
            retryable=True,
        )

    def _endpoint_description(self) -> str:
        connection = self._connections.get(asyncio.get_running_loop())
        if connection is not None:
            return str(connection.client.meta.endpoint_url)
        return self._endpoint_url or "the configured Lambda endpoint"


@functools.cache
def default_service() -> AwsDurableService:
    """Return the process-wide service, configured from the environment."""
    return AwsDurableService()


def is_retryable_response(response: Mapping[str, Any]) -> bool:
    """Return whether a ClientError-shaped response may succeed if the invocation is retried.

    Mirrors the reference SDK: KMS key errors are final; a 4xx is final except throttling (429)
    and an ``InvalidParameterValueException`` for a stale checkpoint token; 5xx are transient.
    """
    error: Mapping[str, Any] | None = response.get("Error")
    metadata: Mapping[str, Any] | None = response.get("ResponseMetadata")
    code: str | None = (error and error.get("Code")) or None
    if code in _NON_RETRYABLE_CODES:
        return False
    status: int | None = (metadata and metadata.get("HTTPStatusCode")) or None
    if not (status and 400 <= status < 500 and status != _TOO_MANY_REQUESTS and error):
        return True
    return code == _INVALID_PARAMETER and str(error.get("Message") or "").startswith(
        _STALE_TOKEN_PREFIX
    )


def _client_error(operation: str, exc: Any) -> ServiceError:
    response: Mapping[str, Any] = exc.response
    error: Mapping[str, Any] = response.get("Error") or {}
    status: int | None = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    code = str(error.get("Code") or "UnknownError")
    detail = str(error.get("Message") or exc).rstrip(".")
    retryable = is_retryable_response(response)
    if retryable:
        advice = "This is transient; Lambda retries the invocation."
    else:
        advice = "Retrying cannot help; fix the request or the function's configuration."
    return ServiceError(
        f"{operation} failed with {code} (HTTP {status}): {detail}. {advice}",
        code=code,
        retryable=retryable,
        status_code=status,
    )


def _require_token(operation: str, token: str) -> None:
    # Like the reference SDK: a missing token is retryable, the next invocation brings one.
    if not token:
        raise ServiceError(
            f"{operation} needs a checkpoint token and none was given. "
            "Let the invocation fail so Lambda retries it with a fresh token.",
            code="MissingCheckpointToken",
            retryable=True,
        )


def _region_from_environment() -> str | None:
    # botocore reads AWS_DEFAULT_REGION only; Lambda sets AWS_REGION as well.
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None


def _name_error_from_body(response_dict: dict[str, Any], **_: Any) -> None:
    """Give botocore the error name when a service puts it only in the body's ``Type``.

    Lambda names errors in the ``X-Amzn-ErrorType`` header. Local emulators (the reference
    ``dex-local-runner``) omit it and write ``{"Type": "InvalidParameterValueException"}``, which
    botocore would otherwise report as code ``"400"``, hiding a stale token behind a 4xx.
    """
    headers = response_dict["headers"]
    if response_dict["status_code"] < 400 or "x-amzn-errortype" in headers:
        return
    try:
        body = json.loads(response_dict["body"])
    except (TypeError, ValueError):
        return
    error_type = body.get("Type") if isinstance(body, dict) else None
    if isinstance(error_type, str) and error_type.endswith("Exception"):
        headers["x-amzn-errortype"] = error_type
