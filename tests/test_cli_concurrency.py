"""Several processes on one SQLite store: one driver per execution, and wake-ups from outside.

Real ``durable-async run`` subprocesses on a real file: pairs racing for one ``--name``, a
holder killed with SIGKILL, and a callback answered by another process.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from tests.test_cli import (
    Cli,
    Spawn,
    handler_function,
    handler_target,
    has_lines,
    lines,
    named_run,
    op_status,
    spawn,
    view,
    wait_until,
)

__all__ = ["spawn"]  # the fixture, shared with test_cli

PAIRS = 5
EXIT_LEASED = 4
RACE_WAIT_SECONDS = 1  # a durable wait: the lease is held across the suspension too
STEPS = ["one", "two", "three"]


async def test_two_runs_of_one_name_at_once_never_fail_or_repeat_a_step(
    tmp_path: Path, spawn: Spawn
) -> None:
    """Pairs start together on one store: one finishes, the other exits 4 naming it; no reruns.

    The process that runs the execution waits at a gate step until the other has exited, so
    however slowly the machine starts the second one, it finds the first still running.
    """
    db = tmp_path / "durable.sqlite3"
    target = handler_target("race.py", "handler")
    pairs: list[tuple[str, Path, Path, Cli, Cli]] = []
    for index in range(PAIRS):
        name, log, gate = f"race-{index}", tmp_path / f"steps-{index}.txt", tmp_path / f"go-{index}"
        event = {"log": str(log), "wait_seconds": RACE_WAIT_SECONDS, "gate": str(gate)}
        args = named_run(target, event, name, db)
        pairs.append((name, log, gate, await spawn(*args), await spawn(*args)))

    function = handler_function("race.py", "handler")
    for name, log, gate, first, second in pairs:
        waits = {asyncio.ensure_future(cli.wait()): cli for cli in (first, second)}
        done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        loser = waits[done.pop()]
        winner = second if loser is first else first
        assert loser.process.returncode == EXIT_LEASED, loser.stderr.read_text()
        gate.touch()
        assert await winner.wait() == 0, winner.stderr.read_text()
        assert winner.output() == STEPS
        message = loser.stderr.read_text(encoding="utf-8").splitlines()[-1]
        assert message.startswith("durable-async: Execution arn:aws:lambda:")
        assert f"is being run by process {winner.process.pid} on " in message
        assert "Traceback" not in loser.stderr.read_text(encoding="utf-8")
        assert loser.stdout.read_text(encoding="utf-8") == ""
        assert lines(log) == STEPS
        async with view(db, function, name) as store:
            arn = await store.arn()
            assert arn is not None
            assert (await store.service.describe_execution(arn))["Status"] == "SUCCEEDED"
    async with view(db, function, "") as store:
        assert len(await store.service.list_executions(function)) == PAIRS


async def test_a_run_right_after_the_holder_is_killed_resumes_at_once(
    tmp_path: Path, spawn: Spawn
) -> None:
    """SIGKILL the process holding the lease; the next run takes it over without waiting."""
    db, log = tmp_path / "durable.sqlite3", tmp_path / "steps.txt"
    args = named_run(
        handler_target("race.py", "handler"), {"log": str(log), "wait_seconds": 1}, "kill", db
    )
    holder = await spawn(*args)
    await wait_until(holder, "two steps ran", has_lines(log, 2))
    async with view(db, handler_function("race.py", "handler"), "kill") as store:
        await wait_until(holder, "the wait is persisted", op_status(store, "pause", "STARTED"))
        await holder.kill()
    [(pid, expires)] = _leases(db)
    assert pid == holder.process.pid
    assert expires > time.time() + 5  # far from expiry: only the dead pid can free it

    resumed = await spawn(*args)
    assert await resumed.wait() == 0, resumed.stderr.read_text()
    assert resumed.output() == STEPS
    assert lines(log) == STEPS
    assert _leases(db) == []


_ANSWER = """
import asyncio, sys
from durable_async.service.local import LocalDurableService, SqliteStore

async def main(path, callback_id):
    async with SqliteStore(path) as store:
        await LocalDurableService(store).send_callback_success(callback_id, '"approved"')

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def test_a_callback_answered_by_another_process_resumes_the_waiting_run(
    tmp_path: Path, spawn: Spawn
) -> None:
    """Another process completes the callback in the same store file; the run wakes and ends."""
    db, callback_file = tmp_path / "durable.sqlite3", tmp_path / "callback-id.txt"
    target = handler_target("callback.py", "handler")
    event = {"callback_file": str(callback_file)}
    # Without a wake-up from outside the run would wait for ever: the timeout ends it (exit 3).
    run = await spawn(*named_run(target, event, "approval", db), "--timeout", "15")

    await wait_until(run, "the callback id is handed out", _exists(callback_file))
    callback_id = callback_file.read_text(encoding="utf-8")
    answer = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _ANSWER, str(db), callback_id
    )
    assert await asyncio.wait_for(answer.wait(), 30) == 0

    assert await run.wait() == 0, run.stderr.read_text()
    assert run.output() == {"answer": "approved"}


def _leases(db: Path) -> list[tuple[int, float]]:
    database = sqlite3.connect(db)
    try:
        return list(database.execute("SELECT pid, expires FROM leases"))
    finally:
        database.close()


def _exists(path: Path) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return _is_file(path)

    return check


def _is_file(path: Path) -> bool:
    return path.is_file()
