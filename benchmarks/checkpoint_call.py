"""Host CPU per CheckpointDurableExecution call: aiobotocore against the thin path (issue 9).

```sh
python -m benchmarks.checkpoint_call                # measure and print the Markdown section
python -m benchmarks.checkpoint_call --write        # ... and replace it in docs/benchmarks.md
python -m benchmarks.checkpoint_call --quick        # one process, three rounds: a smoke run
```

Method. The local durable execution service runs over loopback HTTP in a process of its own
(``--serve``), on the in-memory store, so that none of its CPU lands on the client. Each client
process opens both services, ``AwsDurableService(thin=False)`` (aiobotocore) and
``AwsDurableService()`` (the thin path), warms each up, then runs rounds: in every round each
side makes ``--calls`` sequential checkpoint calls of one shape against a fresh execution, the
sides taking turns and alternating which goes first. A call's CPU is the client thread's CPU
time (``getrusage(RUSAGE_THREAD)``: user and system, the socket's kernel work included) divided
by the calls. Shapes: one step (a START and a SUCCEED update, what a sequential step sends), a
batch of 50 steps (100 updates), and a refresh (no updates). Figures are medians over every
round of every process, with the lowest and highest round; the ratio is the median of each
round's thin/aiobotocore ratio.

``--profile`` adds a cProfile of one block of one-step calls per side, each function's own CPU
charged to the component its code belongs to, and the micro-benchmarks of the parts the thin
path replaced.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import hashlib
import json
import os
import platform
import pstats
import re
import resource
import statistics
import subprocess
import sys
import time
import timeit
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["main"]

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
BEGIN = "<!-- checkpoint-call:begin -->"
END = "<!-- checkpoint-call:end -->"
TARGET_US = 300.0
SIDES = ("aiobotocore", "thin")
SHAPES = {"one step": 1, "50 steps": 50, "refresh": 0}
_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_SESSION_TOKEN": "bench-session-token",  # Lambda always has one: it is signed too
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


# The service process.


async def _serve() -> None:
    """Serve the local service; answer each ``new`` line on stdin with a fresh execution."""
    from durable_async.service.local.engine import LocalDurableService
    from durable_async.service.local.http import LocalHttpServer
    from durable_async.service.local.store import MemoryStore

    loop = asyncio.get_running_loop()
    async with LocalDurableService(MemoryStore()) as service, LocalHttpServer(service) as server:
        print(json.dumps({"url": server.url}), flush=True)
        while (await loop.run_in_executor(None, sys.stdin.readline)).strip() == "new":
            arn = await service.start_execution("bench", '{"n": 1}')
            event = await service.begin_invocation(arn)
            print(json.dumps({"arn": arn, "token": event["CheckpointToken"]}), flush=True)


class _Service:
    """The service process, as the client sees it."""

    def __init__(self) -> None:
        command = [sys.executable, "-m", "benchmarks.checkpoint_call", "--serve"]
        self._process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.url: str = self._read()["url"]

    def execution(self) -> tuple[str, str]:
        assert self._process.stdin is not None
        self._process.stdin.write("new\n")
        self._process.stdin.flush()
        answer = self._read()
        return answer["arn"], answer["token"]

    def close(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        self._process.wait(timeout=30)

    def _read(self) -> dict[str, str]:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError("The benchmark's service process ended early; see its stderr.")
        answer: dict[str, str] = json.loads(line)
        return answer


# The client process.


def _updates(index: int, steps: int) -> list[dict[str, Any]]:
    updates: list[dict[str, Any]] = []
    for step in range(steps):
        op = f"{index:06d}-{step:03d}"
        updates.append(
            {"Id": op, "Type": "STEP", "SubType": "Step", "Name": "echo", "Action": "START"}
        )
        updates.append(
            {"Id": op, "Type": "STEP", "SubType": "Step", "Action": "SUCCEED", "Payload": "42"}
        )
    return updates


def _thread_cpu() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_THREAD)
    return usage.ru_utime, usage.ru_stime


@dataclass
class _Side:
    name: str
    service: Any
    arn: str = ""
    token: str = ""


async def _block(side: _Side, service: _Service, steps: int, calls: int) -> dict[str, float]:
    """Make ``calls`` checkpoint calls on a fresh execution; return CPU and wall per call."""
    side.arn, side.token = service.execution()
    batches = [_updates(index, steps) for index in range(calls)]
    gc.collect()
    user0, sys0 = _thread_cpu()
    wall0 = time.perf_counter()
    for updates in batches:
        response = await side.service.checkpoint(side.arn, side.token, updates)
        side.token = response["CheckpointToken"]
    wall = time.perf_counter() - wall0
    user1, sys1 = _thread_cpu()
    return {
        "user": (user1 - user0) / calls * 1e6,
        "sys": (sys1 - sys0) / calls * 1e6,
        "wall": wall / calls * 1e6,
    }


async def _client(rounds: int, calls: int, profile: bool) -> dict[str, Any]:
    from durable_async.service.aws import AwsDurableService

    service = _Service()
    sides = [
        _Side("aiobotocore", AwsDurableService(endpoint_url=service.url, thin=False)),
        _Side("thin", AwsDurableService(endpoint_url=service.url)),
    ]
    results: dict[str, list[dict[str, Any]]] = defaultdict(list)
    try:
        for side in sides:  # connect, import lazily, fill caches
            await _block(side, service, 1, 50)
        for index in range(rounds):
            for position, (shape, steps) in enumerate(SHAPES.items()):
                order = sides if (index + position) % 2 == 0 else sides[::-1]
                for side in order:
                    sample = await _block(side, service, steps, calls)
                    results[f"{side.name}|{shape}"].append({"round": index, **sample})
        profiles = (
            {side.name: await _profile(side, service, calls) for side in sides} if profile else {}
        )
    finally:
        for side in sides:
            await side.service.aclose()
        service.close()
    return {"samples": results, "profiles": profiles}


# Profiles: each function's own CPU, charged to the component its code belongs to.

_COMPONENTS = (
    (r"botocore/useragent\.py", "botocore: User-Agent string"),
    (r"botocore/(auth|signers)\.py|aiobotocore/signers\.py", "botocore: SigV4 signing"),
    (r"botocore/(validate|serialize)\.py", "botocore: validate and serialise"),
    (r"botocore/(parsers|utils)\.py|aiobotocore/parsers\.py", "botocore: parse the response"),
    (r"botocore/(regions|endpoint_provider)|aiobotocore/regions", "botocore: resolve endpoint"),
    (r"aiobotocore/(hooks|_helpers)\.py|botocore/hooks\.py", "botocore: events"),
    (r"botocore/|aiobotocore/", "botocore: the rest"),
    (r"aiohttp/|multidict/|yarl/", "aiohttp"),
    (r"durable_async/service/_(thin|thin_model|sigv4)\.py", "thin path"),
    (r"durable_async/", "durable_async (AwsDurableService)"),
    (r"benchmarks/", "benchmark loop"),
    (r"asyncio/|selectors\.py", "event loop"),
    (r"json/", "json (standard library)"),
    (r"email/|http/|urllib/", "email, http, urllib (for botocore)"),
)
_SOCKET = re.compile(r"of '_socket\.socket'|select\.epoll")
_HASHING = re.compile(r"_hashlib|_hmac|hmac\.py|hashlib")


def _component(function: tuple[str, int, str]) -> str:
    filename, _, name = function
    if filename == "~":
        if _SOCKET.search(name):
            return "socket and epoll system calls"
        if _HASHING.search(name):
            return "hashing (hashlib, hmac)"
        if "orjson" in name or "json" in name:
            return "json (standard library)"
        return "built-ins"
    if _HASHING.search(filename):
        return "hashing (hashlib, hmac)"
    for pattern, component in _COMPONENTS:
        if re.search(pattern, filename):
            return component
    return "other standard library"


async def _profile(side: _Side, service: _Service, calls: int) -> dict[str, float]:
    """Return each component's share of the profiled CPU of one block of one-step calls."""
    profiler = cProfile.Profile(time.thread_time)
    profiler.enable()
    await _block(side, service, 1, calls)
    profiler.disable()
    stats: dict[Any, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    spent: dict[str, float] = defaultdict(float)
    for function, (_, _, own, _, _) in stats.items():
        spent[_component(function)] += own
    total = sum(spent.values())
    return {component: seconds / total for component, seconds in spent.items()}


# Micro-benchmarks of the parts the thin path replaced.


def _micro() -> list[tuple[str, str, float, str, float]]:
    """Return (part, botocore's way, µs, the thin path's way, µs) rows."""
    import botocore.session
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    from botocore.parsers import create_parser
    from botocore.validate import ParamValidator

    from durable_async.service import _sigv4, _thin_model

    model = botocore.session.get_session().get_service_model("lambda")
    checkpoint = model.operation_model("CheckpointDurableExecution")
    arn = "arn:aws:lambda:us-east-1:123456789012:function:bench:$LATEST/durable-execution/a/b"
    params = {"DurableExecutionArn": arn, "CheckpointToken": "dG9rZW4=", "Updates": _updates(1, 1)}
    credentials = Credentials("bench", "bench", "token")
    url = "http://127.0.0.1:8080/2025-12-01/durable-executions/arn%3Aaws/checkpoint"
    body = json.dumps({"CheckpointToken": "dG9rZW4=", "Updates": params["Updates"]}).encode()

    def botocore_sign() -> None:
        request = AWSRequest("POST", url, headers={"Content-Type": "application/json"}, data=body)
        SigV4Auth(credentials, "lambda", "us-east-1").add_auth(request)

    signer = _sigv4.Signer(service="lambda", region="us-east-1")

    def thin_sign() -> None:
        signer.authorization(
            method="POST",
            path="/2025-12-01/durable-executions/arn%253Aaws/checkpoint",
            query="",
            host="127.0.0.1:8080",
            amz_date="20260101T000000Z",
            content_type="application/json",
            token="token",
            payload_hash=hashlib.sha256(body).hexdigest(),
            credentials=credentials,
        )

    validator = ParamValidator()
    check = _thin_model.compile_check(checkpoint.input_shape, set())
    small = _response(1)
    large = _response(100)  # about 25 KB of NewExecutionState, as gather-100's last answer
    parser = create_parser("rest-json")
    convert = _thin_model.compile_output(checkpoint.output_shape, set())

    def parse_botocore(raw: bytes) -> Callable[[], object]:
        response = {"status_code": 200, "headers": {}, "body": raw, "context": {}}
        return lambda: parser.parse(response, checkpoint.output_shape)

    rows = [
        ("SigV4 signature", "SigV4Auth.add_auth", botocore_sign, "template signer", thin_sign),
        (
            "validate 2 updates",
            "ParamValidator",
            lambda: validator.validate(params, checkpoint.input_shape),
            "compiled predicate",
            lambda: check(params),
        ),
        (
            "parse a 1-operation answer",
            "RestJSONParser",
            parse_botocore(small),
            "orjson + compiled walker",
            lambda: convert(_orjson_loads(small)),
        ),
        (
            "parse a 100-operation answer",
            "RestJSONParser",
            parse_botocore(large),
            "orjson + compiled walker",
            lambda: convert(_orjson_loads(large)),
        ),
        (
            "decode a 100-operation answer",
            "json.loads",
            lambda: json.loads(large),
            "orjson.loads",
            lambda: _orjson_loads(large),
        ),
    ]
    return [(part, a, _per_call(fa), b, _per_call(fb)) for part, a, fa, b, fb in rows]


def _orjson_loads(raw: bytes) -> Any:
    import orjson

    return orjson.loads(raw)


def _response(operations: int) -> bytes:
    result = json.dumps({"total": 42, "items": list(range(40))})
    ops = [
        {
            "Id": f"{index:064x}",
            "Name": f"step-{index}",
            "Type": "STEP",
            "SubType": "Step",
            "StartTimestamp": 1796086152.797,
            "EndTimestamp": 1796086152.801,
            "Status": "SUCCEEDED",
            "StepDetails": {"Attempt": 1, "Result": result},
        }
        for index in range(operations)
    ]
    body = {"CheckpointToken": "dG9rZW4=", "NewExecutionState": {"Operations": ops}}
    return json.dumps(body).encode()


def _per_call(function: Callable[[], object]) -> float:
    number = 2000
    return min(timeit.repeat(function, number=number, repeat=5)) / number * 1e6


# The report.


@dataclass(frozen=True)
class _Figure:
    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: list[float]) -> _Figure:
        return cls(statistics.median(values), min(values), max(values))

    def __str__(self) -> str:
        return f"{self.median:.0f} ({self.low:.0f}-{self.high:.0f})"


