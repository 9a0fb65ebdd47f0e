"""The thin path: the two durable execution calls without botocore's per-request machinery.

aiobotocore spends most of a CheckpointDurableExecution call's CPU on work whose result never
changes between calls: rebuilding the User-Agent string, resolving the endpoint, walking the
request and response through the service model, emitting about twenty events, and signing
through a generic request object (``docs/benchmarks.md`` has the profile). :class:`ThinLambda`
sends ``CheckpointDurableExecution`` and ``GetDurableExecutionState`` itself, on the same event
loop, and borrows the rest from the aiobotocore client it was opened from:

* the endpoint and signing scope, resolved once by the client's own endpoint ruleset;
* the credentials, the client's session's own object, asked for frozen values on every request
  so they refresh when they expire;
* retries: the client's ``needs-retry`` and ``after-call`` handlers decide and pay the retry
  quota, exactly as for the client's own calls;
* errors: a response of 300 or more is parsed by aiobotocore's parser and raised as the
  client's ``ClientError``; a failure to get one is raised as the botocore exception aiobotocore
  raises for it.

What it does itself: the request (the same bytes botocore serialises: ``json.dumps`` with its
defaults, the URL botocore's serialiser built for the execution, kept), the SigV4 signature
(``_sigv4``), one keep-alive ``aiohttp.ClientSession``, and a success response decoded with
orjson when it is installed (the standard library otherwise) and converted as compiled from
the output shape (``_thin_model``). Whatever that conversion does not expect (a member of the
wrong JSON type, a body that is not JSON) is handed to botocore's own parser, so the result
is botocore's in every case.

``tests/test_thin_client.py`` holds it to that: requests, signatures, results and errors are
compared with aiobotocore's against real loopback servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import aiohttp
import botocore  # type: ignore[import-untyped]
from aiobotocore.parsers import create_parser  # type: ignore[import-untyped]
from botocore.awsrequest import AWSResponse, prepare_request_dict  # type: ignore[import-untyped]
from botocore.exceptions import (  # type: ignore[import-untyped]
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    NoCredentialsError,
    ProxyConnectionError,
    ReadTimeoutError,
    SSLError,
)
from botocore.httpsession import (  # type: ignore[import-untyped]
    ProxyConfiguration,
    create_urllib3_context,
    get_cert_path,
)
from botocore.serialize import create_serializer  # type: ignore[import-untyped]
from botocore.validate import validate_parameters  # type: ignore[import-untyped]
from yarl import URL

from durable_async.service._sigv4 import AmzDate, Signer, canonical_path, host_from_url
from durable_async.service._thin_model import (
    Operation,
    Unexpected,
    Unsupported,
    compile_operation,
    wire,
)

try:
    from botocore.retries.standard import NEW_RETRIES_ENABLED  # type: ignore[import-untyped]
except ImportError:  # botocore before the flag
    NEW_RETRIES_ENABLED = False

try:
    import orjson

    _fast_loads: Callable[[bytes], Any] | None = orjson.loads
except ImportError:  # optional: the standard library decodes alone
    _fast_loads = None

__all__ = ["THIN_OPERATIONS", "ThinLambda"]

_log = logging.getLogger(__name__)

THIN_OPERATIONS = ("CheckpointDurableExecution", "GetDurableExecutionState")
_SERVICE_ID = "lambda"
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_JSON = "application/json"
_KEEPALIVE_TIMEOUT_SECONDS = 12  # aiobotocore's default for its connector
# Recently used execution ARNs and their URLs; a Lambda process serves one at a time.
_MAX_CACHED_ARNS = 64
# The JSON botocore's rest-json serialiser writes: json.dumps with every default.
_encode = json.JSONEncoder().encode


class ThinLambda:
    """Send the two durable execution calls for an aiobotocore ``lambda`` client, thinly.

    Open with :meth:`open`, which returns None when the client's configuration asks for
    something the thin path does not reproduce (another retry mode, a proxy, a client
    certificate, another signer or endpoint shape); the caller then keeps using the client.
    """

    def __init__(
        self,
        client: Any,
        credentials: Any,
        session: aiohttp.ClientSession,
        operations: dict[str, Operation],
        endpoint_url: str,
        signing: tuple[str, str],
    ) -> None:
        self._client = client
        self._credentials = credentials
        self._session = session
        self._operations = operations
        self._endpoint_url = endpoint_url
        self._host = host_from_url(endpoint_url)
        self._signer = Signer(service=signing[0], region=signing[1])
        self._clock = AmzDate()
        self._config = client.meta.config
        self._validate = bool(self._config.parameter_validation)
        self._user_agent = _user_agent(client)
        self._serializer = create_serializer("rest-json", include_validation=False)
        self._parser = create_parser("rest-json")
        self._max_attempts = _max_attempts(self._config)
        self._urls: dict[tuple[str, str], tuple[URL, str]] = {}
        # Until a call of ours is retried the client's retry quota is full, and paying it back
        # after a success (what after-call does) changes nothing.
        self._retried = False

    @classmethod
    async def open(cls, client: Any, credentials: Any, verify: Any = True) -> ThinLambda | None:
        """Return a thin path for ``client``, or None when the client must send every call.

        ``credentials`` is the credentials object of the session that created the client;
        ``verify`` is the client's TLS verification (True, False, or a CA bundle path).
        """
        try:
            model = client.meta.service_model
            operations = {name: compile_operation(model, name) for name in THIN_OPERATIONS}
            endpoint_url, signing = await _endpoint(client)
            _check_config(client, endpoint_url)
        except Unsupported as exc:
            _log.debug("Sending durable execution calls through aiobotocore: %s", exc)
            return None
        session = await _open_session(client.meta.config, endpoint_url, verify)
        return cls(client, credentials, session, operations, endpoint_url, signing)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._session.close()

    async def call(self, operation_name: str, params: dict[str, Any]) -> dict[str, Any]:
        """Make one API call and return its result as wire JSON (timestamps in epoch ms).

        Raises what the aiobotocore client raises for the same call: ``ParamValidationError``,
        the client's ``ClientError`` subclasses, and botocore's connection errors.
        """
        operation = self._operations[operation_name]
        params = dict(params)
        for name in operation.model.idempotent_members:
            if name not in params:
                params[name] = _uuid4()
        if self._validate and not operation.valid(params):
            # botocore's validator words the error (and has the last word).
            validate_parameters(params, operation.model.input_shape)
        request = self._serialize(operation, params)
        context = self._request_context()
        try:
            return await self._send_with_retries(operation, request, context)
        except Exception as exc:
            await self._client.meta.events.emit(
                f"after-call-error.{_SERVICE_ID}.{operation.name}", exception=exc, context=context
            )
            raise

    # One call: attempts, retries, the outcome.

    def _request_context(self) -> dict[str, Any]:
        retries: dict[str, Any] = {"attempt": 1, "invocation-id": _uuid4()}
        if NEW_RETRIES_ENABLED:  # then botocore's MaxAttemptsSeeder adds it to the first attempt
            retries["max"] = self._max_attempts
        return {"client_config": self._config, "retries": retries}

    async def _send_with_retries(
        self, operation: Operation, request: tuple[URL, str, bytes], context: dict[str, Any]
    ) -> dict[str, Any]:
        url, path, body = request
        attempts = 1
        while True:
            http, result, error = await self._attempt(operation, url, path, body, context)
            if http is not None and http.status_code < 300:
                if self._retried:
                    await self._after_call(operation, http, result, context)
                return result  # type: ignore[no-any-return]
            response = None if http is None else (http, result)
            if not await self._needs_retry(operation, attempts, response, error, context):
                break
            attempts += 1
            _update_retries(context, attempts, http)
        if error is not None:
            raise error
        result["ResponseMetadata"]["RetryAttempts"] = attempts - 1
        await self._after_call(operation, http, result, context)
        raise self._client_error(operation, result)

    async def _attempt(
        self, operation: Operation, url: URL, path: str, body: bytes, context: dict[str, Any]
    ) -> tuple[AWSResponse | None, Any, Exception | None]:
        """Send once; return the response and its parse, or the exception botocore raises."""
        headers = await self._headers(operation, url, path, body, context)
        try:
            async with self._session.request(
                operation.method, url, data=body or None, headers=headers
            ) as response:
                content = await response.read()
                status, raw_headers = response.status, response.raw_headers
        except Exception as exc:  # mapped exactly as aiobotocore maps it
            return None, None, _connection_error(exc, str(url))
        if status < 300:
            try:
                return _Response(status), self._convert(operation, content), None
            except Unexpected:
                pass  # botocore's parser decides, below
        http = AWSResponse(str(url), status, _lower_headers(raw_headers), None)
        parsed = await self._botocore_parse(operation, http, content)
        if status < 300:
            return http, wire(parsed), None
        return http, parsed, None

    def _convert(self, operation: Operation, content: bytes) -> dict[str, Any]:
        if not content:
            return {}
        value: Any = Unexpected
        if _fast_loads is not None:
            # NaN, huge numbers, lone surrogates: orjson refuses, the standard library decides.
            with contextlib.suppress(ValueError):
                value = _fast_loads(content)
        if value is Unexpected:
            try:
                value = json.loads(content.decode())
            except ValueError as exc:
                raise Unexpected from exc
        converted: dict[str, Any] = operation.convert(value)
        return converted

    async def _botocore_parse(
        self, operation: Operation, http: AWSResponse, content: bytes
    ) -> dict[str, Any]:
        """Parse as aiobotocore's endpoint does, the client's ``before-parse`` hooks first."""
        response_dict = {
            "headers": http.headers,
            "status_code": http.status_code,
            "context": {"operation_name": operation.name},
            "body": content,
        }
        customized: dict[str, Any] = {}
        await self._client.meta.events.emit(
            f"before-parse.{_SERVICE_ID}.{operation.name}",
            operation_model=operation.model,
            response_dict=response_dict,
            customized_response_dict=customized,
        )
        output_shape = operation.model.output_shape
        parsed: dict[str, Any] = await self._parser.parse(response_dict, output_shape)
        parsed.update(customized)
        code = parsed.get("Error", {}).get("Code") if http.status_code >= 300 else None
        if code is not None:  # the modelled error's own members too
            error_shape = operation.model.service_model.shape_for_error_code(code)
            if error_shape is not None:
                parsed.update(await self._parser.parse(response_dict, error_shape))
        return parsed

    async def _needs_retry(
        self,
        operation: Operation,
        attempts: int,
        response: tuple[AWSResponse, Any] | None,
        error: Exception | None,
        context: dict[str, Any],
    ) -> bool:
        """Ask the client's retry handler, as aiobotocore's endpoint does, and sleep its delay."""
        responses = await self._client.meta.events.emit(
            f"needs-retry.{_SERVICE_ID}.{operation.name}",
            response=response,
            endpoint=None,
            operation=operation.model,
            attempts=attempts,
            caught_exception=error,
            request_dict={"context": context},
        )
        delay = next((r[1] for r in responses if r[1] is not None), None)
        if delay is None or delay is False:
            return False
        self._retried = True
        await asyncio.sleep(delay)
        return True

    async def _after_call(
        self, operation: Operation, http: Any, parsed: Any, context: dict[str, Any]
    ) -> None:
        # The client's retry quota is paid back here, as after every call of the client's own.
        await self._client.meta.events.emit(
            f"after-call.{_SERVICE_ID}.{operation.name}",
            http_response=http,
            parsed=parsed,
            model=operation.model,
            context=context,
        )

    def _client_error(self, operation: Operation, parsed: dict[str, Any]) -> Exception:
        error_info = parsed.get("Error", {})
        code = error_info.get("QueryErrorCode") or error_info.get("Code")
        error: Exception = self._client.exceptions.from_code(code)(parsed, operation.name)
        return error

    # The request.

    def _serialize(self, operation: Operation, params: dict[str, Any]) -> tuple[URL, str, bytes]:
        """Return the URL, its canonical path for signing, and the body botocore would send."""
        if operation.has_body:
            url, path = self._checkpoint_url(operation, params)
            uri = operation.uri_members
            body = {k: v for k, v in params.items() if v is not None and k not in uri}
            return url, path, _encode(body).encode()
        request = self._botocore_request(operation, params)
        return URL(request["url"], encoded=True), canonical_path(request["url"]), request["body"]

    def _checkpoint_url(self, operation: Operation, params: dict[str, Any]) -> tuple[URL, str]:
        arn = params["DurableExecutionArn"]
        key = (operation.name, arn)
        cached = self._urls.get(key)
        if cached is None:
            url = self._botocore_request(operation, params)["url"]
            cached = URL(url, encoded=True), canonical_path(url)
            if len(self._urls) >= _MAX_CACHED_ARNS:
                self._urls.clear()
            self._urls[key] = cached
        return cached

    def _botocore_request(self, operation: Operation, params: dict[str, Any]) -> dict[str, Any]:
        request: dict[str, Any] = self._serializer.serialize_to_request(params, operation.model)
        prepare_request_dict(request, endpoint_url=self._endpoint_url)
        return request

    async def _headers(
        self, operation: Operation, url: URL, path: str, body: bytes, context: dict[str, Any]
    ) -> dict[str, str]:
        """Return the headers in the order botocore adds them, signed as its SigV4 signer does."""
        credentials = await self._frozen_credentials()
        headers: dict[str, str] = {}
        if body:
            headers["Content-Type"] = _JSON
        headers["User-Agent"] = self._user_agent
        trace_id = os.environ.get("_X_AMZN_TRACE_ID")
        if trace_id and "AWS_LAMBDA_FUNCTION_NAME" in os.environ:  # recursion detection
            headers["X-Amzn-Trace-Id"] = quote(trace_id, safe="-=;:+&[]{}\"',")
        amz_date = self._clock.amz_date()
        headers["X-Amz-Date"] = amz_date
        token = credentials.token
        if token:
            headers["X-Amz-Security-Token"] = token
        headers["Authorization"] = self._signer.authorization(
            method=operation.method,
            path=path,
            query=url.raw_query_string,
            host=self._host,
            amz_date=amz_date,
            content_type=_JSON if body else None,
            token=token,
            payload_hash=hashlib.sha256(body).hexdigest() if body else _EMPTY_SHA256,
            credentials=credentials,
        )
        retries = context["retries"]
        headers["amz-sdk-invocation-id"] = retries["invocation-id"]
        headers["amz-sdk-request"] = "; ".join(
            f"{key}={retries[key]}" for key in ("ttl", "attempt", "max") if key in retries
        )
        if body:
            headers["Content-Length"] = str(len(body))
        headers["Accept-Encoding"] = "identity"  # aiobotocore's, botocore/botocore#1255
        return headers

    async def _frozen_credentials(self) -> Any:
        if self._credentials is None:
            raise NoCredentialsError()
        return await self._credentials.get_frozen_credentials()


def _uuid4() -> str:
    """Return ``str(uuid.uuid4())``, without building a UUID object on the way."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40
    raw[8] = raw[8] & 0x3F | 0x80
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


