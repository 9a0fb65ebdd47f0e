"""Crash campaign: SIGKILL ``durable-async run`` at random moments and at checkpoint boundaries.

Two phases on real SQLite files and the real clock, driving the handler in
``benchmarks/_crash_handler.py`` (steps that journal every body run to an fsync'd file):

* **Kills.** Each trial is one execution. Its run is killed with SIGKILL, then resumed with the
  same ``--name``, again and again, until a run is let finish. A kill lands after a random
  delay, right after the journal shows a step body started, right after one ended (between the
  body and its SUCCEED checkpoint, or just after it), or right after the store committed a
  write (``PRAGMA data_version`` changed). Trials run until ``--kills`` kills were made.
* **Pairs.** Two runners of one ``--name`` are started at once on one shared store: one
  finishes, the other exits 4 (another process runs it) or waits and finishes too.

Every execution is then checked: the result is the one its input determines (on stdout and in
the store), each step is recorded SUCCEEDED once, no step body started after the store recorded
that step's success (by the history's StepSucceeded time, and by the run the recorded result
names), an at-most-once step's body ran at most once per attempt, and every store passes
``PRAGMA integrity_check``. Figures are printed; any failure makes the exit status 1.

    make crash                                                 # the full campaign
    .venv/bin/python -m benchmarks.crash_campaign --kills 20 --pairs 10    # a short one
    .venv/bin/python -m benchmarks.crash_campaign --seed 7 --keep          # keep the files
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks._crash_handler import AT_MOST_ONCE_STEPS, MAP_ITEMS, STEPS, expected_result
from durable_async.service.local import LocalDurableService, SqliteStore

__all__ = ["main"]

HANDLER = Path(__file__).with_name("_crash_handler.py")
TARGET = f"{HANDLER}:handler"
ALL_STEPS = (*STEPS, *(f"item-{i}" for i in range(MAP_ITEMS)))
EXIT_OK, EXIT_LEASED, KILLED = 0, 4, -9
POLL_SECONDS = 0.002  # how often a kill waiting for a boundary looks at the journal or store
RANDOM_KILL_SECONDS = (0.0, 3.5)  # a whole run takes about 3.5 s (two 1 s waits, ten bodies)
KILL_MODES = ("random", "body-start", "body-end", "body-end-late", "commit")
MAX_KILLS_PER_TRIAL = 6
MAX_SHOWN_FAILURES = 20


@dataclass
class Figures:
    """What the campaign did and what went wrong, by kind."""

    trials: int = 0
    runs: int = 0
    kills: Counter[str] = field(default_factory=Counter)
    resumes: int = 0
    pairs: Counter[str] = field(default_factory=Counter)
    executions: int = 0
    body_runs: int = 0
    reruns: int = 0  # bodies run again because their success was not recorded: allowed
    end_kills_before_checkpoint: int = 0
    end_kills_after_checkpoint: int = 0
    stores: int = 0
    phase_seconds: dict[str, float] = field(default_factory=dict)
    failures: Counter[str] = field(default_factory=Counter)
    details: list[str] = field(default_factory=list)

    def fail(self, kind: str, execution: str, detail: str) -> None:
        self.failures[kind] += 1
        self.details.append(f"{kind}: {execution}: {detail}")


@dataclass
class Run:
    """One ``durable-async run`` subprocess; its output goes to files, so a kill leaves no pipe."""

    process: asyncio.subprocess.Process
    stdout: Path
    stderr: Path

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()

    async def wait(self, timeout: float) -> int | None:
        """Return the exit code, or None (after killing it) when it runs longer than ``timeout``."""
        try:
            async with asyncio.timeout(timeout):
                return await self.process.wait()
        except TimeoutError:
            self.kill()
            await self.process.wait()
            return None

    def output(self) -> Any:
        try:
            return json.loads(self.stdout.read_text(encoding="utf-8"))
        except ValueError:
            return None

    def last_error_line(self) -> str:
        lines = self.stderr.read_text(encoding="utf-8", errors="replace").splitlines()
        return lines[-1] if lines else "(no output)"


@dataclass
class Execution:
    """One named execution of the handler, its store and its journal."""

    name: str
    seed: int
    store: Path
    journal: Path
    logs: Path

    @property
    def event(self) -> dict[str, Any]:
        return {"seed": self.seed, "name": self.name, "journal": str(self.journal)}

    async def spawn(self, tag: str) -> Run:
        self.logs.mkdir(exist_ok=True)
        stdout, stderr = self.logs / f"{self.name}-{tag}.out", self.logs / f"{self.name}-{tag}.err"
        args = ["--name", self.name, "--store", str(self.store)]
        args += ["--input", json.dumps(self.event)]
        with stdout.open("w") as out, stderr.open("w") as err:
            process = await asyncio.create_subprocess_exec(
                *_cli(), "run", TARGET, *args, stdout=out, stderr=err
            )
        return Run(process, stdout, stderr)


def _cli() -> list[str]:
    """Return the ``durable-async`` command of this interpreter's environment."""
    script = Path(sys.executable).with_name("durable-async")
    return [str(script)] if script.exists() else [sys.executable, "-m", "durable_async.cli"]


