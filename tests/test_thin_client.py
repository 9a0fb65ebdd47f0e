"""The thin path against aiobotocore: the same requests, results and errors, on real loopback.

Every comparison sends the same call through ``AwsDurableService(thin=False)`` (aiobotocore) and
``AwsDurableService()`` (the thin path) to a real aiohttp server on 127.0.0.1 that records what
arrives and answers what the test scripts, or to the real local service. The properties drive
both with request and response bodies generated from botocore's own ``lambda`` service model.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import socket
import ssl
import struct
import subprocess
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import botocore.auth
import botocore.session
import pytest
from aiobotocore.credentials import AioRefreshableCredentials
from aiobotocore.session import get_session
from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import ReadOnlyCredentials
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from durable_async import DurableContext, durable_execution
from durable_async.service import ServiceError, _thin
from durable_async.service._thin import ThinLambda
from durable_async.service.aws import AwsDurableService
from durable_async.service.local.engine import LocalDurableService
from durable_async.service.local.http import LocalHttpServer
from durable_async.service.local.runner import LocalRunner
from durable_async.service.local.store import MemoryStore

pytestmark = pytest.mark.usefixtures("aws_env")

HOST = "127.0.0.1"
ARN = "arn:aws:lambda:us-east-1:123456789012:function:orders:$LATEST/durable-execution/run-1/abc"
TOKEN = "dG9rZW4="
NO_RETRY = Config(
    retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=2, read_timeout=5
)
# What may differ between two requests sent a moment apart by two clients.
VOLATILE = frozenset({"x-amz-date", "authorization", "user-agent", "amz-sdk-invocation-id"})
LAMBDA = botocore.session.get_session().get_service_model("lambda")
CHECKPOINT = LAMBDA.operation_model("CheckpointDurableExecution")
GET_STATE = LAMBDA.operation_model("GetDurableExecutionState")
PROPERTY = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# A scripted server.


@dataclass(frozen=True)
class Received:
    """One request as it arrived."""

    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str:
        return next(value for key, value in self.headers if key.lower() == name)

    def stable_headers(self) -> list[tuple[str, str]]:
        """Return the headers but those that name the moment or the client."""
        return [
            (key, re.sub(r"ttl=\w+", "ttl=<time>", value))
            for key, value in self.headers
            if key.lower() not in VOLATILE
        ]


@dataclass(frozen=True)
class Reply:
    """What the server answers: a status, headers and body, or ``reset``/``close`` the socket."""

    status: int = 200
    body: bytes = b'{"CheckpointToken":"next","NewExecutionState":{"Operations":[]}}'
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)
    action: str = "answer"


@dataclass
class ScriptedServer:
    """An aiohttp server on loopback that records requests and answers from a script."""

    replies: deque[Reply] = field(default_factory=deque)
    received: list[Received] = field(default_factory=list)
    default: Reply = field(default_factory=Reply)
    url: str = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = [(k.decode(), v.decode()) for k, v in request.raw_headers]
        body = await request.read()
        self.received.append(Received(request.method, request.raw_path, raw, body))
        reply = self.replies.popleft() if self.replies else self.default
        if reply.action != "answer":
            transport = request.transport
            assert transport is not None
            if reply.action == "reset":  # RST instead of FIN
                sock = transport.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
            return web.Response()
        return web.Response(status=reply.status, body=reply.body, headers=dict(reply.headers))

    def take(self) -> list[Received]:
        taken, self.received = self.received, []
        return taken


@contextmanager
def running(
    opener: Callable[[], AsyncIterator[Pair]],
) -> Iterator[tuple[asyncio.AbstractEventLoop, Pair]]:
    """Open a pair on a loop of its own, so that a property's examples share one pair."""
    loop = asyncio.new_event_loop()
    agen = aiter(opener())
    try:
        yield loop, loop.run_until_complete(agen.__anext__())
    finally:
        with pytest.raises(StopAsyncIteration):
            loop.run_until_complete(agen.__anext__())
        loop.close()


