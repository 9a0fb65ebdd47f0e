"""CompletionConfig(should_complete=...): custom completion of map and parallel, vs the reference.

Each scenario runs twice: as a durable_async handler on DurableTestRunner and as the same
handler written for the reference SDK on its in-process DurableFunctionTestRunner. Their
results and operation statuses must agree.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext as RefContext
from aws_durable_execution_sdk_python import config as ref_config
from aws_durable_execution_sdk_python import durable_execution as ref_durable_execution
from aws_durable_execution_sdk_python import exceptions as ref_exceptions
from aws_durable_execution_sdk_python.concurrency import models as ref_models

from durable_async import DurableContext, durable_execution
from durable_async.concurrency.models import (
    BatchCompletionError,
    BatchItem,
    BatchResult,
    CompletionPolicy,
    CompletionReason,
)
from durable_async.config import (
    BatchItemStatus,
    CompletionConfig,
    CompletionDecision,
    CompletionOutcome,
    CompletionStatus,
    Duration,
    MapConfig,
    ParallelBranch,
    ParallelConfig,
    StepConfig,
    complete_batch,
    continue_batch,
)
from durable_async.exceptions import ChildContextError, ValidationError
from durable_async.retries import RetryPresets
from durable_async.testing import DurableTestResult, DurableTestRunner, ExecutionStatus
from tests.side_by_side import our_history, run_reference

# A rule reads a status (ours or the reference's: same attributes) and answers "continue",
# "succeeded" or "failed"; each side turns the answer into its own CompletionDecision.
Rule = Callable[[Any], str]
Snapshot = tuple[int, int, int, int, tuple[tuple[int, str | None, str | None], ...]]
NO_RETRY = StepConfig(retry_strategy=RetryPresets.none())


def snapshot(status: Any) -> Snapshot:
    """A status as plain values, comparable across the two SDKs."""
    items = tuple((i.index, i.name, i.status and i.status.value) for i in status.items)
    counts = (status.success_count, status.failure_count, status.completed_count)
    return (*counts, status.total_count, items)


def summary(batch: Any) -> dict[str, Any]:
    """A batch result as plain values, comparable across the two SDKs."""
    return {
        "reason": batch.completion_reason.value,
        "status": batch.status.value,
        "items": [item.status.value for item in batch.all],
        "results": batch.get_results(),
        "errors": [_message(error) for error in batch.get_errors()],
    }


def _message(error: Any) -> str | None:
    """A failed item's message (ours names it ``error_message``, the reference ``message``)."""
    return error and (getattr(error, "error_message", None) or getattr(error, "message", None))


# Our side.


def our_predicate(rule: Rule, seen: list[Snapshot]) -> Callable[[CompletionStatus], Any]:
    """Our should_complete for ``rule``, recording each status it is shown."""

    def decide(status: CompletionStatus) -> CompletionDecision:
        seen.append(snapshot(status))
        answer = rule(status)
        if answer == "continue":
            return continue_batch()
        return complete_batch(CompletionOutcome[answer.upper()])

    return decide


def our_branch(kind: str, index: int, runs: list[str]) -> Any:
    """A branch: "ok" returns its index from a step, "fail" raises, "wait" waits 2 s first,
    "hang" waits for a callback nobody answers."""

    async def branch(ctx: DurableContext) -> int:
        if kind == "hang":
            callback = await ctx.create_callback(name=f"cb{index}")
            await callback.result()
        if kind == "wait":
            await ctx.wait(Duration.from_seconds(2), name=f"w{index}")

        def work(_: Any) -> int:
            runs.append(f"s{index}")
            if kind == "fail":
                raise ValueError(f"branch {index} failed")
            return index

        return await ctx.step(work, name=f"s{index}", config=NO_RETRY)

    return branch


