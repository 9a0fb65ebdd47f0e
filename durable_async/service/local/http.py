"""The local durable execution service over HTTP, spoken the way botocore's ``lambda`` client does.

:class:`LocalHttpServer` serves a :class:`LocalDurableService` on an aiohttp server:

* the durable execution routes of the Lambda API (rest-json under ``/2025-12-01``), so
  ``AwsDurableService(endpoint_url=server.url)``, boto3 and the AWS CLI work against it;
* ``POST /start-durable-execution`` and ``GET /health``, local-only, like the reference emulator;
* Lambda ``Invoke`` (``POST /2015-03-31/functions/{name}/invocations``), which runs one invocation
  of the function with the invoker registered on the server's :class:`LocalRunner`.

The engine keeps timestamps as integer epoch milliseconds; rest-json sends them as epoch seconds,
so they leave as ``ms / 1000``, which botocore parses back to the same millisecond. Errors carry
their code in ``X-Amzn-ErrorType`` and ``{"Type": "User" | "Server", "message"}`` in the body,
as Lambda's do, so botocore raises ``ClientError`` with that code and message.

``python -m durable_async.service.local.http --port 8080 --store local.sqlite3`` serves a store
until interrupted. The API has no authentication: anyone who can reach the port can read and
drive every execution, so it listens on loopback unless ``--host`` says otherwise (and then
warns).

A bad request never gets a 500 (docs/robustness.md): the body must be strict JSON (no NaN or
Infinity, no number that overflows a float) nested at most 100 deep; query numbers are ASCII
digits within the API model's bounds; times are finite; the engine bounds every number of an
update and escapes lone surrogates in text. Calls a client makes (start, callbacks, stop,
describe, list, history) are admitted to the store ahead of the checkpoint traffic of the
executions in flight.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import inspect
import ipaddress
import json
import logging
import math
import re
import signal
import traceback
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from aiohttp import web

from durable_async.service import ServiceError
from durable_async.service.local._admission import client_calls
from durable_async.service.local._model import clean_text, loads, shown
from durable_async.service.local.engine import LocalDurableService
from durable_async.service.local.runner import Invoker, LocalRunner
from durable_async.service.local.store import MemoryStore, SqliteStore, Store

__all__ = ["LocalHttpServer", "is_loopback", "main"]

T = TypeVar("T")
Json = dict[str, Any]
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_log = logging.getLogger(__name__)

_API = "/2025-12-01"
_EXECUTION = _API + "/durable-executions/{arn}"
# Every timestamp member of the durable API's responses (a test checks this against botocore).
_TIMESTAMP_KEYS = frozenset(
    {
        "EndTimestamp",
        "EventTimestamp",
        "NextAttemptTimestamp",
        "ScheduledEndTimestamp",
        "StartTimestamp",
        "StopTimestamp",
    }
)
_ROUTE_ERRORS = {
    404: "UnknownOperationException",
    405: "UnknownOperationException",
    413: "RequestTooLargeException",
}
_DEFAULT_PAGE = 100
_MAX_PAGE = 1000
_VERSION = "$LATEST"
_MAX_BODY_BYTES = 8 * 1024 * 1024
# No request of the API nests deeper than about 5; a start's Input is the user's own JSON.
_MAX_DEPTH = 100
_DIGITS = re.compile(r"[0-9]{1,18}")
# Patterns and sizes of ListDurableExecutionsByFunction's members in Lambda's API model.
_MAX_FUNCTION_CHARS = 256
_FUNCTION = re.compile(
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?"
    r"(\d{12}:)?(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?",
    re.ASCII,
)
_QUALIFIER = re.compile(r"\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9_$-]{1,128}")
_EXECUTION_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_STATUSES = frozenset({"RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED"})
_MAX_STATUSES = 10
_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
# StartedAfter and StartedBefore as epoch seconds: years 1 to 9999, as datetime has them.
_MIN_EPOCH_SECONDS = -62_135_596_800
_MAX_EPOCH_SECONDS = 253_402_300_799
_SHUTDOWN_TIMEOUT_SECONDS = 5.0
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


_Route = Callable[["LocalHttpServer", web.Request], Awaitable[web.Response]]


def _client_route(route: _Route) -> _Route:
    """Admit the route's store calls in the client lane (see ``_admission``)."""

    @functools.wraps(route)
    async def admitted(self: LocalHttpServer, request: web.Request) -> web.Response:
        with client_calls():
            return await route(self, request)

    return admitted


