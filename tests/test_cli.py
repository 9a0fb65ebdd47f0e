"""The ``durable-async`` command line, run as a real subprocess on a real SQLite file.

The crash tests SIGKILL the CLI at chosen points and run it again with the same ``--name``:
the execution resumes from its last persisted checkpoint. They read the store in-process
through the engine API while the subprocess owns it (SQLite WAL allows concurrent readers).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from durable_async.cli import function_name
from durable_async.service.local.engine import LocalDurableService
from durable_async.service.local.store import SqliteStore

REPO = Path(__file__).resolve().parents[1]
HANDLERS = Path(__file__).resolve().parent / "cli_handlers"
CLI = (sys.executable, "-m", "durable_async.cli", "run")
ORDER = '{"order_id": "o-1", "cents": 500}'
RUN_TIMEOUT = 20.0  # bound on one CLI run that is expected to finish
POLL_TIMEOUT = 10.0  # bound on waiting for a running CLI to reach a point
POLL_INTERVAL = 0.01
WAIT_SECONDS = 2  # the resumable handler's wait, on the real clock


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``durable-async run *args`` from the repo root and return how it ended."""
    return subprocess.run(
        [*CLI, *args], cwd=REPO, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False
    )


def handler_target(file: str, attribute: str) -> str:
    return f"{HANDLERS / file}:{attribute}"


def handler_function(file: str, attribute: str) -> str:
    """Return the function name the CLI gives ``tests/cli_handlers/<file>:<attribute>``."""
    return function_name(HANDLERS / file, attribute)


ORDERS_FUNCTION = function_name(REPO / "examples" / "orders.py", "handler")


def named_run(target: str, event: dict[str, Any], name: str, db: Path) -> tuple[str, ...]:
    """Return the arguments that run (or resume) execution ``name`` of ``target`` in ``db``."""
    return (target, "--input", json.dumps(event), "--name", name, "--store", str(db))


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


@dataclass
class Cli:
    """One CLI subprocess whose output goes to files, so killing it leaves no pipe behind."""

    process: asyncio.subprocess.Process
    stdout: Path
    stderr: Path

    async def wait(self) -> int:
        async with asyncio.timeout(RUN_TIMEOUT):
            return await self.process.wait()

    async def kill(self) -> None:
        self.process.kill()
        assert await self.wait() == -9

    def output(self) -> Any:
        return json.loads(self.stdout.read_text(encoding="utf-8"))

    def status_line(self) -> str:
        """Return the last stderr line: ``<ARN>: <STATUS>``."""
        return self.stderr.read_text(encoding="utf-8").splitlines()[-1]

    def check_alive(self) -> None:
        if self.process.returncode is not None:
            raise AssertionError(
                f"the CLI exited early with {self.process.returncode}: "
                f"{self.stderr.read_text(encoding='utf-8')}"
            )


Spawn = Callable[..., Awaitable[Cli]]


@pytest.fixture
async def spawn(tmp_path: Path) -> AsyncIterator[Spawn]:
    """Start CLI subprocesses; every one still running at teardown is killed and reaped."""
    started: list[Cli] = []

    async def start(*args: str) -> Cli:
        index = len(started)
        stdout, stderr = tmp_path / f"cli-{index}.out", tmp_path / f"cli-{index}.err"
        with stdout.open("w") as out, stderr.open("w") as err:
            process = await asyncio.create_subprocess_exec(
                *CLI, *args, cwd=REPO, stdout=out, stderr=err
            )
        started.append(Cli(process, stdout, stderr))
        return started[-1]

    yield start
    for cli in started:
        if cli.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                cli.process.kill()
        await cli.wait()


async def wait_until(cli: Cli, what: str, condition: Callable[[], Awaitable[bool]]) -> None:
    """Poll ``condition`` while ``cli`` runs; fail if it exits first or time runs out."""
    try:
        async with asyncio.timeout(POLL_TIMEOUT):
            while not await condition():
                cli.check_alive()
                await asyncio.sleep(POLL_INTERVAL)
    except TimeoutError:
        raise AssertionError(f"timed out waiting until {what}") from None


