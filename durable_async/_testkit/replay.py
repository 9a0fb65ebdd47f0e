"""The replay check: run changed code against a recorded history and report the first divergence.

The handler gets one invocation whose state is the recorded operations, on a service that keeps
the history as it was: an operation the code starts that the history lacks is noted and left in
progress (a step's function is not run: its attempt fails and awaits a retry that never comes,
a wait never ends, a callback is never answered), so the code runs until everything it can
replay is replayed, and suspends. The first ``NonDeterministicExecutionError`` it hits, in the
outcome or in a context it failed, is the report's ``nondeterminism``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Self

from durable_async._execution import DurableHandler
from durable_async._models import ErrorObject
from durable_async._overrides import step_override
from durable_async._testkit import paths
from durable_async._testkit.results import ExecutionStatus, build_operations

__all__ = ["Nondeterminism", "RecordedExecution", "ReplayReport", "check_replay"]

_NONDETERMINISM = "NonDeterministicExecutionError"
_MISMATCH = re.compile(r"(\w+) recorded (.*), code asks for (.*)")
_AT_ID = re.compile(r"at id (\S+?):")
# An enum member the SDK's message shows by its repr (<OperationSubType.WAIT: 'Wait'>).
_ENUM_REPR = re.compile(r"<\w+\.\w+: ('[^']*')>")
_DETAILS = {
    "STEP": "StepDetails",
    "CONTEXT": "ContextDetails",
    "WAIT": "WaitDetails",
    "CALLBACK": "CallbackDetails",
    "CHAINED_INVOKE": "ChainedInvokeDetails",
}
_STATUS_OF_ACTION = {
    "START": "STARTED",
    "SUCCEED": "SUCCEEDED",
    "FAIL": "FAILED",
    "RETRY": "PENDING",
    "CANCEL": "CANCELLED",
}


@dataclass(frozen=True)
class RecordedExecution:
    """An execution's operations as recorded (``Operation`` dicts, EXECUTION first).

    Keep one in a file with :meth:`to_json` and load it with :meth:`from_json`, to check later
    versions of the handler against it, as Temporal users keep workflow histories.
    """

    arn: str
    status: ExecutionStatus
    operations: list[dict[str, Any]]

    def to_json(self) -> str:
        """Return the recording as JSON text."""
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Self:
        """Load a recording written by :meth:`to_json`."""
        data = json.loads(text)
        return cls(data["arn"], ExecutionStatus(data["status"]), list(data["operations"]))


@dataclass(frozen=True)
class Nondeterminism:
    """Where the code asked for another operation than the recorded one at the same id."""

    operation_id: str
    #: The recorded operation's name path (``"price-lines/1/price"``).
    path: str
    #: What the history holds there and what the code asked for (``"name 'price'"``...).
    recorded: str
    asked: str
    message: str

    def __str__(self) -> str:
        return (
            f"nondeterminism at {self.path or self.operation_id}: recorded {self.recorded}, "
            f"the code asks for {self.asked}"
        )


@dataclass(frozen=True)
class ReplayReport:
    """The result of :func:`check_replay`.

    ``compatible`` is False when replay hit a nondeterminism, or when the recorded execution
    had ended and the code started operations it never did (``new_operations``, their paths).
    ``status`` and ``error`` are how the replaying invocation ended.
    """

    compatible: bool
    nondeterminism: Nondeterminism | None
    new_operations: list[str] = field(default_factory=list)
    status: str = "PENDING"
    error: ErrorObject | None = None

    def __str__(self) -> str:
        if self.nondeterminism is not None:
            return str(self.nondeterminism)
        if not self.compatible:
            return (
                "the recorded execution had ended, but the code starts operations it never "
                f"started: {self.new_operations}"
            )
        return "compatible"

    def assert_compatible(self) -> None:
        """Raise AssertionError describing the divergence unless the replay was compatible."""
        if not self.compatible:
            raise AssertionError(f"Replay is not compatible with the recorded history: {self}")


async def check_replay(
    handler: DurableHandler[Any, Any], recorded: RecordedExecution, *, timeout: float = 30
) -> ReplayReport:
    """Replay ``recorded`` with ``handler`` (the changed code) and report what diverged.

    Nothing is written anywhere and no step function runs. ``timeout`` bounds real time, for
    code that waits on something other than durable operations.
    """
    service = _FrozenHistory(recorded.operations)
    event = {
        "DurableExecutionArn": recorded.arn,
        "CheckpointToken": "replay-0",
        "InitialExecutionState": {"Operations": recorded.operations, "NextMarker": ""},
    }
    token = step_override.set(_not_run)
    try:
        async with asyncio.timeout(timeout):
            output = await handler.invoke(event, service=service, clock=_FrozenClock(service.now))
    except TimeoutError:
        raise TimeoutError(
            f"Replaying {recorded.arn} did not settle within {timeout} s: the code awaits "
            "something other than durable operations; pass a longer timeout."
        ) from None
    except Exception as exc:  # the invocation failed (the service would retry it)
        output = {"Status": "FAILED", "Error": ErrorObject.from_exception(exc).to_wire()}
    finally:
        step_override.reset(token)
    error = ErrorObject.from_wire(output.get("Error"))
    errors = [*service.errors, *([error] if error is not None else [])]
    found = next((e for e in errors if (e.error_type or "").endswith(_NONDETERMINISM)), None)
    nondeterminism = _describe(found, recorded.operations) if found is not None else None
    ended = recorded.status is not ExecutionStatus.RUNNING
    compatible = nondeterminism is None and not (ended and service.new_paths)
    return ReplayReport(compatible, nondeterminism, service.new_paths, output["Status"], error)


class _NotRunDuringReplayError(Exception):
    pass


def _not_run(ref: Any) -> Any:
    async def not_run(step: Any) -> Any:
        raise _NotRunDuringReplayError(
            "A replay check does not run step functions; this step is left for a retry."
        )

    return not_run


class _FrozenClock:
    """Time stands at the recording: deadlines after it never come, so the code suspends."""

    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now

    async def sleep_until(self, t: float) -> None:
        if t > self._now:
            await asyncio.Event().wait()


class _FrozenHistory:
    """A service that answers every checkpoint and changes nothing the history holds."""

    def __init__(self, operations: list[dict[str, Any]]) -> None:
        self.operations = {op["Id"]: dict(op) for op in operations}
        self.recorded_ids = frozenset(self.operations)
        stamps = [
            op.get(key) or 0 for op in operations for key in ("StartTimestamp", "EndTimestamp")
        ]
        self.now = max(stamps) / 1000 if any(stamps) else time.time()
        self.new_paths: list[str] = []
        self.errors: list[ErrorObject] = []
        self._tokens = itertools.count(1)

    async def checkpoint(
        self,
        arn: str,
        token: str,
        updates: list[dict[str, Any]],
        client_token: str | None = None,
    ) -> dict[str, Any]:
        changed = [self._apply(update) for update in updates]
        return {
            "CheckpointToken": f"replay-{next(self._tokens)}",
            "NewExecutionState": {"Operations": changed},
        }

    async def get_execution_state(
        self, arn: str, token: str, marker: str, max_items: int = 1000
    ) -> dict[str, Any]:
        return {"Operations": []}

    def _apply(self, update: dict[str, Any]) -> dict[str, Any]:
        op_id = update["Id"]
        if op_id not in self.recorded_ids and op_id not in self.operations:
            self.new_paths.append(self._path(update))
        error = ErrorObject.from_wire(update.get("Error"))
        if error is not None:
            self.errors.append(error)
        op = self.operations.setdefault(op_id, _new_operation(update, self.now))
        op["Status"] = _STATUS_OF_ACTION.get(update["Action"], op["Status"])
        details = op.setdefault(_DETAILS.get(update["Type"], "ExecutionDetails"), {})
        if "Payload" in update:
            details["Result"] = update["Payload"]
        if error is not None:
            details["Error"] = error.to_wire()
        if update["Action"] == "RETRY":
            details["Attempt"] = details.get("Attempt", 0) + 1
            details["NextAttemptTimestamp"] = int(self.now * 1000) + 10**12
        return op

    def _path(self, update: dict[str, Any]) -> str:
        segments = [paths.Segment(update.get("Name"), update["Id"])]
        parent = self.operations.get(update.get("ParentId") or "")
        while parent is not None:
            segments.insert(0, paths.Segment(parent.get("Name"), parent["Id"]))
            parent = self.operations.get(parent.get("ParentId") or "")
        return paths.join([s for s in segments if s.op_id not in self._execution_ids()])

    def _execution_ids(self) -> set[str]:
        return {op_id for op_id, op in self.operations.items() if op["Type"] == "EXECUTION"}


def _new_operation(update: dict[str, Any], now: float) -> dict[str, Any]:
    op: dict[str, Any] = {
        key: update[key] for key in ("Id", "Type", "Name", "ParentId", "SubType") if key in update
    }
    op.update(Status="STARTED", StartTimestamp=int(now * 1000))
    if update["Type"] == "WAIT":
        seconds = (update.get("WaitOptions") or {}).get("WaitSeconds", 1)
        op["WaitDetails"] = {"ScheduledEndTimestamp": int((now + seconds) * 1000)}
    elif update["Type"] == "CALLBACK":
        op["CallbackDetails"] = {"CallbackId": f"replay-check-{update['Id']}"}
    return op


def _describe(error: ErrorObject, operations: list[dict[str, Any]]) -> Nondeterminism:
    message = error.error_message or ""
    at = _AT_ID.search(message)
    op_id = at.group(1) if at else ""
    recorded, asked = [], []
    body = message.split(": ", 1)[-1].split(". The handler", 1)[0]
    for part in body.split("; "):
        mismatch = _MISMATCH.fullmatch(part)
        if mismatch is not None:
            field_name, old, new = mismatch.groups()
            recorded.append(f"{field_name} {_plain(old)}")
            asked.append(f"{field_name} {_plain(new)}")
    by_id = {op.id: op for op in build_operations(operations)}
    path = by_id[op_id].path if op_id in by_id else ""
    return Nondeterminism(op_id, path, ", ".join(recorded), ", ".join(asked), message)


def _plain(shown: str) -> str:
    return _ENUM_REPR.sub(lambda found: found.group(1), shown)
