"""The AWS conformance suite, every non-plugin requirement, on ``durable-async serve``.

One module-scoped run starts serve (skip-time, plus a real-clock instance for the four
callback-versus-timer requirements) and moto, runs every requirement with the suite's own
validator (``conformance.harness``), and each test below reads one requirement's outcome.
Select them with ``pytest -m conformance``. A requirement that does not pass yet is listed in
``KNOWN_FAILURES`` with its reason, as a strict xfail: fixing it turns the xfail into a failure
that asks for the entry to go.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip(
    "aws_durable_execution_conformance_tests",
    reason="make test installs aws-durable-execution-conformance-tests (see the Makefile)",
)

from conformance.catalog import load_catalog
from conformance.driver import NOT_RUN, PASSED, Outcome
from conformance.harness import run

pytestmark = [pytest.mark.conformance, pytest.mark.timeout(900)]

CATALOG = load_catalog()
IDS = CATALOG.select(None, None)
KNOWN_FAILURES: dict[str, str] = {}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    work: Path = tmp_path_factory.mktemp("conformance")
    return {o.requirement_id: o for o in run(CATALOG, IDS, "serve", work, jobs=4)}


def _case(requirement_id: str) -> object:
    marks = []
    if requirement_id in KNOWN_FAILURES:
        marks.append(pytest.mark.xfail(reason=KNOWN_FAILURES[requirement_id], strict=True))
    return pytest.param(requirement_id, id=requirement_id, marks=marks)


RUN_IDS = [rid for rid in IDS if rid in CATALOG.answered_by]
PLUGIN_IDS = [rid for rid in IDS if CATALOG.requirements[rid].suite.name == "plugin"]


def test_every_non_plugin_requirement_has_a_handler() -> None:
    """Each of the suite's 148 non-plugin requirements is mapped to one of our functions."""
    non_plugin = [rid for rid in IDS if rid not in PLUGIN_IDS]
    assert len(non_plugin) == 148
    assert sorted(RUN_IDS) == sorted(non_plugin)


@pytest.mark.parametrize("requirement_id", [_case(rid) for rid in RUN_IDS])
def test_requirement_passes_on_serve(outcomes: dict[str, Outcome], requirement_id: str) -> None:
    """The suite's validator accepts the history, result and logs serve records for the id."""
    outcome = outcomes[requirement_id]
    assert outcome.status == PASSED, f"{requirement_id}: {outcome.reason}"


@pytest.mark.parametrize("requirement_id", PLUGIN_IDS)
def test_plugin_requirements_are_reported_not_run(
    outcomes: dict[str, Outcome], requirement_id: str
) -> None:
    """Plugin ids have no handler yet; the run reports them as not run, not as passed."""
    outcome = outcomes[requirement_id]
    assert (outcome.status, outcome.reason) == (NOT_RUN, "not run: plugins")
