"""Malformed requests, generated from botocore's ``lambda`` model, never get a 500.

The server runs on its own thread and loop (a real LocalHttpServer on a real SQLite file) and
the requests go over loopback with ``http.client``, so hypothesis drives plain synchronous
code. Each request starts from a valid call of one route, aimed at a live execution, its
current checkpoint token and a started callback, so checks deep inside the engine are reached,
and then breaks one thing the model (or, for the local routes, the service's own rules)
forbids: a member's type, a number outside its bounds, NaN or an overflowing literal, a string
outside its pattern (odd Unicode included), nesting deeper than any shape, a required member
left out, a query value, the path, the method, or the body's bytes. Every such request must get
a 4xx in Lambda's error shape; afterwards a good request still works and SQLite's
``integrity_check`` passes.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import botocore.session  # type: ignore[import-untyped]
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from durable_async.service.local import LocalDurableService, SqliteStore
from durable_async.service.local.http import LocalHttpServer

pytestmark = pytest.mark.timeout(120)

T = TypeVar("T")
Json = dict[str, Any]

MODEL = botocore.session.get_session().get_service_model("lambda")
OPERATIONS = (
    "CheckpointDurableExecution",
    "GetDurableExecution",
    "GetDurableExecutionState",
    "GetDurableExecutionHistory",
    "ListDurableExecutionsByFunction",
    "StopDurableExecution",
    "SendDurableExecutionCallbackSuccess",
    "SendDurableExecutionCallbackFailure",
    "SendDurableExecutionCallbackHeartbeat",
)
# Members whose pattern the local service does not enforce (it takes any text there).
UNCHECKED_PATTERNS = frozenset({"Name", "SubType"})
# Members the local service ignores, as Lambda's own business logic does.
IGNORED = frozenset({"XAmznTraceId"})
FUZZ_REQUESTS = 1_200
ODD_CHARACTERS = ["\udcff", "\ud800", "²", "٣", "\x00", "\u202e", "😀", "\ufeff", "é", " ", "/"]


# The service on a thread of its own.


class Served:
    """A LocalHttpServer on a SQLite file, on its own thread and event loop."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = ""
        self.engine: LocalDurableService | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)

    async def _serve(self) -> None:
        async with (
            LocalDurableService(SqliteStore(self.path)) as engine,
            LocalHttpServer(engine) as server,
        ):
            self.engine, self.url = engine, server.url
            self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> Served:
        self._thread.start()
        assert self._ready.wait(10), "the server did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def call(self, make: Callable[[LocalDurableService], Coroutine[Any, Any, T]]) -> T:
        """Run ``make(engine)`` on the server's loop and return its result."""
        assert self._loop is not None
        assert self.engine is not None
        return asyncio.run_coroutine_threadsafe(make(self.engine), self._loop).result(10)


@dataclass
class Live:
    """What the valid requests aim at: an execution mid-invocation with a started callback."""

    arn: str
    token: str
    callback_id: str


def set_up(served: Served) -> Live:
    arn = served.call(lambda engine: engine.start_execution("fn", '{"n": 1}', name="live"))
    token = served.call(lambda engine: engine.begin_invocation(arn))["CheckpointToken"]
    start = {"Id": "cb", "Type": "CALLBACK", "Action": "START", "SubType": "Callback"}
    response = served.call(lambda engine: engine.checkpoint(arn, token, [start]))
    [operation] = response["NewExecutionState"]["Operations"]
    callback_id = operation["CallbackDetails"]["CallbackId"]
    return Live(arn, response["CheckpointToken"], callback_id)


# Requests on the wire.