def _report(runs: list[dict[str, Any]], args: argparse.Namespace) -> str:
    samples: dict[str, list[dict[str, float]]] = defaultdict(list)
    for run in runs:
        for key, values in run["samples"].items():
            samples[key].extend(values)
    lines = [
        BEGIN,
        "## The checkpoint call",
        "",
        _INTRO,
        "",
        f"Run: `python -m benchmarks.checkpoint_call{' --quick' if args.quick else ''}"
        f"{' --profile' if args.profile else ''}`: {args.processes} client process(es) x "
        f"{args.rounds} rounds x {args.calls} calls per side and shape; "
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end. "
        "Microseconds of the client thread's CPU per call: median (lowest-highest round).",
        "",
        "| call | side | CPU per call, µs | user | system | wall, µs | thin / aiobotocore |",
        "|---|---|---|---|---|---|---|",
    ]
    verdict = ""
    for shape in SHAPES:
        for side in SIDES:
            rows = samples[f"{side}|{shape}"]
            cpu = _Figure.of([r["user"] + r["sys"] for r in rows])
            ratio = ""
            if side == "thin":
                paired = _paired_ratios(samples[f"aiobotocore|{shape}"], rows)
                ratio = f"{_Figure.of(paired).median:.2f} ({min(paired):.2f}-{max(paired):.2f})"
                if shape == "one step":
                    verdict = _verdict(cpu, samples[f"aiobotocore|{shape}"])
            lines.append(
                f"| {shape} | {side} | {cpu} | "
                f"{statistics.median(r['user'] for r in rows):.0f} | "
                f"{statistics.median(r['sys'] for r in rows):.0f} | "
                f"{statistics.median(r['wall'] for r in rows):.0f} | {ratio} |"
            )
    lines += ["", verdict, ""]
    profiles = [run["profiles"] for run in runs if run["profiles"]]
    if profiles:
        lines += _profile_section(profiles[0], samples)
    if args.profile:
        lines += _micro_section()
    lines += [_AFTERWORD, END]
    return "\n".join(lines) + "\n"


