"""The public API's types work for users' async and sync functions under mypy --strict."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SAMPLE = Path(__file__).with_name("typing_sample.py")


def test_user_code_type_checks_with_the_expected_types() -> None:
    """mypy --strict accepts the sample and infers each operation's result type exactly."""
    completed = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", str(SAMPLE)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