class Raw:
    """JSON text placed into a body as it is: NaN, 1e400, 100,000 brackets."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"Raw({self.text[:40]!r}{'...' if len(self.text) > 40 else ''})"


MISSING = object()


@dataclass
class Request:
    """One HTTP request; ``body`` is encoded by :func:`encode` unless already bytes."""

    method: str
    path: str
    query: list[tuple[str, str]] = field(default_factory=list)
    body: Any = None
    raw_query: str = ""

    def target(self) -> str:
        query = "&".join(f"{_escape(k)}={_escape(v)}" for k, v in self.query)
        query = "&".join(part for part in (query, self.raw_query) if part)
        return f"{self.path}?{query}" if query else self.path


def _escape(text: str) -> str:
    # A lone surrogate goes out as the (invalid) UTF-8 bytes it would have.
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def encode(body: Any) -> bytes | None:
    """Encode a body, splicing in every :class:`Raw` and leaving out every MISSING member."""
    if body is None or isinstance(body, bytes):
        return body
    raws: list[str] = []

    def prepare(value: Any) -> Any:
        if isinstance(value, Raw):
            raws.append(value.text)
            return f"\x00raw{len(raws) - 1}\x00"
        if isinstance(value, dict):
            return {k: prepare(v) for k, v in value.items() if v is not MISSING}
        if isinstance(value, list):
            return [prepare(v) for v in value]
        return value

    text = json.dumps(prepare(body))  # ensure_ascii: lone surrogates become \\udcff escapes
    for n, raw in enumerate(raws):
        text = text.replace(json.dumps(f"\x00raw{n}\x00"), raw)
    return text.encode("utf-8", "surrogatepass")


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


class Client:
    """One keep-alive loopback connection that reconnects when the server closed it."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        self._address = (host, int(port))
        self._connection = http.client.HTTPConnection(*self._address, timeout=30)

    def send(self, request: Request) -> Answer:
        for attempt in range(2):
            try:
                return self._send(request)
            except (http.client.HTTPException, ConnectionError):
                self._connection.close()
                self._connection = http.client.HTTPConnection(*self._address, timeout=30)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _send(self, request: Request) -> Answer:
        body = encode(request.body)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        self._connection.request(request.method, request.target(), body=body, headers=headers)
        response = self._connection.getresponse()
        return Answer(response.status, dict(response.getheaders()), response.read())

    def close(self) -> None:
        self._connection.close()


# The model's shapes, and values that break them.


def shape_of(operation: str) -> Any:
    return MODEL.operation_model(operation).input_shape


def _text_outside(pattern: str | None, low: int, high: int | None) -> st.SearchStrategy[str]:
    """Strings a string member with this pattern (None: any text) and these bounds refuses."""
    options: list[st.SearchStrategy[str]] = [st.just(""), st.text(max_size=8)]
    if high is not None and high < 100_000:  # a Payload over 6 MB would only slow the run
        options.append(st.integers(high + 1, high + 300).map(lambda n: "a" * n))
    if pattern is not None:
        odd = st.sampled_from(ODD_CHARACTERS)
        options.append(st.tuples(st.text("abc", max_size=5), odd).map("".join))
    limit = high if high is not None else float("inf")

    def refused(text: str) -> bool:
        if not low <= len(text) <= limit:
            return True
        return pattern is not None and re.fullmatch(pattern, text, re.ASCII) is None

    return st.one_of(options).filter(refused)


WRONG_TYPES: dict[str, list[Any]] = {
    "string": [5, -1.5, True, [], {}, ["x"], {"a": "b"}],
    "integer": ["5", "²", True, [], {}, 1.5, 2.0, Raw("1e400"), Raw("NaN"), Raw("-Infinity")],
    "boolean": ["true", 1, 0, [], {}, "yes", Raw("NaN")],
    "structure": [[], "x", 5, True, [{}]],
    "list": [{}, "x", 5, True],
}


def deep() -> st.SearchStrategy[Raw]:
    """Nesting past any shape's depth, up to the 100,000 brackets that once crashed the server."""
    depths = st.one_of(st.integers(101, 3_000), st.sampled_from([10_000, 100_000]))
    return st.builds(lambda n, o: Raw(o[0] * n + o[1] * n), depths, st.sampled_from(["[]", "{}"]))


