"""The local services the suite runs against, each a child process on 127.0.0.1.

* :class:`Serve`: ``durable-async serve``, hosting the handlers in its own worker processes
  (or, for functions with environment variables or code outside this repository, invoking
  them through :mod:`conformance.lambda_host` with ``--lambda-endpoint``); an execution starts
  with Lambda ``Invoke``, as the suite starts it on AWS.
* :class:`DexRunner`: the reference emulator ``dex-local-runner``, which invokes the handlers
  through a Lambda endpoint (:mod:`conformance.lambda_host`); an execution starts with its
  ``POST /start-durable-execution``.
* :class:`Moto`: moto's server, standing in for DynamoDB (requirement 3-12).

Every process gets its own session, and stopping it ends that whole group, workers included.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import boto3
from botocore.config import Config

from conformance.catalog import ROOT, Function

START_TIMEOUT = 300.0  # serve starts a worker per function: slow on a busy machine
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, read_timeout=300)


class ServiceError(RuntimeError):
    """A local service did not start, or refused to start an execution."""


class Process:
    """A child process in its own session, with stdout and stderr copied to ``log``."""

    def __init__(self, argv: Sequence[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._log_file = log.open("ab")
        self.popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log_file,
            env=env,
            cwd=ROOT,
            start_new_session=True,
        )
        self._first_line: str | None = None
        self._copier: threading.Thread | None = None

    def first_line(self, timeout: float = START_TIMEOUT) -> str:
        """Return the first line the process prints; then copy the rest of stdout to the log."""
        assert self.popen.stdout is not None
        line: list[bytes] = []
        reader = threading.Thread(target=lambda: line.append(self.popen.stdout.readline()))  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout)
        if not line or not line[0]:
            raise ServiceError(
                f"{self.popen.args[0]} printed nothing within {timeout:.0f} s; see {self.log}"
            )
        self._copier = threading.Thread(
            target=_copy, args=(self.popen.stdout, self._log_file), daemon=True
        )
        self._copier.start()
        return line[0].decode().strip()

    def stop(self) -> None:
        """End the process and everything it started (its session), politely first."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):  # workers that outlived their parent
            os.killpg(self.popen.pid, signal.SIGKILL)
        if self._copier is not None:
            self._copier.join(timeout=10)
        if self.popen.stdout is not None:
            self.popen.stdout.close()
        self._log_file.close()


