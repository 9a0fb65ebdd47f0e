"""Every ``durable-async`` command through its installed entry point, on a real SQLite store.

The commands run in a small project folder (``app.py`` imports dataclasses from ``helpers.py``)
with no ``--store``: everything meets in ``.durable/durable.sqlite3`` there, as for a user.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from durable_async.service.local.store import SqliteStore

ENTRY_POINT = str(Path(sys.executable).parent / "durable-async")
CALL_TIMEOUT = 30.0
POLL_TIMEOUT = 20.0
POLL_INTERVAL = 0.02

EXIT_FAILED, EXIT_USAGE, EXIT_TIMED_OUT, EXIT_STOPPED, EXIT_NOT_FOUND = 1, 2, 5, 6, 7
EXIT_TERMINATED = 143

HELPERS = """
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Line:
    sku: str
    cents: int


def total(lines: list[Line]) -> int:
    return sum(line.cents for line in lines)
"""

APP = '''
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from helpers import Line, total

from durable_async import DurableContext, Duration, StepConfig, TypedSerDes, durable_execution


@dataclass
class Quote:
    order_id: str
    cents: int


def _ask(callback_id: str, wctx: Any) -> None:
    """Someone is asked; the answer comes from `durable-async callback`."""


@durable_execution
async def handler(event: dict[str, Any], ctx: DurableContext) -> dict[str, Any]:
    lines = [Line(**line) for line in event["lines"]]
    quote = await ctx.step(
        lambda _: Quote(event["order_id"], total(lines)),
        name="price",
        config=StepConfig(serdes=TypedSerDes(Quote)),
    )
    answer = await ctx.wait_for_callback(_ask, name="approval")
    return {"quote": asdict(quote), "approval": json.loads(answer)}


@durable_execution
async def nap(event: Any, ctx: DurableContext) -> str:
    await ctx.wait(Duration.from_seconds(event["seconds"]), name="nap")
    return "rested"


@durable_execution
async def other(event: Any, ctx: DurableContext) -> str:
    return await ctx.step(lambda _: "other", name="only")
'''

ORDER = {"order_id": "o-1", "lines": [{"sku": "a", "cents": 100}, {"sku": "b", "cents": 250}]}
HINT = "answer it: durable-async callback succeed --execution {} --name approval --payload JSON"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder with app.py and helpers.py, where the commands run."""
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "helpers.py").write_text(HELPERS, encoding="utf-8")
    (folder / "app.py").write_text(APP, encoding="utf-8")
    return folder