def broken(shape: Any, name: str, required: bool) -> st.SearchStrategy[Any]:
    """Values (or MISSING) that make the member ``name`` of this shape invalid in a body."""
    kind = shape.type_name
    meta = shape.metadata
    options: list[st.SearchStrategy[Any]] = [st.sampled_from(WRONG_TYPES.get(kind, [[]])), deep()]
    if required:
        options.append(st.sampled_from([MISSING, None]))
    if kind == "integer":
        low, high = meta.get("min", -(2**63)), meta.get("max", 2**63 - 1)
        options.append(
            st.one_of(
                st.integers(max_value=low - 1),
                st.integers(min_value=high + 1),
                st.sampled_from([10**30, -(10**30), 2**63, 2**64, Raw("1" + "0" * 5000)]),
            )
        )
    elif kind == "string" and "enum" in meta:
        enum = set(meta["enum"])
        options.append(st.text(max_size=12).filter(lambda s: s not in enum))
    elif kind == "string":
        pattern = None if name in UNCHECKED_PATTERNS else meta.get("pattern")
        options.append(_text_outside(pattern, int(meta.get("min", 0)), meta.get("max")))
    return st.one_of(options)


def mutate(shape: Any, value: Json, path: str = "") -> st.SearchStrategy[Json]:
    """Return ``value`` (valid for the structure ``shape``) with one member, somewhere, broken."""
    members = [
        (name, member)
        for name, member in shape.members.items()
        if name not in IGNORED and member.serialization.get("location") is None
    ]
    required = set(shape.required_members)

    def at(choice: tuple[str, Any]) -> st.SearchStrategy[Json]:
        name, member = choice
        current = value.get(name)
        inner: list[st.SearchStrategy[Any]] = [broken(member, name, name in required)]
        if member.type_name == "structure" and isinstance(current, dict):
            inner.append(mutate(member, current, f"{path}.{name}"))
        if member.type_name == "list" and isinstance(current, list) and current:
            inner.append(_mutate_item(member, current))
        return st.one_of(inner).map(lambda broken_value: {**value, name: broken_value})

    return st.sampled_from(members).flatmap(at)


def _mutate_item(shape: Any, items: list[Any]) -> st.SearchStrategy[list[Any]]:
    item_shape = shape.member

    def at(index: int) -> st.SearchStrategy[list[Any]]:
        if item_shape.type_name == "structure":
            inner = mutate(item_shape, items[index])
        else:
            inner = broken(item_shape, "", required=True).filter(lambda v: v is not MISSING)
        return inner.map(lambda new: [*items[:index], new, *items[index + 1 :]])

    return st.integers(0, len(items) - 1).flatmap(at)


# Valid updates the checkpoint mutations start from: one of each kind the engine accepts.

BASE_UPDATES: list[Json] = [
    {"Id": "s1", "Type": "STEP", "Action": "START", "SubType": "Step", "Name": "charge"},
    {
        "Id": "s2",
        "Type": "STEP",
        "Action": "RETRY",
        "SubType": "Step",
        "Error": {"ErrorType": "Boom", "ErrorMessage": "m", "StackTrace": ["a", "b"]},
        "StepOptions": {"NextAttemptDelaySeconds": 5},
    },
    {"Id": "w1", "Type": "WAIT", "Action": "START", "WaitOptions": {"WaitSeconds": 30}},
    {
        "Id": "c1",
        "Type": "CALLBACK",
        "Action": "START",
        "CallbackOptions": {"TimeoutSeconds": 60, "HeartbeatTimeoutSeconds": 10},
    },
    {"Id": "x1", "Type": "CONTEXT", "Action": "START", "SubType": "RunInChildContext"},
    {
        "Id": "x2",
        "Type": "CONTEXT",
        "Action": "SUCCEED",
        "Payload": "1",
        "ContextOptions": {"ReplayChildren": False},
    },
    {
        "Id": "i1",
        "Type": "CHAINED_INVOKE",
        "Action": "START",
        "Payload": "{}",
        "ChainedInvokeOptions": {"FunctionName": "other", "TenantId": "t-1"},
    },
]

