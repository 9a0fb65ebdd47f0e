"""Write a run's results as a table into its own section of ``docs/conformance.md``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from conformance.driver import FAILED, NOT_RUN, PASSED, Outcome

DOC = Path(__file__).parent.parent / "docs" / "conformance.md"


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


def table(outcomes: Sequence[Outcome]) -> str:
    rows = ["| Requirement | Description | Result | Reason |", "|---|---|---|---|"]
    for outcome in outcomes:
        mark = {PASSED: "pass", FAILED: "**fail**", NOT_RUN: "not run"}[outcome.status]
        cells = [outcome.requirement_id, _cell(outcome.description), mark, _cell(outcome.reason)]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _cell(text: str, limit: int = 400) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def section(target: str, heading: str, command: str, outcomes: Sequence[Outcome]) -> str:
    begin, end = markers(target)
    body = [
        begin,
        f"{summary(outcomes)} Produced by `{command}`.",
        "",
        table(outcomes),
        end,
    ]
    return "\n".join(body)


def write_section(target: str, text: str, doc: Path = DOC) -> None:
    """Replace ``target``'s section of ``doc`` (between its markers) with ``text``."""
    begin, end = markers(target)
    current = doc.read_text(encoding="utf-8")
    start, stop = current.find(begin), current.find(end)
    if start < 0 or stop < start:
        raise ValueError(f"{doc} has no {begin} ... {end} section to replace")
    doc.write_text(current[:start] + text + current[stop + len(end) :], encoding="utf-8")