def our_handler(
    kinds: list[str], rule: Rule, seen: list[Snapshot], runs: list[str], **options: Any
) -> Any:
    """A parallel of ``kinds`` under ``rule``; with ``throw``, throw_if_error escapes."""
    names = options.get("names", {})
    functions = [
        ParallelBranch(our_branch(k, i, runs), name=names[i])
        if i in names
        else our_branch(k, i, runs)
        for i, k in enumerate(kinds)
    ]
    completion = CompletionConfig(should_complete=our_predicate(rule, seen))
    config = ParallelConfig(max_concurrency=options.get("limit"), completion_config=completion)

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> dict[str, Any]:
        batch = await ctx.parallel(functions, name="par", config=config)
        if options.get("throw"):
            batch.throw_if_error()
        after = await ctx.step(lambda _: runs.append("after") or len(runs), name="after")
        return {**summary(batch), "after": after > 0}

    return handler


async def run_ours(handler: Any) -> DurableTestResult:
    """Run ``handler`` to its end on the embedded service, skipping time."""
    async with DurableTestRunner(handler, skip_time=True) as runner:
        return await runner.run(input={}, timeout=30)


def our_outcome(result: DurableTestResult) -> tuple[Any, ...]:
    """(status, result, (error type's last part, message)) of our execution."""
    error = result.error
    described = error and ((error.error_type or "").rsplit(".", 1)[-1], error.error_message)
    return result.status.value, result.result, described


# The reference side: the same handlers written for aws-durable-execution-sdk-python 3.0.0.


def ref_predicate(rule: Rule, seen: list[Snapshot]) -> Callable[[Any], Any]:
    """The reference twin of ``our_predicate``."""

    def decide(status: Any) -> Any:
        seen.append(snapshot(status))
        answer = rule(status)
        if answer == "continue":
            return ref_config.continue_batch()
        return ref_config.complete_batch(ref_config.CompletionOutcome[answer.upper()])

    return decide


def ref_branch(kind: str, index: int) -> Any:
    """The reference twin of ``our_branch``."""

    def branch(ctx: RefContext) -> int:
        if kind == "hang":
            ctx.create_callback(name=f"cb{index}").result()
        if kind == "wait":
            ctx.wait(ref_config.Duration.from_seconds(2), name=f"w{index}")

        def work(_: Any) -> int:
            if kind == "fail":
                raise ValueError(f"branch {index} failed")
            return index

        from aws_durable_execution_sdk_python.retries import RetryPresets as RefPresets

        step_config = ref_config.StepConfig(retry_strategy=RefPresets.none())
        return ctx.step(work, name=f"s{index}", config=step_config)

    return branch


def ref_handler(kinds: list[str], rule: Rule, seen: list[Snapshot], **options: Any) -> Any:
    """The reference twin of ``our_handler``."""
    names = options.get("names", {})
    functions = [
        ref_config.ParallelBranch(ref_branch(k, i), name=names[i])
        if i in names
        else ref_branch(k, i)
        for i, k in enumerate(kinds)
    ]
    completion = ref_config.CompletionConfig(should_complete=ref_predicate(rule, seen))
    config = ref_config.ParallelConfig(
        max_concurrency=options.get("limit"), completion_config=completion
    )

    @ref_durable_execution
    def handler(event: Any, ctx: RefContext) -> dict[str, Any]:
        batch = ctx.parallel(functions, name="par", config=config)
        if options.get("throw"):
            batch.throw_if_error()
        after = ctx.step(lambda _: 1, name="after")
        return {**summary(batch), "after": after > 0}

    return handler


@pytest.fixture(autouse=True)
def _quiet_reference_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Keep the reference SDK's failure tracebacks out of the test output."""
    caplog.set_level("CRITICAL")


async def side_by_side(
    kinds: list[str], rule: Rule, **options: Any
) -> tuple[DurableTestResult, list[Snapshot], list[Snapshot], list[str]]:
    """Run the scenario on both SDKs, assert equal outcomes and histories, return ours."""
    seen: list[Snapshot] = []
    ref_seen: list[Snapshot] = []
    runs: list[str] = []
    result = await run_ours(our_handler(kinds, rule, seen, runs, **options))
    ref_outcome, ref_ops = run_reference(ref_handler(kinds, rule, ref_seen, **options))
    assert our_outcome(result) == ref_outcome
    assert our_history(result) == ref_ops
    return result, seen, ref_seen, runs