@dataclass
class Done:
    """How one finished command ended."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def last_line(self) -> str:
        return self.err.rstrip().splitlines()[-1]


async def call(project: Path, *args: str, stdin: bytes | None = None) -> Done:
    """Run ``durable-async *args`` in ``project`` to its end."""
    process = await asyncio.create_subprocess_exec(
        ENTRY_POINT, *args, cwd=project,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        async with asyncio.timeout(CALL_TIMEOUT):
            out, err = await process.communicate(stdin)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return Done(int(process.returncode or 0), out.decode(), err.decode())


@dataclass
class Background:
    """A command left running, its output in files (a kill leaves no pipe behind)."""

    process: asyncio.subprocess.Process
    stdout: Path
    stderr: Path

    async def wait(self) -> int:
        async with asyncio.timeout(CALL_TIMEOUT):
            return await self.process.wait()

    def err_lines(self) -> list[str]:
        return self.stderr.read_text(encoding="utf-8").splitlines()

    async def until_line(self, line: str) -> None:
        """Wait until stderr has ``line``; fail if the command exits first."""
        async with asyncio.timeout(POLL_TIMEOUT):
            while line not in [text.strip() for text in self.err_lines()]:
                if self.process.returncode is not None:
                    raise AssertionError(f"exited {self.process.returncode}: {self.err_lines()}")
                await asyncio.sleep(POLL_INTERVAL)


Start = Callable[..., Awaitable[Background]]


@pytest.fixture
async def start(project: Path) -> AsyncIterator[Start]:
    """Start commands in the background; any still running at the end is killed."""
    started: list[Background] = []

    async def spawn(*args: str) -> Background:
        out, err = project / f"bg-{len(started)}.out", project / f"bg-{len(started)}.err"
        with out.open("w") as stdout, err.open("w") as stderr:
            process = await asyncio.create_subprocess_exec(
                ENTRY_POINT, *args, cwd=project, stdout=stdout, stderr=stderr
            )
        started.append(Background(process, out, err))
        return started[-1]

    yield spawn
    for background in started:
        if background.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                background.process.kill()
        await background.wait()


async def test_a_callback_answered_by_name_from_another_process_finishes_the_run(
    project: Path, start: Start
) -> None:
    """`callback succeed --execution o-1 --name approval` wakes `run`; list and show read it all."""
    run = await start("run", "app.py:handler", "--input", json.dumps(ORDER), "--name", "o-1")
    await run.until_line(HINT.format("o-1"))

    answered = await call(
        project, "callback", "succeed", "--execution", "o-1", "--name", "approval",
        "--payload", '{"approved": true, "by": "ana"}',
    )  # fmt: skip

    assert (answered.code, answered.err) == (0, "callback approval: SUCCEEDED\n")
    assert await run.wait() == 0, run.err_lines()
    assert json.loads(run.stdout.read_text()) == {
        "quote": {"order_id": "o-1", "cents": 350},
        "approval": {"approved": True, "by": "ana"},
    }
    assert (project / ".durable" / "durable.sqlite3").is_file()

    listed = (await call(project, "list", "--json")).json()
    assert [(e["DurableExecutionName"], e["Status"]) for e in listed] == [("o-1", "SUCCEEDED")]
    assert listed[0]["FunctionName"].startswith("app-handler-")
    assert listed[0]["DurationMs"] >= 0
    assert (await call(project, "list", "--status", "running", "--json")).json() == []
    by_file = await call(project, "list", "--function", "app.py:handler", "--json")
    assert [e["DurableExecutionName"] for e in by_file.json()] == ["o-1"]
    by_prefix = await call(project, "list", "--function", "app-handler", "--json")
    assert by_prefix.json() == by_file.json()
    assert (await call(project, "list", "--function", "app.py:nap", "--json")).json() == []

    shown = (await call(project, "show", "o-1", "--json")).json()
    assert shown["Status"] == "SUCCEEDED"
    assert shown["InputPayload"] == ORDER
    assert shown["Result"]["approval"] == {"approved": True, "by": "ana"}
    operations = {op["Name"]: op for op in shown["Operations"]}
    assert json.loads(operations["price"]["StepDetails"]["Result"]) == {
        "order_id": "o-1",
        "cents": 350,
    }
    assert operations["approval"]["SubType"] == "WaitForCallback"
    callback = operations["approval create callback id"]
    assert callback["ParentId"] == operations["approval"]["Id"]

    events = (await call(project, "show", "o-1", "--events", "--json")).json()["Events"]
    assert [e["EventId"] for e in events] == list(range(1, len(events) + 1))
    succeeded = [e for e in events if e["EventType"] == "CallbackSucceeded"]
    assert succeeded[0]["CallbackSucceededDetails"]["Result"]["Payload"] == (
        '{"approved": true, "by": "ana"}'
    )


async def test_show_draws_the_operations_as_a_tree_with_previews(project: Path) -> None:
    """`show` (not a terminal) prints a header and aligned rows: the callback under its wait."""
    ran = await call(
        project, "run", "app.py:handler", "--input", json.dumps(ORDER), "--name", "o-2",
        "--timeout", "1",
    )  # fmt: skip
    assert ran.code == 3, ran.err  # gave up waiting; the execution stays RUNNING in the store

    shown = await call(project, "show", "o-2")

    assert shown.code == 0, shown.err
    lines = shown.out.splitlines()
    assert lines[0].split() == ["o-2", "RUNNING", lines[0].split()[2]]
    assert lines[0].split()[2].startswith("app-handler-")
    rows = {
        line.split("  ")[0].strip(): line for line in lines if "  Step  " in line or "Wait" in line
    }
    assert rows["price"].split()[1:4] == ["Step", "SUCCEEDED", "1"]
    assert rows["price"].endswith('{"order_id": "o-1", "cents": 350}')
    assert "├─ approval create callback id" in shown.out
    assert "└─ approval submitter" in shown.out
    assert lines[-1] == (
        "waiting for callback approval: durable-async callback succeed --execution o-2 "
        "--name approval --payload JSON"
    )


async def test_run_json_prints_the_execution_for_programs(project: Path) -> None:
    """`run --json` prints the execution's name, status and decoded result as one JSON object."""
    done = await call(
        project, "run", "app.py:nap", "--input", '{"seconds": 30}', "--skip-time", "--json",
        "--name", "n-1", "--progress", "off",
    )  # fmt: skip

    assert done.code == 0, done.err
    outcome = done.json()
    assert outcome["DurableExecutionName"] == "n-1"
    assert (outcome["Status"], outcome["Result"], outcome["Error"]) == ("SUCCEEDED", "rested", None)
    assert outcome["EndTimestamp"] - outcome["StartTimestamp"] >= 30_000  # skipped, not slept
    assert done.err.splitlines()[-1].endswith(
        "/n-1/" + outcome["DurableExecutionArn"][-32:] + ": SUCCEEDED"
    )


