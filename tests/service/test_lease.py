"""Execution leases: one holder at a time, atomic across processes, freed by a dead holder."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from durable_async.service.local import SqliteStore, Store
from durable_async.service.local._lease import LEASE_SECONDS, Lease

ARN = "arn:aws:lambda:us-east-1:123456789012:function:fn:$LATEST/durable-execution/x/1"
RACE_ARNS = 40


def dead_pid() -> int:
    """Return the pid of a process that ran on this host, exited and was reaped."""
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(child.stdout)


def other_holder(**changes: object) -> Lease:
    """Return a lease of this host's parent process (alive), with ``changes`` applied."""
    lease = dataclasses.replace(Lease.for_this_process(ARN), pid=os.getppid())
    return dataclasses.replace(lease, **changes)


async def test_a_held_lease_is_refused_to_another_and_freed_by_release(store: Store) -> None:
    """While one lease holds an execution another gets the holder back; after release it wins."""
    first, second = Lease.for_this_process(ARN), Lease.for_this_process(ARN)

    assert await store.take_lease(first) == first
    assert await store.take_lease(second) == first
    renewed = first.renewed()
    assert await store.take_lease(renewed) == renewed
    await store.release_lease(second)  # not the holder: nothing happens
    assert await store.take_lease(second) == renewed
    await store.release_lease(first)
    assert await store.take_lease(second) == second


async def test_a_lease_of_a_dead_process_on_this_host_is_free_at_once(store: Store) -> None:
    """A holder whose pid no longer exists here loses the lease before it expires."""
    crashed = other_holder(pid=dead_pid())
    assert await store.take_lease(crashed) == crashed

    mine = Lease.for_this_process(ARN)
    assert await store.take_lease(mine) == mine


async def test_an_expired_lease_is_free_even_if_its_process_lives(store: Store) -> None:
    """A live holder that stopped renewing (paused, or on another host) loses it at expiry."""
    paused = other_holder(expires=time.time() - 1)
    assert await store.take_lease(paused) == paused

    mine = Lease.for_this_process(ARN)
    assert await store.take_lease(mine) == mine


async def test_a_live_lease_on_another_host_holds_until_it_expires(store: Store) -> None:
    """A pid on another host cannot be checked, so only its expiry frees the lease."""
    remote = other_holder(host="elsewhere.example", pid=dead_pid())
    assert await store.take_lease(remote) == remote

    assert await store.take_lease(Lease.for_this_process(ARN)) == remote


async def test_renewal_extends_only_a_lease_still_held(store: Store) -> None:
    """renew_leases moves the expiry of held leases and never revives one taken over."""
    mine = other_holder(expires=time.time() + 1)
    assert await store.take_lease(mine) == mine
    renewed = dataclasses.replace(mine, expires=time.time() + LEASE_SECONDS)
    await store.renew_leases([renewed])
    assert await store.take_lease(Lease.for_this_process(ARN)) == renewed

    await store.release_lease(renewed)
    winner = Lease.for_this_process(ARN)
    assert await store.take_lease(winner) == winner
    await store.renew_leases([renewed])
    assert await store.take_lease(Lease.for_this_process(ARN)) == winner


_RACER = """
import asyncio, json, sys
from durable_async.service.local import SqliteStore
from durable_async.service.local._lease import Lease

async def main(path, count):
    async with SqliteStore(path) as store:
        leases = [Lease.for_this_process(f"arn-{i}") for i in range(count)]
        print("ready", flush=True)
        sys.stdin.readline()
        won = [lease.arn for lease in leases if (await store.take_lease(lease)) == lease]
        print(json.dumps(won), flush=True)

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


async def test_two_processes_racing_for_leases_never_both_win(tmp_path: Path) -> None:
    """Two processes taking the same leases at once on one file each win a disjoint share."""
    path = tmp_path / "durable.sqlite3"
    async with SqliteStore(path):
        pass  # create the schema, so both racers start from the same file
    racers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _RACER,
            str(path),
            str(RACE_ARNS),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    for racer in racers:
        assert racer.stdout is not None
        assert await asyncio.wait_for(racer.stdout.readline(), 30) == b"ready\n"
    for racer in racers:
        assert racer.stdin is not None
        racer.stdin.write(b"go\n")
        await racer.stdin.drain()
    outputs = [await asyncio.wait_for(racer.communicate(), 30) for racer in racers]

    won = [set(json.loads(stdout)) for stdout, _ in outputs]
    assert won[0].isdisjoint(won[1])
    assert won[0] | won[1] == {f"arn-{i}" for i in range(RACE_ARNS)}


async def test_data_version_changes_only_for_writes_from_elsewhere(tmp_path: Path) -> None:
    """A commit through another connection changes data_version; the store's own do not."""
    path = tmp_path / "durable.sqlite3"
    async with SqliteStore(path) as store:
        before = await store.data_version()
        await store.take_lease(Lease.for_this_process(ARN))
        await asyncio.sleep(0.25)  # past the 0.2 s the store may answer from its last read
        assert await store.data_version() == before

        other = sqlite3.connect(path)
        with other:
            other.execute("DELETE FROM leases")
        other.close()
        await asyncio.sleep(0.25)
        assert await store.data_version() != before