@dataclass
class Pair:
    """One scripted server, and an aiobotocore and a thin service pointed at it."""

    server: ScriptedServer
    aio: AwsDurableService
    thin: AwsDurableService

    async def both(self, call: Callable[[AwsDurableService], Awaitable[Any]]) -> Outcomes:
        """Make the same call on both services; return each outcome and the requests it sent."""
        outcomes = []
        for service in (self.aio, self.thin):
            try:
                outcome: Any = await call(service)
            except Exception as exc:  # compared below, whatever it is
                outcome = exc
            outcomes.append((outcome, self.server.take()))
        return Outcomes(*outcomes[0], *outcomes[1])


@dataclass
class Outcomes:
    aio: Any
    aio_requests: list[Received]
    thin: Any
    thin_requests: list[Received]

    def assert_same(self) -> None:
        """Same outcome; same requests byte for byte, but for what each client made up."""
        assert_same_outcome(self.aio, self.thin)
        assert len(self.aio_requests) == len(self.thin_requests)
        for ours, theirs in zip(self.thin_requests, self.aio_requests, strict=True):
            assert (ours.method, ours.path) == (theirs.method, theirs.path)
            assert made_up_token_masked(ours.body) == made_up_token_masked(theirs.body)
            assert ours.stable_headers() == theirs.stable_headers()


def made_up_token_masked(body: bytes) -> bytes:
    """Mask a ClientToken that a client generated (a UUID4 at the end of the body)."""
    if body.endswith(b'"}'):
        head, _, generated = body[:-2].rpartition(b'"ClientToken": "')
        if head and len(generated) == 36 and generated[14:15] == b"4":
            return head + b'"ClientToken": "<uuid4>"}'
    return body


def assert_same_outcome(aio: Any, thin: Any) -> None:
    if isinstance(aio, BaseException):
        assert type(thin) is type(aio), thin
        assert str(thin) == str(aio)
        assert same_exception(thin.__cause__, aio.__cause__)
        if isinstance(aio, ServiceError):
            assert (thin.code, thin.retryable, thin.status_code) == (
                aio.code,
                aio.retryable,
                aio.status_code,
            )
    else:
        assert thin == aio


def same_exception(thin: BaseException | None, aio: BaseException | None) -> bool:
    """Tell whether two causes are alike: each client has its own ClientError classes."""
    if thin is None or aio is None:
        return thin is aio
    if (type(thin).__name__, str(thin)) != (type(aio).__name__, str(aio)):
        return False
    if isinstance(aio, ClientError):
        assert isinstance(thin, ClientError)
        ours, theirs = dict(thin.response), dict(aio.response)
        ours_meta, theirs_meta = ours.pop("ResponseMetadata"), theirs.pop("ResponseMetadata")
        for key in ("HTTPStatusCode", "RetryAttempts", "MaxAttemptsReached"):
            assert ours_meta.get(key) == theirs_meta.get(key), key
        return ours == theirs
    return True


async def open_pair(config: Config = NO_RETRY) -> AsyncIterator[Pair]:
    server = ScriptedServer()
    app = web.Application()
    app.router.add_route("*", r"/{tail:[\s\S]*}", server.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, HOST, 0).start()
    server.url = f"http://{HOST}:{runner.addresses[0][1]}"
    aio = AwsDurableService(endpoint_url=server.url, config=config, thin=False)
    thin = AwsDurableService(endpoint_url=server.url, config=config)
    try:
        yield Pair(server, aio, thin)
    finally:
        await aio.aclose()
        await thin.aclose()
        await runner.cleanup()


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    async for opened in open_pair():
        yield opened


def botocore_authorization(request: Received, credentials: ReadOnlyCredentials) -> str:
    """Return the Authorization botocore's SigV4 signer gives ``request`` at its X-Amz-Date."""
    signed = request.header("authorization").split("SignedHeaders=")[1].split(",")[0].split(";")
    headers = {k: v for k, v in request.headers if k.lower() in signed and k.lower() != "host"}
    url = f"http://{request.header('host')}{request.path}"
    aws_request = AWSRequest(request.method, url, headers=headers, data=request.body or None)
    moment = dt.datetime.strptime(request.header("x-amz-date"), "%Y%m%dT%H%M%SZ")
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=moment):
        SigV4Auth(credentials, "lambda", "us-east-1").add_auth(aws_request)
    return str(aws_request.headers["Authorization"])


