"""Table (b)'s machinery: naming dex gaps, reading other SDKs' templates, the Lambda endpoint.

The gap attribution is checked against the suite's own matcher on every requirement it ships:
a history that is the expected one less what dex leaves out must be explained by exactly the
gaps removed, and a history with any other difference must not be explained. The template
reader is checked on a template shaped like the reference SDK's (a role and a table beside the
functions, ``!Sub`` of a function's ARN, ``Ref`` of a table). The Lambda endpoint that
dex-local-runner invokes runs as a real process on 127.0.0.1.
"""

from __future__ import annotations

import copy
import json
import textwrap
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip(
    "aws_durable_execution_conformance_tests",
    reason="make test installs aws-durable-execution-conformance-tests (see the Makefile)",
)

from aws_durable_execution_conformance_tests.history import EventHistoryMatcher, load_yaml_file
from aws_durable_execution_conformance_tests.variables import PlaceholderContext

from conformance import gaps
from conformance.catalog import Function, function_arn, load_catalog
from conformance.driver import FAILED, PASSED, Outcome
from conformance.report import section
from conformance.services import base_environment, start_lambda_host

CATALOG = load_catalog()
IC = "InvocationCompleted"


def _expected(requirement_id: str) -> tuple[list[dict[str, Any]], PlaceholderContext]:
    spec = load_yaml_file(str(CATALOG.requirements[requirement_id].path))
    context = PlaceholderContext()
    context.resolve_variables(spec.get("Variables"))
    return list(spec.get("ExpectedExecutionHistory") or []), context