def two_successes(status: Any) -> str:
    return "succeeded" if status.success_count >= 2 else "continue"


# Scenarios, each checked against the reference.


async def test_completes_after_two_successes_and_never_starts_the_third() -> None:
    """With one branch at a time, two successes complete the batch before branch 2 starts."""
    result, seen, ref_seen, runs = await side_by_side(["ok", "ok", "ok"], two_successes, limit=1)
    assert result.result == {
        "reason": "CUSTOM_COMPLETION_SUCCEEDED",
        "status": "SUCCEEDED",
        "items": ["SUCCEEDED", "SUCCEEDED"],
        "results": [0, 1],
        "errors": [],
        "after": True,
    }
    assert runs == ["s0", "s1", "after"]
    assert seen == ref_seen


async def test_the_predicate_sees_every_branch_by_index_with_its_name() -> None:
    """The snapshots: none started, then each end in turn, names given only where set."""
    result, seen, ref_seen, _ = await side_by_side(
        ["ok", "fail", "ok"], lambda s: "continue", limit=1, names={0: "zero", 2: "two"}
    )
    never, started, ok, failed = None, "STARTED", "SUCCEEDED", "FAILED"
    assert (
        seen
        == ref_seen
        == [
            (0, 0, 0, 3, ((0, "zero", never), (1, None, never), (2, "two", never))),
            (1, 0, 1, 3, ((0, "zero", ok), (1, None, never), (2, "two", never))),
            (1, 1, 2, 3, ((0, "zero", ok), (1, None, failed), (2, "two", never))),
            (2, 1, 3, 3, ((0, "zero", ok), (1, None, failed), (2, "two", ok))),
        ]
    )
    assert started not in {s for *_, items in seen for _, _, s in items}
    assert result.get_context("two").status.value == "SUCCEEDED"


async def test_running_branches_are_started_in_the_snapshot() -> None:
    """Without a limit every branch is STARTED by the time the first one ends."""
    _, seen, ref_seen, _ = await side_by_side(
        ["ok", "hang"], lambda s: "succeeded" if s.success_count else "continue"
    )
    assert seen[0] == ref_seen[0] == (0, 0, 0, 2, ((0, None, None), (1, None, None)))
    assert seen[-1] == ref_seen[-1] == (1, 0, 1, 2, ((0, None, "SUCCEEDED"), (1, None, "STARTED")))


async def test_a_failed_outcome_with_no_failed_item_raises_batch_completion_error() -> None:
    """complete_batch(FAILED) marks the batch FAILED; throw_if_error raises BatchCompletionError."""
    result, _, _, _ = await side_by_side(
        ["ok", "ok", "ok"],
        lambda s: "failed" if s.success_count >= 1 else "continue",
        limit=1,
        throw=True,
    )
    assert result.status is ExecutionStatus.FAILED
    assert result.error is not None
    assert result.error.error_type == "durable_async.concurrency.models.BatchCompletionError"
    assert result.error.error_message == (
        "Batch completed as failed by should_complete (CUSTOM_COMPLETION_FAILED)"
    )


async def test_a_failed_outcome_is_recorded_as_the_batch_reason() -> None:
    """Without throw_if_error the batch returns with reason CUSTOM_COMPLETION_FAILED."""
    result, _, _, _ = await side_by_side(
        ["ok", "ok", "ok"], lambda s: "failed" if s.success_count >= 1 else "continue", limit=1
    )
    assert result.result["reason"] == "CUSTOM_COMPLETION_FAILED"
    assert result.result["status"] == "FAILED"
    assert result.result["items"] == ["SUCCEEDED"]