# Values from the service model.


def text(min_size: int = 0) -> st.SearchStrategy[str]:
    special = st.sampled_from(["\ud800", "\x00", '"\\', "é", "😀", "\u2028", " ", "/", "%2F"])
    pieces = st.lists(st.text(max_size=6) | special, max_size=4).map("".join)
    return pieces.filter(lambda value: len(value) >= min_size)


@st.composite
def from_shape(draw: st.DrawFn, shape: Any, depth: int = 0) -> Any:
    """Draw a value botocore's validator accepts for ``shape``, members in any order."""
    kind = shape.type_name
    if kind == "structure":
        required = list(shape.metadata.get("required", []))
        optional = [name for name in shape.members if name not in required]
        chosen = required + (
            draw(st.lists(st.sampled_from(optional), unique=True)) if optional and depth < 3 else []
        )
        ordered = draw(st.permutations(chosen))
        return {name: draw(from_shape(shape.members[name], depth + 1)) for name in ordered}
    if kind == "list":
        return draw(st.lists(from_shape(shape.member, depth + 1), max_size=3 if depth < 2 else 1))
    if kind == "string":
        minimum = shape.metadata.get("min", 0)
        return draw(text(minimum).filter(lambda value: len(value) >= minimum))
    if kind in ("integer", "long"):
        return draw(st.integers(min_value=shape.metadata.get("min", -(2**40)), max_value=2**40))
    if kind == "boolean":
        return draw(st.booleans())
    raise AssertionError(kind)


UPDATES = from_shape(CHECKPOINT.input_shape.members["Updates"])


# Requests.


def test_checkpoint_requests_equal_botocores() -> None:
    """Method, URL, body and headers match aiobotocore's; both signatures are botocore's."""
    credentials = ReadOnlyCredentials("test", "test", None)

    with running(open_pair) as (loop, pair):

        @PROPERTY
        @given(arn=text(1), token=text(1), updates=UPDATES, client_token=st.none() | text(1))
        def check(arn: str, token: str, updates: list[Any], client_token: str | None) -> None:
            outcomes = loop.run_until_complete(
                pair.both(lambda s: s.checkpoint(arn, token, updates, client_token))
            )
            outcomes.assert_same()
            if isinstance(outcomes.aio, Exception):
                return  # both refused alike (a lone surrogate cannot go in a URL)
            [aio], [thin] = outcomes.aio_requests, outcomes.thin_requests
            assert json.loads(thin.body)["Updates"] == updates
            assert thin.header("authorization") == botocore_authorization(thin, credentials)
            assert aio.header("authorization") == botocore_authorization(aio, credentials)
            if client_token is None:  # both made one up, and sent it as the last member
                assert json.loads(thin.body)["ClientToken"] != json.loads(aio.body)["ClientToken"]
            else:
                assert thin.body == aio.body

        check()


def test_state_requests_equal_botocores() -> None:
    """GetDurableExecutionState's query string and headers match aiobotocore's, signed alike."""
    credentials = ReadOnlyCredentials("test", "test", None)

    with running(open_pair) as (loop, pair):
        pair.server.default = Reply(body=b'{"Operations":[],"NextMarker":""}')

        @PROPERTY
        @given(arn=text(1), token=text(1), marker=text(), items=st.integers(0, 1000))
        def check(arn: str, token: str, marker: str, items: int) -> None:
            outcomes = loop.run_until_complete(
                pair.both(lambda s: s.get_execution_state(arn, token, marker, items))
            )
            outcomes.assert_same()
            if isinstance(outcomes.aio, Exception):
                return
            [thin] = outcomes.thin_requests
            assert thin.method == "GET"
            assert thin.header("authorization") == botocore_authorization(thin, credentials)

        check()


