"""How often driving an execution reaches the store: counted, never timed.

A store that counts the calls it is asked (a SqliteStore subclass that only tallies, then
delegates) shows what the runner and the engine ask per execution; a callback answered
through another connection shows that every waiting drive wakes though one watcher polls.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from durable_async.service.local import LocalDurableService, LocalRunner, SqliteStore

from .helpers import update

pytestmark = pytest.mark.timeout(60)

Event = dict[str, Any]
_COUNTED = (
    "create",
    "load",
    "commit",
    "transact",
    "get_execution",
    "find_execution",
    "list_executions",
    "list_operations",
    "waiting_operations",
    "list_events",
    "take_lease",
    "renew_leases",
    "release_lease",
)


class CountingStore(SqliteStore):
    """A SqliteStore that tallies every call made to it by name."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.calls: Counter[str] = Counter()
        for name in _COUNTED:
            setattr(self, name, self._counted(name, getattr(self, name)))

    def _counted(self, name: str, method: Any) -> Any:
        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return await method(*args, **kwargs)

        return counted


class ThreeSteps:
    """An invoker that checkpoints three steps, one call each, and succeeds."""

    def __init__(self, service: LocalDurableService) -> None:
        self.service = service

    async def __call__(self, event: Event) -> Event:
        arn, token = event["DurableExecutionArn"], event["CheckpointToken"]
        for n in range(3):
            updates = [
                update(f"s{n}", "STEP", "START", SubType="Step"),
                update(f"s{n}", "STEP", "SUCCEED", SubType="Step", Payload=str(n)),
            ]
            token = (await self.service.checkpoint(arn, token, updates))["CheckpointToken"]
        return {"Status": "SUCCEEDED", "Result": "3"}


async def test_a_three_step_execution_asks_the_store_thirteen_times(tmp_path: Path) -> None:
    """Start, lease, one invocation of three checkpoints, end, release: 8 writes and 5 reads.

    Before the runner took its answers from the calls it makes anyway it asked 20 times:
    it looked the execution up around every invocation and renewed a lease it had just taken.
    """
    store = CountingStore(tmp_path / "durable.sqlite3")
    async with store, LocalDurableService(store) as service, LocalRunner(service) as runner:
        runner.register("fn", ThreeSteps(service))
        ended = await runner.run("fn", None, timeout=30)
    assert ended["Status"] == "SUCCEEDED"
    assert dict(store.calls) == {
        "create": 1,
        "take_lease": 1,
        "transact": 5,  # begin, three checkpoints, end
        "release_lease": 1,
        "get_execution": 2,  # running before the lease; the ExecutionTimeout once
        "list_operations": 2,  # the ExecutionTimeout; the first state page
        "waiting_operations": 1,  # chained invokes a previous drive may have left
    }


class WaitsForCallback:
    """An invoker that starts callback ``cb`` and suspends until it is answered."""

    def __init__(self, service: LocalDurableService) -> None:
        self.service = service
        self.callback_ids: asyncio.Queue[str] = asyncio.Queue()

    async def __call__(self, event: Event) -> Event:
        ops = {op["Id"]: op for op in event["InitialExecutionState"]["Operations"]}
        if "cb" not in ops:
            response = await self.service.checkpoint(
                event["DurableExecutionArn"],
                event["CheckpointToken"],
                [update("cb", "CALLBACK", "START")],
            )
            [op] = response["NewExecutionState"]["Operations"]
            self.callback_ids.put_nowait(op["CallbackDetails"]["CallbackId"])
            return {"Status": "PENDING"}
        if ops["cb"]["Status"] == "STARTED":
            return {"Status": "PENDING"}
        return {"Status": "SUCCEEDED", "Result": ops["cb"]["CallbackDetails"]["Result"]}


def watchers() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == "watch the store" and not t.done()]


async def test_many_waiting_drives_share_one_store_watcher_and_all_wake(tmp_path: Path) -> None:
    """Twenty suspended executions: one task polls the store for them, and answers written by
    another connection wake each of them; once none waits, the watcher is gone."""
    path = tmp_path / "durable.sqlite3"
    async with (
        SqliteStore(path) as store,
        SqliteStore(path) as elsewhere,
        LocalDurableService(store) as service,
        LocalRunner(service) as runner,
    ):
        invoker = WaitsForCallback(service)
        runner.register("fn", invoker)
        arns = [await runner.start("fn", None) for _ in range(20)]
        callback_ids = [await invoker.callback_ids.get() for _ in arns]
        for _ in range(1000):  # until every drive waits on the watcher
            if runner._elsewhere._waiters == 20:
                break
            await asyncio.sleep(0.01)
        assert runner._elsewhere._waiters == 20
        assert len(watchers()) == 1
        other = LocalDurableService(elsewhere)
        for n, callback_id in enumerate(callback_ids):
            await other.send_callback_success(callback_id, json.dumps(n))
        ended = await asyncio.gather(*(runner.wait_for_result(arn, 30) for arn in arns))
        assert sorted(int(json.loads(e["Result"])) for e in ended) == list(range(20))
        assert watchers() == []