async def test_continue_batch_runs_every_branch_whatever_fails() -> None:
    """A predicate that always continues runs every branch, failures and all: ALL_COMPLETED."""
    result, seen, _, runs = await side_by_side(["fail", "ok", "fail", "ok"], lambda s: "continue")
    assert result.result["reason"] == "ALL_COMPLETED"
    assert result.result["items"] == ["FAILED", "SUCCEEDED", "FAILED", "SUCCEEDED"]
    assert result.result["status"] == "FAILED"
    assert len(seen) == 5  # once at the start, once per branch end
    assert sorted(runs) == ["after", "s0", "s1", "s2", "s3"]


async def test_failures_do_not_end_a_predicate_batch_and_a_success_outcome_wins() -> None:
    """A predicate owns early exit: failures never end the batch, its SUCCEEDED is the status."""
    result, _, _, _ = await side_by_side(["fail", "fail", "ok", "ok", "ok"], two_successes, limit=1)
    assert result.result == {
        "reason": "CUSTOM_COMPLETION_SUCCEEDED",
        "status": "SUCCEEDED",
        "items": ["FAILED", "FAILED", "SUCCEEDED", "SUCCEEDED"],
        "results": [2, 3],
        "errors": ["branch 0 failed", "branch 1 failed"],
        "after": True,
    }


async def test_completing_at_the_start_runs_no_branch() -> None:
    """A predicate that completes on the zero-progress snapshot starts no branch at all."""
    result, seen, ref_seen, runs = await side_by_side(["ok", "ok"], lambda s: "succeeded")
    assert result.result["items"] == []
    assert result.result["reason"] == "CUSTOM_COMPLETION_SUCCEEDED"
    assert runs == ["after"]
    assert seen == ref_seen == [(0, 0, 0, 2, ((0, None, None), (1, None, None)))]


async def test_an_empty_batch_asks_the_predicate_once() -> None:
    """With no branches the predicate is asked once, and its answer is the reason."""
    result, seen, ref_seen, _ = await side_by_side([], lambda s: "failed")
    assert result.result["reason"] == "CUSTOM_COMPLETION_FAILED"
    assert seen == ref_seen == [(0, 0, 0, 0, ())]


async def test_a_predicate_that_raises_fails_the_batch() -> None:
    """An error in should_complete fails the parallel operation and the execution."""

    def broken(status: Any) -> str:
        if status.completed_count:
            raise RuntimeError("quorum service down")
        return "continue"

    result, _, _, _ = await side_by_side(["ok", "ok"], broken, limit=1)
    assert result.status is ExecutionStatus.FAILED
    assert result.get_context("par").status.value == "FAILED"


async def test_replay_after_a_waiting_branch_completes_without_rerunning_work() -> None:
    """A batch suspended on a wait resumes: finished steps replay, an abandoned branch stays put."""
    result, seen, _, runs = await side_by_side(["wait", "ok", "hang"], two_successes)
    assert result.result["reason"] == "CUSTOM_COMPLETION_SUCCEEDED"
    assert result.result["items"] == ["SUCCEEDED", "SUCCEEDED", "STARTED"]
    assert result.invocations == 2
    assert runs == ["s1", "s0", "after"]
    # First invocation: start, branch 1's end. Second: start, branch 1 replayed, branch 0.
    assert [s[:3] for s in seen] == [(0, 0, 0), (1, 0, 1), (0, 0, 0), (1, 0, 1), (2, 0, 2)]