ERROR = {"ErrorType": "Declined", "ErrorMessage": "no", "ErrorData": "{}", "StackTrace": ["x"]}
# The local start route's shape, in the model's terms (it is not in Lambda's API).
START_MEMBERS: dict[str, tuple[str, Json, bool]] = {
    "FunctionName": ("string", {"min": 1, "max": 64, "pattern": "[a-zA-Z0-9_-]+"}, True),
    "ExecutionName": ("string", {"min": 1, "max": 64, "pattern": "[a-zA-Z0-9_-]+"}, False),
}


@dataclass
class _LocalShape:
    type_name: str
    metadata: Json


def _api(path: str) -> str:
    return "/2025-12-01" + path


def _execution(live: Live, tail: str = "") -> str:
    return _api(f"/durable-executions/{quote(live.arn, safe='')}{tail}")


def _callback(live: Live, action: str, callback_id: str | None = None) -> str:
    return _api(
        f"/durable-execution-callbacks/{quote(callback_id or live.callback_id, safe='')}/{action}"
    )


def body_mutations(live: Live) -> st.SearchStrategy[Request]:
    """Valid bodies of the JSON routes with one member broken (model-driven)."""
    checkpoint = st.lists(st.sampled_from(BASE_UPDATES), min_size=1, max_size=3, unique_by=id)
    checkpoints = checkpoint.flatmap(
        lambda updates: mutate(
            shape_of("CheckpointDurableExecution"),
            {"CheckpointToken": live.token, "Updates": updates, "ClientToken": "c-1"},
        )
    ).map(lambda body: Request("POST", _execution(live, "/checkpoint"), body=body))
    error_shape = MODEL.shape_for("ErrorObject")
    stops = mutate(error_shape, dict(ERROR)).map(
        lambda body: Request("POST", _execution(live, "/stop"), body=body)
    )
    failures = mutate(error_shape, dict(ERROR)).map(
        lambda body: Request("POST", _callback(live, "fail"), body=body)
    )
    start_member = st.sampled_from(sorted(START_MEMBERS))

    def start(name: str) -> st.SearchStrategy[Request]:
        kind, meta, required = START_MEMBERS[name]
        valid = {"FunctionName": "fn", "ExecutionName": "e-1", "Input": {"n": 1}}
        return broken(_LocalShape(kind, meta), name, required).map(
            lambda bad: Request("POST", "/start-durable-execution", body={**valid, name: bad})
        )

    starts = st.one_of(
        start_member.flatmap(start),
        deep().map(
            lambda bad: Request(
                "POST", "/start-durable-execution", body={"FunctionName": "fn", "Input": bad}
            )
        ),
    )
    return st.one_of(checkpoints, stops, failures, starts)


def _query_values(shape: Any, name: str) -> st.SearchStrategy[str]:
    """Query text the member refuses."""
    kind, meta = shape.type_name, shape.metadata
    if kind == "integer":
        return st.sampled_from(["²", "-1", "1001", "1e3", "", " 5", "0x10", "9" * 5000, "1.0"])
    if kind == "boolean":
        return st.sampled_from(["yes", "1", "", "t", "truee", "\udcff"])
    if kind == "timestamp":
        return st.sampled_from(["1e400", "nan", "inf", "-1e20", "²", "2024-13-45", ""])
    if name == "Marker":
        return st.one_of(
            st.sampled_from(["²", "-1", "1" * 40, "x", "\udcff", "\u0661"]),
            st.text(min_size=1, max_size=8).filter(lambda s: not s.isascii() or not s.isdigit()),
        )
    if name == "CheckpointToken":
        return st.text(min_size=1, max_size=30)
    if kind == "list":  # Statuses
        return st.text(max_size=12).filter(lambda s: s not in meta.get("enum", ()))
    return _text_outside(meta.get("pattern"), int(meta.get("min", 0)), meta.get("max"))