class Journal:
    """The lines the handler's step bodies appended, read as they arrive."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.records: list[dict[str, Any]] = []

    def poll(self) -> list[dict[str, Any]]:
        """Read the complete lines written since the last call; return every record so far."""
        try:
            with self.path.open("rb") as file:
                file.seek(self.offset)
                chunk = file.read()
        except FileNotFoundError:
            return self.records
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self.offset += len(complete)
        self.records += [json.loads(line) for line in complete.splitlines()]
        return self.records

    def count(self, mark: str) -> int:
        return sum(1 for record in self.poll() if record["mark"] == mark)


class Commits:
    """Counts writes other connections commit to a SQLite file (``PRAGMA data_version``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db: sqlite3.Connection | None = None
        self.version = 0
        self.seen = 0

    def poll(self) -> int:
        if self.db is None:
            if not self.path.exists():
                return 0
            self.db = sqlite3.connect(self.path, timeout=5)
            self.version = self._read()
        version = self._read()
        self.seen += version != self.version
        self.version = version
        return self.seen

    def _read(self) -> int:
        assert self.db is not None
        try:
            return int(self.db.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.OperationalError:  # the file is being created: try again next poll
            return self.version

    def close(self) -> None:
        if self.db is not None:
            self.db.close()


# Phase 1: kills.


@dataclass
class Kill:
    """Where the next run of a trial is killed."""

    mode: str
    delay: float = 0.0  # random: seconds after the start; body-end-late: after the end line
    ahead: int = 1  # boundary modes: which coming start line, end line or commit


def plan_kill(rng: random.Random) -> Kill:
    mode = rng.choice(KILL_MODES)
    if mode == "random":
        return Kill(mode, delay=rng.uniform(*RANDOM_KILL_SECONDS))
    if mode == "body-end-late":
        return Kill(mode, delay=rng.uniform(0.0, 0.02), ahead=rng.randint(1, 4))
    return Kill(mode, ahead=rng.randint(1, 8 if mode == "commit" else 4))


async def kill_at(run: Run, kill: Kill, execution: Execution) -> dict[str, Any] | None:
    """Kill ``run`` where ``kill`` says, unless it ends first; return the journal line it hit."""
    if kill.mode == "random":
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(kill.delay):
                await run.process.wait()
        run.kill()
        return None
    if kill.mode == "commit":
        commits = Commits(execution.store)
        try:
            await _until(run, lambda: commits.poll() >= kill.ahead)
        finally:
            commits.close()
        run.kill()
        return None
    journal, mark = Journal(execution.journal), "start" if kill.mode == "body-start" else "end"
    target = journal.count(mark) + kill.ahead
    if not await _until(run, lambda: journal.count(mark) >= target):
        return None
    if kill.delay:
        await asyncio.sleep(kill.delay)
    run.kill()
    return [r for r in journal.records if r["mark"] == mark][target - 1]


async def _until(run: Run, condition: Callable[[], bool]) -> bool:
    """Poll ``condition`` while ``run`` is alive; return whether it came true in time."""
    while run.process.returncode is None:
        if condition():
            return True
        await asyncio.sleep(POLL_SECONDS)
    return False


async def trial(execution: Execution, rng: random.Random, figures: Figures, timeout: float) -> None:
    """Kill and resume one execution until a run is let finish, then check it."""
    figures.trials += 1
    planned, kills, hit_ends = rng.randint(1, MAX_KILLS_PER_TRIAL), 0, []
    while True:
        kill = plan_kill(rng) if kills < planned else None
        run = await execution.spawn(f"run{figures.runs}")
        figures.runs += 1
        figures.resumes += kills > 0
        hit, code = await _drive(run, kill, execution, timeout)
        if code == KILLED and kill is not None:
            kills += 1
            figures.kills[kill.mode] += 1
            if hit is not None and kill.mode.startswith("body-end"):
                hit_ends.append(hit)
            continue
        if code is None:
            figures.fail("hang", execution.name, f"a run did not end in {timeout:.0f} s")
            return
        if code != EXIT_OK:
            figures.fail(_exit_kind(code), execution.name, _ended(code, run))
            return
        break
    problems = await check(execution, [run], figures)
    _count_end_kills(problems, hit_ends, figures)


async def _drive(
    run: Run, kill: Kill | None, execution: Execution, timeout: float
) -> tuple[dict[str, Any] | None, int | None]:
    """Kill ``run`` as planned and wait for it; return the journal line hit and the exit code.

    The code is None when the run was still going after ``timeout`` (it is killed then).
    """
    hit = None
    try:
        async with asyncio.timeout(timeout):
            hit = await kill_at(run, kill, execution) if kill else None
            return hit, await run.process.wait()
    except TimeoutError:
        run.kill()
        await run.process.wait()
        return hit, None


def _exit_kind(code: int) -> str:
    return {1: "execution-failed", EXIT_LEASED: "lease-held-after-kill"}.get(code, "bad-exit")


def _ended(code: int, run: Run) -> str:
    return f"exit {code}: {run.last_error_line()} {json.dumps(run.output())}"


def _count_end_kills(
    recorded: dict[str, str], hits: list[dict[str, Any]], figures: Figures
) -> None:
    """Count whether each kill after a body's end line landed before its SUCCEED was stored."""
    for hit in hits:
        if recorded.get(hit["step"]) == hit["run"]:
            figures.end_kills_after_checkpoint += 1
        else:
            figures.end_kills_before_checkpoint += 1


async def kill_phase(args: argparse.Namespace, root: Path, figures: Figures) -> None:
    """Run trials on ``--jobs`` lanes, each with its own store, until ``--kills`` kills."""
    counter = iter(range(1_000_000))

    async def lane(index: int) -> None:
        store = root / f"kills-{index}.sqlite3"
        figures.stores += 1
        while sum(figures.kills.values()) < args.kills:
            number = next(counter)
            execution = Execution(
                f"crash-{number}",
                args.seed * 1000 + number,
                store,
                _journal(root, number),
                root / "logs",
            )
            await trial(execution, random.Random(f"{args.seed}:{number}"), figures, args.timeout)
        _integrity(store, figures)

    async with asyncio.TaskGroup() as group:
        for index in range(args.jobs):
            group.create_task(lane(index))


def _journal(root: Path, number: int) -> Path:
    return root / f"journal-{number}.jsonl"


# Phase 2: pairs.


async def pair(execution: Execution, figures: Figures, timeout: float) -> None:
    """Start two runners of one name at once; one finishes, the other exits 4 or finishes too."""
    first, second = await execution.spawn("a"), await execution.spawn("b")
    figures.runs += 2
    ended = await asyncio.gather(first.wait(timeout), second.wait(timeout))
    codes = [code for code in ended if code is not None]
    if len(codes) != len(ended):
        figures.fail("hang", execution.name, f"a runner of the pair did not end in {timeout:.0f} s")
        return
    outcome = "+".join(str(code) for code in sorted(codes, key=str))
    figures.pairs[outcome] += 1
    winners = [run for run, code in zip((first, second), codes, strict=True) if code == EXIT_OK]
    if outcome not in ("0+4", "0+0"):
        detail = "; ".join(_ended(c, r) for r, c in zip((first, second), codes, strict=True))
        figures.fail("pair-exit-codes", execution.name, detail)
        if not winners:
            return
    for loser, code in zip((first, second), codes, strict=True):
        if code == EXIT_LEASED and "is being run by process" not in loser.last_error_line():
            figures.fail("lease-message", execution.name, loser.last_error_line())
    await check(execution, winners, figures)


async def pair_phase(args: argparse.Namespace, root: Path, figures: Figures) -> None:
    """Run ``--pairs`` pairs, ``--jobs`` pairs at a time, all on one shared store."""
    store, slots = root / "pairs.sqlite3", asyncio.Semaphore(args.jobs)
    figures.stores += 1

    async def one(number: int) -> None:
        async with slots:
            execution = Execution(
                f"pair-{number}",
                args.seed * 1000 + 500 + number,
                store,
                _pair_journal(root, number),
                root / "logs",
            )
            await pair(execution, figures, args.timeout)

    async with asyncio.TaskGroup() as group:
        for number in range(args.pairs):
            group.create_task(one(number))
    _integrity(store, figures)


def _pair_journal(root: Path, number: int) -> Path:
    return root / f"journal-pair-{number}.jsonl"


# Checks.


async def check(execution: Execution, finished: list[Run], figures: Figures) -> dict[str, str]:
    """Check one finished execution; return each step's recorded run id."""
    figures.executions += 1
    expected = expected_result(execution.event)
    for run in finished:
        if run.output() != expected:
            figures.fail("wrong-result", execution.name, f"printed {json.dumps(run.output())}")
    async with SqliteStore(execution.store) as store:
        service = LocalDurableService(store)
        arns = [
            e["DurableExecutionArn"]
            for e in await service.list_executions()
            if e["DurableExecutionName"] == execution.name
        ]
        if len(arns) != 1:
            figures.fail("store", execution.name, f"{len(arns)} executions of this name")
            return {}
        described = await service.describe_execution(arns[0])
        operations = await service.list_operations(arns[0])
        events = (await service.get_history(arns[0]))["Events"]
    _check_outcome(execution, described, expected, figures)
    records = [r for r in Journal(execution.journal).poll() if r["execution"] == execution.name]
    recorded = _recorded_runs(execution, operations, events, figures)
    for step in ALL_STEPS:
        if step in recorded:
            _check_step(execution, step, recorded[step], records, figures)
    return {step: run for step, (run, _) in recorded.items()}


def _check_outcome(
    execution: Execution, described: dict[str, Any], expected: Any, figures: Figures
) -> None:
    if described.get("Status") != "SUCCEEDED":
        detail = f"{described.get('Status')} {json.dumps(described.get('Error'))}"
        figures.fail("execution-failed", execution.name, detail)
    elif json.loads(described.get("Result") or "null") != expected:
        figures.fail("wrong-result", execution.name, f"stored {described.get('Result')}")


def _recorded_runs(
    execution: Execution,
    operations: list[dict[str, Any]],
    events: list[dict[str, Any]],
    figures: Figures,
) -> dict[str, tuple[str, int]]:
    """Return, per step, the run id its recorded result names and when StepSucceeded was stored."""
    steps = [op for op in operations if op["Type"] == "STEP"]
    succeeded = Counter(e.get("Name") for e in events if e["EventType"] == "StepSucceeded")
    times = {
        e.get("Name"): e["EventTimestamp"] for e in events if e["EventType"] == "StepSucceeded"
    }
    recorded: dict[str, tuple[str, int]] = {}
    for step in ALL_STEPS:
        ops = [op for op in steps if op.get("Name") == step]
        if len(ops) != 1 or ops[0]["Status"] != "SUCCEEDED" or succeeded[step] != 1:
            statuses = [op["Status"] for op in ops]
            detail = f"step {step}: operations {statuses}, {succeeded[step]} StepSucceeded events"
            figures.fail("step-not-recorded-once", execution.name, detail)
            continue
        run = _run_id(ops[0]["StepDetails"]["Result"])
        recorded[step] = (run, int(times[step]))
    return recorded


def _run_id(payload: str) -> str:
    """Return the body run id in a step result (the extended-types envelope of a dict)."""
    envelope = json.loads(payload)
    return str(envelope["v"]["run"]["v"])


def _check_step(
    execution: Execution,
    step: str,
    recorded: tuple[str, int],
    records: list[dict[str, Any]],
    figures: Figures,
) -> None:
    """Check one step's body runs in the journal against what the store recorded."""
    run, succeeded_ms = recorded
    starts = [r for r in records if r["step"] == step and r["mark"] == "start"]
    figures.body_runs += len(starts)
    figures.reruns += max(0, len(starts) - 1)
    runs = [r["run"] for r in starts]
    if run not in runs:
        figures.fail("journal", execution.name, f"step {step}: recorded run {run} never started")
        return
    after = runs[runs.index(run) + 1 :]
    late = [r for r in starts if r["t"] * 1000 > succeeded_ms + 1]
    if after or late:
        detail = (
            f"step {step}: {len(after)} body run(s) started after the recorded run, "
            f"{len(late)} after StepSucceeded was stored at {succeeded_ms} ms"
        )
        figures.fail("rerun-after-recorded", execution.name, detail)
    if step in AT_MOST_ONCE_STEPS:
        twice = {a: n for a, n in Counter(r["attempt"] for r in starts).items() if n > 1}
        if twice:
            detail = f"step {step}: body runs per attempt {twice}"
            figures.fail("at-most-once-violated", execution.name, detail)


def _integrity(store: Path, figures: Figures) -> None:
    if not store.exists():
        return
    db = sqlite3.connect(store)
    try:
        answer = [row[0] for row in db.execute("PRAGMA integrity_check")]
    finally:
        db.close()
    if answer != ["ok"]:
        figures.fail("integrity-check", store.name, "; ".join(answer)[:500])


# Report.


def report(figures: Figures, args: argparse.Namespace, seconds: float) -> Iterator[str]:
    kills = sum(figures.kills.values())
    by_mode = ", ".join(f"{mode} {figures.kills[mode]}" for mode in KILL_MODES)
    phases = ", ".join(f"{phase} {s:.0f} s" for phase, s in figures.phase_seconds.items())
    yield f"crash campaign, seed {args.seed}, {args.jobs} jobs, {seconds:.0f} s ({phases})"
    yield f"  kill trials (executions)   {figures.trials}"
    yield f"  SIGKILLs                   {kills} ({by_mode})"
    yield f"  resumes                    {figures.resumes}"
    yield (
        f"  kills after a body's end   {figures.end_kills_before_checkpoint} before its SUCCEED "
        f"was stored, {figures.end_kills_after_checkpoint} after"
    )
    pairs = ", ".join(f"exits {k}: {n}" for k, n in sorted(figures.pairs.items()))
    yield f"  same-name pairs            {sum(figures.pairs.values())} ({pairs or 'none'})"
    yield f"  CLI runs                   {figures.runs}"
    yield f"  executions checked         {figures.executions}"
    yield (
        f"  step body runs             {figures.body_runs} ({figures.reruns} run again after a "
        "kill before their success was stored)"
    )
    yield f"  stores integrity-checked   {figures.stores}"
    total = sum(figures.failures.values())
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(figures.failures.items()))
    yield f"  failures                   {total}{f' ({kinds})' if kinds else ''}"
    for detail in figures.details[:MAX_SHOWN_FAILURES]:
        yield f"    {detail}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.crash_campaign", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--kills", type=int, default=200, help="SIGKILLs to make (default 200)")
    parser.add_argument("--pairs", type=int, default=100, help="same-name pairs (default 100)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the kill plans")
    parser.add_argument("--jobs", type=int, default=4, help="executions at once (default 4)")
    parser.add_argument("--timeout", type=float, default=60.0, help="longest one run may take")
    parser.add_argument("--keep", action="store_true", help="keep the stores and journals")
    return parser


async def campaign(args: argparse.Namespace, root: Path) -> Figures:
    figures = Figures()
    for phase, run in (("kills", kill_phase), ("pairs", pair_phase)):
        began = time.monotonic()
        await run(args, root, figures)
        figures.phase_seconds[phase] = time.monotonic() - began
    return figures


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.seed is None:
        args.seed = random.randrange(1_000_000)
    root = Path(tempfile.mkdtemp(prefix="crash-campaign-"))
    began = time.monotonic()
    figures = asyncio.run(campaign(args, root))
    for line in report(figures, args, time.monotonic() - began):
        print(line)
    if figures.failures or args.keep:
        print(f"  files kept in {root}")
    else:
        shutil.rmtree(root)
    return 1 if figures.failures else 0


if __name__ == "__main__":
    sys.exit(main())