async def test_map_items_are_named_by_item_namer_in_the_snapshot() -> None:
    """A map's snapshot names items as item_namer does; results and reason match the reference."""
    seen: list[Snapshot] = []
    ref_seen: list[Snapshot] = []

    def namer(item: Any, index: int) -> str:
        return f"item-{item}"

    async def double(ctx: DurableContext, item: int, index: int, items: Any) -> int:
        return await ctx.step(lambda _: item * 2, name=f"d{index}")

    completion = CompletionConfig(should_complete=our_predicate(two_successes, seen))
    config = MapConfig(max_concurrency=1, completion_config=completion, item_namer=namer)

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> dict[str, Any]:
        return summary(await ctx.map([5, 6, 7], double, name="m", config=config))

    def ref_double(ctx: RefContext, item: int, index: int, items: Any) -> int:
        return ctx.step(lambda _: item * 2, name=f"d{index}")

    ref_completion = ref_config.CompletionConfig(
        should_complete=ref_predicate(two_successes, ref_seen)
    )
    ref_map = ref_config.MapConfig(
        max_concurrency=1, completion_config=ref_completion, item_namer=namer
    )

    @ref_durable_execution
    def ref(event: Any, ctx: RefContext) -> dict[str, Any]:
        return summary(ctx.map([5, 6, 7], ref_double, name="m", config=ref_map))

    result = await run_ours(handler)
    ref_outcome, ref_ops = run_reference(ref)
    assert our_outcome(result) == ref_outcome
    assert our_history(result) == ref_ops
    assert result.result["results"] == [10, 12]
    assert seen == ref_seen
    assert seen[-1][4] == (
        (0, "item-5", "SUCCEEDED"),
        (1, "item-6", "SUCCEEDED"),
        (2, "item-7", None),
    )


async def test_a_large_result_replays_its_recorded_custom_reason_without_asking_again() -> None:
    """A result too large to store is rebuilt with its recorded reason, without the predicate."""
    seen: list[Snapshot] = []
    ref_seen: list[Snapshot] = []
    invocations: list[int] = []

    def fail_after_two(status: Any) -> str:
        return "failed" if status.success_count >= 2 else "continue"

    async def big(ctx: DurableContext, item: int, index: int, items: Any) -> str:
        return await ctx.step(lambda _: str(item) * 150_000, name=f"b{index}")

    completion = CompletionConfig(should_complete=our_predicate(fail_after_two, seen))
    config = MapConfig(max_concurrency=1, completion_config=completion)

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> dict[str, Any]:
        invocations.append(len(seen))
        batch = await ctx.map([1, 2, 3, 4], big, name="m", config=config)
        await ctx.wait(Duration.from_seconds(1), name="pause")
        return {**summary(batch), "results": [len(r) for r in batch.get_results()]}

    def ref_big(ctx: RefContext, item: int, index: int, items: Any) -> str:
        return ctx.step(lambda _: str(item) * 150_000, name=f"b{index}")

    ref_completion = ref_config.CompletionConfig(
        should_complete=ref_predicate(fail_after_two, ref_seen)
    )
    ref_map = ref_config.MapConfig(max_concurrency=1, completion_config=ref_completion)

    @ref_durable_execution
    def ref(event: Any, ctx: RefContext) -> dict[str, Any]:
        batch = ctx.map([1, 2, 3, 4], ref_big, name="m", config=ref_map)
        ctx.wait(ref_config.Duration.from_seconds(1), name="pause")
        return {**summary(batch), "results": [len(r) for r in batch.get_results()]}

    result = await run_ours(handler)
    ref_outcome, ref_ops = run_reference(ref)
    assert our_outcome(result) == ref_outcome
    assert our_history(result) == ref_ops
    assert result.result["reason"] == "CUSTOM_COMPLETION_FAILED"
    assert result.result["items"] == ["SUCCEEDED", "SUCCEEDED"]
    assert json.loads(result.get_context("m").result or "")["completionReason"] == (
        "CUSTOM_COMPLETION_FAILED"
    )
    assert invocations == [0, 3]  # the second invocation starts after 3 calls, and adds none
    assert len(seen) == len(ref_seen) == 3


def test_predicate_that_returns_no_decision_is_refused_with_what_to_return() -> None:
    """A should_complete returning a bool is refused, naming complete_batch and continue_batch."""
    policy = CompletionPolicy.from_config(2, CompletionConfig(should_complete=lambda s: True))  # type: ignore[arg-type,return-value]
    with pytest.raises(ValidationError, match=r"complete_batch\(\) or continue_batch\(\)"):
        policy.evaluate(0, 0)


