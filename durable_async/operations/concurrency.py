"""ctx.map and ctx.parallel: branches as tasks under one coordinator.

A batch is a CONTEXT operation (SubType Map or Parallel) whose branches are child contexts with
ids derived from their index, so the ids do not depend on which branch ran first. Branches are
admitted in index order, at most ``max_concurrency`` at once; a branch waiting for the service
keeps its slot. When the completion policy is met, nothing new starts in unfinished branches: a
branch only waiting for the service is cancelled, one in the middle of a step body finishes it
and records it before the invocation returns (see ``_Batch.abandon``).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from durable_async._activity import Activity
from durable_async._checkpoint import Scope
from durable_async._context import DurableContext, OperationRef
from durable_async._ids import operation_id
from durable_async._models import ErrorObject, Operation, OperationType
from durable_async.concurrency.models import (
    BatchItem,
    BatchItemStatus,
    BatchResult,
    CompletionPolicy,
    CompletionReason,
    CompletionRecord,
    envelope_summary_generator,
)
from durable_async.config import (
    ChildConfig,
    CompletionConfig,
    CompletionDecision,
    CompletionItemStatus,
    MapConfig,
    NestingType,
    ParallelBranch,
    ParallelConfig,
)
from durable_async.exceptions import (
    DurableOperationError,
    ExecutionError,
    InvocationError,
    NonDeterministicExecutionError,
    ValidationError,
)
from durable_async.operations.batch_serdes import ItemTextBatchSerDes
from durable_async.operations.child import CHECKPOINT_SIZE_LIMIT, run_child, run_unrecorded
from durable_async.serdes import EXTENDED_TYPES_SERDES, ExtendedTypesSerDes, SerDes
from durable_async.serdes import deserialize as decode
from durable_async.serdes import serialize as encode

__all__ = ["run_map", "run_parallel", "validate_completion"]

BranchFunc = Callable[[DurableContext], Awaitable[Any] | Any]
_BATCH_SERDES: SerDes[Any] = ExtendedTypesSerDes(batch_result_type=BatchResult)


@dataclass(frozen=True, slots=True)
class _Branch:
    index: int
    func: BranchFunc
    name: str
    given_name: str | None = None


class _Branches:
    """A batch's branches, each made when it is asked for (a map's when its item starts).

    So a map over many items starts its first branches, and its first checkpoint call, without
    first building a branch (a closure, a name) for every item.
    """

    def __init__(
        self, count: int, make: Callable[[int], _Branch], given_name: Callable[[int], str | None]
    ) -> None:
        self._count = count
        self._make = make
        #: The name the user gave branch ``index`` (None if none), without making the branch.
        self.given_name = given_name

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: int) -> _Branch:
        return self._make(index)

    def __iter__(self) -> Iterator[_Branch]:
        return map(self._make, range(self._count))


@dataclass(frozen=True, slots=True)
class _Shape:
    """What differs between map and parallel."""

    sub_type: str
    item_sub_type: str
    result_type: str
    max_concurrency: int | None
    completion: CompletionConfig
    serdes: SerDes[Any] | None
    item_serdes: SerDes[Any] | None
    summary_generator: Callable[[Any], str] | None
    nesting: NestingType


def validate_completion(config: CompletionConfig, total: int) -> None:
    """Raise ValidationError when the completion policy cannot be met by ``total`` items."""
    if config.min_successful is not None and config.min_successful > total:
        raise ValidationError(
            f"min_successful is {config.min_successful} but there are only {total} items; "
            "lower min_successful or pass more items."
        )


async def run_map(
    ctx: DurableContext,
    op_id: str,
    items: Sequence[Any],
    func: Callable[[DurableContext, Any, int, Sequence[Any]], Any],
    name: str | None,
    config: MapConfig,
) -> BatchResult[Any]:
    """Run ``func(ctx, item, index, items)`` for every item; return the BatchResult."""

    def bind(index: int, item: Any) -> BranchFunc:
        return lambda child: func(child, item, index, items)

    namer = config.item_namer
    # Names are asked for up front (a namer that raises fails the call, before anything runs).
    names = [namer(item, i) for i, item in enumerate(items)] if namer else None

    def given_name(index: int) -> str | None:
        return names[index] if names is not None else None

    def branch(index: int) -> _Branch:
        given = given_name(index)
        return _Branch(index, bind(index, items[index]), given or f"map-item-{index}", given)

    shape = _Shape(
        "Map",
        "MapIteration",
        "MapResult",
        config.max_concurrency,
        config.completion_config,
        config.serdes,
        config.item_serdes,
        config.summary_generator,
        config.nesting_type,
    )
    branches = _Branches(len(items), branch, given_name)
    return await _run_batch(ctx, op_id, name, branches, shape)


async def run_parallel(
    ctx: DurableContext,
    op_id: str,
    functions: Sequence[BranchFunc | ParallelBranch[Any]],
    name: str | None,
    config: ParallelConfig,
) -> BatchResult[Any]:
    """Run every function in its own branch; return the BatchResult."""

    def given_name(index: int) -> str | None:
        func = functions[index]
        return func.name if isinstance(func, ParallelBranch) else None

    def branch(index: int) -> _Branch:
        given = given_name(index)
        return _Branch(index, functions[index], given or f"parallel-branch-{index}", given)

    shape = _Shape(
        "Parallel",
        "ParallelBranch",
        "ParallelResult",
        config.max_concurrency,
        config.completion_config,
        config.serdes,
        config.item_serdes,
        config.summary_generator,
        config.nesting_type,
    )
    branches = _Branches(len(functions), branch, given_name)
    return await _run_batch(ctx, op_id, name, branches, shape)


async def _run_batch(
    ctx: DurableContext, op_id: str, name: str | None, branches: _Branches, shape: _Shape
) -> BatchResult[Any]:
    async def body(batch_ctx: DurableContext) -> BatchResult[Any]:
        batch = _Batch(batch_ctx, op_id, branches, shape)
        recorded = ctx.runtime.state.get(op_id)
        if recorded is not None and recorded.replay_children:
            return await batch.rebuild(recorded)
        return await batch.execute()

    summary = envelope_summary_generator(shape.result_type, shape.summary_generator)
    config = ChildConfig(serdes=_batch_serdes(ctx, shape), summary_generator=summary)
    # Under our own SerDes the BatchResult decodes to an equal one (its items were round-tripped
    # by their branches): decoding a map's whole result again would only cost time.
    ours = shape.serdes is None
    result: BatchResult[Any] = await run_child(
        ctx,
        op_id,
        body,
        name,
        config,
        sub_type=shape.sub_type,
        round_trip=not ours,
        too_large=_surely_too_large if ours else None,
    )
    return result


#: The fewest characters one item takes in a BatchResult's text under our SerDes: its index,
#: status, result and error, each in a typed envelope (``{"t":"i","v":0}``), are over 90.
_MIN_ITEM_CHARS = 64


def _surely_too_large(result: BatchResult[Any]) -> bool:
    """Whether ``result``'s text under our SerDes must pass the checkpoint size limit.

    A map of 10,000 items would otherwise write a megabyte of JSON to learn only its length.
    """
    return len(result.all) * _MIN_ITEM_CHARS > CHECKPOINT_SIZE_LIMIT


def _batch_serdes(ctx: DurableContext, shape: _Shape) -> SerDes[Any]:
    """The BatchResult's own SerDes, else one carrying the handler default's item text."""
    if shape.serdes is not None:
        return shape.serdes
    default = ctx.runtime.default_serdes
    if default is None:
        return _BATCH_SERDES
    return ItemTextBatchSerDes(shape.item_serdes or default)


class _Progress:
    """How far a batch has got, as its CompletionPolicy judges it.

    The predicate is asked once when the batch starts and once after each branch ends; its
    latest answer decides both whether the batch is complete and why.
    """

    def __init__(self, policy: CompletionPolicy, branches: _Branches) -> None:
        self.policy = policy
        self.branches = branches
        # Only a should_complete predicate reads them (in its snapshot): without one, a map of
        # 100,000 items keeps no dict of 100,000 statuses for the collector to walk.
        self.statuses: dict[int, BatchItemStatus] = {}
        self.tracked = policy.should_complete is not None
        self.succeeded = self.failed = 0
        self.decision: CompletionDecision | None = None

    def start(self, index: int) -> None:
        if self.tracked:
            self.statuses[index] = BatchItemStatus.STARTED

    def finish(self, item: BatchItem[Any]) -> None:
        """Count a branch that ended and ask the predicate about the new progress."""
        if self.tracked:
            self.statuses[item.index] = item.status
        self.succeeded += item.status is BatchItemStatus.SUCCEEDED
        self.failed += item.status is BatchItemStatus.FAILED
        self.evaluate()

    def evaluate(self) -> None:
        if self.policy.should_complete is not None:
            self.decision = self.policy.evaluate(self.succeeded, self.failed, self.snapshot())

    def snapshot(self) -> tuple[CompletionItemStatus, ...]:
        """Each branch by index: its name and status (None while it has not started)."""
        name, statuses = self.branches.given_name, self.statuses
        return tuple(
            CompletionItemStatus(i, name(i), statuses.get(i)) for i in range(len(self.branches))
        )

    def is_complete(self) -> bool:
        policy, failed = self.policy, self.failed
        done = policy.is_complete(self.succeeded, failed, decision=self.decision)
        return done or not policy.should_continue(failed)

    def reason(self) -> CompletionReason:
        return self.policy.reason(self.succeeded, self.failed, decision=self.decision)


#: Branches started before the map or parallel yields to the loop. Small enough that the first
#: checkpoint call leaves after a few dozen branches, not after all of them; large enough that
#: the yields cost nothing next to the branches.
_WAVE = 32


class _Batch:
    """Runs (or rebuilds) the branches of one map or parallel."""

    def __init__(self, ctx: DurableContext, op_id: str, branches: _Branches, shape: _Shape) -> None:
        self.ctx = ctx
        self.op_id = op_id
        self.branches = branches
        self.shape = shape
        own = shape.item_serdes or shape.serdes
        self.item_serdes = ctx.runtime.serdes_for(own, EXTENDED_TYPES_SERDES)
        self.item_config = ChildConfig(serdes=self.item_serdes)
        self.items = _Items(len(branches))

    async def execute(self) -> BatchResult[Any]:
        policy = CompletionPolicy.from_config(len(self.branches), self.shape.completion)
        progress = _Progress(policy, self.branches)
        started, total = 0, len(self.branches)  # branches start in index order
        running: dict[asyncio.Task[Any], tuple[_Branch, Scope]] = {}
        # Finished branches report here, so each completion costs O(1), not a wait on them all.
        finished = _Finished(self.ctx.runtime.activity)
        limit = self.shape.max_concurrency or max(1, len(self.branches))
        try:
            progress.evaluate()
            while not progress.is_complete():
                for _ in range(min(_WAVE, limit - len(running), total - started)):
                    self.start(self.branches[started], running, finished, progress)
                    started += 1
                if started < total and len(running) < limit:
                    # More to start: let this wave run its first slice and the flusher send
                    # what it queued, so checkpoint calls overlap the starting of the rest.
                    await asyncio.sleep(0)
                    ended = finished.take_ready()
                else:
                    ended = await finished.take(running)
                done = sorted(ended, key=lambda t: running[t][0].index)
                for task in done:
                    item = self.outcome(running.pop(task)[0], task)
                    self.items.put(item)
                    if not progress.is_complete():
                        progress.finish(item)
        except BaseException:
            await _cancel(running)
            raise
        for branch, _ in running.values():  # still running as the batch completes
            self.items.started(branch.index)
        await self.abandon(running)
        return self.result(progress.reason())

    def start(
        self,
        branch: _Branch,
        running: dict[asyncio.Task[Any], tuple[_Branch, Scope]],
        finished: _Finished,
        progress: _Progress,
    ) -> None:
        """Start ``branch`` in a scope of its own and report its end to ``finished``."""
        scope = Scope(self.ctx.scope)
        task = asyncio.ensure_future(self.run_branch(branch, scope))
        task.add_done_callback(finished.add)
        running[task] = (branch, scope)
        progress.start(branch.index)

    async def abandon(self, running: dict[asyncio.Task[Any], tuple[_Branch, Scope]]) -> None:
        """The policy is met: nothing new starts in the branches still running.

        A branch in the middle of work (a step body) runs on and records it, and the invocation
        waits for it before it returns, as the reference SDK's branch threads do; a branch that
        only waits for the service is cancelled. Either way its CONTEXT stays STARTED.
        """
        activity = self.ctx.runtime.activity
        waiting = {}
        for task, (branch, scope) in running.items():
            scope.abandon()
            if activity.working(task):
                activity.adopt_straggler(task)
            else:
                waiting[task] = (branch, scope)
        await _cancel(waiting)

    def outcome(self, branch: _Branch, task: asyncio.Task[Any]) -> BatchItem[Any]:
        """Turn a finished branch task into its item; re-raise what must end the batch."""
        error = task.exception()
        if error is None:
            return BatchItem(branch.index, BatchItemStatus.SUCCEEDED, task.result())
        if isinstance(error, ExecutionError | InvocationError) or not isinstance(error, Exception):
            raise error  # fails the execution or the invocation, not one item
        return BatchItem(branch.index, BatchItemStatus.FAILED, error=_branch_error(error))

    async def run_branch(self, branch: _Branch, scope: Scope) -> Any:
        branch_id = operation_id(self.op_id, branch.index)
        runtime = self.ctx.runtime
        if self.shape.nesting is NestingType.FLAT:
            if runtime.state.get(branch_id) is not None:
                raise NonDeterministicExecutionError(
                    f"Branch {branch.name} ({branch_id}) was recorded as a CONTEXT operation but "
                    "the code now runs it FLAT; keep nesting_type stable while executions are "
                    "in flight.",
                    step_id=branch_id,
                )
            child = DurableContext(runtime, parent_id=self.op_id, scope=scope, id_prefix=branch_id)
            ref = OperationRef(
                child, branch_id, OperationType.CONTEXT, self.shape.item_sub_type, branch.name
            )
            value = await run_unrecorded(ref, branch.func, child)
            payload = encode(self.item_serdes, value, branch_id, runtime.arn)
            return decode(self.item_serdes, payload, branch_id, runtime.arn)
        return await run_child(
            self.ctx,
            branch_id,
            branch.func,
            branch.name,
            self.item_config,
            sub_type=self.shape.item_sub_type,
            scope=scope,
        )

    async def rebuild(self, recorded: Operation) -> BatchResult[Any]:
        """Rebuild a result too large to have been stored, from the branches' records."""
        record = CompletionRecord.from_summary_payload(recorded.result)
        if record is None:
            return await self.execute()
        started = record.started_indexes
        for branch in itertools.islice(self.branches, record.started_total):
            if branch.index in started:
                self.items.started(branch.index)
                continue
            task = asyncio.ensure_future(self.run_branch(branch, Scope(self.ctx.scope)))
            await asyncio.wait([task])
            self.items.put(self.outcome(branch, task))
        return self.result(record.completion_reason)

    def result(self, reason: CompletionReason) -> BatchResult[Any]:
        return BatchResult(self.items.all(), reason)