@dataclass
class StoreView:
    """Read-only questions about one named execution, asked through the engine API."""

    service: LocalDurableService
    function_name: str
    name: str

    async def arn(self) -> str | None:
        return await self.service.find_execution(self.function_name, self.name)

    async def operation(self, op_name: str) -> dict[str, Any] | None:
        arn = await self.arn()
        if arn is None:
            return None
        ops = [op for op in await self.service.list_operations(arn) if op.get("Name") == op_name]
        return ops[0] if ops else None

    async def status(self, op_name: str) -> str | None:
        op = await self.operation(op_name)
        return None if op is None else str(op["Status"])


@contextlib.asynccontextmanager
async def view(db: Path, function_name: str, name: str) -> AsyncIterator[StoreView]:
    async with SqliteStore(db) as store:
        yield StoreView(LocalDurableService(store), function_name, name)


def test_run_prints_the_result_of_the_example_order() -> None:
    """`run examples/orders.py:handler` exits 0 and prints the order's JSON result."""
    completed = run_cli(
        "examples/orders.py:handler", "--input", ORDER, "--skip-time", "--store", "memory"
    )

    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == {
        "stock": {"order_id": "o-1", "sku": "sku-1", "reserved": True},
        "label": "label-o-1",
        "receipt": {"order_id": "o-1", "charged": 500, "attempt": 1},
        "shipment": {"order_id": "o-1", "shipped": True},
    }
    assert f":function:{ORDERS_FUNCTION}:" in completed.stderr
    assert completed.stderr.rstrip().endswith(": SUCCEEDED")


async def test_run_records_the_execution_in_the_sqlite_store(tmp_path: Path, spawn: Spawn) -> None:
    """With --store FILE the finished execution and its operations are in that SQLite file."""
    db = tmp_path / "nested" / "durable.sqlite3"
    args = ("examples/orders.py:handler", "--input", ORDER, "--skip-time", "--store", str(db))

    cli = await spawn(*args, "--name", "order-o-1")

    assert await cli.wait() == 0, cli.stderr.read_text()
    async with view(db, ORDERS_FUNCTION, "order-o-1") as store:
        arn = await store.arn()
        assert arn is not None
        url_line, *progress, status_line = cli.stderr.read_text().splitlines()
        assert url_line.startswith("durable-async: local service at http://127.0.0.1:")
        assert status_line == f"{arn}: SUCCEEDED"
        # Not a terminal: one progress line per history event, each step's in order.
        steps: dict[str, list[str]] = {}
        for line in progress:
            if line.split()[1] == "step":
                steps.setdefault(line.split()[3], []).append(line.split()[2])
        names = ["reserve", "print-label", "charge", "ship"]
        assert steps == {name: ["started", "succeeded"] for name in names}
        execution = await store.service.describe_execution(arn)
        assert json.loads(execution["Result"]) == cli.output()
        assert await store.status("cool-off") == "SUCCEEDED"
        assert await store.status("ship") == "SUCCEEDED"


