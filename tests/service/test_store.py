"""The stores: SQLite survives closing and other processes, and commits are all or nothing."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import stat
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from durable_async.service import ServiceError
from durable_async.service.local import (
    LocalDurableService,
    MemoryStore,
    SkipClock,
    SqliteStore,
)

from .helpers import START, folder, text_file, truncated_store, update


async def _one_step_then_wait(service: LocalDurableService) -> str:
    arn = await service.start_execution("fn", '{"n": 1}', name="kept")
    event = await service.begin_invocation(arn)
    updates = [
        update("s1", "STEP", "START", Name="one"),
        update("s1", "STEP", "SUCCEED", Name="one", Payload="1"),
        update("w1", "WAIT", "START", WaitOptions={"WaitSeconds": 30}),
    ]
    await service.checkpoint(arn, event["CheckpointToken"], updates)
    await service.end_invocation(arn, {"Status": "PENDING"})
    return arn


async def test_sqlite_store_survives_close_and_reopen(tmp_path: Path) -> None:
    """A new store object on the same file sees the execution, its operations and history."""
    path = tmp_path / "nested" / "durable.sqlite3"
    async with SqliteStore(path) as store:
        arn = await _one_step_then_wait(LocalDurableService(store, SkipClock(START)))
    assert path.exists()
    clock = SkipClock(START + 30)
    async with SqliteStore(path) as reopened:
        service = LocalDurableService(reopened, clock)
        assert await service.find_execution("fn", "kept") == arn
        operations = {op["Id"]: op for op in await service.list_operations(arn)}
        assert operations["s1"]["StepDetails"] == {"Attempt": 1, "Result": "1"}
        assert await service.next_wakeup(arn) == START + 30
        assert await service.invocations(arn) == 1
        assert await service.checkpoint_calls(arn) == 1
        event = await service.begin_invocation(arn)
        statuses = {op["Id"]: op["Status"] for op in event["InitialExecutionState"]["Operations"]}
        assert statuses == {arn.rsplit("/", 1)[-1]: "STARTED", "s1": "SUCCEEDED", "w1": "SUCCEEDED"}
        history = await service.get_history(arn)
        assert history["Events"][-1]["EventType"] == "WaitSucceeded"


async def test_sqlite_store_is_visible_to_another_process(tmp_path: Path) -> None:
    """A second Python process opening the same file reads the execution's status."""
    path = tmp_path / "durable.sqlite3"
    async with SqliteStore(path) as store:
        arn = await _one_step_then_wait(LocalDurableService(store, SkipClock(START)))
    script = (
        "import asyncio, json, sys\n"
        "from durable_async.service.local import LocalDurableService, SqliteStore\n"
        "async def main():\n"
        "    async with SqliteStore(sys.argv[1]) as store:\n"
        "        service = LocalDurableService(store)\n"
        "        described = await service.describe_execution(sys.argv[2])\n"
        "        ops = await service.list_operations(sys.argv[2])\n"
        "        print(json.dumps([described['Status'], [op['Id'] for op in ops]]))\n"
        "asyncio.run(main())\n"
    )
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, str(path), arn, stdout=asyncio.subprocess.PIPE
    )
    stdout, _ = await asyncio.wait_for(child.communicate(), timeout=60)
    assert child.returncode == 0
    status, ids = json.loads(stdout)
    assert status == "RUNNING"
    assert ids[1:] == ["s1", "w1"]


async def test_sqlite_commit_is_all_or_nothing(tmp_path: Path) -> None:
    """A commit that fails part-way leaves the execution row and operations as they were."""
    async with SqliteStore(tmp_path / "durable.sqlite3") as store:
        service = LocalDurableService(store, SkipClock(START))
        arn = await service.start_execution("fn", None)
        snapshot = await store.load(arn, [], 0)
        assert snapshot is not None
        execution = snapshot.execution
        execution.status = "SUCCEEDED"
        [row] = await store.list_operations(arn)
        row.data["Status"] = "SUCCEEDED"
        duplicate = {"EventId": 1, "EventType": "ExecutionStarted"}  # EventId 1 already exists
        with pytest.raises(sqlite3.IntegrityError):
            await store.commit(execution, [row], [duplicate])
        assert (await service.describe_execution(arn))["Status"] == "RUNNING"
        [stored] = await service.list_operations(arn)
        assert stored["Status"] == "STARTED"