class _Response:
    """The part of a 2xx response that the client's ``after-call`` handlers read."""

    __slots__ = ("status_code",)

    def __init__(self, status_code: int) -> None:
        self.status_code = status_code


def _lower_headers(raw_headers: Any) -> dict[str, str]:
    # As aiobotocore: lower-cased names, the last of repeated headers wins.
    return {name.decode().lower(): value.decode() for name, value in raw_headers}


def _update_retries(context: dict[str, Any], attempt: int, http: AWSResponse | None) -> None:
    """Update the retry context before another attempt, as botocore's endpoint does."""
    retries = context["retries"]
    retries["attempt"] = attempt
    date = None if http is None else http.headers.get("Date")
    if date:
        try:
            now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            skew = dt.datetime.strptime(date, "%a, %d %b %Y %H:%M:%S %Z") - now
            read_timeout = context["client_config"].read_timeout
            retries["ttl"] = (now + dt.timedelta(seconds=read_timeout) + skew).strftime(
                "%Y%m%dT%H%M%SZ"
            )
        except Exception:  # botocore sends no TTL then, and neither do we
            _log.debug("No retry TTL from the response's Date header %r", date, exc_info=True)


def _connection_error(exc: Exception, url: str) -> Exception:
    """Return the botocore exception aiobotocore's ``AIOHTTPSession.send`` raises for ``exc``."""
    error: Exception
    if isinstance(exc, aiohttp.ClientSSLError):
        error = SSLError(endpoint_url=url, error=exc)
    elif isinstance(exc, aiohttp.ClientProxyConnectionError | aiohttp.ClientHttpProxyError):
        error = ProxyConnectionError(proxy_url=url, error=exc)
    elif isinstance(
        exc,
        aiohttp.ServerDisconnectedError
        | aiohttp.ClientPayloadError
        | aiohttp.http_exceptions.BadStatusLine,
    ):
        error = ConnectionClosedError(error=exc, request=None, endpoint_url=url)
    elif isinstance(exc, aiohttp.ServerTimeoutError):
        timeout = (
            ConnectTimeoutError if str(exc).lower().startswith("connect") else ReadTimeoutError
        )
        error = timeout(endpoint_url=url, error=exc)
    elif isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ClientConnectionError | OSError):
        error = EndpointConnectionError(endpoint_url=url, error=exc)
    elif isinstance(exc, TimeoutError):
        error = ReadTimeoutError(endpoint_url=url, error=exc)
    else:
        error = HTTPClientError(error=exc)
    return error


