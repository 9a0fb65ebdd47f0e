"""Run a handler on the reference SDK's in-process runner and ours, and compare what they record.

Histories are ``(id, parent, type, subtype, name, status)`` per operation, sorted; the reference
runner leaves out the EXECUTION operation, so ours does too.
"""

from __future__ import annotations

import json
from typing import Any

from aws_durable_execution_sdk_python_testing.runner import DurableFunctionTestRunner

from durable_async.testing import DurableTestResult

History = list[tuple[Any, ...]]
# (status, decoded result, (error type's last part, message) or None)
Outcome = tuple[str, Any, tuple[str, str | None] | None]


def run_reference(handler: Any, event: Any = None) -> tuple[Outcome, History]:
    """Run a reference handler in-process; return its outcome and its history."""
    runner = DurableFunctionTestRunner(handler)
    try:
        result = runner.run(input=json.dumps(event or {}), execution_timeout=60)
    finally:
        runner.close()  # type: ignore[no-untyped-call]
        runner._scheduler._loop.close()  # the reference runner leaves its loop open
    error = result.error
    outcome = (
        result.status.value,
        json.loads(result.result) if result.result else None,
        error and (str(error.type).rsplit(".", 1)[-1], error.message),
    )
    history = sorted(
        (
            op.operation_id,
            op.parent_id,
            op.operation_type.value,
            getattr(op.sub_type, "value", op.sub_type),
            op.name,
            op.status.value,
        )
        for op in result.get_all_operations()
    )
    return outcome, history


def our_history(result: DurableTestResult) -> History:
    """Our execution's history in the reference runner's shape."""
    return sorted(
        (op.id, op.parent_id, op.type.value, op.sub_type, op.name, op.status.value)
        for op in result.operations
        if op.type.value != "EXECUTION"
    )