@pytest.mark.parametrize(
    ("target", "extra", "message"),
    [
        pytest.param(
            "examples/orders.py",
            (),
            "durable-async: expected FILE.py:ATTR or package.module:ATTR, got "
            "'examples/orders.py'; name the file or module, a colon, and the handler's name in it.",
            id="no-handler",
        ),
        pytest.param(
            "examples/no_such_file.py:handler",
            (),
            "durable-async: no such file: examples/no_such_file.py",
            id="missing-file",
        ),
        pytest.param(
            "examples/orders.py:reserve",
            (),
            "durable-async: examples/orders.py:reserve is not a durable handler; "
            "decorate it with @durable_execution.",
            id="a-step-not-a-handler",
        ),
        pytest.param(
            "examples/orders.py:no_such_attribute",
            (),
            "durable-async: examples/orders.py:no_such_attribute: module 'orders' has no "
            "attribute 'no_such_attribute'.",
            id="missing-attribute",
        ),
        pytest.param(
            "examples/orders.py:handler",
            ("--input", '{"order_id": '),
            "durable-async: --input is not valid JSON: Expecting value: line 1 column 14 (char 13)",
            id="invalid-input-json",
        ),
        pytest.param(
            "examples/orders.py:handler",
            ("--name", "bad name"),
            "durable-async: --name 'bad name' is not a valid name; use 1 to 64 letters, digits, "
            "'-' or '_'.",
            id="invalid-name",
        ),
    ],
)
def test_bad_usage_exits_2_with_a_one_line_message(
    target: str, extra: tuple[str, ...], message: str
) -> None:
    """A bad target or --input exits 2 with one line on stderr naming the problem, no traceback."""
    completed = run_cli(target, *extra, "--store", "memory")

    assert completed.returncode == 2
    assert completed.stderr.splitlines() == [message]
    assert completed.stdout == ""


def test_a_failing_handler_exits_1_and_prints_the_error(tmp_path: Path) -> None:
    """A handler that raises ends the execution FAILED: exit 1 and the error JSON on stdout."""
    completed = run_cli(
        handler_target("failing.py", "handler"),
        "--input",
        '{"order_id": "o-9"}',
        "--store",
        str(tmp_path / "durable.sqlite3"),
    )

    assert completed.returncode == 1
    assert json.loads(completed.stdout) == {
        "ErrorType": "failing.OrderRejectedError",
        "ErrorMessage": "order o-9 has no items",
    }
    assert f":function:{handler_function('failing.py', 'handler')}:" in completed.stderr
    assert completed.stderr.rstrip().endswith(": FAILED")
    assert "Traceback" not in completed.stderr


async def test_killed_during_a_wait_resumes_without_repeating_the_done_step(
    tmp_path: Path, spawn: Spawn
) -> None:
    """SIGKILL during a real-clock wait; the same --name resumes it and runs each step once."""
    db, log = tmp_path / "durable.sqlite3", tmp_path / "side-effects.txt"
    event = {"log": str(log), "wait_seconds": WAIT_SECONDS}
    args = named_run(handler_target("resumable.py", "handler"), event, "resume-me", db)

    first = await spawn(*args)
    await wait_until(first, "step 1 wrote its line", has_lines(log, 1))
    async with view(db, handler_function("resumable.py", "handler"), "resume-me") as store:
        await wait_until(first, "the wait is persisted", op_status(store, "pause", "STARTED"))
        assert await store.status("first") == "SUCCEEDED"
        await first.kill()
        arn = await store.arn()
        assert arn is not None
        assert (await store.service.describe_execution(arn))["Status"] == "RUNNING"
        assert lines(log) == ["step-1"]

        second = await spawn(*args)
        assert await second.wait() == 0, second.stderr.read_text()
        assert second.status_line() == f"{arn}: SUCCEEDED"
        assert second.output() == {"first": "step-1", "second": "step-2"}
        assert lines(log) == ["step-1", "step-2"]
        assert await store.status("pause") == "SUCCEEDED"
        invocations = await store.service.invocations(arn)
        checkpoints = await store.service.checkpoint_calls(arn)

        third = await spawn(*args)
        assert await third.wait() == 0, third.stderr.read_text()
        assert third.status_line() == f"{arn}: SUCCEEDED"
        assert third.output() == {"first": "step-1", "second": "step-2"}
        assert lines(log) == ["step-1", "step-2"]
        assert await store.service.invocations(arn) == invocations
        assert await store.service.checkpoint_calls(arn) == checkpoints
        assert len(await store.service.list_executions(store.function_name)) == 1


