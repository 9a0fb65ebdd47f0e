"""The checkpointer's invariants under random concurrent programs, against the real local service.

Hypothesis draws a small batcher config, a tree of scopes and a few callers' programs: updates of
random sizes (some exactly a share of a full call, some over the limit, some the 256 KB cap),
bursts, refreshes, drains, pauses, scope completions and abandons, waiters cancelled while they
wait; at most one failed call (refused, throttled or a broken connection, before or after the
service applied it) and sometimes a close while the callers still run. Each example runs on a
fresh event loop over a fresh in-memory store. The service wrapper and the callers stamp every
event with one counter; the checks afterwards read only that log, against a model of the scopes
kept apart from :class:`Scope`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from durable_async._checkpoint import MAX_PAYLOAD_BYTES, Checkpointer, Scope
from durable_async._models import OperationAction, OperationType, make_update
from durable_async._signals import Orphaned, Suspend
from durable_async._state import ExecutionState
from durable_async.config import CheckpointBatcherConfig
from durable_async.exceptions import CheckpointError
from durable_async.service import ServiceError
from durable_async.service.local.clock import SkipClock
from durable_async.service.local.engine import LocalDurableService
from durable_async.service.local.store import MemoryStore

Wire = dict[str, Any]
Key = tuple[str, str]  # (Id, Action): unique per update in a program
HANG_SECONDS = 5  # an example takes milliseconds; only a hang reaches this
# One to four UTF-8 bytes; a quote and a newline also grow when JSON escapes them.
CHARS = ("a", "é", "€", "😀", '"', "\n")
PENDING, RETURNED, CANCELLED = "pending", "returned", "cancelled"
SETTLES = (Orphaned, Suspend, CheckpointError)


# -- the program ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Update:
    """Checkpoint one STEP update: ``queue`` it, ``send`` it and wait, or keep its ``future``."""

    op: str  # "start", "succeed", or "pair" (a non-blocking START, then the SUCCEED)
    char: str
    size: int | None  # payload bytes; None: the payload that makes it the program's share
    mode: str
    scope: int | None
    cancel_after: int | None


@dataclass(frozen=True)
class Burst:
    """Queue ``count`` updates of the program's share at once, as a map fanning out does."""

    count: int
    char: str
    scope: int | None


@dataclass(frozen=True)
class Refresh:
    """Wait for fresh state."""

    cancel_after: int | None


@dataclass(frozen=True)
class Drain:
    """Wait until everything queued so far is answered."""

    cancel_after: int | None


@dataclass(frozen=True)
class Pause:
    """Let the loop run other tasks ``turns`` times."""

    turns: int


@dataclass(frozen=True)
class Complete:
    """Checkpoint the context's SUCCEED (in its parent) and complete its scope."""

    scope: int


@dataclass(frozen=True)
class Abandon:
    """Abandon a scope no completed context holds (a map reached its completion policy)."""

    scope: int


Step = Update | Burst | Refresh | Drain | Pause | Complete | Abandon


@dataclass(frozen=True)
class Fault:
    """Fail call number ``at``, before the service applies it or after (the answer is lost)."""

    at: int
    kind: str  # "throttled", "rejected" or "crash"
    persisted: bool

    def error(self) -> Exception:
        if self.kind == "throttled":
            return ServiceError("Rate exceeded.", code="TooManyRequestsException", retryable=True)
        if self.kind == "rejected":
            return ServiceError("Bad request.", code="ValidationException", retryable=False)
        return ConnectionResetError("connection reset by peer")


@dataclass(frozen=True)
class Program:
    """One example: the config, the scope tree, each caller's steps, and what goes wrong."""

    config: CheckpointBatcherConfig
    parents: tuple[int | None, ...]  # scope i's parent is an earlier scope, or none
    callers: tuple[tuple[Step, ...], ...]
    fault: Fault | None
    share: tuple[int, int]  # (k, d): a shared update is 1/k of a full call, plus d bytes
    # Loop turns each call stays in flight: at least one, as a real call waits for its answer,
    # so the waiters a call settles resume before the next call can end.
    latency: int
    close_after: int | None  # close while the callers run, after this many loop turns


