"""Write a run's results as a table into its own section of ``docs/conformance.md``."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from conformance.driver import FAILED, NOT_RUN, PASSED, Outcome
from conformance.gaps import GAPS, INVOCATION_DETAILS

DOC = Path(__file__).parent.parent / "docs" / "conformance.md"
# The reference SDK's own conformance handlers on dex-local-runner, recorded by
# python -m conformance --target dex --templates <their package> --record <this file>.
REFERENCE_RESULTS = Path(__file__).parent / "results" / "dex-reference.json"
MARKS = {PASSED: "pass", FAILED: "**fail**", NOT_RUN: "not run"}


def read_results(path: Path) -> dict[str, Any] | None:
    """A recorded run (see ``--record``), or None when there is none."""
    if not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def markers(target: str) -> tuple[str, str]:
    return f"<!-- conformance:{target}:begin -->", f"<!-- conformance:{target}:end -->"


def summary(outcomes: Sequence[Outcome]) -> str:
    """``N of M non-plugin requirements pass``, and what was not run."""
    run = [o for o in outcomes if o.status != NOT_RUN]
    passed = sum(o.status == PASSED for o in run)
    not_run = len(outcomes) - len(run)
    text = f"**{passed} of {len(run)}** requirements run pass"
    if not_run:
        text += f"; {not_run} not run"
    return text + "."


def reference_summary(outcomes: Sequence[Outcome], reference: Mapping[str, Any]) -> str:
    """How the reference handlers did on the same ids, and which of ours fall short of them."""
    theirs: Mapping[str, Any] = reference.get("outcomes", {})
    ids = [o.requirement_id for o in outcomes if o.requirement_id in theirs]
    passed = [rid for rid in ids if theirs[rid]["status"] == PASSED]
    ours = {o.requirement_id: o.status for o in outcomes}
    behind = [rid for rid in passed if ours[rid] != PASSED]
    versions = reference.get("versions", {})
    sdk = versions.get("aws-durable-execution-sdk-python", "?")
    text = (
        f"The reference SDK's own handlers (aws-durable-execution-sdk-python {sdk}) pass "
        f"**{len(passed)} of {len(ids)}** on the same emulator"
    )
    if behind:
        return text + f"; ours fail {len(behind)} of those: {', '.join(behind)}."
    return text + "; ours pass every one of those."


def _only_invocation_details(status: str, reason: str, gap_keys: Sequence[str]) -> bool:
    return (
        status == FAILED
        and not reason.startswith("unexplained")
        and tuple(gap_keys) == (INVOCATION_DETAILS.key,)
    )


def gaps_summary(outcomes: Sequence[Outcome], reference: Mapping[str, Any] | None) -> str:
    """The gap legend: each dex gap, where dex's source does it, and how many it fails."""
    theirs: Mapping[str, Any] = (reference or {}).get("outcomes", {})
    ours_near = [
        o.requirement_id
        for o in outcomes
        if o.status == PASSED or _only_invocation_details(o.status, o.reason, o.gaps)
    ]
    text = [
        "Each failure is put down to the dex gaps it shows (`conformance/gaps.py`, each "
        "confirmed in dex's source), error by error: a failure with an error no gap explains "
        "would read `unexplained` and fail the make target. The first gap alone fails every "
        "requirement whose history has an InvocationCompleted event. Set it aside (count a "
        "failure whose only gap it is as a pass) and ours pass "
        f"**{len(ours_near)}**"
    ]
    if reference is not None:
        near = [
            rid
            for rid, o in theirs.items()
            if o["status"] == PASSED
            or _only_invocation_details(o["status"], o["reason"], o.get("gaps", ()))
        ]
        behind = sorted(set(near) - set(ours_near), key=_order)
        text.append(f", the reference's **{len(near)}**")
        text.append(
            f" (ours fall short of theirs on {', '.join(behind)})"
            if behind
            else " (every one of theirs among ours)"
        )
    text.append(".")
    rows = [
        "".join(text),
        "",
        "| Gap | What dex records | Where dex does it | Ours | Reference handlers |",
        "|---|---|---|---|---|",
    ]
    for gap in GAPS:
        mine = sum(gap.key in o.gaps for o in outcomes)
        other = (
            str(sum(gap.key in o.get("gaps", ()) for o in theirs.values()))
            if reference is not None
            else "not measured"
        )
        rows.append(
            f"| `{gap.key}` | {_cell(gap.title)} | {_cell(gap.source)} | {mine} | {other} |"
        )
    return "\n".join(rows)


def _order(requirement_id: str) -> tuple[int, ...]:
    return tuple(int(part) for part in requirement_id.split("-"))


def table(
    outcomes: Sequence[Outcome],
    reference: Mapping[str, Any] | None = None,
    *,
    with_gaps: bool = False,
) -> str:
    theirs: Mapping[str, Any] = (reference or {}).get("outcomes", {})
    head = ["Requirement", "Description", "Result"]
    if reference is not None:
        head.append("Reference handlers")
    if with_gaps:
        head.append("dex gaps")
    head.append("Reason")
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for outcome in outcomes:
        cells = [outcome.requirement_id, _cell(outcome.description), MARKS[outcome.status]]
        if reference is not None:
            cells.append(_reference_cell(theirs.get(outcome.requirement_id)))
        if with_gaps:
            cells.append(", ".join(f"`{key}`" for key in outcome.gaps))
        cells.append(_cell(outcome.reason, 300 if with_gaps else 400))
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _reference_cell(other: Mapping[str, Any] | None) -> str:
    if other is None:
        return "not measured"
    if other["status"] != FAILED:
        return MARKS[other["status"]]
    if other["reason"].startswith("unexplained"):
        return "**fail**: " + _cell(other["reason"], 200)
    return "**fail**: " + ", ".join(f"`{key}`" for key in other.get("gaps", ()))


def _cell(text: str, limit: int = 400) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def section(
    target: str,
    heading: str,
    command: str,
    outcomes: Sequence[Outcome],
    reference: Mapping[str, Any] | None = None,
) -> str:
    begin, end = markers(target)
    head = f"{summary(outcomes)} Produced by `{command}`."
    if reference is not None:
        head += " " + reference_summary(outcomes, reference)
    body = [begin, head, ""]
    if target == "dex":
        body += [gaps_summary(outcomes, reference), ""]
    body += [table(outcomes, reference, with_gaps=target == "dex"), end]
    return "\n".join(body)


def write_section(target: str, text: str, doc: Path = DOC) -> None:
    """Replace ``target``'s section of ``doc`` (between its markers) with ``text``."""
    begin, end = markers(target)
    current = doc.read_text(encoding="utf-8")
    start, stop = current.find(begin), current.find(end)
    if start < 0 or stop < start:
        raise ValueError(f"{doc} has no {begin} ... {end} section to replace")
    doc.write_text(current[:start] + text + current[stop + len(end) :], encoding="utf-8")