async def test_stop_ends_a_waiting_run_which_exits_6(project: Path, start: Start) -> None:
    """`stop NAME` ends a running execution STOPPED; its run exits 6; stopping again exits 7."""
    run = await start("run", "app.py:handler", "--input", json.dumps(ORDER), "--name", "s-1")
    await run.until_line(HINT.format("s-1"))

    stopped = await call(project, "stop", "s-1", "--reason", "no longer needed", "--json")

    assert stopped.code == 0, stopped.err
    assert stopped.json()["Status"] == "STOPPED"
    assert isinstance(stopped.json()["StopTimestamp"], int)
    assert await run.wait() == EXIT_STOPPED, run.err_lines()
    assert run.err_lines()[-1].endswith(": STOPPED")
    assert json.loads(run.stdout.read_text())["ErrorMessage"] == "no longer needed"

    again = await call(project, "stop", "s-1")
    assert (again.code, again.last_line()) == (
        EXIT_NOT_FOUND,
        "durable-async: execution s-1 already ended STOPPED.",
    )


async def test_an_execution_past_its_execution_timeout_exits_5(project: Path) -> None:
    """A wait longer than --execution-timeout ends the execution TIMED_OUT: exit 5."""
    done = await call(
        project, "run", "app.py:nap", "--input", '{"seconds": 3600}', "--skip-time",
        "--execution-timeout", "60",
    )  # fmt: skip

    assert done.code == EXIT_TIMED_OUT, done.err
    assert done.last_line().endswith(": TIMED_OUT")


async def test_sigterm_prints_the_resume_hint_and_the_same_name_resumes(
    project: Path, start: Start
) -> None:
    """SIGTERM during a wait exits 143 with the resume hint; the same --name then finishes."""
    args = ("run", "app.py:nap", "--input", '{"seconds": 2}', "--name", "t-1")
    first = await start(*args)
    async with asyncio.timeout(POLL_TIMEOUT):
        while not any(line.split()[1:4] == ["wait", "started", "nap"] for line in _lines(first)):
            assert first.process.returncode is None, first.err_lines()
            await asyncio.sleep(POLL_INTERVAL)

    first.process.send_signal(signal.SIGTERM)

    assert await first.wait() == EXIT_TERMINATED
    assert first.err_lines()[-1] == (
        "durable-async: terminated; run again with --name t-1 to resume the execution"
    )
    resumed = await call(project, *args)
    assert resumed.code == 0, resumed.err
    assert resumed.json() == "rested"
    listed = (await call(project, "list", "--json")).json()
    assert [(e["DurableExecutionName"], e["Status"]) for e in listed] == [("t-1", "SUCCEEDED")]


def _lines(background: Background) -> list[str]:
    return [line for line in background.err_lines() if len(line.split()) >= 4]


def _waiting_project(folder: Path) -> Path:
    """Make a project whose store holds o-9, RUNNING and waiting for its approval callback."""
    folder.mkdir()
    (folder / "helpers.py").write_text(HELPERS, encoding="utf-8")
    (folder / "app.py").write_text(APP, encoding="utf-8")
    ran = subprocess.run(
        [ENTRY_POINT, "run", "app.py:handler", "--input", json.dumps(ORDER), "--name", "o-9",
         "--timeout", "1", "--progress", "off"],
        cwd=folder, capture_output=True, text=True, timeout=CALL_TIMEOUT, check=False,
    )  # fmt: skip
    assert ran.returncode == 3, ran.stderr  # gave up waiting; o-9 stays RUNNING in the store
    return folder


@pytest.fixture
def waiting(tmp_path: Path) -> Path:
    """A project with o-9 waiting for its callback, for a test that answers it."""
    return _waiting_project(tmp_path / "waiting")