def query_mutations(live: Live) -> st.SearchStrategy[Request]:
    """Valid GET requests with one query member given a value its shape refuses."""
    targets = {
        "GetDurableExecution": (_execution(live), {}),
        "GetDurableExecutionState": (_execution(live, "/state"), {"CheckpointToken": live.token}),
        "GetDurableExecutionHistory": (_execution(live, "/history"), {}),
        "ListDurableExecutionsByFunction": (_api("/functions/fn/durable-executions"), {}),
    }

    def one(operation: str) -> st.SearchStrategy[Request]:
        path, valid = targets[operation]
        shape = shape_of(operation)
        members = [
            (name, member)
            for name, member in shape.members.items()
            if member.serialization.get("location") == "querystring"
        ]

        def at(choice: tuple[str, Any]) -> st.SearchStrategy[Request]:
            name, member = choice
            wire = member.serialization.get("name", name)
            values = _query_values(member, name)
            if name == "Statuses":
                many = st.just([("Statuses", "RUNNING")] * 11)
                bad = values.map(lambda v: [(wire, v)])
                return st.one_of(many, bad).map(
                    lambda pairs: Request("GET", path, [*valid.items(), *pairs])
                )
            return values.map(
                lambda v: Request(
                    "GET", path, [*((k, x) for k, x in valid.items() if k != wire), (wire, v)]
                )
            )

        return st.sampled_from(members).flatmap(at)

    return st.sampled_from(sorted(targets)).flatmap(one)


RAW_BODIES = [
    b"[" * 100_000,
    b"{" * 50_000,
    b'{"CheckpointToken": NaN}',
    b'{"CheckpointToken": "t", "Updates": [{"Id": "s", "Type": "WAIT", "Action": "START", '
    b'"WaitOptions": {"WaitSeconds": 1e400}}]}',
    b'{"x": 1' + b"0" * 5000 + b"}",
    b"\xff\xfe\x00",
    b"NaN",
    b"[1, 2]",
    b'"text"',
    b"123",
    b"null",
    b'{"a": ',
    b'{"a": "\\udcff"',
    b"\x00",
]


def raw_bodies(live: Live) -> st.SearchStrategy[Request]:
    """Bodies that are not a JSON object at all, on every route that reads a JSON object."""
    paths = [
        _execution(live, "/checkpoint"),
        _execution(live, "/stop"),
        _callback(live, "fail"),
        "/start-durable-execution",
    ]
    garbage = st.binary(min_size=1, max_size=64).filter(_not_a_json_object)
    bodies = st.one_of(st.sampled_from(RAW_BODIES), garbage)
    return st.builds(
        lambda path, body: Request("POST", path, body=body), st.sampled_from(paths), bodies
    )


def _not_a_json_object(raw: bytes) -> bool:
    if not raw.strip():
        return False  # no body at all: a failure without an Error, a stop without one
    try:
        return not isinstance(json.loads(raw), dict)
    except ValueError:
        return True


def path_mutations(live: Live) -> st.SearchStrategy[Request]:
    """Unknown executions and callbacks, odd bytes in path labels, unknown routes, bad methods."""
    # Path labels as they go on the wire: generated text percent-encoded, or raw escapes.
    label = st.one_of(
        st.text(min_size=1, max_size=30)
        .filter(lambda s: s not in (live.arn, live.callback_id))
        .map(_escape),
        st.sampled_from(["%ED%B3%BF", "%FF", "%00", "..", "%2F..%2F", "a" * 2000, "%zz", "%"]),
    )

    executions = st.builds(
        lambda text, tail, method: Request(method, _api(f"/durable-executions/{text}{tail}")),
        label,
        st.sampled_from(["", "/state", "/history"]),
        st.just("GET"),
    )
    posts = st.builds(
        lambda text, tail: Request(
            "POST",
            _api(f"/durable-executions/{text}{tail}"),
            body={"CheckpointToken": live.token, "Updates": []},
        ),
        label,
        st.sampled_from(["/checkpoint", "/stop"]),
    )
    callbacks = st.builds(
        lambda text, action: Request(
            "POST", _api(f"/durable-execution-callbacks/{text}/{action}"), body=b"{}"
        ),
        label,
        st.sampled_from(["succeed", "fail", "heartbeat"]),
    )
    functions = st.builds(
        lambda text: Request("GET", _api(f"/functions/{_escape(text)}/durable-executions")),
        st.one_of(
            st.tuples(st.text("ab", max_size=3), st.sampled_from(ODD_CHARACTERS)).map("".join),
            st.just("a" * 300),
        ),
    )
    unknown = st.builds(
        lambda text, method: Request(method, f"/nope/{text}"),
        label,
        st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
    )
    methods = st.builds(
        lambda method, path: Request(method, path),
        st.sampled_from(["PUT", "DELETE", "PATCH"]),
        st.sampled_from(
            [
                _execution(live),
                _execution(live, "/checkpoint"),
                _callback(live, "fail"),
                "/start-durable-execution",
                _api("/functions/fn/durable-executions"),
            ]
        ),
    )
    return st.one_of(executions, posts, callbacks, functions, unknown, methods)


