"""The public API's types work for users' async and sync functions under mypy --strict."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SAMPLE = Path(__file__).with_name("typing_sample.py")
ERRORS = Path(__file__).with_name("typing_errors.py")
GENERIC = Path(__file__).with_name("typing_generic.py")

_MYPY = [sys.executable, "-m", "mypy", "--strict", "--show-error-codes", "--no-error-summary"]
_MARK = re.compile(r"#\s*E:\s*([a-z-]+)")
_REPORTED = re.compile(r"^[^:]+:(\d+): error: .*\[([a-z-]+)\]$")


def mypy(path: Path) -> subprocess.CompletedProcess[str]:
    """Run ``mypy --strict`` over ``path`` with error codes shown."""
    return subprocess.run(
        [*_MYPY, str(path)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def marked_errors(path: Path) -> set[tuple[int, str]]:
    """Return (line, code) for each line of ``path`` marked ``# E: <code>``."""
    lines = path.read_text().splitlines()
    return {
        (number, match.group(1))
        for number, line in enumerate(lines, start=1)
        if (match := _MARK.search(line))
    }


def reported_errors(output: str) -> set[tuple[int, str]]:
    """Return (line, code) for each error line in mypy's output."""
    return {
        (int(match.group(1)), match.group(2))
        for line in output.splitlines()
        if (match := _REPORTED.match(line))
    }


def test_user_code_type_checks_with_the_expected_types() -> None:
    """mypy --strict accepts the sample and infers each operation's result type exactly."""
    completed = mypy(SAMPLE)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_misused_decorators_and_operations_are_mypy_errors() -> None:
    """mypy --strict reports each marked line of the negative file, with its code, and no other."""
    completed = mypy(ERRORS)
    expected = marked_errors(ERRORS)
    assert len(expected) >= 20, "the negative file lost its marks"
    assert reported_errors(completed.stdout) == expected, completed.stdout + completed.stderr


def test_branch_invoke_and_handler_types_survive() -> None:
    """mypy --strict infers ParallelBranch, parallel, invoke and DurableHandler types exactly."""
    completed = mypy(GENERIC)
    assert completed.returncode == 0, completed.stdout + completed.stderr
