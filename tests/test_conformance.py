"""The AWS conformance suite, every requirement (plugins included), on ``durable-async serve``.

One module-scoped run starts serve (skip-time, plus a real-clock instance for the four
callback-versus-timer requirements) and moto, runs every requirement with the suite's own
validator (``conformance.harness``), and each test below reads one requirement's outcome.
The plugin requirements' records are lines the plugins print on stdout
(``conformance.handlers.plugin``); a test per id checks they reached the log validator that way.
Select them with ``pytest -m conformance``. A requirement that does not pass yet is listed in
``KNOWN_FAILURES`` with its reason, as a strict xfail: fixing it turns the xfail into a failure
that asks for the entry to go.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip(
    "aws_durable_execution_conformance_tests",
    reason="make test installs aws-durable-execution-conformance-tests (see the Makefile)",
)

from conformance.catalog import load_catalog
from conformance.driver import PASSED, STDOUT_FIELD, Outcome, execution_log_events
from conformance.harness import run

pytestmark = [pytest.mark.conformance, pytest.mark.timeout(900)]

CATALOG = load_catalog()
IDS = CATALOG.select(None, None)
KNOWN_FAILURES: dict[str, str] = {}


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("conformance")


@pytest.fixture(scope="module")
def outcomes(work: Path) -> dict[str, Outcome]:
    return {o.requirement_id: o for o in run(CATALOG, IDS, "serve", work, jobs=4)}


def _case(requirement_id: str) -> object:
    marks = []
    if requirement_id in KNOWN_FAILURES:
        marks.append(pytest.mark.xfail(reason=KNOWN_FAILURES[requirement_id], strict=True))
    return pytest.param(requirement_id, id=requirement_id, marks=marks)


RUN_IDS = [rid for rid in IDS if rid in CATALOG.answered_by]
PLUGIN_IDS = [rid for rid in IDS if CATALOG.requirements[rid].suite.name == "plugin"]


def test_every_requirement_has_a_handler() -> None:
    """All 155 requirements, the 148 non-plugin and the 7 plugin ones, map to our functions."""
    assert len(IDS) == 155
    assert len(PLUGIN_IDS) == 7
    assert sorted(RUN_IDS) == sorted(IDS)
    assert not CATALOG.not_run


@pytest.mark.parametrize("requirement_id", [_case(rid) for rid in RUN_IDS])
def test_requirement_passes_on_serve(outcomes: dict[str, Outcome], requirement_id: str) -> None:
    """The suite's validator accepts the history, result and logs serve records for the id."""
    outcome = outcomes[requirement_id]
    assert outcome.status == PASSED, f"{requirement_id}: {outcome.reason}"


@pytest.mark.parametrize("requirement_id", PLUGIN_IDS)
def test_plugin_records_reach_the_validator_from_stdout(
    outcomes: dict[str, Outcome], work: Path, requirement_id: str
) -> None:
    """The plugin records the validator matched are lines the plugins printed, not log records.

    Every ``CONFPLUGIN*`` record of the execution was captured from stdout (its event's message
    is the printed JSON line, stamped with the execution's ARN), and there is one at least.
    """
    arn = outcomes[requirement_id].arn
    assert arn, f"{requirement_id} never started"
    events = execution_log_events(work / "logs", arn)
    records = [json.loads(e["message"]) for e in events]
    plugin = [r for r in records if str(r.get("plugin", "")).startswith("CONFPLUGIN")]
    assert plugin, f"{requirement_id}: no plugin record among {records}"
    assert all(r["durableExecutionArn"] == arn and "level" not in r for r in plugin)
    printed = {
        json.loads(line)[STDOUT_FIELD]
        for path in (work / "logs").glob("*.jsonl")
        for line in path.read_text(encoding="utf-8").splitlines()
        if STDOUT_FIELD in json.loads(line)
    }
    assert {e["message"] for e in events if "CONFPLUGIN" in e["message"]} <= printed