@pytest.mark.parametrize(
    "environment",
    [
        pytest.param({"AWS_SESSION_TOKEN": "FwoGZXIvYXdz  token=="}, id="session-token"),
        pytest.param(
            {"AWS_LAMBDA_FUNCTION_NAME": "orders", "_X_AMZN_TRACE_ID": "Root=1-5e;Sampled=1 é"},
            id="lambda-trace-id",
        ),
    ],
)
async def test_lambda_headers_equal_botocores(
    environment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session token and Lambda's trace id reach the request as aiobotocore sends them."""
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    token = environment.get("AWS_SESSION_TOKEN")
    credentials = ReadOnlyCredentials("test", "test", token)
    async for pair in open_pair():
        outcomes = await pair.both(lambda s: s.checkpoint(ARN, TOKEN, [], "client-1"))
        outcomes.assert_same()
        [thin] = outcomes.thin_requests
        names = {key.lower() for key, _ in thin.headers}
        assert ("x-amz-security-token" in names) is (token is not None)
        assert ("x-amzn-trace-id" in names) is (token is None)
        assert thin.header("authorization") == botocore_authorization(thin, credentials)


@pytest.mark.parametrize(
    "updates",
    [
        pytest.param([{"Id": "step-1"}], id="missing-required"),
        pytest.param(
            [{"Id": "s", "Type": "STEP", "Action": "START", "Colour": "red"}], id="unknown"
        ),
        pytest.param([{"Id": "", "Type": "STEP", "Action": "START"}], id="too-short"),
        pytest.param([{"Id": "s", "Type": "STEP", "Action": "START", "Payload": 7}], id="int-str"),
        pytest.param(
            [{"Id": "s", "Type": "WAIT", "Action": "START", "WaitOptions": {"WaitSeconds": "1"}}],
            id="str-int",
        ),
        pytest.param(
            [
                {
                    "Id": "s",
                    "Type": "CONTEXT",
                    "Action": "START",
                    "ContextOptions": {"ReplayChildren": 1},
                }
            ],
            id="int-bool",
        ),
        pytest.param(({"Id": "s", "Type": "STEP", "Action": "START"},), id="tuple-is-a-list"),
        pytest.param([{"Id": "s", "Type": "STEP", "Action": "START", "Name": None}], id="none"),
        pytest.param("updates", id="not-a-list"),
    ],
)
async def test_invalid_updates_fail_alike_before_sending(pair: Pair, updates: Any) -> None:
    """Updates botocore's validator refuses fail with its words on both paths, unsent."""
    outcomes = await pair.both(lambda s: s.checkpoint(ARN, TOKEN, updates, "client-1"))

    outcomes.assert_same()
    if isinstance(outcomes.aio, ServiceError):
        assert outcomes.aio.code == "ParamValidationError"
        assert outcomes.thin_requests == []


# Results.

TIMESTAMPS = (
    st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12)
    | st.sampled_from([0, 1.0005, 1e-7, 1796086152.7975, 2**31, 253402300800, True, False])
    | st.sampled_from(["2026-01-01T00:00:00Z", "2026-01-01T00:00:00", "1700000000.5", "soon", ""])
)
NOISE = st.none() | st.booleans() | st.integers() | st.text(max_size=3) | st.just([1]) | st.just({})


@st.composite
def wire(draw: st.DrawFn, shape: Any, depth: int = 0) -> Any:
    """Draw JSON for ``shape`` as a service might send it: mostly right, sometimes not."""
    if draw(st.integers(0, 15)) == 0:
        return draw(NOISE)
    kind = shape.type_name
    if kind == "structure":
        names = (
            draw(st.lists(st.sampled_from(list(shape.members)), unique=True)) if depth < 4 else []
        )
        value = {name: draw(wire(shape.members[name], depth + 1)) for name in names}
        if draw(st.booleans()):
            value[draw(st.sampled_from(["Extra", "stepDetails", "Id"]))] = draw(NOISE)
        return value
    if kind == "list":
        return draw(st.lists(st.none() | wire(shape.member, depth + 1), max_size=3))
    if kind == "timestamp":
        return draw(TIMESTAMPS)
    if kind in ("integer", "long"):
        return draw(st.integers() | st.sampled_from([1.0, 2.5, "7", True]))
    if kind == "boolean":
        return draw(st.booleans() | st.sampled_from(["true", "False", 1]))
    return draw(st.text(max_size=5) | st.sampled_from(["\ud800", "é", 5]))