@pytest.fixture(scope="module")
def refusing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One project with o-9 waiting, shared by tests that only get refusals (nothing changes)."""
    return _waiting_project(tmp_path_factory.mktemp("refusing") / "project")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        pytest.param(
            ("callback", "succeed", "--execution", "o-9", "--name", "nope"),
            EXIT_NOT_FOUND,
            "execution o-9 has no callback named 'nope'. Its callbacks: approval.",
            id="unknown-callback",
        ),
        pytest.param(
            ("callback", "succeed", "--execution", "nobody", "--name", "approval"),
            EXIT_NOT_FOUND,
            "no execution named 'nobody' in this store; `durable-async list` shows them.",
            id="unknown-execution",
        ),
        pytest.param(
            ("callback", "succeed", "some-id", "--execution", "o-9", "--name", "approval"),
            EXIT_USAGE,
            "name the callback by its id or by --execution and --name, not both.",
            id="id-and-name",
        ),
        pytest.param(
            ("callback", "succeed", "--name", "approval"),
            EXIT_USAGE,
            "name the callback: its CALLBACK_ID, or --execution NAME|ARN and --name CALLBACK_NAME.",
            id="no-execution",
        ),
        pytest.param(
            ("callback", "succeed", "--execution", "o-9", "--name", "approval", "--payload", "{"),
            EXIT_USAGE,
            "--payload is not valid JSON: Expecting property name enclosed in double quotes: "
            "line 1 column 2 (char 1)",
            id="bad-json",
        ),
        pytest.param(
            ("callback", "succeed", "--execution", "o-9", "--name", "approval", "--payload", "@no"),
            EXIT_USAGE,
            "--payload: cannot read no: No such file or directory",
            id="missing-file",
        ),
        pytest.param(
            ("callback", "fail", "--execution", "o-9", "--name", "approval", "--payload", "[1]"),
            EXIT_USAGE,
            '--payload of `callback fail` is an error object, e.g. {"ErrorType": "Rejected", '
            '"ErrorMessage": "not approved"}.',
            id="fail-not-an-object",
        ),
        pytest.param(
            ("callback", "heartbeat", "--execution", "o-9", "--name", "approval", "--payload", "1"),
            EXIT_USAGE,
            "Error: unrecognized arguments: --payload",
            id="heartbeat-payload",
        ),
        pytest.param(
            ("callback", "succeed", "WyJ4Il0=", "--payload", "1"),
            EXIT_NOT_FOUND,
            None,
            id="forged-id",
        ),
        pytest.param(
            ("callback", "succeed", "--store", "memory", "--execution", "o-9", "--name", "a"),
            EXIT_USAGE,
            "--store memory holds nothing once its run ends; name the SQLite file the run used.",
            id="memory-store",
        ),
        pytest.param(
            ("show", "o-9", "--store", "elsewhere.sqlite3"),
            EXIT_NOT_FOUND,
            "no store at elsewhere.sqlite3: nothing has run here yet. Run this command in the "
            "folder where `durable-async run` ran, or pass --store PATH.",
            id="no-store",
        ),
        pytest.param(("show", "nobody"), EXIT_NOT_FOUND, None, id="show-unknown"),
        pytest.param(("stop", "arn:aws:lambda:nowhere"), EXIT_NOT_FOUND, None, id="stop-bad-arn"),
        pytest.param(("list", "--status", "DONE"), EXIT_USAGE, None, id="bad-status"),
        pytest.param(
            ("list", "--frobnicate"),
            EXIT_USAGE,
            "Error: unrecognized arguments: --frobnicate",
            id="unknown-flag",
        ),
        pytest.param(
            ("list", "--limt", "3"),
            EXIT_USAGE,
            "Error: unrecognized arguments: --limt (did you mean --limit?)",
            id="typo-flag",
        ),
        pytest.param(("frobnicate",), EXIT_USAGE, None, id="unknown-command"),
    ],
)
async def test_a_callback_or_lookup_that_cannot_be_done_names_why(
    refusing: Path, args: tuple[str, ...], code: int, message: str | None
) -> None:
    """Each refusal exits 2 (usage) or 7 (not found or over) with one line saying what to do."""
    done = await call(refusing, *args)

    assert done.code == code, done.err
    assert "Traceback" not in done.err
    assert done.out == ""
    if message is not None and message.startswith("Error: "):  # click's usage errors
        assert done.err.splitlines()[-1] == message
        assert done.err.startswith("Usage: durable-async ")
    elif message is not None:
        assert done.err.splitlines() == [f"durable-async: {message}"]


async def test_callbacks_by_id_heartbeat_and_failure_reach_the_execution(waiting: Path) -> None:
    """Heartbeat and fail by name, succeed by id from @file: each once, then it is over (7)."""
    beat = await call(waiting, "callback", "heartbeat", "--execution", "o-9", "--name", "approval")
    assert (beat.code, beat.err) == (0, "callback approval: HEARTBEAT\n")

    shown = (await call(waiting, "show", "o-9", "--json")).json()
    callback_id = next(
        op["CallbackDetails"]["CallbackId"]
        for op in shown["Operations"]
        if op["Type"] == "CALLBACK"
    )
    (waiting / "answer.json").write_text('{"approved": false}\n', encoding="utf-8")
    answered = await call(
        waiting, "callback", "fail", callback_id, "--error-type", "Rejected",
        "--error-message", "not approved", "--json",
    )  # fmt: skip
    assert answered.code == 0, answered.err
    assert answered.json() == {"CallbackId": callback_id, "Action": "FAILED"}

    again = await call(
        waiting, "callback", "succeed", "--execution", "o-9", "--name", "approval",
        "--payload", "@answer.json",
    )  # fmt: skip
    assert (again.code, again.last_line()) == (
        EXIT_NOT_FOUND,
        "durable-async: callback 'approval' of o-9 already ended FAILED.",
    )
    resumed = await call(waiting, "run", "app.py:handler", "--name", "o-9", "--progress", "off")
    assert resumed.code == EXIT_FAILED, resumed.err
    assert resumed.json() == {
        "ErrorType": "durable_async.exceptions.CallbackExternalError",
        "ErrorMessage": "not approved",
    }


async def test_a_payload_from_stdin_answers_by_id(waiting: Path) -> None:
    """`--payload @-` reads the answer from stdin; the resumed run returns it."""
    shown = (await call(waiting, "show", "o-9", "--json")).json()
    callback_id = next(
        op["CallbackDetails"]["CallbackId"]
        for op in shown["Operations"]
        if op["Type"] == "CALLBACK"
    )

    answered = await call(
        waiting, "callback", "succeed", callback_id, "--payload", "@-", stdin=b'{"approved": 1}'
    )

    assert answered.code == 0, answered.err
    resumed = await call(waiting, "run", "app.py:handler", "--name", "o-9", "--progress", "off")
    assert resumed.code == 0, resumed.err
    assert resumed.json()["approval"] == {"approved": 1}


async def test_a_name_two_functions_share_needs_the_arn(project: Path) -> None:
    """Two functions' executions named alike: show by name lists both ARNs; by ARN it works."""
    for target in ("app.py:other", "app.py:nap"):
        done = await call(
            project, "run", target, "--input", '{"seconds": 1}', "--name", "dup", "--skip-time"
        )
        assert done.code == 0, done.err

    ambiguous = await call(project, "show", "dup")

    assert ambiguous.code == EXIT_USAGE
    arns = [line.strip() for line in ambiguous.err.splitlines()[1:]]
    assert ambiguous.err.splitlines()[0] == (
        "durable-async: 2 executions are named 'dup' (one per function); pass the ARN of one:"
    )
    assert len(arns) == 2
    assert all(arn.startswith("arn:aws:lambda:") for arn in arns)
    by_arn = await call(project, "show", arns[0], "--json")
    assert by_arn.code == 0, by_arn.err
    assert by_arn.json()["DurableExecutionArn"] == arns[0]