def _verdict(thin: _Figure, aio: list[dict[str, float]]) -> str:
    met = "met" if thin.median <= TARGET_US else "missed"
    theirs = statistics.median(r["user"] + r["sys"] for r in aio)
    return (
        f"**Target (at most {TARGET_US:.0f} µs of host CPU per call): {met}**, "
        f"{thin.median:.0f} µs per one-step call (rounds {thin.low:.0f} to {thin.high:.0f}), "
        f"against aiobotocore's {theirs:.0f} µs."
    )


def _paired_ratios(aio: list[dict[str, float]], thin: list[dict[str, float]]) -> list[float]:
    pairs = zip(aio, thin, strict=True)  # the same rounds of the same processes, in order
    return [(t["user"] + t["sys"]) / (a["user"] + a["sys"]) for a, t in pairs]


def _profile_section(
    profile: dict[str, dict[str, float]], samples: dict[str, list[dict[str, float]]]
) -> list[str]:
    lines = [
        "### Where a one-step call's CPU goes",
        "",
        "cProfile of one block per side; each function's own CPU is charged to the component "
        "its code belongs to. The share is of the profiled time; µs is that share of the "
        "unprofiled median above (cProfile slows Python code more than system calls, so read "
        "the µs as a guide).",
        "",
        "| component | aiobotocore | thin |",
        "|---|---|---|",
    ]
    medians = {
        side: statistics.median(r["user"] + r["sys"] for r in samples[f"{side}|one step"])
        for side in SIDES
    }
    components = sorted(
        set(profile["aiobotocore"]) | set(profile["thin"]),
        key=lambda c: -(profile["aiobotocore"].get(c, 0.0) + profile["thin"].get(c, 0.0)),
    )
    for component in components:
        cells = []
        for side in SIDES:
            share = profile[side].get(component, 0.0)
            cells.append(f"{share:.0%} ≈ {share * medians[side]:.0f} µs" if share >= 0.005 else "")
        if any(cells):
            lines.append(f"| {component} | {' | '.join(cells)} |")
    return [*lines, ""]