# Opening.


async def _endpoint(client: Any) -> tuple[str, tuple[str, str]]:
    """Resolve the endpoint and signing scope once, with the client's own ruleset."""
    resolve = getattr(client, "_resolve_endpoint_ruleset", None)
    if resolve is None:
        raise Unsupported("this aiobotocore cannot resolve an endpoint ahead of a call")
    model = client.meta.service_model.operation_model(THIN_OPERATIONS[0])
    context: dict[str, Any] = {
        "client_region": client.meta.region_name,
        "client_config": client.meta.config,
        "auth_type": getattr(model, "resolved_auth_type", model.auth_type),
    }
    params = {"DurableExecutionArn": "arn", "CheckpointToken": "token", "Updates": []}
    endpoint_url, headers, _ = await resolve(model, params, context)
    if headers:
        raise Unsupported("the endpoint asks for extra headers")
    auth_type = context.get("auth_type")
    if auth_type not in (None, "v4"):
        raise Unsupported(f"the endpoint signs with {auth_type}")
    signing = context.get("signing", {})
    service = signing.get("signing_name") or client.meta.service_model.signing_name
    region = signing.get("region") or client.meta.region_name
    if not region:
        raise Unsupported("no signing region")
    return str(endpoint_url), (str(service), str(region))


def _check_config(client: Any, endpoint_url: str) -> None:
    config = client.meta.config
    if (config.retries or {}).get("mode") != "standard":
        raise Unsupported("retries are not in standard mode")
    if config.signature_version not in (None, "v4"):
        raise Unsupported(f"signature version {config.signature_version!r}")
    if config.client_cert is not None:
        raise Unsupported("a client certificate")
    if getattr(config, "http_session_cls", None) not in (None, _default_http_session()):
        raise Unsupported("a custom HTTP session class")
    if getattr(config, "auth_scheme_preference", None):
        raise Unsupported("an auth scheme preference")
    if set(getattr(config, "connector_args", None) or ()) - {"keepalive_timeout"}:
        raise Unsupported("connector arguments beyond keepalive_timeout")
    proxies = ProxyConfiguration(proxies=config.proxies, proxies_settings=config.proxies_config)
    if proxies.proxy_url_for(endpoint_url):
        raise Unsupported("a proxy")