class _Items:
    """The items of a batch by index, kept compact until its result is built.

    A status code per index, the results in one list, the errors by index: a map of 100,000
    items keeps no 100,000 BatchItems (and a dict of them) alive while it runs, which every
    full pass of the garbage collector would walk.
    """

    _STATUSES = (BatchItemStatus.STARTED, BatchItemStatus.SUCCEEDED, BatchItemStatus.FAILED)

    def __init__(self, total: int) -> None:
        self.codes = bytearray(total)  # 0: never started, else 1 + the status's place above
        self.results: list[Any] = [None] * total
        self.errors: dict[int, ErrorObject] = {}

    def started(self, index: int) -> None:
        """Note a branch that started and had not ended when the batch completed."""
        self.codes[index] = 1

    def put(self, item: BatchItem[Any]) -> None:
        self.codes[item.index] = 1 + self._STATUSES.index(item.status)
        self.results[item.index] = item.result
        if item.error is not None:
            self.errors[item.index] = item.error

    def all(self) -> list[BatchItem[Any]]:
        """Every item that started, in index order."""
        statuses, results, errors = self._STATUSES, self.results, self.errors
        return [
            BatchItem(index, statuses[code - 1], results[index], errors.get(index))
            for index, code in enumerate(self.codes)
            if code
        ]


