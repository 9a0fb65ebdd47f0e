"""Name the ``dex-local-runner`` gaps behind a failure on it, error by error.

Each :class:`Gap` is something the emulator (aws-durable-execution-sdk-python-testing 1.4.0)
records differently from Lambda, with the place in its source that does it. A failure is
explained only when every error the suite's validator reports is explained: by a field gap
(the error is about a key the emulator leaves out), by a structural gap (the history is the
expected one less events the emulator never writes, and the error lies where the two diverge
or after), or as the polling validator's "no new events" that follows such a history.
Anything else stays unexplained, and ``make conformance-dex`` exits non-zero for it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

# Where an error of the history matcher lies: a field of an event, or an event it lacks.
_EVENT_ID = re.compile(r"^(?:Event\[EventId=|No actual event found for EventId=)(\d+)\b")
_NO_PROGRESS = re.compile(r"^No new events for [\d.]+s")


@dataclass(frozen=True)
class Gap:
    """One way dex-local-runner's history differs from Lambda's."""

    key: str
    title: str
    source: str  # where dex does it, in aws_durable_execution_sdk_python_testing
    pattern: str = ""  # an error about this gap's missing key matches this; "" for structural


INVOCATION_DETAILS = Gap(
    "invocation-details",
    "InvocationCompleted events carry no InvocationCompletedDetails",
    "executor.get_execution_history renumbers every event with Event.from_event_with_id "
    "(model.py), which copies each *Details field but invocation_completed_details",
    r"\.InvocationCompletedDetails: key missing",
)
RETRY_DETAILS = Gap(
    "retry-details",
    "a StepSucceeded after retries carries no RetryDetails",
    "executor.get_execution_history hands the update to the event (and with it RetryDetails) "
    "only for RETRY and FAIL, not SUCCEED",
    r"\.StepSucceededDetails\.RetryDetails: key missing",
)
CONDITION_STATE = Gap(
    "condition-state",
    "a wait_for_condition poll's StepSucceeded has no Result (the checkpointed state)",
    "executor.get_execution_history builds the event of a RETRY update from "
    "StepDetails(attempt, error), dropping the update's Payload",
    r"\.StepSucceededDetails\.Result\.Payload: key missing",
)
CALLBACK_TIMEOUTS = Gap(
    "callback-timeouts",
    "CallbackStarted carries no Timeout or HeartbeatTimeout",
    "Event.create_callback_event_started reads them from the update's CallbackOptions, but "
    "get_execution_history hands it no update for a callback's START",
    r"\.CallbackStartedDetails\.(Timeout|HeartbeatTimeout): key missing",
)
CHAINED_INVOKE = Gap(
    "chained-invoke",
    "ChainedInvokeStarted carries no ExecutedVersion, nor the TenantId it was invoked with",
    "model.ChainedInvokeStartedDetails: 'ExecutedVersion is omitted: the local runner performs "
    "no function version resolution'; create_chained_invoke_event_started sets no tenant_id",
    r"\.ChainedInvokeStartedDetails\.(ExecutedVersion|TenantId): key missing",
)
CRASH = Gap(
    "crash",
    "an invocation that crashes (Runtime.ExitError) gets no InvocationCompleted",
    "a function error reaches _invoke_handler's generic except, and _retry_after_error retries "
    "without record_invocation_completion (executor.py)",
)
FIELD_GAPS = (INVOCATION_DETAILS, RETRY_DETAILS, CONDITION_STATE, CALLBACK_TIMEOUTS, CHAINED_INVOKE)
GAPS = (*FIELD_GAPS, CRASH)


@dataclass
class Diagnosis:
    """The gaps a failure shows, and the errors none of them explains."""

    gaps: list[Gap] = field(default_factory=list)
    unexplained: list[str] = field(default_factory=list)

    @property
    def explained(self) -> bool:
        return bool(self.gaps) and not self.unexplained

    def _add(self, gap: Gap) -> None:
        if gap not in self.gaps:
            self.gaps.append(gap)


def diagnose(
    errors: Sequence[str],
    expected_events: Sequence[dict[str, Any]],
    actual_events: Sequence[dict[str, Any]],
    *,
    crashed: bool,
) -> Diagnosis:
    """Attribute each of ``errors`` (the validator's) to a dex gap, or leave it unexplained.

    ``crashed`` says whether an invocation of the execution failed (dex's log says so): only
    then is a history short of InvocationCompleted events the crash gap.
    """
    found = Diagnosis()
    shift = crash_divergence(expected_events, actual_events) if crashed else None
    if shift is not None:
        found._add(CRASH)
    history_errors = False
    stalled = []
    for error in errors:
        if _NO_PROGRESS.match(error):
            stalled.append(error)
            continue
        gap = next((g for g in FIELD_GAPS if re.search(g.pattern, error)), None)
        event = _EVENT_ID.match(error)
        if gap is not None:
            found._add(gap)
        elif shift is not None and event is not None and int(event[1]) >= shift:
            pass  # where the history runs one InvocationCompleted short, or after
        else:
            found.unexplained.append(error)
            continue
        history_errors = True
    # The polling validator waits for the expected history; when it never comes (a gap), it
    # reports that nothing new arrived, and then the mismatch itself.
    if stalled and not (history_errors and found.gaps):
        found.unexplained.extend(stalled)
    return found


def crash_divergence(
    expected_events: Sequence[dict[str, Any]], actual_events: Sequence[dict[str, Any]]
) -> int | None:
    """The EventId where the history starts to run short of InvocationCompleted events, if so.

    That is the crash gap's shape: the expected events, less one or more ``InvocationCompleted``,
    are what the emulator recorded, each of the others at its EventId less the number left out
    before it (``None`` when the history is not of that shape, or complete).
    """
    actual = {int(e["EventId"]): str(e.get("EventType")) for e in actual_events if "EventId" in e}
    divergence: int | None = None
    missing = 0  # InvocationCompleted events the history has run short of so far
    for event in sorted(expected_events, key=lambda e: int(e.get("EventId", 0))):
        event_id, kind = int(event.get("EventId", 0)), str(event.get("EventType"))
        if actual.get(event_id - missing) == kind:
            continue
        if kind != "InvocationCompleted":
            return None
        missing += 1
        divergence = event_id if divergence is None else divergence
    return divergence