async def test_interrupted_by_ctrl_c_during_a_wait_resumes_with_the_same_name(
    tmp_path: Path, spawn: Spawn
) -> None:
    """SIGINT (Ctrl-C) during a wait stops the CLI; the same --name then finishes the execution."""
    db, log = tmp_path / "durable.sqlite3", tmp_path / "side-effects.txt"
    event = {"log": str(log), "wait_seconds": WAIT_SECONDS}
    args = named_run(handler_target("resumable.py", "handler"), event, "ctrl-c", db)

    first = await spawn(*args)
    await wait_until(first, "step 1 wrote its line", has_lines(log, 1))
    async with view(db, handler_function("resumable.py", "handler"), "ctrl-c") as store:
        await wait_until(first, "the wait is persisted", op_status(store, "pause", "STARTED"))
        first.process.send_signal(signal.SIGINT)
        assert await first.wait() == 130
        assert first.stderr.read_text().splitlines()[-1] == (
            "durable-async: interrupted; run again with --name ctrl-c to resume the execution"
        )
        arn = await store.arn()
        assert arn is not None
        assert (await store.service.describe_execution(arn))["Status"] == "RUNNING"

        second = await spawn(*args)
        assert await second.wait() == 0, second.stderr.read_text()
        assert second.status_line() == f"{arn}: SUCCEEDED"
        assert second.output() == {"first": "step-1", "second": "step-2"}
        assert lines(log) == ["step-1", "step-2"]


async def test_killed_mid_step_at_least_once_runs_the_step_body_again(
    tmp_path: Path, spawn: Spawn
) -> None:
    """SIGKILL inside an at-least-once step's body: resuming runs the body again (at least once)."""
    db, log = tmp_path / "durable.sqlite3", tmp_path / "side-effects.txt"
    target = handler_target("interrupted.py", "at_least_once")
    args = named_run(target, {"log": str(log)}, "once-or-more", db)

    first = await spawn(*args)
    # Killed as soon as the side effect shows: START is queued without waiting, so it may or
    # may not have been persisted; SUCCEED certainly was not (the body has not returned).
    await wait_until(first, "the step body wrote its line", has_lines(log, 1))
    await first.kill()
    function = handler_function("interrupted.py", "at_least_once")
    async with view(db, function, "once-or-more") as store:
        assert await store.status("charge") in (None, "STARTED")

        second = await spawn(*args)
        assert await second.wait() == 0, second.stderr.read_text()
        assert second.status_line() == f"{await store.arn()}: SUCCEEDED"
        assert second.output() == {"runs": 2}
        assert len(lines(log)) == 2
        assert await store.status("charge") == "SUCCEEDED"


async def test_killed_mid_step_at_most_once_fails_instead_of_running_the_body_again(
    tmp_path: Path, spawn: Spawn
) -> None:
    """SIGKILL inside an at-most-once step: resume hands it to RetryPresets.none(), StepError."""
    db, log = tmp_path / "durable.sqlite3", tmp_path / "side-effects.txt"
    target = handler_target("interrupted.py", "at_most_once")
    args = named_run(target, {"log": str(log)}, "once-at-most", db)

    first = await spawn(*args)
    await wait_until(first, "the step body wrote its line", has_lines(log, 1))
    function = handler_function("interrupted.py", "at_most_once")
    async with view(db, function, "once-at-most") as store:
        # At-most-once awaits START's persistence before the body runs, so it is there now.
        assert await store.status("charge") == "STARTED"
        await first.kill()

        second = await spawn(*args)
        assert await second.wait() == 1, second.stderr.read_text()
        assert second.status_line() == f"{await store.arn()}: FAILED"
        assert second.output() == {
            "ErrorType": "durable_async.exceptions.StepError",
            "ErrorMessage": "Step charge was interrupted before its outcome was recorded; "
            "at-most-once semantics hand it to the retry strategy.",
        }
        assert lines(log) == ["charged attempt=1"]
        step = await store.operation("charge")
        assert step is not None
        assert step["Status"] == "FAILED"
        error = step["StepDetails"]["Error"]
        assert error["ErrorType"] == "durable_async.exceptions.StepInterruptedError"


def has_lines(path: Path, count: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return len(lines(path)) >= count

    return check


def op_status(store: StoreView, op_name: str, status: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await store.status(op_name) == status

    return check