async def test_list_of_an_empty_folder_is_empty_and_creates_no_store(project: Path) -> None:
    """`list` where nothing ran prints [] (--json) or a note, and leaves no store behind."""
    as_json = await call(project, "list", "--json")
    plain = await call(project, "list")

    assert (as_json.code, as_json.json()) == (0, [])
    assert (plain.code, plain.out, plain.err) == (0, "", "no executions\n")
    assert not (project / ".durable").exists()


@pytest.mark.parametrize(
    ("command", "words"),
    [
        pytest.param(
            (), ["run", "list", "show", "callback", "stop", "serve", "Exit status"], id="top"
        ),
        pytest.param(("run",), ["--progress", "--port", "--execution-timeout", "143"], id="run"),
        pytest.param(("list",), ["--status", "--function", "--limit", "--json"], id="list"),
        pytest.param(("show",), ["--events", "--json", "EXECUTION"], id="show"),
        pytest.param(("callback", "succeed"), ["--execution", "--name", "--payload"], id="cb"),
        pytest.param(("stop",), ["--reason", "--json"], id="stop"),
        pytest.param(
            ("serve",), ["--function-configs", "--lambda-endpoint", "--skip-time"], id="s"
        ),
        pytest.param(("port",), ["--write"], id="port"),
    ],
)
async def test_help_describes_each_command(
    project: Path, command: tuple[str, ...], words: list[str]
) -> None:
    """`--help` of each command exits 0 and names its flags."""
    done = await call(project, *command, "--help")

    assert done.code == 0, done.err
    for word in words:
        assert word in done.out


