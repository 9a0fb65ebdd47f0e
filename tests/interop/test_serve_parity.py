"""The reference SDK's handlers leave the same history on ``durable-async serve`` as on
``dex-local-runner``, and their durable_async ports leave that history on serve too.

Every operation type runs: a step that retries, a wait, callbacks answered with success and
with failure, a child context, a map with a tolerated failure, a parallel, a wait_for_condition,
chained invokes of a durable and of a plain function, and a failing execution. Three runs of each
go at once: the reference handler (tests/serve_handlers/reference_ops.py) on serve and on
``dex-local-runner`` (the reference emulator, through tests/interop/reference_host.py), and its
port (ported_ops.py) on a second serve. serve runs on the real clock as the emulator does, so
both see the same one-second waits and a timed callback is not timed out by skipped time.

Histories are compared as tests/interop/histories.py normalizes them. Where the emulator records
a field differently, the case names the gap; the test checks the gap still shows, then compares
everything else. The gaps, each also in PROTOCOL.md, conformance/gaps.py or found here:

* InvocationCompleted events carry no InvocationCompletedDetails (no RequestId, no times);
* StepSucceeded lacks RetryDetails;
* a step's last StepFailed carries ``NextAttemptDelaySeconds: 0``, where the conformance suite
  says no NextAttemptDelaySeconds means the retries are exhausted (child/3-8);
* CallbackStarted lacks Timeout and HeartbeatTimeout;
* ContextFailed and CallbackFailed mark their whole error ``Truncated: true``;
* wait_for_condition's checkpointed state is missing from the StepSucceeded of a check that
  polls again;
* ChainedInvokeStarted lacks ExecutedVersion, and TenantId when the invoke names a tenant.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from .conftest import DEX_LOCAL_RUNNER, HOST, Process, free_port, isolated_aws_environment
from .histories import (
    PORTED_OPS,
    REFERENCE_OPS,
    Driver,
    Event,
    Gap,
    Json,
    ServeProcess,
    difference,
    driver,
    final_attempt,
    function_args,
    invocations,
    normalize,
    retries_next,
    sdk_neutral,
)

pytestmark = [pytest.mark.interop, pytest.mark.timeout(180)]

DURABLE = (
    "step-retry",
    "wait",
    "callback",
    "child-context",
    "map",
    "parallel",
    "wait-for-condition",
    "invoke",
    "failure",
    "durable-target",
)
PLAIN = ("plain-target",)

RETRY_DETAILS = Gap(
    "StepSucceeded lacks RetryDetails",
    frozenset({"StepSucceeded"}),
    (("StepSucceededDetails", "RetryDetails"),),
    applies=lambda event: not retries_next(event),
)
LAST_ATTEMPT_DELAY = Gap(
    "a step's last StepFailed carries NextAttemptDelaySeconds 0",
    frozenset({"StepFailed"}),
    (("StepFailedDetails", "RetryDetails", "NextAttemptDelaySeconds"),),
    applies=final_attempt,
)
CALLBACK_TIMEOUTS = Gap(
    "CallbackStarted lacks Timeout and HeartbeatTimeout",
    frozenset({"CallbackStarted"}),
    (("CallbackStartedDetails", "Timeout"), ("CallbackStartedDetails", "HeartbeatTimeout")),
)
TRUNCATED_ERRORS = Gap(
    "ContextFailed and CallbackFailed mark their whole error Truncated",
    frozenset({"ContextFailed", "CallbackFailed"}),
    (
        ("ContextFailedDetails", "Error", "Truncated"),
        ("CallbackFailedDetails", "Error", "Truncated"),
    ),
)
CONDITION_STATE = Gap(
    "wait_for_condition's checkpointed state is missing from StepSucceeded",
    frozenset({"StepSucceeded"}),
    (("StepSucceededDetails", "Result", "Payload"),),
    applies=retries_next,
)
EXECUTED_VERSION = Gap(
    "ChainedInvokeStarted lacks ExecutedVersion",
    frozenset({"ChainedInvokeStarted"}),
    (("ChainedInvokeStartedDetails", "ExecutedVersion"),),
)
TENANT_ID = Gap(
    "ChainedInvokeStarted lacks the TenantId the invoke names",
    frozenset({"ChainedInvokeStarted"}),
    (("ChainedInvokeStartedDetails", "TenantId"),),
)

APPROVAL = {"approved": True}
REJECTION = ("Review.Rejected", "the reviewer said no")


async def answer_callbacks(service: Driver, arn: str) -> None:
    """Approve the ``approval`` callback, then reject the ``review`` wait_for_callback's once
    its submitter has run (as an outside system answers only once it was told the id)."""
    await service.succeed_callback(arn, "approval", APPROVAL)
    await service.event(arn, "StepSucceeded", "review submitter")
    await service.fail_callback(arn, "review create callback id", *REJECTION)


@dataclass(frozen=True)
class Case:
    """One handler: the emulator's gaps it shows, and how to drive it."""

    function: str
    gaps: tuple[Gap, ...]
    # False where concurrent branches interleave differently from run to run.
    ordered: bool = True
    answer: Callable[[Driver, str], Awaitable[None]] | None = None
    # The gaps of the durable execution each chained invoke starts.
    child_gaps: tuple[Gap, ...] = ()

    def __str__(self) -> str:
        return self.function