class _Finished:
    """Branch tasks that ended, in the order they ended, and a way to wait for the next."""

    def __init__(self, activity: Activity) -> None:
        self._activity = activity
        self._done: list[asyncio.Task[Any]] = []
        self._arrival: asyncio.Future[None] | None = None

    def add(self, task: asyncio.Task[Any]) -> None:
        self._done.append(task)
        if self._arrival is not None and not self._arrival.done():
            self._arrival.set_result(None)

    def take_ready(self) -> list[asyncio.Task[Any]]:
        """Return every branch that ended since the last take, without waiting."""
        done, self._done = self._done, []
        return done

    async def take(self, running: Collection[asyncio.Task[Any]]) -> list[asyncio.Task[Any]]:
        """Return every branch that ended since the last take, waiting for one if none has."""
        if not self._done:
            self._arrival = asyncio.get_running_loop().create_future()
            # Only the running branches resolve it: the batch waits exactly when they all do.
            await self._activity.join(self._arrival, running)
        done, self._done = self._done, []
        return done


async def _cancel(running: Collection[asyncio.Task[Any]]) -> None:
    """Cancel ``running`` branch tasks and wait until they end; their errors are not news."""
    for task in running:
        task.cancel()
    if running:
        await asyncio.wait(running)
    for task in running:
        if not task.cancelled():
            task.exception()


def _branch_error(error: Exception) -> ErrorObject:
    """The escaping error's own type, not the ChildContextError wrapper (as the reference)."""
    if isinstance(error, DurableOperationError):
        return ErrorObject(error.message, error.error_type, error.data, error.stack_trace)
    return ErrorObject.from_exception(error)