def _copy(source: IO[bytes], sink: IO[bytes]) -> None:
    with contextlib.suppress(ValueError, OSError):
        for chunk in iter(lambda: source.readline(), b""):
            sink.write(chunk)
            sink.flush()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until_up(url: str, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise ServiceError(f"nothing answered at {url} within {timeout:.0f} s") from None
            time.sleep(0.1)


def lambda_client(endpoint_url: str) -> Any:
    """A boto3 ``lambda`` client for a local endpoint, as the suite's validator uses one."""
    return boto3.client(
        "lambda",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=CLIENT_CONFIG,
    )


def base_environment(log_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of every service and worker: loopback AWS, JSON log lines to ``log_dir``."""
    env = dict(os.environ)
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
            "CONFORMANCE_LOG_DIR": str(log_dir),
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
        }
    )
    env.update(extra or {})
    return env


def function_configs(functions: Sequence[Function]) -> dict[str, Any]:
    """``--function-configs`` as ``dex-local-runner`` (and serve) take it: which are durable."""
    return {
        f.name: {
            "DurableConfig": {
                "ExecutionTimeout": f.execution_timeout or 300,
                "RetentionPeriodInDays": 7,
            }
        }
        if f.durable
        else {}
        for f in functions
    }


class LambdaHost(Process):
    """:mod:`conformance.lambda_host` serving ``functions``; ``url`` is where it listens."""

    url = ""


def start_lambda_host(
    functions: Sequence[Function], work: Path, env: dict[str, str], service_url: str
) -> LambdaHost:
    """Start the Lambda endpoint for ``functions``, whose handlers checkpoint to ``service_url``."""
    specs = {
        f.name: {"target": f.target, "code": str(f.code), "environment": dict(f.environment)}
        for f in functions
    }
    argv = [sys.executable, "-m", "conformance.lambda_host", "--functions", json.dumps(specs)]
    host_env = {**env, "AWS_ENDPOINT_URL_LAMBDA": service_url}
    host = LambdaHost(argv, host_env, work / "lambda-host.log")
    try:
        line = host.first_line()
        if not line.startswith("serving "):
            raise ServiceError(f"expected 'serving URL' first from the Lambda host, got {line!r}")
    except BaseException:
        host.stop()
        raise
    host.url = line.removeprefix("serving ").strip()
    return host


class Serve:
    """``durable-async serve`` hosting ``functions``; executions start with Lambda Invoke."""

    label = "durable-async serve"

    def __init__(
        self,
        functions: Sequence[Function],
        work: Path,
        env: dict[str, str],
        *,
        skip_time: bool = True,
        command: Sequence[str] | None = None,
        start_with: str = "invoke",
    ) -> None:
        argv = [*(command or [str(Path(sys.executable).parent / "durable-async"), "serve"])]
        argv += ["--store", ":memory:", "--skip-time" if skip_time else "--no-skip-time"]
        self._functions = list(functions)
        # serve's workers import from this repository and inherit serve's environment, so the
        # functions' variables join serve's own; functions with code elsewhere, or whose
        # variables disagree, run behind the Lambda endpoint instead.
        variables: dict[str, str] = {}
        for function in self._functions:
            for key, value in function.environment:
                variables[key] = value if variables.get(key, value) == value else "\0"
        self._via_host = "\0" in variables.values() or any(f.code != ROOT for f in self._functions)
        if not self._via_host:
            env = {**env, **variables}
            for function in self._functions:
                argv += ["--function", f"{function.name}={function.target}"]
        self._argv, self._env, self._work = argv, env, work
        self._start_with = start_with
        self.url = ""
        self._processes: list[Process] = []
        self.client: Any = None

    def __enter__(self) -> Serve:
        try:
            self._start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _start(self) -> None:
        argv = list(self._argv)
        if self._via_host:
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            host = start_lambda_host(self._functions, self._work, self._env, url)
            self._processes.append(host)
            argv += ["--port", str(port), "--lambda-endpoint", host.url]
            argv += ["--function-configs", json.dumps(function_configs(self._functions))]
        else:
            argv += ["--port", "0"]
        process = Process(argv, self._env, self._work / "serve.log")
        self._processes.append(process)
        line = process.first_line()
        if not line.startswith("serving "):
            raise ServiceError(f"expected 'serving URL' first, got {line!r}")
        self.url = line.removeprefix("serving ").strip()
        self.client = lambda_client(self.url)

    def __exit__(self, *exc: object) -> None:
        if self.client is not None:
            self.client.close()
        for process in reversed(self._processes):
            process.stop()

    def start(self, function: Function, payload: Any, *, synchronous: bool) -> str:
        """Start an execution of ``function`` with ``payload``; return its ARN."""
        if self._start_with == "start-durable-execution":
            return _post_start(self.url, function, payload)
        response = self.client.invoke(
            FunctionName=function.name,
            InvocationType="RequestResponse" if synchronous else "Event",
            Qualifier="$LATEST",
            Payload=json.dumps(payload).encode(),
        )
        response["Payload"].read()
        headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        arn = response.get("DurableExecutionArn") or headers.get("x-amz-durable-execution-arn")
        if not arn:
            raise ServiceError(f"Invoke of {function.name} answered without a DurableExecutionArn")
        return str(arn)


def _post_start(url: str, function: Function, payload: Any) -> str:
    body = {
        "AccountId": "123456789012",
        "FunctionName": function.name,
        "FunctionQualifier": "$LATEST",
        "ExecutionName": uuid.uuid4().hex,
        "ExecutionTimeoutSeconds": function.execution_timeout or 300,
        "ExecutionRetentionPeriodDays": 7,
        "Input": json.dumps(payload),
    }
    request = urllib.request.Request(
        f"{url}/start-durable-execution",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        arn = json.loads(answer.read()).get("ExecutionArn")
    if not arn:
        raise ServiceError(f"start-durable-execution of {function.name} returned no ExecutionArn")
    return str(arn)


class DexRunner:
    """``dex-local-runner`` with the handlers behind :mod:`conformance.lambda_host`."""

    label = "dex-local-runner"

    def __init__(
        self,
        functions: Sequence[Function],
        work: Path,
        env: dict[str, str],
        *,
        skip_time: bool = True,
    ) -> None:
        self._functions, self._work, self._env = functions, work, env
        self._skip_time = skip_time
        self._processes: list[Process] = []
        self.url = ""
        self.client: Any = None

    def __enter__(self) -> DexRunner:
        try:
            self._start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _start(self) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        host = start_lambda_host(self._functions, self._work, self._env, self.url)
        self._processes.append(host)
        argv = [
            str(Path(sys.executable).parent / "dex-local-runner"),
            "start-server",
            "--host", "127.0.0.1",
            "--port", str(port),
            "--lambda-endpoint", host.url,
            "--local-runner-endpoint", self.url,
            "--local-runner-region", "us-east-1",
            "--skip-time" if self._skip_time else "--no-skip-time",
            "--log-level", "WARNING",
            "--function-configs", json.dumps(function_configs(self._functions)),
        ]  # fmt: skip
        self._processes.append(Process(argv, self._env, self._work / "dex-local-runner.log"))
        wait_until_up(f"{self.url}/health")
        self.client = lambda_client(self.url)

    def __exit__(self, *exc: object) -> None:
        if self.client is not None:
            self.client.close()
        for process in reversed(self._processes):
            process.stop()

    def start(self, function: Function, payload: Any, *, synchronous: bool) -> str:
        return _post_start(self.url, function, payload)


class Moto:
    """moto's server on a free loopback port, with the Attempts table 3-12 counts in."""

    def __init__(self, work: Path, env: dict[str, str]) -> None:
        self._work, self._env = work, env
        self._process: Process | None = None
        self.url = ""

    def __enter__(self) -> Moto:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        argv = [
            str(Path(sys.executable).parent / "moto_server"),
            "-H",
            "127.0.0.1",
            "-p",
            str(port),
        ]
        self._process = Process(argv, self._env, self._work / "moto.log")
        wait_until_up(f"{self.url}/moto-api/")
        client = boto3.client(
            "dynamodb",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        client.create_table(
            TableName="Attempts",
            KeySchema=[{"AttributeName": "executionId", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "executionId", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        client.close()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.stop()


@contextlib.contextmanager
def nothing() -> Iterator[None]:
    yield
