"""Durability is a setting of the SQLite store, read back from SQLite itself.

``PRAGMA synchronous`` belongs to a connection, not to the file: a fresh connection reports
SQLite's compiled-in default whatever the store set. So the settings are read back from the
connection the store writes with: :meth:`SqliteStore.pragmas` in process, and the ``openers``
table, where every process that opens the file notes what its connection reported, for a
CLI or ``serve`` process. The journal mode (WAL) is a property of the file and is also read
with a connection of the test's own.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from serving import served

from durable_async import DurableContext, StepContext, durable_execution, durable_step
from durable_async.service.local import SqliteStore
from durable_async.service.local._sqlite import DURABILITY_ENV
from durable_async.testing import DurableTestRunner, ExecutionStatus

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[1]
RUN_TIMEOUT = 60.0
HANDLER = """\
from durable_async import DurableContext, StepContext, durable_execution, durable_step


@durable_step
async def double(step: StepContext, n: int) -> int:
    return 2 * n


@durable_execution
async def handler(event: dict, ctx: DurableContext) -> int:
    return await ctx.step(double(event["n"]))
"""


@durable_step
async def double(step: StepContext, n: int) -> int:
    return 2 * n


@durable_execution
async def doubled(event: dict[str, int], ctx: DurableContext) -> int:
    return await ctx.step(double(event["n"]))


def file_journal_mode(path: Path) -> str:
    """Return the journal mode stored in the database file, through a connection of our own."""
    with sqlite3.connect(path) as db:
        return str(db.execute("PRAGMA journal_mode").fetchone()[0])


def opener(path: Path, pid: int) -> dict[str, Any]:
    """Return the ``openers`` row the process ``pid`` wrote when it opened the store."""
    with sqlite3.connect(path) as db:
        db.row_factory = sqlite3.Row
        rows = db.execute("SELECT * FROM openers WHERE pid = ?", (pid,)).fetchall()
    assert len(rows) == 1, f"process {pid} did not note opening {path}"
    return dict(rows[0])


def environment(durability: str | None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != DURABILITY_ENV}
    if durability is not None:
        env[DURABILITY_ENV] = durability
    return env


def durability_env(monkeypatch: pytest.MonkeyPatch, env: str | None) -> None:
    """Set $DURABLE_ASYNC_DURABILITY to ``env``, or clear it."""
    if env is None:
        monkeypatch.delenv(DURABILITY_ENV, raising=False)
    else:
        monkeypatch.setenv(DURABILITY_ENV, env)


@pytest.mark.parametrize(
    ("given", "env", "expected"),
    [
        pytest.param(None, None, "full", id="default-is-full"),
        pytest.param("normal", None, "normal", id="normal"),
        pytest.param("full", "normal", "full", id="argument-beats-environment"),
        pytest.param(None, "normal", "normal", id="environment-sets-default"),
        pytest.param(None, " NORMAL ", "normal", id="environment-is-forgiving"),
        pytest.param(None, "", "full", id="empty-environment-is-unset"),
    ],
)
async def test_the_store_connection_reports_the_durability_asked_for(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    given: Any,
    env: str | None,
    expected: str,
) -> None:
    """The writing connection's synchronous setting is the durability asked for; WAL either way."""
    durability_env(monkeypatch, env)
    path = tmp_path / "durable.sqlite3"
    async with SqliteStore(path, durability=given) as store:
        assert store.durability == expected
        assert await store.pragmas() == {"journal_mode": "wal", "synchronous": expected}
        noted = (await store.openers())[0]
    assert noted["pid"] == os.getpid()
    assert (noted["durability"], noted["synchronous"]) == (expected, expected)
    assert file_journal_mode(path) == "wal"


@pytest.mark.parametrize(
    ("given", "env", "named"),
    [
        pytest.param("fsync", None, "durability", id="bad-argument"),
        pytest.param(None, "paranoid", "$DURABLE_ASYNC_DURABILITY", id="bad-environment"),
        pytest.param(1, None, "durability", id="not-text"),
    ],
)
def test_an_unknown_durability_is_refused_naming_where_it_came_from(
    monkeypatch: pytest.MonkeyPatch, given: Any, env: str | None, named: str
) -> None:
    """An unknown value raises ValueError naming its source and the two values that work."""
    durability_env(monkeypatch, env)
    with pytest.raises(ValueError, match="must be 'full'") as raised:
        SqliteStore("never-created.sqlite3", durability=given)
    assert named in str(raised.value)
    assert "'normal'" in str(raised.value)
    assert not Path("never-created.sqlite3").exists()