def _default_http_session() -> Any:
    from aiobotocore.httpsession import AIOHTTPSession  # type: ignore[import-untyped]

    return AIOHTTPSession


async def _open_session(config: Any, endpoint_url: str, verify: Any) -> aiohttp.ClientSession:
    """Open the keep-alive session with aiobotocore's connector settings and TLS context."""
    ssl_context: Any = None
    if endpoint_url.startswith("https"):
        ssl_context = await asyncio.to_thread(_ssl_context, verify)
    keepalive = (getattr(config, "connector_args", None) or {}).get(
        "keepalive_timeout", _KEEPALIVE_TIMEOUT_SECONDS
    )
    connector = aiohttp.TCPConnector(
        limit=config.max_pool_connections, ssl=ssl_context or True, keepalive_timeout=keepalive
    )
    timeout = aiohttp.ClientTimeout(
        sock_connect=config.connect_timeout, sock_read=config.read_timeout
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        skip_auto_headers={"Content-Type"},
        auto_decompress=False,
        cookie_jar=aiohttp.DummyCookieJar(),
    )


def _ssl_context(verify: Any) -> Any:
    """Build the TLS context aiobotocore builds for the same ``verify``."""
    context = create_urllib3_context()
    if verify:
        context.check_hostname = True
        ca_certs = get_cert_path(verify)
        if ca_certs:
            context.load_verify_locations(ca_certs, None, None)
    else:
        import ssl

        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _user_agent(client: Any) -> str:
    # Built once: botocore rebuilds the same string on every request.
    creator = getattr(client, "_user_agent_creator", None)
    if creator is not None:
        return str(creator.to_string())
    return f"botocore/{botocore.__version__}"


def _max_attempts(config: Any) -> int:
    attempts = (config.retries or {}).get("total_max_attempts")
    return int(attempts) if attempts is not None else 3