CASES = [
    Case("step-retry", (RETRY_DETAILS,)),
    Case("wait", (RETRY_DETAILS,)),
    Case(
        "callback",
        (RETRY_DETAILS, CALLBACK_TIMEOUTS, TRUNCATED_ERRORS),
        answer=answer_callbacks,
    ),
    Case("child-context", (RETRY_DETAILS,)),
    Case("map", (RETRY_DETAILS, LAST_ATTEMPT_DELAY, TRUNCATED_ERRORS), ordered=False),
    Case("parallel", (RETRY_DETAILS,), ordered=False),
    Case("wait-for-condition", (RETRY_DETAILS, CONDITION_STATE)),
    Case("invoke", (EXECUTED_VERSION, TENANT_ID), child_gaps=(RETRY_DETAILS,)),
    Case("failure", (RETRY_DETAILS, LAST_ATTEMPT_DELAY)),
]


@dataclass
class Run:
    """One execution: its terminal GetDurableExecution, its history, its invokes' histories."""

    execution: Json
    events: list[Event]
    children: dict[str, list[Event]] = field(default_factory=dict)

    def outcome(self) -> tuple[Any, ...]:
        execution = self.execution
        return execution["Status"], execution.get("Result"), execution.get("Error")


@dataclass
class Services:
    """The URLs of the three services, and the runs made so far by function name."""

    reference_serve: str
    ported_serve: str
    dex: str
    runs: dict[str, dict[str, Run]] = field(default_factory=dict)


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    """serve with the reference handlers, serve with their ports, and dex-local-runner."""
    work = tmp_path_factory.mktemp("serve-parity")
    env = isolated_aws_environment(work)
    # The functions as Lambda would know them, told to both services alike.
    configs: dict[str, Any] = {name: {} for name in PLAIN}
    configs.update({name: {"DurableConfig": {"ExecutionTimeout": 60}} for name in DURABLE})
    names, told = [*DURABLE, *PLAIN], ["--function-configs", json.dumps(configs)]
    # Both serves start their workers while the emulator starts.
    reference = ServeProcess(
        [*function_args(REFERENCE_OPS, names), *told], work / "serve-ref.log", env
    )
    ported = ServeProcess([*function_args(PORTED_OPS, names), *told], work / "serve-port.log", env)
    host: Process | None = None
    dex: Process | None = None
    try:
        host_port, dex_port = free_port(), free_port()
        host_env = {**env, "AWS_ENDPOINT_URL_LAMBDA": f"http://{HOST}:{dex_port}"}
        host = Process.start(
            "reference host",
            [sys.executable, "-m", "tests.interop.reference_host", "--port", str(host_port)],
            host_port,
            host_env,
            work / "reference-host.log",
        )
        dex = Process.start(
            "dex-local-runner",
            [
                str(DEX_LOCAL_RUNNER),
                "start-server",
                *("--host", HOST, "--port", str(dex_port)),
                *("--lambda-endpoint", host.url),
                *("--store-type", "memory", "--invocation-timeout", "30"),
                *("--function-configs", json.dumps(configs)),
                "--no-skip-time",
                *("--log-level", "WARNING"),
            ],
            dex_port,
            env,
            work / "dex.log",
        )
        yield Services(reference.wait_ready(), ported.wait_ready(), dex.url)
    finally:
        for process in (dex, host):
            if process is not None:
                process.stop()
        reference.stop()
        ported.stop()


@dataclass
class Drivers:
    reference_serve: Driver
    ported_serve: Driver
    dex: Driver