def _as_recorded(expected: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A history that matches ``expected`` exactly: its own events, with the unlisted EventIds."""
    events = copy.deepcopy(expected)
    listed = {e["EventId"] for e in events}
    top = max(listed, default=1)
    filler = [{"EventId": i, "EventType": "StepStarted"} for i in range(1, top) if i not in listed]
    return sorted(events + filler, key=lambda e: e["EventId"])


def _matchable(requirement_id: str) -> bool:
    expected, context = _expected(requirement_id)
    if not expected or "${/" in json.dumps(expected):  # regexes match values, not themselves
        return False
    return bool(EventHistoryMatcher(context=context).match(expected, _as_recorded(expected)))


MATCHABLE = [rid for rid in CATALOG.select(None, None) if _matchable(rid)]


def _completion_before_the_end(requirement_id: str) -> bool:
    expected, _ = _expected(requirement_id)
    last = max(e["EventId"] for e in expected)
    return any(e["EventType"] == "InvocationCompleted" and e["EventId"] < last for e in expected)


CRASHABLE = [rid for rid in MATCHABLE if _completion_before_the_end(rid)]


def _errors(requirement_id: str, actual: list[dict[str, Any]]) -> list[str]:
    expected, context = _expected(requirement_id)
    return list(EventHistoryMatcher(context=context).match(expected, actual).errors)


def _without_invocation_details(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for event in events:
        event.pop("InvocationCompletedDetails", None)
    return events


def _drop(events: list[dict[str, Any]], event_id: int) -> list[dict[str, Any]]:
    """The history without event ``event_id``, the later ones renumbered as dex numbers them."""
    kept = [e for e in events if e["EventId"] != event_id]
    for event in kept:
        if event["EventId"] > event_id:
            event["EventId"] -= 1
    return kept


def test_most_requirements_can_be_replayed_against_the_matcher() -> None:
    """The checks below cover the suite broadly, not a handful of requirements."""
    assert len(MATCHABLE) >= 100
    assert len(CRASHABLE) >= 40


@pytest.mark.parametrize("requirement_id", MATCHABLE)
def test_missing_invocation_details_is_the_only_gap_named(requirement_id: str) -> None:
    """dex's renumbering drops InvocationCompletedDetails: that, and nothing else, is named."""
    expected, _ = _expected(requirement_id)
    actual = _without_invocation_details(_as_recorded(expected))
    errors = _errors(requirement_id, actual)
    found = gaps.diagnose(errors, expected, actual, crashed=False)
    if any(e["EventType"] == IC and "InvocationCompletedDetails" in e for e in expected):
        assert found.explained, errors
        assert found.gaps == [gaps.INVOCATION_DETAILS]
    else:
        assert errors == []


@pytest.mark.parametrize("requirement_id", CRASHABLE)
def test_a_crash_without_invocation_completed_is_named_only_after_a_failed_invocation(
    requirement_id: str,
) -> None:
    """The first InvocationCompleted left out is the crash gap, if dex logged a failure."""
    expected, _ = _expected(requirement_id)
    completions = [e["EventId"] for e in expected if e["EventType"] == IC]
    actual = _without_invocation_details(_drop(_as_recorded(expected), completions[0]))
    errors = _errors(requirement_id, actual)
    assert gaps.crash_divergence(expected, actual) == completions[0]
    crashed = gaps.diagnose(errors, expected, actual, crashed=True)
    assert crashed.explained, crashed.unexplained
    assert gaps.CRASH in crashed.gaps
    # Without dex's word that an invocation failed, a short history is no known gap.
    assert not gaps.diagnose(errors, expected, actual, crashed=False).explained


@pytest.mark.parametrize("requirement_id", MATCHABLE)
def test_a_missing_operation_event_is_never_explained(requirement_id: str) -> None:
    """Losing an event that is not an InvocationCompleted is no dex gap, crash or not."""
    expected, _ = _expected(requirement_id)
    others = [e["EventId"] for e in expected if e["EventType"] != IC]
    actual = _without_invocation_details(_drop(_as_recorded(expected), others[0]))
    errors = _errors(requirement_id, actual)
    assert errors
    assert gaps.crash_divergence(expected, actual) is None
    assert not gaps.diagnose(errors, expected, actual, crashed=True).explained


@given(
    st.lists(st.sampled_from(["StepStarted", "StepSucceeded", "WaitStarted", IC]), max_size=12),
    st.data(),
)
def test_crash_divergence_finds_the_first_completion_left_out(
    kinds: list[str], data: st.DataObject
) -> None:
    expected: list[dict[str, Any]] = [
        {"EventId": i, "EventType": kind} for i, kind in enumerate(kinds, 2)
    ]
    removable = [e["EventId"] for e in expected if e["EventType"] == IC]
    removed = sorted(
        data.draw(st.sets(st.sampled_from(removable)) if removable else st.just(set()))
    )
    actual = copy.deepcopy(expected)
    for event_id in reversed(removed):
        actual = _drop(actual, event_id)
    divergence = gaps.crash_divergence(expected, actual)
    if not removed:
        assert divergence is None
        return
    # Where two completions follow each other, losing either leaves the same history: the
    # divergence is then the last of that run.
    assert divergence is not None
    assert all(kinds[i - 2] == IC for i in range(removed[0], divergence + 1))


@given(
    st.lists(st.sampled_from(["StepStarted", "StepSucceeded", "WaitStarted", IC]), min_size=1),
    st.data(),
)
def test_crash_divergence_refuses_any_other_loss(kinds: list[str], data: st.DataObject) -> None:
    expected: list[dict[str, Any]] = [
        {"EventId": i, "EventType": kind} for i, kind in enumerate(kinds, 2)
    ]
    others = [e["EventId"] for e in expected if e["EventType"] != IC]
    if not others:
        return
    actual = _drop(copy.deepcopy(expected), data.draw(st.sampled_from(others)))
    assert gaps.crash_divergence(expected, actual) is None


@pytest.mark.parametrize(
    ("error", "gap"),
    [
        (
            "Event[EventId=6].StepSucceededDetails.RetryDetails: key missing in actual event",
            "retry",
        ),
        (
            "Event[EventId=2].CallbackStartedDetails.Timeout: key missing in actual event",
            "callback",
        ),
        (
            "Event[EventId=3].CallbackStartedDetails.HeartbeatTimeout: key missing in actual event",
            "callback",
        ),
        (
            "Event[EventId=2].ChainedInvokeStartedDetails.ExecutedVersion: key missing in actual "
            "event",
            "chained",
        ),
        ("Event[EventId=2].ChainedInvokeStartedDetails.TenantId: key missing", "chained"),
        ("Event[EventId=3].StepSucceededDetails.Result.Payload: key missing", "condition"),
    ],
)
def test_field_gaps_are_named_by_the_key_dex_leaves_out(error: str, gap: str) -> None:
    found = gaps.diagnose([error], [], [], crashed=False)
    assert found.explained
    assert len(found.gaps) == 1
    assert found.gaps[0].key.startswith(gap)


@pytest.mark.parametrize(
    "error",
    [
        "Event[EventId=3].StepSucceededDetails.Result.Payload: expected '1', got '2'",
        "Event[EventId=2].CallbackStartedDetails.Timeout: expected 5, got 6",
        "Event[EventId=4].RetryDetails: key missing in actual event",
        "ExecutionStatus: expected SUCCEEDED, got FAILED",
        "harness error: ConnectionRefusedError()",
    ],
)
def test_a_wrong_value_or_anything_else_stays_unexplained(error: str) -> None:
    found = gaps.diagnose(
        [error, "Event[EventId=5].InvocationCompletedDetails: key missing"], [], [], crashed=False
    )
    assert not found.explained
    assert found.unexplained == [error]


def test_no_progress_is_explained_only_by_the_mismatch_that_follows_it() -> None:
    stalled = "No new events for 30.0s (timeout: 30.0s)"
    missing = "Event[EventId=3].InvocationCompletedDetails: key missing in actual event"
    assert gaps.diagnose([stalled, missing], [], [], crashed=False).explained
    assert not gaps.diagnose([stalled], [], [], crashed=False).explained
    assert not gaps.diagnose(
        [stalled, "Event[EventId=3].Id: wrong"], [], [], crashed=False
    ).explained


REFERENCE_STYLE = """\
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties: {AssumeRolePolicyDocument: {}}
  AttemptsTable:
    Type: AWS::DynamoDB::Table
    Properties: {BillingMode: PAY_PER_REQUEST}
  Caller:
    Type: AWS::Serverless::Function
    TestingMetadata:
      TestDescription: ["5-1", "99-1"]
    Properties:
      CodeUri: build/
      Handler: invoke.caller.handler
      Role: !GetAtt Role.Arn
      DurableConfig: {ExecutionTimeout: 60}
      Environment:
        Variables:
          TARGET: !Sub "${Target.Arn}:$LATEST"
          TARGET_NAME: !Ref Target
          TABLE: {Ref: AttemptsTable}
          ATTEMPTS: 3
  Target:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: build/
      Handler: invoke.target.handler
  Newer:
    Type: AWS::Serverless::Function
    TestingMetadata:
      TestDescription: ["99-2"]
    Properties:
      CodeUri: build/
      Handler: newer.handler
      DurableConfig: {}
"""


def test_reference_style_templates_are_read_as_cloudformation_would_deploy_them(
    tmp_path: Path,
) -> None:
    (tmp_path / "template_invoke.yaml").write_text(REFERENCE_STYLE)
    with pytest.raises(ValueError, match="99-1"):
        load_catalog(tmp_path)
    catalog = load_catalog(tmp_path, strict=False)
    # The role and the table are no functions.
    assert set(catalog.functions) == {"Caller", "Target", "Newer"}
    assert catalog.answered_by == {"5-1": "Caller"}
    assert catalog.ignored == {"99-1": "Caller", "99-2": "Newer"}
    caller, target = catalog.functions["Caller"], catalog.functions["Target"]
    assert (caller.target, caller.durable, caller.execution_timeout) == (
        "invoke.caller:handler",
        True,
        60,
    )
    assert caller.code == (tmp_path / "build").resolve()
    assert not target.durable
    assert dict(caller.environment) == {
        "TARGET": f"{function_arn('Target')}:$LATEST",
        "TARGET_NAME": "Target",
        "TABLE": "Attempts",
        "ATTEMPTS": "3",
    }
    # A function for ids this suite lacks is no invoke target either.
    assert catalog.hosted_for(["5-1"]) == [caller, target]


@pytest.mark.parametrize(
    "value", ["!Sub '${Nowhere.Arn}'", "!GetAtt Role.Arn", "!ImportValue Shared", "[1, 2]"]
)
def test_a_variable_the_local_services_cannot_resolve_is_refused(
    tmp_path: Path, value: str
) -> None:
    text = REFERENCE_STYLE.replace("ATTEMPTS: 3", f"ODD: {value}")
    (tmp_path / "template_invoke.yaml").write_text(text)
    with pytest.raises(ValueError, match="cannot resolve"):
        load_catalog(tmp_path, strict=False)


def test_our_templates_are_all_our_code() -> None:
    """So serve hosts ours in its own workers (a function elsewhere goes behind an endpoint)."""
    root = Path(__file__).parent.parent
    assert {f.code for f in CATALOG.functions.values()} == {root.resolve()}


def _post(url: str, body: object) -> tuple[int, dict[str, str], Any]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, dict(answer.headers), json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, dict(refused.headers), json.loads(refused.read())


def test_the_lambda_endpoint_runs_each_function_from_its_code_with_its_environment(
    tmp_path: Path,
) -> None:
    """Code directory, variables, JSON log lines of any logger, a crash as Lambda names it, and
    an answer as soon as the handler returns."""
    code = tmp_path / "build" / "suite"
    code.mkdir(parents=True)
    (code / "__init__.py").write_text("")
    (code / "handlers.py").write_text(
        textwrap.dedent(
            """\
            import logging, os, threading

            def echo(event, context):
                logging.getLogger("theirs").info(
                    "echo %s", event["word"], extra={"executionArn": event["arn"]}
                )
                return {"word": event["word"], "greeting": os.environ["GREETING"]}

            def crash(event, context):
                os._exit(3)

            def linger(event, context):
                # A non-daemon thread that never ends would hold up interpreter exit forever.
                threading.Thread(target=threading.Event().wait).start()
                return "answered"
            """
        )
    )
    logs = tmp_path / "logs"
    logs.mkdir()
    functions = [
        Function(
            "Echo",
            "suite.handlers:echo",
            False,
            code=code.parent,
            environment=(("GREETING", "hi"),),
        ),
        Function("Crash", "suite.handlers:crash", False, code=code.parent),
        Function("Linger", "suite.handlers:linger", False, code=code.parent),
    ]
    host = start_lambda_host(functions, tmp_path, base_environment(logs), "http://127.0.0.1:9")
    try:
        invoke = f"{host.url}/2015-03-31/functions/{{}}/invocations"
        status, headers, body = _post(
            invoke.format(function_arn("Echo") + ":$LATEST"), {"word": "w", "arn": "arn:x"}
        )
        assert (status, body) == (200, {"word": "w", "greeting": "hi"})
        assert "X-Amz-Function-Error" not in headers
        status, headers, body = _post(invoke.format("Crash"), {})
        assert status == 200
        assert headers["X-Amz-Function-Error"] == "Unhandled"
        assert body["errorType"] == "Runtime.ExitError"
        assert "exit status 3" in body["errorMessage"]
        # Lambda answers when the handler returns; the sandbox's teardown is no part of it.
        assert _post(invoke.format("Linger"), {})[::2] == (200, "answered")
        status, headers, body = _post(invoke.format("Nobody"), {})
        assert status == 404
        assert headers["X-Amzn-ErrorType"] == "ResourceNotFoundException"
    finally:
        host.stop()
    records = [
        json.loads(line) for p in logs.glob("*.jsonl") for line in p.read_text().split("\n") if line
    ]
    mine = [r for r in records if r.get("logger") == "theirs"]
    assert [(r["message"], r["executionArn"], r["level"]) for r in mine] == [
        ("echo w", "arn:x", "INFO")
    ]


def _outcome(rid: str, status: str, keys: tuple[str, ...] = (), reason: str = "") -> Outcome:
    return Outcome(rid, "step", f"requirement {rid}", status, reason, gaps=keys)


def test_the_dex_table_compares_ours_with_the_reference_and_counts_each_gap() -> None:
    details = gaps.INVOCATION_DETAILS.key
    ours = [
        _outcome("1-1", PASSED),
        _outcome("1-2", FAILED, (details,), "Event[EventId=4].InvocationCompletedDetails: ..."),
        _outcome("1-3", FAILED, (details, gaps.RETRY_DETAILS.key), "..."),
    ]
    reference = {
        "versions": {"aws-durable-execution-sdk-python": "3.0.0"},
        "outcomes": {
            "1-1": {"status": PASSED, "gaps": [], "reason": ""},
            "1-2": {"status": PASSED, "gaps": [], "reason": ""},
            "1-3": {"status": FAILED, "gaps": [], "reason": "unexplained: late | answer"},
        },
    }
    text = section("dex", "dex-local-runner", "make conformance-dex", ours, reference)
    assert "**1 of 3** requirements run pass" in text
    assert "pass **2 of 3** on the same emulator; ours fail 1 of those: 1-2." in text
    assert "ours pass **2**, the reference's **2** (every one of theirs among ours)" in text
    assert f"| `{details}` |" in text
    assert f"| `{gaps.CRASH.key}` |" in text
    rows = {line.split(" | ")[0]: line for line in text.splitlines() if line.startswith("| 1-")}
    assert rows["| 1-2"].split(" | ")[2:5] == ["**fail**", "pass", f"`{details}`"]
    assert "**fail**: unexplained: late \\| answer" in rows["| 1-3"]
    counts = next(line for line in text.splitlines() if line.startswith(f"| `{details}`"))
    assert counts.endswith("| 2 | 0 |")
