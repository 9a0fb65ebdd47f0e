"""The examples run as the README says, through the durable-async command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "durable_async.cli", "run", *args, "--store", "memory"]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_everything_example_uses_every_operation_and_succeeds() -> None:
    """The all-operations example finishes with the approval, the discount and every check."""
    completed = _run(
        "examples/everything.py:handler",
        "--function",
        "pricing-fn=examples/everything.py:pricing",
        "--input",
        '{"id": "o-9", "lines": [1, 2, 3]}',
        "--skip-time",
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == {
        "stock": {"order_id": "o-9", "reserved": True, "attempt": 2},
        "total_cents": 1350,
        "checks": ["ok", "ok"],
        "approval": {"approved": True},
        "payment_checks": 3,
        "label": "label-o-9",
    }
    assert completed.stderr.splitlines()[-1].endswith(": SUCCEEDED")


def test_orders_example_succeeds() -> None:
    """The order example prints its receipt and shipment."""
    completed = _run(
        "examples/orders.py:handler", "--input", '{"order_id": "o-2", "cents": 700}', "--skip-time"
    )
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)
    assert result["receipt"] == {"order_id": "o-2", "charged": 700, "attempt": 1}
    assert result["shipment"] == {"order_id": "o-2", "shipped": True}


def test_an_unregistered_invoke_target_fails_with_a_clear_error() -> None:
    """Without --function the chained invoke fails and says which function is missing."""
    completed = _run(
        "examples/everything.py:handler", "--input", '{"id": "o-3", "lines": [1]}', "--skip-time"
    )
    assert completed.returncode == 1
    assert "pricing-fn" in completed.stdout
