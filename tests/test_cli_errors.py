"""What the CLI says when the store, the handler's file or the handler itself goes wrong."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.service.helpers import folder, text_file, truncated_store
from tests.test_cli import ORDER, lines, run_cli

EXIT_USAGE = 2

HANDLER_SOURCE = """
from pathlib import Path
from durable_async import durable_execution

@durable_execution
async def handler(event, ctx):
    def record(_):
        with Path(event["log"]).open("a", encoding="utf-8") as file:
            file.write("{label}\\n")
        return "{label}"

    return await ctx.step(record, name="record")
"""


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        pytest.param(text_file, "file is not a database", id="text-file"),
        pytest.param(folder, "it is a folder", id="folder"),
        pytest.param(truncated_store, "database disk image is malformed", id="truncated"),
    ],
)
def test_an_unusable_store_exits_2_with_one_line(
    tmp_path: Path, make: Callable[[Path], Path], reason: str
) -> None:
    """--store naming a text file, a folder or a truncated database: exit 2, one line, no trace."""
    store = make(tmp_path / "store.sqlite3")

    completed = run_cli("examples/orders.py:handler", "--input", "{}", "--store", str(store))

    assert completed.returncode == EXIT_USAGE, completed.stderr
    assert completed.stderr.splitlines() == [
        f"durable-async: The SQLite store {str(store)!r} cannot be used: {reason}. Give the path "
        "of a store durable_async created, or of a new file."
    ]
    assert completed.stdout == ""


def test_two_files_with_one_stem_never_share_an_execution_name(tmp_path: Path) -> None:
    """one/orders.py and two/orders.py under one --name run apart; each resumes its own."""
    db, log = tmp_path / "durable.sqlite3", tmp_path / "ran.txt"
    targets = {}
    for label in ("one", "two"):
        (tmp_path / label).mkdir()
        source = tmp_path / label / "orders.py"
        source.write_text(HANDLER_SOURCE.format(label=label), encoding="utf-8")
        targets[label] = f"{source}:handler"
    event = json.dumps({"log": str(log)})

    def run(label: str) -> object:
        completed = run_cli(targets[label], "--input", event, "--name", "dup", "--store", str(db))
        assert completed.returncode == 0, completed.stderr
        return json.loads(completed.stdout)

    assert [run("one"), run("two"), run("one"), run("two")] == ["one", "two", "one", "two"]
    assert lines(log) == ["one", "two"]


def test_the_store_and_the_folder_it_makes_are_private(tmp_path: Path) -> None:
    """The CLI's store file is 0600 and the folder it creates for it 0700."""
    db = tmp_path / "state" / "durable.sqlite3"

    completed = run_cli(
        "examples/orders.py:handler", "--input", ORDER, "--skip-time", "--store", str(db)
    )

    assert completed.returncode == 0, completed.stderr
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