RAW_BODIES = st.sampled_from(
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"null",
        b"[1, 2]",
        b'"text"',
        b'{"CheckpointToken": NaN}',
        b'{"CheckpointToken": "a", "CheckpointToken": "b"}',
        b'{"NewExecutionState": {"Operations": [{"Attempt": 1e400}]}}',
        b'{"NewExecutionState": {"Operations": [{"StepDetails": {"Attempt": 1%s}}]}}' % (b"0" * 30),
        b'{"CheckpointToken": "\\ud800\\udc00\\ud800"}',
        b'\xef\xbb\xbf{"CheckpointToken": "bom"}',
        b'{"NewExecutionState": {"Operations": [{"StartTimestamp": 1e400}]}}',
        b"[" * 5000,
    ]
)


@pytest.mark.parametrize(
    ("zone", "decoder"),
    [
        pytest.param("UTC", "orjson", id="utc"),
        pytest.param("America/Sao_Paulo", "orjson", id="sao-paulo"),
        pytest.param("Australia/Lord_Howe", "orjson", id="lord-howe"),
        pytest.param("UTC", "json", id="utc-without-orjson"),
    ],
)
def test_results_equal_botocores(zone: str, decoder: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Any 200 body, well-formed or not, gives the thin path aiobotocore's result or error.

    In time zones with odd offsets and daylight saving too, and without orjson installed.
    """
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    if decoder == "json":
        monkeypatch.setattr(_thin, "_fast_loads", None)
    shape = CHECKPOINT.output_shape
    bodies = st.builds(lambda value: json.dumps(value).encode(), wire(shape)) | RAW_BODIES
    try:
        with running(open_pair) as (loop, pair):

            @PROPERTY
            @given(body=bodies)
            def check(body: bytes) -> None:
                pair.server.default = Reply(body=body)
                outcomes = loop.run_until_complete(
                    pair.both(lambda s: s.checkpoint(ARN, TOKEN, [], "client-1"))
                )
                outcomes.assert_same()

            check()
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


async def test_state_pages_equal_botocores(pair: Pair) -> None:
    """A page of operations reads the same on both paths, timestamps as epoch milliseconds."""
    page = {
        "Operations": [
            {
                "Id": "op-1",
                "Type": "STEP",
                "Status": "READY",
                "StartTimestamp": 1796086152.797,
                "StepDetails": {"Attempt": 2, "NextAttemptTimestamp": 1796086153},
                "Unmodelled": True,
            },
            None,
        ],
        "NextMarker": "2",
    }
    pair.server.default = Reply(body=json.dumps(page).encode())

    outcomes = await pair.both(lambda s: s.get_execution_state(ARN, TOKEN, "1", 2))

    outcomes.assert_same()
    assert outcomes.thin["Operations"][0]["StepDetails"]["NextAttemptTimestamp"] == 1796086153000


# Errors.


def error(status: int, code: str | None, body: Any, *extra: tuple[str, str]) -> Reply:
    headers = (("Content-Type", "application/json"), *extra)
    if code is not None:
        headers = (*headers, ("X-Amzn-ErrorType", code))
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Reply(status=status, body=raw, headers=headers)


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(
            error(429, "TooManyRequestsException", {"message": "Rate exceeded", "Type": "User"}),
            id="throttled-429",
        ),
        pytest.param(error(500, "ServiceException", {"message": "boom"}), id="service-500"),
        pytest.param(error(503, None, b"<html>Service Unavailable</html>"), id="html-503"),
        pytest.param(
            error(502, "KMSAccessDeniedException", {"Message": "key"}), id="kms-502-final"
        ),
        pytest.param(
            error(
                400,
                "InvalidParameterValueException",
                {"message": "Invalid checkpoint token: spent", "Type": "User"},
            ),
            id="stale-token-400",
        ),
        pytest.param(
            error(
                400,
                None,
                {"Type": "InvalidParameterValueException", "message": "Invalid checkpoint token"},
            ),
            id="stale-token-emulator-shape",
        ),
        pytest.param(
            error(400, "ValidationException", {"message": "1 validation error detected"}),
            id="validation-400",
        ),
        pytest.param(
            error(404, "ResourceNotFoundException:http://internal/", {"Message": "gone"}),
            id="not-found-404",
        ),
        pytest.param(
            error(403, None, {"code": "AccessDenied#x", "message": "no"}), id="code-in-body"
        ),
        pytest.param(error(400, None, b"not json at all"), id="non-json-400"),
        pytest.param(error(413, None, b""), id="empty-413"),
        pytest.param(Reply(status=200, body=b"<html>portal</html>"), id="non-json-200"),
        pytest.param(Reply(action="reset"), id="connection-reset"),
        pytest.param(Reply(action="close"), id="connection-closed"),
    ],
)
async def test_errors_map_as_botocores(pair: Pair, reply: Reply) -> None:
    """Each failure gives the same ServiceError (code, retryable, status, words) on both paths."""
    pair.server.replies.extend([reply, reply])

    outcomes = await pair.both(lambda s: s.checkpoint(ARN, TOKEN, [], "client-1"))

    outcomes.assert_same()


async def test_unreachable_endpoint_fails_alike() -> None:
    """A refused connection is the same retryable EndpointConnectionError on both paths."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        closed = f"http://{HOST}:{sock.getsockname()[1]}"
    services = [
        AwsDurableService(endpoint_url=closed, config=NO_RETRY, thin=t) for t in (False, True)
    ]
    caught = []
    for service in services:
        async with service:
            with pytest.raises(ServiceError) as failure:
                await service.checkpoint(ARN, TOKEN, [])
            caught.append(failure.value)

    assert_same_outcome(*caught)
    assert caught[1].code == "EndpointConnectionError"


@pytest.mark.parametrize(
    "first",
    [
        pytest.param(error(503, "ServiceException", {"message": "busy"}), id="503"),
        pytest.param(error(429, "TooManyRequestsException", {"message": "slow down"}), id="429"),
        pytest.param(Reply(action="reset"), id="reset"),
    ],
)
async def test_retries_follow_the_clients_policy(first: Reply) -> None:
    """A transient failure is retried once, by the client's policy, then answered alike."""
    two_attempts = Config(retries={"mode": "standard", "total_max_attempts": 2}, read_timeout=5)
    async for pair in open_pair(two_attempts):
        pair.server.replies.extend([first, Reply(), first, Reply()])

        outcomes = await pair.both(lambda s: s.checkpoint(ARN, TOKEN, [], "client-1"))

        assert (
            outcomes.thin
            == outcomes.aio
            == {"CheckpointToken": "next", "NewExecutionState": {"Operations": []}}
        )
        for requests in (outcomes.aio_requests, outcomes.thin_requests):
            sdk = [request.header("amz-sdk-request") for request in requests]
            assert [value.split("; ")[-2:] for value in sdk] == [
                ["attempt=1"],
                ["attempt=2", "max=2"],
            ]
            assert ("ttl=" in sdk[1]) is (first.action == "answer")  # from the Date header
            assert len({request.header("amz-sdk-invocation-id") for request in requests}) == 1
        assert [r.body for r in outcomes.thin_requests] == [r.body for r in outcomes.aio_requests]


async def test_retries_give_up_alike() -> None:
    """When every attempt is throttled both paths stop after the same attempts, alike."""
    two_attempts = Config(retries={"mode": "standard", "total_max_attempts": 2}, read_timeout=5)
    async for pair in open_pair(two_attempts):
        pair.server.default = error(429, "ThrottlingException", {"message": "slow down"})

        outcomes = await pair.both(lambda s: s.checkpoint(ARN, TOKEN, [], "client-1"))

        outcomes.assert_same()
        assert len(outcomes.thin_requests) == 2
        assert "(reached max retries: 1)" in str(outcomes.thin.__cause__)


# Credentials, configuration, TLS.


async def test_credentials_refresh_when_they_expire(pair: Pair) -> None:
    """Expired credentials are refreshed through the session's object before signing."""
    keys = iter(range(1, 100))

    async def refresh() -> dict[str, str]:
        expiry = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)  # always inside the window
        return {
            "access_key": f"AKID{next(keys)}",
            "secret_key": "secret",
            "token": "session",
            "expiry_time": expiry.isoformat(),
        }

    credentials = AioRefreshableCredentials.create_from_metadata(
        await refresh(), refresh_using=refresh, method="test"
    )
    async with get_session().create_client(
        "lambda", endpoint_url=pair.server.url, config=NO_RETRY
    ) as client:
        thin = await ThinLambda.open(client, credentials)
        assert thin is not None
        try:
            for _ in range(2):
                await thin.call(
                    "CheckpointDurableExecution",
                    {"DurableExecutionArn": ARN, "CheckpointToken": TOKEN, "Updates": []},
                )
        finally:
            await thin.aclose()

    signed = [request.header("authorization").split("/")[0] for request in pair.server.take()]
    assert signed == ["AWS4-HMAC-SHA256 Credential=AKID2", "AWS4-HMAC-SHA256 Credential=AKID3"]


