"""Name the ``dex-local-runner`` gap behind a failure, from the validator's first error.

Each entry is a gap of the emulator (aws-durable-execution-sdk-python-testing 1.4.0) seen in the
histories it records for our handlers, with the error text that shows it. A failure whose errors
match none is left unexplained, and ``make conformance-dex`` exits non-zero for it.
"""

from __future__ import annotations

import re

DEX_GAPS: tuple[tuple[str, str], ...] = (
    (
        r"InvocationCompletedDetails: key missing",
        "gap: InvocationCompleted events carry no InvocationCompletedDetails",
    ),
    (
        r"expected 'InvocationCompleted', got '\w+'",
        "gap: InvocationCompleted events are not placed where their invocation ended",
    ),
    (
        r"ChainedInvokeStartedDetails\.(ExecutedVersion|TenantId): key missing",
        "gap: ChainedInvokeStarted lacks ExecutedVersion and TenantId",
    ),
    (
        r"CallbackStartedDetails\.(Timeout|HeartbeatTimeout): key missing",
        "gap: CallbackStarted lacks Timeout and HeartbeatTimeout",
    ),
    (
        r"StepSucceededDetails\.Result\.Payload: key missing",
        "gap: wait_for_condition's checkpointed state is missing from StepSucceeded",
    ),
)


def dex_gap(reason: str) -> str | None:
    """The named dex-local-runner gap that ``reason`` (the validator's errors) shows, if any."""
    first = reason.split("; ", 1)[0]
    for pattern, gap in DEX_GAPS:
        if re.search(pattern, first):
            return gap
    return None