async def test_two_processes_may_open_one_file_with_different_durabilities(tmp_path: Path) -> None:
    """Durability is per connection: a NORMAL and a FULL store share a file, each keeps its own."""
    path = tmp_path / "durable.sqlite3"
    async with (
        SqliteStore(path, durability="normal") as relaxed,
        SqliteStore(path, durability="full") as strict,
    ):
        assert (await relaxed.pragmas())["synchronous"] == "normal"
        assert (await strict.pragmas())["synchronous"] == "full"


@pytest.mark.parametrize("env", [None, "normal"], ids=["default", "environment-normal"])
async def test_durable_test_runner_with_a_store_path_uses_the_durability(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: str | None
) -> None:
    """DurableTestRunner(store=path) opens its store FULL unless the environment says NORMAL."""
    durability_env(monkeypatch, env)
    path = tmp_path / "runner.sqlite3"
    async with DurableTestRunner(doubled, store=path) as runner:
        result = await runner.run(input={"n": 21})
        store = runner.service.store
        assert isinstance(store, SqliteStore)
        pragmas = await store.pragmas()
    assert result.status is ExecutionStatus.SUCCEEDED
    assert result.result == 42
    expected = env or "full"
    assert pragmas == {"journal_mode": "wal", "synchronous": expected}
    assert opener(path, os.getpid())["synchronous"] == expected


@pytest.mark.parametrize("env", [None, "normal"], ids=["default", "environment-normal"])
def test_the_cli_opens_its_store_with_the_durability(tmp_path: Path, env: str | None) -> None:
    """`durable-async run --store FILE` writes through a FULL connection unless told NORMAL."""
    app = tmp_path / "app.py"
    app.write_text(HANDLER, encoding="utf-8")
    path = tmp_path / "cli.sqlite3"
    command = [sys.executable, "-m", "durable_async.cli", "run", f"{app}:handler"]
    command += ["--input", json.dumps({"n": 4}), "--store", str(path)]
    process = subprocess.Popen(
        command,
        cwd=REPO,
        env=environment(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = process.communicate(timeout=RUN_TIMEOUT)
    assert process.returncode == 0, err
    assert "8" in out
    noted = opener(path, process.pid)
    expected = env or "full"
    assert (noted["durability"], noted["synchronous"]) == (expected, expected)
    assert noted["journal_mode"] == "wal"
    assert file_journal_mode(path) == "wal"


@pytest.mark.parametrize("env", [None, "normal"], ids=["default", "environment-normal"])
async def test_serve_opens_its_store_with_the_durability(tmp_path: Path, env: str | None) -> None:
    """`durable-async serve --store FILE` writes through a FULL connection unless told NORMAL."""
    path = tmp_path / "serve.sqlite3"
    async with served("--store", str(path), cwd=tmp_path, env=environment(env)) as serve:
        pid = serve.process.pid
        # serve opened the store before it printed its URL, and keeps it open meanwhile.
        noted = await asyncio.to_thread(opener, path, pid)
    expected = env or "full"
    assert (noted["durability"], noted["synchronous"]) == (expected, expected)
    assert noted["journal_mode"] == "wal"
    assert file_journal_mode(path) == "wal"


async def test_the_openers_table_keeps_the_latest_hundred(tmp_path: Path) -> None:
    """Openers are kept per process, and only the latest 100: the table cannot grow for ever."""
    path = tmp_path / "durable.sqlite3"
    async with SqliteStore(path):
        pass
    with sqlite3.connect(path) as db:
        rows = [(f"host-{n}", n, "full", "wal", "full", float(n)) for n in range(150)]
        db.executemany("INSERT INTO openers VALUES (?, ?, ?, ?, ?, ?)", rows)
    async with SqliteStore(path, durability="normal") as store:
        noted = await store.openers()
    assert len(noted) == 100
    assert noted[0]["pid"] == os.getpid()
    assert noted[0]["synchronous"] == "normal"
    assert [row["pid"] for row in noted[1:]] == list(range(149, 50, -1))