@pytest.fixture
async def drivers(services: Services) -> AsyncIterator[Drivers]:
    async with (
        driver("serve, reference SDK", services.reference_serve) as reference,
        driver("serve, durable_async", services.ported_serve) as ported,
        driver("dex-local-runner, reference SDK", services.dex) as dex,
    ):
        yield Drivers(reference, ported, dex)


async def run(service: Driver, case: Case) -> Run:
    """Run the case's handler to its end on ``service``; read its history and its invokes'."""
    arn = await service.start(case.function, {})
    if case.answer is not None:
        await case.answer(service, arn)
    execution = await service.ended(arn)
    events = await service.history(arn)
    children = {}
    for event in events:
        details = event.get("ChainedInvokeStartedDetails", {})
        if details.get("FunctionName") == "durable-target":
            children[event["Name"]] = await service.history(details["DurableExecutionArn"])
    return Run(execution, events, children)


async def runs_of(services: Services, drivers: Drivers, case: Case) -> dict[str, Run]:
    """The case's three runs, made at once the first time a test asks for them."""
    if case.function not in services.runs:
        reference, ported, dex = await asyncio.gather(
            run(drivers.reference_serve, case),
            run(drivers.ported_serve, case),
            run(drivers.dex, case),
        )
        services.runs[case.function] = {"reference": reference, "ported": ported, "dex": dex}
    return services.runs[case.function]


def assert_same_events(ours: list[Event], theirs: list[Event], ordered: bool) -> None:
    diff = difference(ours, theirs, ordered=ordered)
    assert not diff, f"the histories differ:\n{diff}"


def assert_same_but_gaps(
    ours: list[Event], theirs: list[Event], case: Case, gaps: tuple[Gap, ...]
) -> None:
    ours, theirs = normalize(ours), normalize(theirs)
    for gap in gaps:
        assert gap.shows(ours, theirs), (
            f"dex-local-runner no longer shows the gap {gap.name!r} in {case}: take it off the case"
        )
        ours, theirs = gap.strip(ours), gap.strip(theirs)
    assert_same_events(ours, theirs, case.ordered)


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_reference_handler_history_on_serve_matches_dex(
    services: Services, drivers: Drivers, case: Case
) -> None:
    """A reference SDK handler leaves the history on serve it leaves on dex-local-runner,
    outcome included, but for the emulator's named gaps."""
    runs = await runs_of(services, drivers, case)
    ours, theirs = runs["reference"], runs["dex"]

    assert ours.outcome() == theirs.outcome()
    assert_same_but_gaps(ours.events, theirs.events, case, case.gaps)
    assert ours.children.keys() == theirs.children.keys()
    for name, events in ours.children.items():
        assert_same_but_gaps(events, theirs.children[name], case, case.child_gaps)
    # The gap every history shows: the emulator records no details of an invocation.
    assert all("InvocationCompletedDetails" not in e for e in invocations(theirs.events))
    for event in invocations(ours.events):
        assert {"RequestId", "StartTimestamp", "EndTimestamp"} <= event[
            "InvocationCompletedDetails"
        ].keys()


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_ported_handler_history_matches_the_reference_on_serve(
    services: Services, drivers: Drivers, case: Case
) -> None:
    """serve records the same history for a reference SDK handler and for its durable_async
    port: it holds no behaviour special to either SDK."""
    runs = await runs_of(services, drivers, case)
    reference, ported = runs["reference"], runs["ported"]

    assert reference.execution["Status"] == ported.execution["Status"]
    assert reference.execution.get("Result") == ported.execution.get("Result")
    assert sdk_neutral(reference.execution.get("Error")) == sdk_neutral(
        ported.execution.get("Error")
    )
    assert_same_events(
        normalize(reference.events, neutral=True),
        normalize(ported.events, neutral=True),
        case.ordered,
    )
    assert reference.children.keys() == ported.children.keys()
    for name, events in reference.children.items():
        assert_same_events(
            normalize(events, neutral=True),
            normalize(ported.children[name], neutral=True),
            case.ordered,
        )


async def test_a_chained_invoke_target_has_its_execution_timeout(
    services: Services, drivers: Drivers
) -> None:
    """The durable execution a chained invoke starts records the target function's configured
    ExecutionTimeout, as dex-local-runner records it (and Lambda, where every durable function
    has one)."""
    case = next(case for case in CASES if case.function == "invoke")
    runs = await runs_of(services, drivers, case)
    for service in ("dex", "reference", "ported"):
        started = runs[service].children["durable-call"][0]
        assert started["ExecutionStartedDetails"].get("ExecutionTimeout") == 60, service