def _micro_section() -> list[str]:
    lines = [
        "### The parts the thin path replaced",
        "",
        "Each measured alone in the client process (best of five runs of 2,000).",
        "",
        "| part | botocore's way | µs | the thin path's way | µs |",
        "|---|---|---|---|---|",
    ]
    for part, theirs, their_us, ours, our_us in _micro():
        lines.append(f"| {part} | {theirs} | {their_us:.1f} | {ours} | {our_us:.1f} |")
    return [*lines, ""]


_INTRO = """\
What one CheckpointDurableExecution call costs the host, from the SDK's `service.checkpoint`
to the parsed answer, against the local durable execution service over loopback HTTP (its own
process, in-memory store). `aiobotocore` is `AwsDurableService(thin=False)`: the aiobotocore
`lambda` client. `thin` is `AwsDurableService()`, the default: the same requests (byte for
byte, `tests/test_thin_client.py`), results and errors, sent by `durable_async.service._thin`
over one keep-alive aiohttp session, with the client resolving the endpoint, holding the
credentials and deciding retries. See `benchmarks/checkpoint_call.py` for the method."""

_AFTERWORD = """\
What the profile showed, and what it led to. aiobotocore spends most of a call on work whose
result is the same every time: it builds the User-Agent string twice per request (32
components, each sanitised character by character), resolves the endpoint through the
ruleset, emits a dozen events through async hooks, validates and serialises the parameters by
walking the service model, builds an `AWSRequest` whose headers live in an `email.message`
object, signs through it (URL-normalising the path and re-deriving the signing key from the
secret each time), and walks the answer through the model again. The thin path keeps every
result and drops the repetition: the URL and canonical path are built by botocore's serialiser
once per execution, the User-Agent once per client, the signature from the known header set
with the day's signing key kept (the tests recompute every signature with botocore's
`SigV4Auth`), the parameters are checked by a predicate compiled from the input shape
(botocore's validator words any error), the body is `json.dumps` exactly as botocore writes
it, and the answer is decoded by orjson when installed and converted by code compiled from the
output shape (botocore's parser takes over anything unexpected). The retry decisions and the
retry quota stay the client's own.

orjson stays optional (`pip install orjson`; the tests run the thin path without it too): on a
one-operation answer it saves a few microseconds, about 1% of a call; on a 100-operation
answer it decodes in well under half the standard library's time, which matters for the large
final answers of fan-outs rather than for this target.

What is left is aiohttp's request machinery (a `ClientRequest` per request, the response
parser, a timer per read for the read timeout), the event loop's turns, and the system calls
of a loopback round trip: about three quarters of the thin path's CPU, and the same for any
client built on aiohttp. The issue's 3.1 ms (0.6 ms of it in the socket send) was measured
through a proxy with an injected round trip on a loaded machine; on plain loopback the send is
tens of microseconds for both paths.

Thread CPU time per call grows when other processes share the cores (caches, frequency): on
the 2-core machine these figures come from, runs at a load average of 10 to 40 put the thin
path's median at 300 to 315 µs and aiobotocore's at 880. Compare runs at a similar load
average (printed above), and read the ratio, which stays at 0.30 to 0.35 for a one-step
call."""