def blob_and_id_mutations(live: Live) -> st.SearchStrategy[Request]:
    """A callback result that is not UTF-8 text or is over the limit; ids never issued."""
    results = st.one_of(
        st.sampled_from([b"\xff", b"ok\xed\xb3\xbf", b"\xc3"]),
        st.just(b"x" * (1024 * 1024 + 1)),
    ).map(lambda body: Request("POST", _callback(live, "succeed"), body=body))
    forged = st.builds(
        lambda action: Request(
            "POST",
            _callback(live, action, _forged_id(live)),
            body=b'"yes"' if action == "succeed" else None,
        ),
        st.sampled_from(["succeed", "fail", "heartbeat"]),
    )
    return st.one_of(results, forged)


def _forged_id(live: Live) -> str:
    """The id the service issued before ids had a secret: base64 of [arn, operation id]."""
    import base64

    return base64.b64encode(json.dumps([live.arn, "cb"]).encode()).decode()


def malformed(live: Live) -> st.SearchStrategy[Request]:
    return st.one_of(
        body_mutations(live),
        query_mutations(live),
        raw_bodies(live),
        path_mutations(live),
        blob_and_id_mutations(live),
    )


# The checks.


def aws_shaped(answer: Answer) -> bool:
    """True for Lambda's error shape: an X-Amzn-ErrorType header and {"Type", "message"}."""
    try:
        body = json.loads(answer.body)
    except ValueError:
        return False
    return (
        bool(answer.headers.get("X-Amzn-ErrorType"))
        and isinstance(body, dict)
        and body.get("Type") == "User"
        and isinstance(body.get("message"), str)
    )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with Served(tmp_path / "fuzz.sqlite3") as served:
        yield served


def test_malformed_requests_get_a_4xx_and_leave_the_store_intact(served: Served) -> None:
    """Over a thousand malformed requests all get an AWS-shaped 4xx; the service still works."""
    live = set_up(served)
    client = Client(served.url)
    tally: Counter[str] = Counter()

    @settings(
        max_examples=FUZZ_REQUESTS,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(request=malformed(live))
    def answers_4xx(request: Request) -> None:
        answer = client.send(request)
        tally["requests"] += 1
        tally[f"{answer.status // 100}xx"] += 1
        assert 400 <= answer.status < 500, (answer.status, answer.body[:300], request)
        assert aws_shaped(answer), (answer.headers, answer.body[:300], request)

    try:
        answers_4xx()
        still = client.send(
            Request(
                "POST",
                _execution(live, "/checkpoint"),
                body={"CheckpointToken": live.token, "Updates": [BASE_UPDATES[0]]},
            )
        )
        assert still.status == 200, still.body
        done = client.send(Request("POST", _callback(live, "succeed"), body=b'"approved"'))
        assert done.status == 200, done.body
    finally:
        client.close()
    print(f"\nHTTP fuzz: {dict(tally)}")
    assert tally["requests"] >= 1_000
    assert tally["4xx"] == tally["requests"]
    operations = served.call(lambda engine: engine.list_operations(live.arn))
    statuses = {op["Id"]: op["Status"] for op in operations}
    execution_id = live.arn.rsplit("/", 1)[-1]
    # Nothing a malformed request carried was applied: only the two good requests' work.
    assert statuses == {execution_id: "STARTED", "cb": "SUCCEEDED", "s1": "STARTED"}
    with closing(sqlite3.connect(served.path)) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