async def _opened_with(db: Path, pid: int) -> list[str]:
    """Return the durabilities the process ``pid`` opened the store ``db`` with."""
    async with SqliteStore(db) as store:
        return [row["durability"] for row in await store.openers() if row["pid"] == pid]


async def test_writing_commands_open_the_store_with_the_durability_asked_for(
    project: Path, start: Start
) -> None:
    """run, callback, stop and serve pass --durability to the store; without it, full."""
    db = project / ".durable" / "durable.sqlite3"
    run = await start(
        "run", "app.py:handler", "--input", json.dumps(ORDER), "--name", "d-1",
        "--durability", "normal",
    )  # fmt: skip
    await run.until_line(HINT.format("d-1"))
    assert await _opened_with(db, run.process.pid) == ["normal"]

    beat = await _call_with_pid(
        project, "callback", "heartbeat", "--execution", "d-1", "--name", "approval",
        "--durability", "normal",
    )  # fmt: skip
    stopped = await _call_with_pid(project, "stop", "d-1")
    assert await run.wait() == EXIT_STOPPED
    assert await _opened_with(db, beat) == ["normal"]
    assert await _opened_with(db, stopped) == ["full"]

    serve = await start("serve", "--port", "0", "--durability", "normal")
    async with asyncio.timeout(POLL_TIMEOUT):
        while not serve.stdout.read_text().startswith("serving http://127.0.0.1:"):
            assert serve.process.returncode is None, serve.err_lines()
            await asyncio.sleep(POLL_INTERVAL)
    assert await _opened_with(db, serve.process.pid) == ["normal"]
    serve.process.send_signal(signal.SIGTERM)
    assert await serve.wait() == 0, serve.err_lines()
    refused = await call(project, "run", "app.py:nap", "--durability", "fsync")
    assert refused.code == EXIT_USAGE
    assert "'fsync' is not one of 'full', 'normal'" in refused.err


async def _call_with_pid(project: Path, *args: str) -> int:
    """Run a command to its end with exit 0; return its pid."""
    process = await asyncio.create_subprocess_exec(
        ENTRY_POINT, *args, cwd=project,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(CALL_TIMEOUT):
        _, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return process.pid


@pytest.mark.parametrize(
    ("mode", "table_headers", "event_lines"),
    [
        pytest.param("table", 1, [], id="table-off-a-terminal-prints-the-last-one"),
        pytest.param(
            "lines",
            0,
            [
                ["execution", "started"],
                ["wait", "started"],
                ["invocation", "ended"],
                ["wait", "succeeded"],
                ["invocation", "ended"],
                ["execution", "succeeded"],
            ],
            id="lines",
        ),
        pytest.param("off", 0, [], id="off"),
    ],
)
async def test_progress_modes_off_a_terminal(
    project: Path, mode: str, table_headers: int, event_lines: list[list[str]]
) -> None:
    """--progress picks the view; the status line stays last on stderr, stdout the result."""
    done = await call(
        project, "run", "app.py:nap", "--input", '{"seconds": 5}', "--skip-time",
        "--progress", mode,
    )  # fmt: skip

    assert done.code == 0, done.err
    assert done.json() == "rested"
    lines = done.err.splitlines()
    assert lines[0].startswith("durable-async: local service at http://127.0.0.1:")
    assert lines[-1].endswith(": SUCCEEDED")
    assert sum(line.split()[:1] == ["OPERATION"] for line in lines) == table_headers
    events = [line for line in lines if re.match(r"\d\d:\d\d:\d\d\.\d{3}  ", line)]
    assert [line.split()[1:3] for line in events] == event_lines