class LocalHttpServer:
    """Serve a :class:`LocalDurableService` over loopback HTTP while open.

    ``port=0`` binds a free port; read :attr:`url` or :attr:`port` once started. With a
    ``runner`` (opened by the caller), ``/start-durable-execution`` also drives the execution
    in the background and ``Invoke`` runs the runner's registered invokers.
    """

    def __init__(
        self,
        service: LocalDurableService,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        runner: LocalRunner | None = None,
        execution_timeout: Callable[[str], int | None] | None = None,
        on_lambda_endpoint: Callable[[str], None] | None = None,
    ) -> None:
        self.service = service
        self.runner = runner
        self.host = host
        self._requested_port = port
        self._app_runner: web.AppRunner | None = None
        self._port: int | None = None
        # The ExecutionTimeout an Invoke of a function starts its executions with.
        self._execution_timeout = execution_timeout or (lambda function_name: None)
        self._on_lambda_endpoint = on_lambda_endpoint
        self._background: set[asyncio.Task[Any]] = set()

    async def __aenter__(self) -> Self:
        """Start serving."""
        await self.start()
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop serving."""
        await self.stop()

    @property
    def port(self) -> int:
        """Return the port the server listens on."""
        if self._port is None:
            raise RuntimeError(
                "The server is not running; use `async with LocalHttpServer(...) as server:`."
            )
        return self._port

    @property
    def url(self) -> str:
        """Return the base URL to pass as ``endpoint_url``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        """Bind the socket and start answering requests."""
        if self._app_runner is not None:
            raise RuntimeError("The server is already running; stop it before starting it again.")
        app_runner = web.AppRunner(
            self._application(), access_log=None, shutdown_timeout=_SHUTDOWN_TIMEOUT_SECONDS
        )
        await app_runner.setup()
        try:
            await web.TCPSite(app_runner, self.host, self._requested_port).start()
        except BaseException:
            await app_runner.cleanup()
            raise
        self._app_runner = app_runner
        self._port = int(app_runner.addresses[0][1])
        if not is_loopback(self.host):
            _log.warning(_exposed_warning(self.host))

    async def stop(self) -> None:
        """Stop accepting connections, let running requests finish briefly, and close."""
        app_runner, self._app_runner, self._port = self._app_runner, None, None
        if app_runner is not None:
            await app_runner.cleanup()
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    def _application(self) -> web.Application:
        app = web.Application(middlewares=[_errors], client_max_size=_MAX_BODY_BYTES)
        app.router.add_routes(
            [
                web.post(f"{_EXECUTION}/checkpoint", self._checkpoint),
                web.get(f"{_EXECUTION}/state", self._state),
                web.get(f"{_EXECUTION}/history", self._history),
                web.post(f"{_EXECUTION}/stop", self._stop),
                web.get(_EXECUTION, self._describe),
                web.get(_API + "/functions/{function}/durable-executions", self._list),
                web.get(_API + "/durable-executions", self._list_all),
                web.post(
                    _API + "/durable-execution-callbacks/{id}/{action:succeed|fail|heartbeat}",
                    self._callback,
                ),
                web.post("/start-durable-execution", self._start),
                web.get("/health", self._health),
                web.get("/metrics", self._metrics),
                web.put("/lambda-endpoint", self._lambda_endpoint),
                web.post("/2015-03-31/functions/{function}/invocations", self._invoke),
            ]
        )
        return app

    # The botocore routes.

    async def _checkpoint(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        response = await self.service.checkpoint(
            request.match_info["arn"],
            _required(body, "CheckpointToken", str),
            _optional(body, "Updates", list) or [],
            _optional(body, "ClientToken", str),
        )
        return _api_response(response)

    async def _state(self, request: web.Request) -> web.Response:
        token = request.query.get("CheckpointToken")
        if not token:
            raise _invalid("CheckpointToken is required; pass the token of the running invocation.")
        marker = request.query.get("Marker", "")
        page = await self.service.get_execution_state(
            request.match_info["arn"], token, marker, _page_size(request)
        )
        return _api_response(page)

    @_client_route
    async def _history(self, request: web.Request) -> web.Response:
        page = await self.service.get_history(
            request.match_info["arn"],
            include_execution_data=_query_bool(request, "IncludeExecutionData", default=True),
            reverse_order=_query_bool(request, "ReverseOrder", default=False),
            marker=request.query.get("Marker") or None,
            max_items=_page_size(request),
        )
        return _api_response(page)

    @_client_route
    async def _describe(self, request: web.Request) -> web.Response:
        execution = await self.service.describe_execution(request.match_info["arn"])
        included = _query_bool(request, "IncludeExecutionData", default=True)
        if not included:
            for key in ("InputPayload", "Result", "Error"):
                execution.pop(key, None)
        execution["ExecutionDataIncluded"] = included
        return _api_response(execution)

    @_client_route
    async def _stop(self, request: web.Request) -> web.Response:
        error = await _json_body(request)  # the Error structure is the whole body
        return _api_response(
            await self.service.stop_execution(request.match_info["arn"], error or None)
        )

    @_client_route
    async def _list(self, request: web.Request) -> web.Response:
        return await self._listing(request, _listed_function(request.match_info["function"]))

    @_client_route
    async def _list_all(self, request: web.Request) -> web.Response:
        """List executions of every function (the reference emulator's ListDurableExecutions)."""
        function_name = request.query.get("FunctionName")
        return await self._listing(
            request, None if function_name is None else _listed_function(function_name)
        )

    async def _listing(self, request: web.Request, function_name: str | None) -> web.Response:
        keep = _filter(request)  # checked before the store is read
        size = _page_size(request)
        executions = [e for e in await self.service.list_executions(function_name) if keep(e)]
        if not _query_bool(request, "ReverseOrder", default=False):
            executions.reverse()  # newest first unless asked otherwise, as Lambda does
        page, marker = _page_after(executions, request.query.get("Marker"), size)
        response: Json = {"DurableExecutions": page}
        if marker is not None:
            response["NextMarker"] = marker
        return _api_response(response)

    @_client_route
    async def _callback(self, request: web.Request) -> web.Response:
        callback_id, action = request.match_info["id"], request.match_info["action"]
        if action == "succeed":
            await self.service.send_callback_success(callback_id, await _text_body(request))
        elif action == "fail":
            await self.service.send_callback_failure(callback_id, await _json_body(request) or None)
        else:
            await self.service.send_callback_heartbeat(callback_id)
        return _api_response({})

    # Local-only routes.

    async def _start(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        function_name = _function_name(_required(body, "FunctionName", str))
        name = _optional(body, "ExecutionName", str)
        timeout = _optional(body, "ExecutionTimeoutSeconds", int)
        payload = body.get("Input")
        if payload is not None and not isinstance(payload, str):
            payload = json.dumps(payload)
        arn = await self._start_execution(function_name, payload, name, timeout)
        return _json_response({"ExecutionArn": arn}, status=201)

    async def _start_execution(
        self, function_name: str, payload: str | None, name: str | None, timeout: int | None
    ) -> str:
        if self.runner is None:
            return await self.service.start_execution(
                function_name, payload, name=name, timeout_seconds=timeout
            )
        self._invoker(function_name)
        return await self.runner.start(function_name, payload, name=name, execution_timeout=timeout)

    async def _health(self, request: web.Request) -> web.Response:
        return _json_response({"status": "healthy"})

    @_client_route
    async def _metrics(self, request: web.Request) -> web.Response:
        """Count the executions the service holds, by status."""
        counts: dict[str, int] = {}
        for execution in await self.service.list_executions():
            counts[execution["Status"]] = counts.get(execution["Status"], 0) + 1
        return _json_response({"metrics": {"Executions": counts}})

    async def _lambda_endpoint(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        url = _required(body, "EndpointUrl", str)
        if self._on_lambda_endpoint is None:
            raise _invalid(
                "This service runs its functions itself; start it with --lambda-endpoint to "
                "invoke them at a Lambda endpoint that can be changed."
            )
        self._on_lambda_endpoint(url)
        return _json_response({"message": "Lambda endpoint updated successfully"})

    async def _invoke(self, request: web.Request) -> web.Response:
        """Lambda Invoke: run one invocation of a durable event, else invoke the function."""
        function_name = _function_name(request.match_info["function"])
        version = _invoked_version(request)
        event = await _any_json_body(request)
        if _is_invocation_event(event):
            return await self._invoke_once(function_name, event, version)
        invocation_type = request.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if invocation_type not in ("RequestResponse", "Event", "DryRun"):
            raise _invalid(
                f"X-Amz-Invocation-Type {shown(invocation_type)} is not one of "
                "RequestResponse, Event or DryRun."
            )
        headers = {"X-Amz-Executed-Version": version}
        if self.runner is not None and self.runner.target_kind(function_name) == "function":
            return await self._invoke_function(function_name, event, invocation_type, headers)
        self._invoker(function_name)
        if invocation_type == "DryRun":
            return web.Response(status=204, headers=headers)
        return await self._invoke_durable(request, function_name, event, invocation_type, headers)

    async def _invoke_once(self, function_name: str, event: Json, version: str) -> web.Response:
        invoker = self._invoker(function_name)
        headers = {"X-Amz-Executed-Version": version}
        try:
            output = await invoker(event)
        except Exception as exc:  # Lambda answers 200 and names the function error
            headers["X-Amz-Function-Error"] = "Unhandled"
            return _json_response(_function_error(exc), headers=headers)
        return _json_response(output, headers=headers)

    async def _invoke_durable(
        self,
        request: web.Request,
        function_name: str,
        event: Any,
        invocation_type: str,
        headers: dict[str, str],
    ) -> web.Response:
        """Start a durable execution; answer at once (Event) or with its outcome."""
        assert self.runner is not None  # _invoker found the function on it
        name = request.headers.get("X-Amz-Durable-Execution-Name")
        if name is not None and not _EXECUTION_NAME.fullmatch(name):
            raise _invalid(
                f"X-Amz-Durable-Execution-Name {shown(name)} is not valid; it is 1 to 64 "
                "letters, digits, '-' or '_'."
            )
        payload = json.dumps(event)
        timeout = self._execution_timeout(function_name)
        arn = await self.runner.start(function_name, payload, name=name, execution_timeout=timeout)
        headers["X-Amz-Durable-Execution-Arn"] = arn
        if invocation_type == "Event":
            return web.Response(status=202, headers=headers)
        execution = await self.runner.wait_for_result(arn)
        if execution["Status"] == "SUCCEEDED":
            result = execution.get("Result")
            return _raw_response((result or "null").encode(), headers=headers)
        headers["X-Amz-Function-Error"] = "Unhandled"
        return _json_response(_execution_error(execution), headers=headers)

    async def _invoke_function(
        self, function_name: str, event: Any, invocation_type: str, headers: dict[str, str]
    ) -> web.Response:
        """Call a plain function once: now (RequestResponse) or in the background (Event)."""
        assert self.runner is not None
        function = self.runner.function(function_name)
        if invocation_type == "DryRun":
            return web.Response(status=204, headers=headers)
        if invocation_type == "Event":
            task = asyncio.ensure_future(_call_function(function, event))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            return web.Response(status=202, headers=headers)
        try:
            result = await _call_function(function, event)
        except Exception as exc:
            headers["X-Amz-Function-Error"] = "Unhandled"
            return _json_response(_function_error(exc), headers=headers)
        return _raw_response(json.dumps(result).encode(), headers=headers)

    def _invoker(self, function_name: str) -> Invoker:
        if self.runner is not None:
            with contextlib.suppress(LookupError):
                return self.runner.invoker(function_name)
        raise ServiceError(
            f"Function not found: {function_name!r} has no invoker on this local service; "
            f"register one with runner.register({function_name!r}, invoker) and serve that runner.",
            code="ResourceNotFoundException",
            retryable=False,
            status_code=404,
        )


# Requests.


def _is_invocation_event(event: Any) -> bool:
    """Return True for a durable invocation's input event (what the service invokes with)."""
    return isinstance(event, dict) and "DurableExecutionArn" in event and "CheckpointToken" in event


def _invoked_version(request: web.Request) -> str:
    """Return the version an Invoke runs: its Qualifier, the name's qualifier, or $LATEST."""
    qualifier = request.query.get("Qualifier")
    if qualifier is None:
        qualifier = request.match_info["function"].split(":function:", 1)[-1].partition(":")[2]
    if qualifier and not _QUALIFIER.fullmatch(qualifier):
        raise _invalid(f"Qualifier {shown(qualifier)} is not a version or an alias name.")
    return qualifier or _VERSION


async def _any_json_body(request: web.Request) -> Any:
    """Return the body as any JSON value (an Invoke payload); no body is an empty object."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = loads(raw)
    except ValueError as exc:
        raise _invalid(f"The request body is not valid JSON: {clean_text(str(exc))}.") from exc
    _check_depth({"Payload": body})
    return body


async def _call_function(function: Callable[[Any], Any], payload: Any) -> Any:
    result = function(payload)
    if inspect.isawaitable(result):
        return await result
    return result


def _execution_error(execution: Json) -> Json:
    """Return an ended execution's error in Lambda's function error shape."""
    error = execution.get("Error") or {}
    body: Json = {
        "errorType": error.get("ErrorType") or f"Execution{execution['Status'].title()}",
        "errorMessage": error.get("ErrorMessage")
        or f"The durable execution ended {execution['Status']}.",
    }
    if error.get("StackTrace"):
        body["stackTrace"] = error["StackTrace"]
    return body


async def _json_body(request: web.Request) -> Json:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = loads(raw)
    except ValueError as exc:
        raise _invalid(f"The request body is not valid JSON: {clean_text(str(exc))}.") from exc
    if not isinstance(body, dict):
        raise _invalid("The request body must be a JSON object.")
    _check_depth(body)
    return body


def _check_depth(body: Json) -> None:
    """Refuse JSON nested deeper than the API needs, before anything walks it recursively."""
    stack: list[tuple[Any, int]] = [(body, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = list(value.values())
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > _MAX_DEPTH:
            raise _invalid(
                f"The request body nests JSON more than {_MAX_DEPTH} levels deep; send the "
                "API's shapes, and pass deeper data as JSON text."
            )
        stack.extend((child, depth + 1) for child in children)


async def _text_body(request: web.Request) -> str | None:
    raw = await request.read()
    try:
        return raw.decode() if raw else None
    except UnicodeDecodeError as exc:
        raise _invalid(f"The request body is not UTF-8 text: {exc}.") from exc


def _required(body: Json, name: str, kind: type[T]) -> T:
    value = _optional(body, name, kind)
    if value is None:
        raise _invalid(f"{name} is required.")
    return value


def _optional(body: Json, name: str, kind: type[T]) -> T | None:
    value = body.get(name)
    if value is None or isinstance(value, kind):
        return value
    raise _invalid(f"{name} must be a JSON {kind.__name__}, not {type(value).__name__}.")


def _page_size(request: web.Request) -> int:
    text = request.query.get("MaxItems", "0")
    # isdigit alone takes "²", which int() does not read; the API's numbers are ASCII digits.
    if not _DIGITS.fullmatch(text) or int(text) > _MAX_PAGE:
        raise _invalid(f"MaxItems must be an integer from 0 to {_MAX_PAGE}, got {shown(text)}.")
    return int(text) or _DEFAULT_PAGE


def _query_bool(request: web.Request, name: str, *, default: bool) -> bool:
    text = request.query.get(name)
    if text is None:
        return default
    if text.lower() not in ("true", "false"):
        raise _invalid(f"{name} must be true or false, got {shown(text)}.")
    return text.lower() == "true"


def _query_time_ms(request: web.Request, name: str) -> int | None:
    """Return the query's time as epoch ms: epoch seconds (as botocore sends) or ISO 8601."""
    text = request.query.get(name)
    if text is None:
        return None
    if _NUMBER.fullmatch(text):
        seconds = float(text)
        if math.isfinite(seconds) and _MIN_EPOCH_SECONDS <= seconds <= _MAX_EPOCH_SECONDS:
            return round(seconds * 1000)
        raise _invalid(
            f"{name} must be a time between the years 1 and 9999, got {shown(text)} seconds."
        )
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return (moment - _EPOCH) // _MILLISECOND
    except (ValueError, OverflowError) as exc:
        raise _invalid(
            f"{name} must be an ISO 8601 time or epoch seconds, got {shown(text)}."
        ) from exc


def _function_name(value: str) -> str:
    """Return the function name in a name, partial ARN or ARN, without its qualifier."""
    return value.split(":function:", 1)[-1].split(":", 1)[0]


def _listed_function(value: str) -> str:
    if len(value) > _MAX_FUNCTION_CHARS or not _FUNCTION.fullmatch(value):
        raise _invalid(
            f"FunctionName {shown(value)} is not a function name; pass a name, a name with its "
            "qualifier, or a function ARN."
        )
    return _function_name(value)


def _filter(request: web.Request) -> Callable[[Json], bool]:
    """Return the ListDurableExecutionsByFunction filters of the query, checked."""
    query = request.query
    qualifier = query.get("Qualifier", _VERSION)
    name = query.get("DurableExecutionName")
    statuses = set(query.getall("Statuses", []) + query.getall("StatusFilter", []))
    if not _QUALIFIER.fullmatch(qualifier):
        raise _invalid(f"Qualifier {shown(qualifier)} is not a version or an alias name.")
    if name is not None and not _EXECUTION_NAME.fullmatch(name):
        raise _invalid(
            f"DurableExecutionName {shown(name)} is not valid; it is 1 to 64 letters, digits, "
            "'-' or '_'."
        )
    if not statuses <= _STATUSES or len(query.getall("Statuses", [])) > _MAX_STATUSES:
        raise _invalid(
            f"Statuses must name up to {_MAX_STATUSES} of {', '.join(sorted(_STATUSES))}; got "
            f"{shown(query.getall('Statuses'))}."
        )
    after = _query_time_ms(request, "StartedAfter")
    before = _query_time_ms(request, "StartedBefore")

    def keep(execution: Json) -> bool:
        return (
            qualifier == _VERSION
            and (name is None or execution["DurableExecutionName"] == name)
            and (not statuses or execution["Status"] in statuses)
            and (after is None or execution["StartTimestamp"] > after)
            and (before is None or execution["StartTimestamp"] < before)
        )

    return keep


def _page_after(items: list[Json], marker: str | None, size: int) -> tuple[list[Json], str | None]:
    """Return the page after the item whose ARN is ``marker``, and the next page's marker."""
    start = 0
    if marker:
        arns = [item["DurableExecutionArn"] for item in items]
        if marker not in arns:
            raise _invalid(
                f"Marker {shown(marker)} was not issued by this service for this listing; pass the "
                "NextMarker of the previous page with the same filters."
            )
        start = arns.index(marker) + 1
    page = items[start : start + size]
    more = start + size < len(items)
    return page, (page[-1]["DurableExecutionArn"] if more else None)


# Responses.


def _api_response(body: Json) -> web.Response:
    """Answer a durable API call, with timestamps as rest-json epoch seconds."""
    converted: Json = _epoch_seconds(body)
    return _json_response(converted)


def _epoch_seconds(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: item / 1000
            if key in _TIMESTAMP_KEYS and isinstance(item, int) and not isinstance(item, bool)
            else _epoch_seconds(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_epoch_seconds(item) for item in value]
    return value


def _raw_response(body: bytes, *, headers: dict[str, str]) -> web.Response:
    all_headers = {"x-amzn-RequestId": str(uuid.uuid4()), **headers}
    return web.Response(body=body, content_type="application/json", headers=all_headers)


def _json_response(
    body: Json, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    all_headers = {"x-amzn-RequestId": str(uuid.uuid4()), **(headers or {})}
    return web.Response(
        body=_encoded(body), status=status, content_type="application/json", headers=all_headers
    )


def _encoded(body: Json) -> bytes:
    """Return ``body`` as UTF-8 JSON; text that UTF-8 cannot hold goes out as JSON escapes."""
    try:
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return json.dumps(body, separators=(",", ":")).encode()


def _error_response(error: ServiceError) -> web.Response:
    status = error.status_code or (500 if error.retryable else 400)
    body = {"Type": "Server" if status >= 500 else "User", "message": error.message}
    return _json_response(body, status=status, headers={"X-Amzn-ErrorType": error.code})


def _function_error(exc: Exception) -> Json:
    """Return Lambda's error shape; an error relayed from another process keeps its type and
    trace (``error_type``, ``stack_trace``)."""
    trace = getattr(exc, "stack_trace", None)
    return {
        "errorType": getattr(exc, "error_type", None) or type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": trace if isinstance(trace, list) else traceback.format_exception(exc),
    }


def _invalid(message: str) -> ServiceError:
    return ServiceError(
        message, code="InvalidParameterValueException", retryable=False, status_code=400
    )


@web.middleware
async def _errors(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """Answer every failure in Lambda's error shape."""
    try:
        return await handler(request)
    except ServiceError as exc:
        return _error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _ROUTE_ERRORS.get(exc.status, exc.reason.replace(" ", ""))
        message = f"{request.method} {request.path} failed: {exc.reason}; check the URL and method."
        if exc.status == 413:  # the reason phrase differs between Python versions
            message = (
                f"{request.method} {request.path} failed: the request body is over "
                f"{_MAX_BODY_BYTES // (1024 * 1024)} MB; send less data."
            )
        return _error_response(
            ServiceError(message, code=code, retryable=False, status_code=exc.status)
        )
    except Exception as exc:
        _log.exception("The local durable execution service failed on %s", request.path)
        message = f"The local service failed: {type(exc).__name__}: {exc}"
        return _error_response(
            ServiceError(message, code="ServiceException", retryable=True, status_code=500)
        )


# Command line.


def main(argv: Sequence[str] | None = None) -> int:
    """Serve a store, without functions, until SIGINT or SIGTERM; print ``serving URL`` first.

    It has no runner: a start only creates the execution. ``durable-async serve`` runs
    functions too; this module stays below the command line, so it runs no user code.
    """
    parser = argparse.ArgumentParser(
        prog="python -m durable_async.service.local.http",
        description="Serve the local durable execution service over HTTP; print its URL.",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="the address to listen on; the API has no authentication, so keep it loopback",
    )
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--store", default=":memory:", help="a SQLite file, or :memory:")
    args = parser.parse_args(argv)
    # The server's own warnings (a host beyond loopback) and failures go to stderr.
    logging.basicConfig(format="durable-async: %(levelname)s: %(message)s")
    asyncio.run(_serve(args.host, args.port, args.store))
    return 0


def is_loopback(host: str) -> bool:
    """Return True when ``host`` names only this machine (localhost or a loopback address)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _exposed_warning(host: str) -> str:
    return (
        f"serving on {host!r}, which is not a loopback address. The local durable execution "
        "API has no authentication: anyone who can reach this port can read every execution "
        "and its payloads, complete its callbacks and stop it. Serve on 127.0.0.1 unless the "
        "network is yours alone."
    )


async def _serve(host: str, port: int, store_spec: str) -> None:
    memory = store_spec in (":memory:", "memory")
    store: Store = MemoryStore() if memory else SqliteStore(Path(store_spec))
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    async with (
        LocalDurableService(store) as service,
        LocalHttpServer(service, host=host, port=port) as server,
    ):
        print(f"serving {server.url}", flush=True)
        await stopping.wait()


if __name__ == "__main__":
    raise SystemExit(main())