def _sizes(limit: int) -> st.SearchStrategy[int | None]:
    """Payload bytes: small, about 1/k of the limit, the exact share, over it, or 256 KB."""
    near = st.integers(1, 4).flatmap(lambda k: st.integers(limit // k - 200, limit // k - 40))
    over = st.integers(0, 7).map(lambda i: MAX_PAYLOAD_BYTES if i == 7 else limit + 25 * i)
    sizes = [st.integers(0, 64), near, st.none(), st.none(), over]
    return st.sampled_from(sizes).flatmap(lambda size: size)


def _steps(limit: int, scopes: int) -> st.SearchStrategy[Step]:
    scope = (st.none() | st.integers(0, scopes - 1)) if scopes else st.none()
    cancel = st.sampled_from((None, None, None, 0, 1, 2, 3))  # loop turns before the cancel
    update = st.builds(
        Update,
        op=st.sampled_from(("start", "succeed", "pair")),
        char=st.sampled_from(CHARS),
        size=_sizes(limit),
        mode=st.sampled_from(("queue", "queue", "send", "future")),
        scope=scope,
        cancel_after=cancel,
    )
    burst = st.builds(Burst, st.integers(2, 5), st.sampled_from(CHARS), scope)
    refresh, drain = st.builds(Refresh, cancel), st.builds(Drain, cancel)
    steps: list[st.SearchStrategy[Step]] = [update] * 6 + [burst] * 2 + [refresh] * 2 + [drain]
    steps.append(st.builds(Pause, st.integers(1, 3)))
    if scopes:
        steps.append(st.builds(Complete, st.integers(0, scopes - 1)))
        steps.append(st.builds(Abandon, st.integers(0, scopes - 1)))
    # Drawing the kind first weights it: updates are most of a program.
    return st.sampled_from(steps).flatmap(lambda kind: kind)


@st.composite
def programs(draw: st.DrawFn) -> Program:
    config = CheckpointBatcherConfig(
        max_batch_size_bytes=draw(st.integers(1024, 8192)),
        max_batch_operations=draw(st.integers(1, 10)),
        max_batch_time_seconds=draw(st.sampled_from((0.0, 60.0))),
    )
    scopes = draw(st.integers(0, 4))
    parents = tuple(draw(st.none() | st.integers(0, i - 1)) if i else None for i in range(scopes))
    steps = st.lists(_steps(config.max_batch_size_bytes, scopes), min_size=2, max_size=16)
    callers = draw(st.lists(steps.map(tuple), min_size=1, max_size=4))
    # A failure or an early close ends most of the program, so each comes in one example of four.
    kinds = st.sampled_from(("throttled", "rejected", "crash"))
    fault = draw(st.builds(Fault, st.integers(0, 6), kinds, st.booleans()))
    close_after = draw(st.integers(0, 12))
    return Program(
        config,
        parents,
        tuple(callers),
        fault if draw(st.integers(0, 3)) == 3 else None,
        share=(draw(st.integers(1, 4)), draw(st.integers(-1, 1))),
        latency=draw(st.integers(1, 4)),
        close_after=close_after if draw(st.integers(0, 3)) == 3 else None,
    )


# -- the log ----------------------------------------------------------------------------------


@dataclass
class Call:
    """One checkpoint call; ``orphans`` are its updates the model held orphaned as it began."""

    start: int
    token: str
    updates: list[Wire]
    orphans: list[Key]
    end: int = -1
    ok: bool = False


@dataclass
class Queued:
    """An update the model expects the checkpointer to have accepted."""

    key: Key
    caller: int
    seq: int
    scope: int | None


@dataclass
class Ask:
    """A waiter: a send, a kept future, a refresh or a drain, and how it ended."""

    kind: str
    asked: int
    key: Key | None = None
    scope: int | None = None
    refused: type[BaseException] | None = None  # what the model says it must raise at once
    outcome: object = PENDING
    answered: int = -1
    unsettled: list[Key] = field(default_factory=list)  # drain: queued before, not yet answered
    merged: bool = False  # a merged response had carried its operation when the waiter resumed
    callbacks: int = 0


@dataclass
class Refusal:
    """What ``enqueue`` raised, and what the model says it should have raised."""

    key: Key
    expected: type[BaseException] | None
    raised: BaseException | None


def _encode(value: object) -> bytes:
    """The JSON of a request body as botocore writes it, which batches are measured by."""
    return json.dumps(value).encode()


def _key(update: Wire) -> Key:
    return (update["Id"], update["Action"])


class World:
    """The model of the scopes, the event counter, and the log of calls and waiters."""

    def __init__(self, program: Program) -> None:
        self.program = program
        self.parents = list(program.parents)
        self.scopes: list[Scope] = []
        for parent in program.parents:
            self.scopes.append(Scope(None if parent is None else self.scopes[parent]))
        self.completed: set[int] = set()
        self._clock = itertools.count()
        self.calls: list[Call] = []
        self.queued: list[Queued] = []
        self.asks: list[Ask] = []
        self.refusals: list[Refusal] = []
        self.scope_of: dict[Key, int | None] = {}
        self.failed_at: int | None = None
        self.closing = False
        self.in_flight = self.max_in_flight = 0
        self.loop_errors: list[dict[str, Any]] = []
        self.state = ExecutionState("")
        self.merged_ids: set[str] = set()  # every operation a merged response carried

    def merge(self, operations: list[dict[str, Any]], settled: Collection[str]) -> None:
        self.merged_ids.update(op["Id"] for op in operations)
        self.state.merge(operations, settled)
        for op in operations:
            # What the invocation ended leaves the state as the service confirms it.
            if op["Id"] in settled and op["Status"] in ("SUCCEEDED", "FAILED"):
                assert self.state.get(op["Id"]) is None, op

    def tick(self) -> int:
        return next(self._clock)

    def orphaned(self, scope: int | None) -> bool:
        while scope is not None:
            if scope in self.completed:
                return True
            scope = self.parents[scope]
        return False

    def refusal(self, scope: int | None) -> type[BaseException] | None:
        """What asking now must raise at once: the checks of enqueue() in their order."""
        if self.orphaned(scope):
            return Orphaned
        if self.closing:
            return Suspend
        if self.failed_at is not None:
            return CheckpointError
        return None

    def fail(self, fault: Fault) -> Exception:
        self.failed_at = self.tick()
        return fault.error()

    def unsettled(self, before: int) -> list[Key]:
        """Updates queued before ``before`` that no finished call carried and no scope dropped."""
        answered = {_key(u) for call in self.calls if call.end >= 0 for u in call.updates}
        return [
            q.key
            for q in self.queued
            if q.seq < before and q.key not in answered and not self.orphaned(q.scope)
        ]

    # -- what the callers do ----------------------------------------------------------------

    async def play(self, checkpointer: Checkpointer, caller: int, steps: tuple[Step, ...]) -> None:
        for n, step in enumerate(steps):
            if isinstance(step, Update):
                await self.update(checkpointer, caller, f"c{caller}n{n}", step)
            elif isinstance(step, Burst):
                for i in range(step.count):
                    shared = Update("succeed", step.char, None, "queue", step.scope, None)
                    await self.update(checkpointer, caller, f"c{caller}n{n}b{i}", shared)
            elif isinstance(step, Refresh):
                await self.wait(partial(Ask, "refresh"), checkpointer.refresh, step.cancel_after)
            elif isinstance(step, Drain):
                await self.wait(partial(Ask, "drain"), checkpointer.drain, step.cancel_after)
            elif isinstance(step, Pause):
                for _ in range(step.turns):
                    await asyncio.sleep(0)
            elif isinstance(step, Complete):
                self.complete(checkpointer, caller, step.scope)
            elif not self.orphaned(step.scope):
                self.parents[step.scope] = None
                self.scopes[step.scope].abandon()

    async def update(self, checkpointer: Checkpointer, caller: int, op: str, step: Update) -> None:
        if step.op == "pair":
            start = make_update(op, OperationType.STEP, OperationAction.START, sub_type="Step")
            self.enqueue(checkpointer, caller, start, step.scope)
        action = OperationAction.START if step.op == "start" else OperationAction.SUCCEED
        update = make_update(op, OperationType.STEP, action, sub_type="Step", payload="")
        update["Payload"] = self.payload(checkpointer, update, step)
        if step.mode != "send":
            self.enqueue(checkpointer, caller, update, step.scope, blocking=step.mode == "future")
            return
        key, scope = _key(update), None if step.scope is None else self.scopes[step.scope]
        self.scope_of[key] = step.scope
        ask = partial(Ask, "send", key=key, scope=step.scope)
        send = partial(checkpointer.send, update, scope=scope)
        await self.wait(ask, send, step.cancel_after, caller=caller)

    def payload(self, checkpointer: Checkpointer, update: Wire, step: Update) -> str:
        """Return ``step.size`` bytes, or what makes ``update`` the program's share of a call."""
        if step.size is not None:
            return step.char * (step.size // len(step.char.encode()))
        k, extra = self.program.share
        envelope = len('{"CheckpointToken": "", "Updates": []}') + len(checkpointer.token or "")
        share = (self.program.config.max_batch_size_bytes - envelope - 2 * (k - 1)) // k + extra
        room = share - len(_encode(update))  # what the payload may take inside its quotes
        width = len(_encode(step.char)) - 2  # escaped, a quote or a newline takes two bytes
        return step.char * (room // width) + "a" * (room % width) if room > 0 else ""

    def complete(self, checkpointer: Checkpointer, caller: int, scope: int) -> None:
        if scope in self.completed:
            return
        update = make_update(
            f"ctx{scope}", OperationType.CONTEXT, OperationAction.SUCCEED, sub_type="Parallel"
        )
        self.enqueue(checkpointer, caller, update, self.parents[scope])
        self.completed.add(scope)
        self.scopes[scope].complete()

    def enqueue(
        self,
        checkpointer: Checkpointer,
        caller: int,
        update: Wire,
        scope: int | None,
        *,
        blocking: bool = False,
    ) -> None:
        key, seq, expected = _key(update), self.tick(), self.refusal(scope)
        self.scope_of[key] = scope
        try:
            future = checkpointer.enqueue(
                update, blocking=blocking, scope=None if scope is None else self.scopes[scope]
            )
        except SETTLES as exc:
            self.refusals.append(Refusal(key, expected, exc))
            return
        self.refusals.append(Refusal(key, expected, None))
        self.queued.append(Queued(key, caller, seq, scope))
        if future is not None:
            ask = Ask("future", seq, key, scope)
            self.asks.append(ask)
            future.add_done_callback(partial(self._settled, ask))

    def _settled(self, ask: Ask, future: asyncio.Future[None]) -> None:
        ask.callbacks += 1
        ask.answered = self.tick()
        ask.outcome = CANCELLED if future.cancelled() else (future.exception() or RETURNED)
        ask.merged = ask.key is not None and ask.key[0] in self.merged_ids

    async def wait(
        self,
        make_ask: Callable[..., Ask],
        call: Callable[[], Awaitable[None]],
        cancel_after: int | None,
        *,
        caller: int = -1,
    ) -> None:
        """Wait on ``call``; cancel the waiter after ``cancel_after`` loop turns when given."""

        async def waiter() -> None:
            ask = make_ask(asked=self.tick())
            if ask.kind != "drain":
                ask.refused = self.refusal(ask.scope)
            if ask.key is not None and ask.refused is None:  # a send
                self.queued.append(Queued(ask.key, caller, ask.asked, ask.scope))
            self.asks.append(ask)
            try:
                await call()
            except SETTLES as exc:
                ask.outcome = exc
            except asyncio.CancelledError as exc:
                current = asyncio.current_task()
                # Only a cancel aimed at this waiter counts; one leaking out of a shared future
                # (the refresh others wait on too) is a fault.
                ask.outcome = CANCELLED if current and current.cancelling() else exc
                raise
            else:
                ask.outcome = RETURNED
            ask.answered = self.tick()
            ask.merged = ask.key is not None and ask.key[0] in self.merged_ids
            if ask.kind == "drain":
                ask.unsettled = self.unsettled(ask.asked)

        if cancel_after is None:
            await waiter()
            return
        task = asyncio.create_task(waiter())
        for _ in range(cancel_after):
            await asyncio.sleep(0)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # we are being cancelled ourselves, not just the waiter we cancelled

    async def close_after(self, checkpointer: Checkpointer, turns: int) -> None:
        for _ in range(turns):
            await asyncio.sleep(0)
        self.closing = True
        await checkpointer.close()


@dataclass
class FlakyService:
    """The real local service; logs each call on the world's counter and fails the chosen one."""

    inner: LocalDurableService
    world: World

    async def checkpoint(
        self, arn: str, token: str, updates: list[Wire], client_token: str | None = None
    ) -> Wire:
        world, fault = self.world, self.world.program.fault
        fault = fault if fault is not None and fault.at == len(world.calls) else None
        orphans = [_key(u) for u in updates if world.orphaned(world.scope_of.get(_key(u)))]
        call = Call(world.tick(), token, list(updates), orphans)
        world.calls.append(call)
        world.in_flight += 1
        world.max_in_flight = max(world.max_in_flight, world.in_flight)
        try:
            for _ in range(world.program.latency):
                await asyncio.sleep(0)
            if fault is not None and not fault.persisted:
                raise world.fail(fault)
            response = await self.inner.checkpoint(arn, token, updates, client_token)
            if fault is not None:
                raise world.fail(fault)
            call.ok = True
            return response
        finally:
            world.in_flight -= 1
            call.end = world.tick()

    async def get_execution_state(
        self, arn: str, token: str, marker: str, max_items: int = 1000
    ) -> Wire:
        return await self.inner.get_execution_state(arn, token, marker, max_items)


async def _run(world: World) -> Checkpointer:
    asyncio.get_running_loop().set_exception_handler(lambda _, ctx: world.loop_errors.append(ctx))
    program = world.program
    async with MemoryStore() as store:
        service = LocalDurableService(store, SkipClock())
        arn = await service.start_execution("fn", "{}")
        event = await service.begin_invocation(arn)
        checkpointer = Checkpointer(
            FlakyService(service, world),
            arn,
            event["CheckpointToken"],
            merge=world.merge,
            config=program.config,
        )
        # Leaving the checkpointer's block closes it; the timeout covers that close too.
        async with asyncio.timeout(HANG_SECONDS), checkpointer, asyncio.TaskGroup() as group:
            for caller, steps in enumerate(program.callers):
                group.create_task(world.play(checkpointer, caller, steps))
            if program.close_after is not None:
                group.create_task(world.close_after(checkpointer, program.close_after))
        await asyncio.sleep(0)  # run the done callbacks of the futures the close settled
    return checkpointer


# -- the checks -------------------------------------------------------------------------------


def _body_bytes(token: str, updates: list[Wire]) -> int:
    return len(_encode({"CheckpointToken": token, "Updates": updates}))


def _check_calls(world: World, checkpointer: Checkpointer) -> None:
    config = world.program.config
    assert world.max_in_flight <= 1
    assert checkpointer.stats.calls == len(world.calls)
    assert checkpointer.stats.updates == sum(len(call.updates) for call in world.calls)
    for n, call in enumerate(world.calls):
        count, size = len(call.updates), _body_bytes(call.token, call.updates)
        assert count <= config.max_batch_operations, f"call {n} has {count} updates"
        assert size <= config.max_batch_size_bytes or count == 1, f"call {n} is {size} bytes"
        assert call.orphans == [], f"call {n} carries updates of completed contexts"
        if not call.updates:  # an empty call answers a refresh still waiting when it began
            assert any(
                a.kind == "refresh" and a.asked < call.start and not 0 <= a.answered < call.start
                for a in world.asks
            ), f"call {n} is empty but no refresh asked for it"


def _check_order(world: World) -> None:
    sent = [_key(u) for call in world.calls for u in call.updates]
    assert len(sent) == len(set(sent)), "an update was sent twice"
    position = {q.key: i for i, q in enumerate(world.queued)}
    assert set(sent) <= set(position), "a refused update was sent"
    assert [position[k] for k in sent] == sorted(position[k] for k in sent), "not FIFO"
    for caller in range(len(world.program.callers)):
        mine = [q.key for q in world.queued if q.caller == caller and q.key in set(sent)]
        assert [k for k in sent if k in set(mine)] == mine, f"caller {caller} out of order"
    if world.failed_at is None:  # nothing dropped but what a completed context owned
        lost = [q for q in world.queued if q.key not in set(sent)]
        assert [q.key for q in lost if not world.orphaned(q.scope)] == [], "never sent"


def _check_group_commit(world: World) -> None:
    """A call leaves out an update queued before it began only when that update did not fit."""
    config = world.program.config
    seq_of = {q.key: q.seq for q in world.queued}
    sent = {_key(u) for call in world.calls for u in call.updates}
    dropped = [q.seq for q in world.queued if q.key not in sent]
    last = -1  # the queue position of the last update sent so far
    for n, (call, after) in enumerate(itertools.pairwise(world.calls)):
        first = after.updates[0] if after.updates else None
        seq = seq_of[_key(first)] if first is not None else -1
        # A dropped update between them may have filled the batch before it was dropped.
        if first is not None and seq < call.start and not any(last < d < seq for d in dropped):
            bigger = [*call.updates, first]
            fits = not call.updates or (
                len(bigger) <= config.max_batch_operations
                and _body_bytes(call.token, bigger) <= config.max_batch_size_bytes
            )
            assert not fits, f"call {n} left out {_key(first)}, queued before it and fitting"
        if call.updates:
            last = seq_of[_key(call.updates[-1])]


def _failed_before(world: World, ask: Ask) -> bool:
    return world.failed_at is not None and world.failed_at < ask.answered


def _check_update_answer(world: World, ask: Ask) -> None:
    """A waiter for an update hears it was persisted, dropped as an orphan, or failed."""
    call = next((c for c in world.calls if any(_key(u) == ask.key for u in c.updates)), None)
    if ask.outcome is RETURNED:
        assert call is not None, f"answered but never sent: {ask}"
        assert call.ok, f"answered by a failed call: {ask}"
        assert call.end < ask.answered, ask
        assert ask.merged, f"resumed before its operation was merged: {ask}"
    elif isinstance(ask.outcome, Orphaned):
        assert call is None, f"sent, yet told it was an orphan: {ask}"
        assert world.orphaned(ask.scope), ask
    elif isinstance(ask.outcome, CheckpointError):
        assert _failed_before(world, ask), ask
        assert call is None or not call.ok, f"persisted, yet told it failed: {ask}"
    else:
        raise AssertionError(f"unexpected answer: {ask}")


def _check_refresh_answer(world: World, ask: Ask) -> None:
    """A refresh is answered by a call made after it was asked, or hears of the failure."""
    if ask.outcome is RETURNED:
        ended = [c for c in world.calls if 0 <= c.end < ask.answered]
        assert ended, ask
        assert ended[-1].start > ask.asked, f"answered by a call made before it: {ask}"
        assert any(c.ok and c.start > ask.asked for c in ended), ask
    else:
        assert isinstance(ask.outcome, CheckpointError), ask
        assert _failed_before(world, ask), ask


def _check_answers(world: World) -> None:
    for ask in world.asks:
        assert ask.outcome is not PENDING, f"never answered: {ask}"
        assert ask.kind != "future" or ask.callbacks == 1, f"settled {ask.callbacks} times: {ask}"
        if ask.outcome is CANCELLED:
            continue
        if ask.refused is not None:
            assert isinstance(ask.outcome, ask.refused), ask
            assert ask.answered == ask.asked + 1, f"not refused at once: {ask}"
        elif ask.kind in ("send", "future"):
            _check_update_answer(world, ask)
        elif ask.kind == "refresh":
            _check_refresh_answer(world, ask)
        else:
            assert ask.outcome is RETURNED, ask
            assert _failed_before(world, ask) or ask.unsettled == [], f"drained early: {ask}"
    for refusal in world.refusals:
        if refusal.expected is None:
            assert refusal.raised is None, refusal
        else:
            assert isinstance(refusal.raised, refusal.expected), refusal


def _check_failure(world: World, checkpointer: Checkpointer) -> None:
    fault, failure = world.program.fault, checkpointer.failure
    assert not checkpointer.suspended
    if world.failed_at is None:
        assert failure is None, f"a call failed that the program did not fail: {failure!r}"
        return
    assert fault is not None
    assert failure is not None
    assert len(world.calls) == fault.at + 1, "a call was made after one failed"
    assert failure.retryable == (fault.kind != "rejected")
    error = fault.error()
    assert failure.code == (error.code if isinstance(error, ServiceError) else None)


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(programs())
def test_random_programs_keep_the_checkpointer_invariants(program: Program) -> None:
    """Any interleaving keeps FIFO, limits and orphans out, answers each waiter once, and closes."""
    world = World(program)
    checkpointer = asyncio.run(_run(world))
    _check_calls(world, checkpointer)
    _check_order(world)
    _check_group_commit(world)
    _check_answers(world)
    _check_failure(world, checkpointer)
    assert world.loop_errors == []