# Running.


def _run_client(args: argparse.Namespace) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "benchmarks.checkpoint_call",
        "--client",
        *("--rounds", str(args.rounds), "--calls", str(args.calls)),
        *(["--profile"] if args.profile else []),
    ]
    env = {**os.environ, **_CREDENTIALS}
    output = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return result


_NEW_DOC = """\
# Benchmarks

What durable_async costs, measured. Each section names the command that produced it and is
rewritten by that command alone, between its markers.
"""


def _write(section: str) -> None:
    text = DOC.read_text() if DOC.exists() else _NEW_DOC
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section.rstrip("\n") + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    DOC.write_text(text)


def main(argv: list[str] | None = None) -> None:
    """Measure, print the Markdown section, and write it with ``--write``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.checkpoint_call")
    parser.add_argument("--processes", type=int, default=3, help="client processes, in turn")
    parser.add_argument("--rounds", type=int, default=8, help="rounds per client process")
    parser.add_argument("--calls", type=int, default=400, help="calls per side, shape, round")
    parser.add_argument("--quick", action="store_true", help="1 process, 3 rounds, 200 calls")
    parser.add_argument("--profile", action="store_true", help="add profiles, micro-benchmarks")
    parser.add_argument("--write", action="store_true", help=f"replace the section in {DOC}")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(_serve())
        return
    if args.client:
        result = asyncio.run(_client(args.rounds, args.calls, args.profile))
        print(json.dumps(result))
        return
    if args.quick:
        args.processes, args.rounds, args.calls = 1, 3, 200
    runs = []
    for index in range(args.processes):
        print(f"client process {index + 1} of {args.processes} ...", file=sys.stderr)
        runs.append(_run_client(args))
    section = _report(runs, args)
    print(section)
    if args.write:
        _write(section)
        print(f"wrote {DOC}", file=sys.stderr)


if __name__ == "__main__":
    main()