async def test_sqlite_store_refuses_use_before_open(tmp_path: Path) -> None:
    """Calling a closed SqliteStore says how to open it."""
    store = SqliteStore(tmp_path / "durable.sqlite3")
    with pytest.raises(RuntimeError, match="async with store"):
        await store.get_execution("arn")


async def test_memory_store_hands_out_copies() -> None:
    """Changing a record read from MemoryStore does not change what it stores."""
    async with MemoryStore() as store:
        service = LocalDurableService(store, SkipClock(START))
        arn = await service.start_execution("fn", None)
        [operation] = await service.list_operations(arn)
        operation["Status"] = "FAILED"
        record = await store.get_execution(arn)
        assert record is not None
        record.status = "FAILED"
        assert (await service.list_operations(arn))[0]["Status"] == "STARTED"
        assert (await service.describe_execution(arn))["Status"] == "RUNNING"


async def test_sqlite_store_files_and_new_folders_are_private(tmp_path: Path) -> None:
    """A new store is 0600 with its -wal and -shm, in folders it creates 0700; others untouched."""
    _set_mode(tmp_path, 0o755)
    path = tmp_path / "made" / "by-store" / "durable.sqlite3"
    async with SqliteStore(path) as store:
        await _one_step_then_wait(LocalDurableService(store, SkipClock(START)))
        files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
        assert {f.name: _mode(f) for f in files} == {f.name: 0o600 for f in files}
    assert _mode(path.parent) == 0o700
    assert _mode(path.parent.parent) == 0o700
    assert _mode(tmp_path) == 0o755


async def test_sqlite_store_keeps_the_mode_of_an_existing_file(tmp_path: Path) -> None:
    """A store file the user made (and chose a mode for) is used as it is."""
    path = tmp_path / "durable.sqlite3"
    path.touch()
    _set_mode(path, 0o640)
    async with SqliteStore(path) as store:
        await store.list_executions()
    assert _mode(path) == 0o640


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        pytest.param(text_file, "file is not a database", id="text"),
        pytest.param(folder, "it is a folder", id="folder"),
        pytest.param(truncated_store, "database disk image is malformed", id="truncated"),
    ],
)
async def test_an_unusable_store_file_raises_one_sentence_naming_it(
    tmp_path: Path, make: Callable[[Path], Path], reason: str
) -> None:
    """Opening a text file, a folder or a truncated database raises one clear ServiceError."""
    path = make(tmp_path / "store.sqlite3")
    store = SqliteStore(path)
    with pytest.raises(ServiceError) as raised:
        await store.open()
    assert str(raised.value) == (
        f"The SQLite store {str(path)!r} cannot be used: {reason}. Give the path of a store "
        "durable_async created, or of a new file."
    )
    assert isinstance(raised.value.__cause__, sqlite3.DatabaseError)
    with pytest.raises(RuntimeError, match="not open"):
        await store.list_executions()


async def test_a_name_started_by_another_process_at_once_is_a_conflict(tmp_path: Path) -> None:
    """Two connections creating one execution name: the second gets ResourceConflictException."""
    path = tmp_path / "durable.sqlite3"
    async with SqliteStore(path) as first, SqliteStore(path) as second:
        service = LocalDurableService(first, SkipClock(START))
        arn = await service.start_execution("fn", None, name="same")
        execution = await first.get_execution(arn)
        [operation] = await first.list_operations(arn)
        assert execution is not None
        execution.arn = execution.arn.replace(execution.execution_id, "another-id")
        with pytest.raises(ServiceError) as raised:
            await second.create(execution, operation, [])
    assert raised.value.code == "ResourceConflictException"
    assert "'same'" in raised.value.message


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _set_mode(path: Path, mode: int) -> None:
    path.chmod(mode)