@pytest.mark.parametrize(
    "config",
    [
        pytest.param(Config(retries={"mode": "adaptive"}), id="adaptive-retries"),
        pytest.param(Config(retries={"mode": "legacy"}), id="legacy-retries"),
        pytest.param(Config(proxies={"http": "http://127.0.0.1:9"}), id="proxy"),
        pytest.param(Config(signature_version="v4a"), id="sigv4a"),
    ],
)
async def test_configurations_it_cannot_reproduce_keep_aiobotocore(config: Config) -> None:
    """A client configured beyond the thin path's reach gets no thin path."""
    async with get_session().create_client(
        "lambda", endpoint_url=f"http://{HOST}:9", config=config
    ) as client:
        assert await ThinLambda.open(client, None) is None


@pytest.mark.parametrize("mode", ["adaptive", "legacy"])
async def test_other_retry_modes_are_served_by_aiobotocore(pair: Pair, mode: str) -> None:
    """AwsDurableService with another retry mode sends through aiobotocore, and works."""
    config = Config(retries={"mode": mode, "total_max_attempts": 1})
    before_send: list[str] = []
    async with AwsDurableService(endpoint_url=pair.server.url, config=config) as service:
        connection = await service._connection()
        connection.client.meta.events.register(
            "before-send.lambda", lambda request, **_: before_send.append(request.method)
        )
        response = await service.checkpoint(ARN, TOKEN, [])

    assert response == {"CheckpointToken": "next", "NewExecutionState": {"Operations": []}}
    assert before_send == ["POST"]


