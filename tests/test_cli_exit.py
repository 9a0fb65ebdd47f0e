"""A handler that calls sys.exit: the invocation fails as Lambda's does, and the CLI stays calm."""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_cli import handler_target, lines, run_cli

EXIT_FAILED = 1


def test_a_handler_calling_sys_exit_fails_the_execution_without_a_traceback(
    tmp_path: Path,
) -> None:
    """sys.exit(7) in the handler: invocations fail as Runtime.ExitError until FAILED, exit 1."""
    db, log = tmp_path / "durable.sqlite3", tmp_path / "noted.txt"
    target = handler_target("exits.py", "handler")
    event = json.dumps({"log": str(log)})

    completed = run_cli(target, "--input", event, "--skip-time", "--store", str(db))

    assert completed.returncode == EXIT_FAILED, completed.stderr
    assert "Traceback" not in completed.stderr
    assert completed.stderr.rstrip().endswith(": FAILED")
    error = json.loads(completed.stdout)
    assert error["ErrorType"] == "Runtime.ExitError"
    assert "7" in error["ErrorMessage"]
    assert "StackTrace" not in error
    assert lines(log) == ["noted"]  # recorded once, replayed by the retried invocations