# Validation, beside the reference.


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda c: c.CompletionConfig(min_successful=1, should_complete=len), id="min"),
        pytest.param(
            lambda c: c.CompletionConfig(tolerated_failure_count=0, should_complete=len), id="count"
        ),
        pytest.param(
            lambda c: c.CompletionConfig(tolerated_failure_percentage=0, should_complete=len),
            id="percentage",
        ),
        pytest.param(lambda c: c.CompletionConfig(should_complete=3), id="not-callable"),
        pytest.param(lambda c: c.CompletionDecision(complete=True), id="complete-no-outcome"),
        pytest.param(
            lambda c: c.CompletionDecision(False, c.CompletionOutcome.FAILED), id="continue-outcome"
        ),
    ],
)
def test_invalid_completion_values_are_refused_like_the_reference(make: Any) -> None:
    """Each invalid value raises ValidationError here and in the reference."""
    import durable_async.config as ours

    with pytest.raises(ValidationError) as caught:
        make(ours)
    with pytest.raises(ref_exceptions.ValidationError):
        make(ref_config)
    assert str(caught.value).endswith(".")


def test_combining_should_complete_says_which_field_to_drop() -> None:
    """The combination error names the offending field and says where the limit belongs."""
    with pytest.raises(ValidationError, match=r"got min_successful\); express those limits"):
        CompletionConfig(min_successful=2, should_complete=lambda s: continue_batch())


def test_decision_factories_match_the_reference() -> None:
    """complete_batch and continue_batch build the reference's decisions."""
    assert complete_batch() == CompletionDecision(True, CompletionOutcome.SUCCEEDED)
    assert complete_batch(CompletionOutcome.FAILED).outcome is CompletionOutcome.FAILED
    assert continue_batch() == CompletionDecision(False)
    ref = ref_config.complete_batch(ref_config.CompletionOutcome.FAILED)
    assert (ref.complete, ref.outcome.value) == (True, "FAILED")  # type: ignore[union-attr]


# The policy and the models, value for value against the reference.


POLICIES: list[Any] = [
    pytest.param({}, id="fail-fast"),
    pytest.param({"min_successful": 2}, id="min-2"),
    pytest.param({"tolerated_failure_count": 1}, id="count-1"),
    pytest.param({"tolerated_failure_percentage": 40}, id="pct-40"),
    pytest.param({"min_successful": 1, "tolerated_failure_count": 0}, id="min-1-count-0"),
    pytest.param({"should_complete": "two"}, id="two-successes"),
    pytest.param({"should_complete": "fail-on-failure"}, id="fail-on-failure"),
    pytest.param({"should_complete": "never"}, id="never"),
]


def _rule(name: str) -> Rule:
    rules: dict[str, Rule] = {
        "two": two_successes,
        "fail-on-failure": lambda s: "failed" if s.failure_count else "continue",
        "never": lambda s: "continue",
    }
    return rules[name]


@pytest.mark.parametrize("fields", POLICIES)
def test_completion_policy_agrees_with_the_reference_everywhere(fields: dict[str, Any]) -> None:
    """For every progress of a 5-branch batch, completion, continuation and reason match."""
    ours, ref = dict(fields), dict(fields)
    if "should_complete" in fields:
        rule = _rule(fields["should_complete"])
        ours["should_complete"] = our_predicate(rule, [])
        ref["should_complete"] = ref_predicate(rule, [])
    policy = CompletionPolicy.from_config(5, CompletionConfig(**ours))
    ref_policy = ref_models.CompletionPolicy.from_config(5, ref_config.CompletionConfig(**ref))
    for succeeded in range(6):
        for failed in range(6 - succeeded):
            assert policy.is_complete(succeeded, failed) == ref_policy.is_complete(
                succeeded, failed
            ), (succeeded, failed)
            assert policy.should_continue(failed) == ref_policy.should_continue(failed)
            reason = policy.reason(succeeded, failed).value
            assert reason == ref_policy.reason(succeeded, failed).value, (succeeded, failed)