async def test_a_given_client_is_used_as_it_is(pair: Pair) -> None:
    """A client passed in (and its event hooks) sends every call, as before the thin path."""
    sent: list[str] = []
    async with get_session().create_client(
        "lambda", endpoint_url=pair.server.url, config=NO_RETRY
    ) as client:
        client.meta.events.register(
            "before-send.lambda", lambda request, **_: sent.append(request.url)
        )
        service = AwsDurableService(client=client)
        await service.checkpoint(ARN, TOKEN, [])

    assert len(sent) == len(pair.server.take()) == 1


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.mark.parametrize("trusted", [True, False], ids=["ca-bundle", "untrusted"])
async def test_https_verifies_as_aiobotocore_does(
    certificate: tuple[Path, Path], trusted: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over TLS the thin path trusts the session's CA bundle, and refuses what it does not."""
    if trusted:
        monkeypatch.setenv("AWS_CA_BUNDLE", str(certificate[0]))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    server = ScriptedServer()
    app = web.Application()
    app.router.add_route("*", r"/{tail:[\s\S]*}", server.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, HOST, 0, ssl_context=context).start()
    url = f"https://{HOST}:{runner.addresses[0][1]}"
    try:
        outcomes = []
        for thin in (False, True):
            async with AwsDurableService(endpoint_url=url, config=NO_RETRY, thin=thin) as service:
                try:
                    outcomes.append(await service.checkpoint(ARN, TOKEN, [], "client-1"))
                except ServiceError as exc:
                    outcomes.append(exc)
    finally:
        await runner.cleanup()

    if trusted:
        assert (
            outcomes[0]
            == outcomes[1]
            == {"CheckpointToken": "next", "NewExecutionState": {"Operations": []}}
        )
    else:
        assert isinstance(outcomes[1], ServiceError)
        assert (outcomes[1].code, outcomes[1].retryable) == ("SSLError", True)
        assert_same_outcome(outcomes[0], outcomes[1])


# The real local service.


@pytest.fixture
async def local() -> AsyncIterator[tuple[LocalDurableService, LocalHttpServer, LocalRunner]]:
    service = LocalDurableService(MemoryStore())
    async with service, LocalHttpServer(service) as server, LocalRunner(service) as runner:
        yield service, server, runner


async def test_protocol_calls_on_the_local_service_read_alike(
    local: tuple[LocalDurableService, LocalHttpServer, LocalRunner],
) -> None:
    """Checkpoint, state paging and a stale token give the same answers on both paths."""
    engine, server, _ = local
    results = []
    for thin in (False, True):
        async with AwsDurableService(endpoint_url=server.url, config=NO_RETRY, thin=thin) as svc:
            arn = await engine.start_execution("orders", '{"order": 42}')
            token = (await engine.begin_invocation(arn))["CheckpointToken"]
            start = {
                "Id": "s1",
                "Type": "STEP",
                "SubType": "Step",
                "Name": "charge",
                "Action": "START",
            }
            done = {"Id": "s1", "Type": "STEP", "Action": "SUCCEED", "Payload": '"ok"'}
            first = await svc.checkpoint(arn, token, [start, done], "attempt-1")
            replayed = await svc.checkpoint(arn, token, [start, done], "attempt-1")
            page = await svc.get_execution_state(arn, first["CheckpointToken"], "", 1)
            rest = await svc.get_execution_state(
                arn, first["CheckpointToken"], page["NextMarker"], 5
            )
            with pytest.raises(ServiceError) as stale:
                await svc.checkpoint(arn, token, [])
            results.append((first, replayed, page, rest, stale.value))

    aio, thin = (scrub(result) for result in results)
    assert thin[:4] == aio[:4]
    assert (thin[4].code, thin[4].retryable, thin[4].status_code) == (
        "InvalidParameterValueException",
        True,
        400,
    )
    assert (aio[4].code, aio[4].retryable, aio[4].status_code) == (
        thin[4].code,
        thin[4].retryable,
        thin[4].status_code,
    )


def scrub(value: Any) -> Any:
    """Replace what differs between two executions (ids, tokens, times) with its type."""
    if isinstance(value, dict):
        return {
            key: type(item).__name__
            if key.endswith(("Timestamp", "Token", "Marker"))
            or key in ("Id", "InputPayload")
            or (key == "Name" and value.get("Type") == "EXECUTION")
            else scrub(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(scrub(item) for item in value)
    return value


@durable_execution
async def orders(event: dict[str, Any], ctx: DurableContext) -> int:
    total = 0
    for index in range(5):
        total += await ctx.step(lambda _, i=index: i * event["scale"], name=f"line-{index}")
    await asyncio.gather(*(ctx.step(lambda _, i=i: i, name=f"fan-{i}") for i in range(3)))
    return total


async def test_a_durable_handler_runs_the_same_on_both_paths(
    local: tuple[LocalDurableService, LocalHttpServer, LocalRunner],
) -> None:
    """A handler invoked against the local service over HTTP records the same history."""
    engine, server, runner = local
    histories = []
    for thin in (False, True):
        async with AwsDurableService(endpoint_url=server.url, thin=thin) as service:

            async def invoke(
                event: dict[str, Any], service: AwsDurableService = service
            ) -> dict[str, Any]:
                return await orders.invoke(event, service=service)

            runner.register(f"orders-{thin}", invoke)
            outcome = await runner.run(f"orders-{thin}", json.dumps({"scale": 10}), timeout=30)
            arn = outcome["DurableExecutionArn"]
            operations = sorted(  # the gathered steps finish in any order
                (op["Name"], op["Type"], op["Status"], op["StepDetails"].get("Result"))
                for op in await engine.list_operations(arn)
                if op["Type"] != "EXECUTION"
            )
            # Five sequential steps take five calls; the gathered three share one or more.
            assert 6 <= await engine.checkpoint_calls(arn) <= 8
            histories.append((outcome["Status"], outcome.get("Result"), operations))

    assert histories[1] == histories[0]
    assert histories[1][:2] == ("SUCCEEDED", "100")