@pytest.mark.parametrize("reason", [r.value for r in CompletionReason])
@pytest.mark.parametrize("failed", [False, True])
def test_batch_result_status_and_throw_match_the_reference(reason: str, failed: bool) -> None:
    """status and throw_if_error agree with the reference for each reason, failure or not."""
    data = {
        "all": [
            {"index": 0, "status": "SUCCEEDED", "result": 1, "error": None},
            {
                "index": 1,
                "status": "FAILED" if failed else "STARTED",
                "result": None,
                "error": {"ErrorType": "ValueError", "ErrorMessage": "bad"} if failed else None,
            },
        ],
        "completionReason": reason,
    }
    batch = BatchResult.from_dict(data)
    ref_batch = ref_models.BatchResult.from_dict(data)
    assert batch.status.value == ref_batch.status.value
    assert batch.to_dict() == ref_batch.to_dict()
    raised = ref_raised = None
    try:
        batch.throw_if_error()
    except (ChildContextError, BatchCompletionError) as error:
        raised = (type(error).__name__, error.message)
    try:
        ref_batch.throw_if_error()
    except Exception as error:  # compared by name below
        ref_raised = (type(error).__name__, getattr(error, "message", None))
    assert raised == ref_raised


@pytest.mark.parametrize("rule", ["two", "fail-on-failure", "never"])
def test_a_missing_reason_is_inferred_from_the_predicate_like_the_reference(rule: str) -> None:
    """from_dict without completionReason asks the config's predicate, as the reference does."""
    data = {
        "all": [
            {"index": 0, "status": "SUCCEEDED", "result": 1, "error": None},
            {"index": 1, "status": "FAILED", "result": None, "error": {"ErrorMessage": "x"}},
            {"index": 2, "status": "SUCCEEDED", "result": 3, "error": None},
        ]
    }
    ours = CompletionConfig(should_complete=our_predicate(_rule(rule), []))
    ref = ref_config.CompletionConfig(should_complete=ref_predicate(_rule(rule), []))
    got = BatchResult.from_dict(data, ours).completion_reason.value
    assert got == ref_models.BatchResult.from_dict(data, ref).completion_reason.value


def test_batch_completion_error_pickles_and_reads_like_the_reference() -> None:
    """BatchCompletionError has the reference's reason and message and keeps them in pickle."""
    error = BatchCompletionError()
    ref_error = ref_models.BatchCompletionError()
    assert (error.message, error.completion_reason.value) == (
        ref_error.message,
        ref_error.completion_reason.value,
    )
    copy = pickle.loads(pickle.dumps(BatchCompletionError(message="quorum lost")))
    assert (copy.message, copy.completion_reason) == ("quorum lost", error.completion_reason)
    assert isinstance(copy, BatchCompletionError)


def test_the_reference_module_paths_hold_one_implementation() -> None:
    """concurrency.models and config hold the reference's names; batch re-exports the same ones."""
    import durable_async.batch as batch
    import durable_async.concurrency.models as models
    import durable_async.config as config

    thread_internals = {"Branch", "BranchEvent", "BranchEventKind", "BranchStatus", "Executable"}
    ref_names = {
        name
        for name, value in vars(ref_models).items()
        if not name.startswith("_")
        and isinstance(value, type | Callable)
        and getattr(value, "__module__", "") == ref_models.__name__
    }
    assert ref_names - thread_internals - set(vars(models)) == set()
    for name in (
        "BatchItemStatus",
        "CompletionDecision",
        "CompletionItemStatus",
        "CompletionOutcome",
        "CompletionStatus",
        "complete_batch",
        "continue_batch",
    ):
        assert getattr(config, name) is getattr(models, name, getattr(config, name))
        assert hasattr(ref_config, name)
    for name in batch.__all__:
        assert getattr(batch, name) is getattr(models, name)
    assert BatchItem is models.BatchItem
    assert BatchItemStatus is models.BatchItemStatus
