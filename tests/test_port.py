"""`durable-async port`: reference handlers ported by the codemod run and match the reference."""

from __future__ import annotations

import importlib
import inspect
import json
import subprocess
import sys
import textwrap
import types
from pathlib import Path
from typing import Any

import pytest
from aws_durable_execution_sdk_python_testing.runner import DurableFunctionTestRunner

import durable_async
from durable_async._port import port_source
from durable_async.testing import DurableTestRunner, ExecutionStatus

CASES = Path(__file__).parent / "port_cases"
# Reference examples with no callback to answer: run on both SDKs and compared.
RUNNABLE = [
    "block_example",
    "catch_typed_step_error",
    "comprehensive_operations",
    "map_operations",
    "run_in_child_context",
    "step_with_retry",
    "wait_for_condition",
]
ALL_CASES = sorted(p.name.removesuffix(".py.txt") for p in CASES.glob("*.py.txt"))
# Reference module paths that issue 7 item 1 adds; until then the tests alias the root to them.
REFERENCE_PATHS = ("context", "execution", "types")


def _source(name: str) -> str:
    return (CASES / f"{name}.py.txt").read_text(encoding="utf-8")


def _module(name: str, source: str) -> types.ModuleType:
    module = types.ModuleType(name)
    exec(compile(source, f"{name}.py", "exec"), module.__dict__)
    return module


@pytest.fixture(autouse=True)
def reference_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """Serve ``durable_async.context`` and friends' missing names from the root until they exist."""
    for path in REFERENCE_PATHS:
        try:
            module = importlib.import_module(f"durable_async.{path}")
        except ModuleNotFoundError:
            module = types.ModuleType(f"durable_async.{path}")
            monkeypatch.setitem(sys.modules, f"durable_async.{path}", module)
        for name, value in vars(durable_async).items():
            if not name.startswith("_") and not hasattr(module, name):
                monkeypatch.setattr(module, name, value, raising=False)


def _skip_without_map_inputs(source: str) -> None:
    if (
        "inputs=" in source
        and "inputs" not in inspect.signature(durable_async.DurableContext.map).parameters
    ):
        pytest.skip("DurableContext.map(inputs=...) lands with issue 7 item 2.")


def _run_reference(name: str) -> tuple[str, Any, set[tuple[Any, ...]]]:
    runner = DurableFunctionTestRunner(_module(name, _source(name)).handler)
    try:
        result = runner.run(input="{}", execution_timeout=60)
    finally:
        runner.close()  # type: ignore[no-untyped-call]
        runner._scheduler._loop.close()  # the reference never closes its loop
    ops = {
        (op.operation_id, op.operation_type.value, op.name, op.status.value, op.parent_id)
        for op in result.get_all_operations()
    }
    return result.status.value, json.loads(result.result), ops


async def _run_ported(name: str) -> tuple[str, Any, set[tuple[Any, ...]]]:
    ported = port_source(_source(name))
    assert ported.problems == []
    handler = _module(name, ported.code).handler
    async with DurableTestRunner(handler, skip_time=True) as runner:
        result = await runner.run(input={}, timeout=30)
    ops = {
        (op.id, op.type.value, op.name, op.status.value, op.parent_id)
        for op in result.operations
        if op.type.value != "EXECUTION"  # the reference runner lists no EXECUTION operation
    }
    return result.status.value, result.result, ops


@pytest.mark.parametrize("name", RUNNABLE)
async def test_ported_example_matches_reference(name: str) -> None:
    """A ported reference example ends as the original does, with the same result and operations."""
    _skip_without_map_inputs(_source(name))
    expected = _run_reference(name)
    status, result, ops = await _run_ported(name)
    assert (status, result) == expected[:2]
    assert ops == expected[2]


async def test_ported_callback_example_waits_for_its_answer() -> None:
    """A ported create_callback handler suspends on `await callback.result()` until answered."""
    module = _module("callback_simple", port_source(_source("callback_simple")).code)
    async with DurableTestRunner(module.handler, skip_time=True) as runner:
        arn = await runner.start(input={})
        callback_id = await runner.wait_for_callback(arn, name="example_callback")
        await runner.send_callback_success(callback_id, "approved")
        result = await runner.wait_for_result(arn, timeout=30)
    assert (result.status, result.result) == (ExecutionStatus.SUCCEEDED, "approved")


async def test_ported_wait_for_callback_in_child_context_runs() -> None:
    """Ported wait_for_callback calls in the handler and in a child context both get answered."""
    module = _module("wfc_child", port_source(_source("wait_for_callback_child")).code)
    async with DurableTestRunner(module.handler, skip_time=True) as runner:
        arn = await runner.start(input={})
        for name, answer in [("parent-callback-op", "p"), ("child-callback-op", "c")]:
            await runner.send_callback_success(await runner.wait_for_callback(arn, name), answer)
        result = await runner.wait_for_result(arn, timeout=30)
    assert result.result == {
        "parentResult": "p",
        "childContextResult": {"childResult": "c", "childProcessed": True},
    }


@pytest.mark.parametrize("name", ALL_CASES)
def test_porting_twice_changes_nothing(name: str) -> None:
    """Porting ported code gives it back unchanged, with the same places left by hand."""
    once = port_source(_source(name))
    twice = port_source(once.code)
    assert twice.code == once.code
    assert twice.problems == once.problems


@pytest.mark.parametrize("name", ALL_CASES)
def test_port_keeps_every_comment_and_docstring(name: str) -> None:
    """Every comment line of the original is still in the ported code."""
    ported = port_source(_source(name)).code
    comments = [line.strip() for line in _source(name).splitlines() if line.strip().startswith("#")]
    assert all(comment in ported for comment in comments)


def test_lambda_that_hides_a_durable_call_is_reported() -> None:
    """The parallel example's `(ctx.wait(...), value)[1]` lambda is left for a person, by line."""
    ported = port_source(_source("parallel"))
    [problem] = ported.problems
    assert _source("parallel").splitlines()[problem.line - 1].strip().startswith("ctx.wait(")
    assert "async def" in problem.message


def _port(code: str) -> str:
    result = port_source(textwrap.dedent(code))
    assert result.problems == []
    return result.code


def _problems(code: str) -> list[tuple[int, str]]:
    return [(p.line, p.message) for p in port_source(textwrap.dedent(code)).problems]


HANDLER = """\
from aws_durable_execution_sdk_python import DurableContext, durable_execution

@durable_execution
def handler(event, context):
{body}
"""


def _handler(body: str) -> str:
    return HANDLER.format(body=textwrap.indent(textwrap.dedent(body), "    "))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            "return context.map(xs, f).get_results()",
            "return (await context.map(xs, f)).get_results()",
            id="method-on-result",
        ),
        pytest.param(
            'return context.step(f)["a"]', 'return (await context.step(f))["a"]', id="subscript"
        ),
        pytest.param(
            "return (context.step(f))", "return (await context.step(f))", id="parenthesized"
        ),
        pytest.param(
            "return [context.step(f) for f in fs]",
            "return [await context.step(f) for f in fs]",
            id="list-comprehension",
        ),
        pytest.param(
            "x = await context.step(f)", "x = await context.step(f)", id="already-awaited"
        ),
        pytest.param(
            "cb = context.create_callback()\nreturn cb.result()",
            "cb = await context.create_callback()\n    return await cb.result()",
            id="callback-result",
        ),
        pytest.param(
            "return context.create_callback().result()",
            "return await (await context.create_callback()).result()",
            id="callback-result-chained",
        ),
        pytest.param(
            "return future.result() + pool.map(f, xs) + event.wait()",
            "return future.result() + pool.map(f, xs) + event.wait()",
            id="other-receivers-untouched",
        ),
        pytest.param(
            "return with_retry(context, lambda c, n: c.step(f), cfg)",
            "return await with_retry(context, lambda c, n: c.step(f), cfg)",
            id="with-retry",
        ),
        pytest.param(
            "return context.step(f,  # why\n    name='s')",
            "return await context.step(f,  # why\n        name='s')",
            id="comment-inside-call",
        ),
    ],
)
def test_durable_calls_in_the_handler_are_awaited(body: str, expected: str) -> None:
    """Each durable call of the handler is awaited once, parenthesized where a trailer follows."""
    ported = _port(_handler(body))
    assert "async def handler(event, context):" in ported
    assert expected in ported


def test_imports_and_dotted_names_are_renamed() -> None:
    """Every import form and dotted use of the reference package names durable_async instead."""
    ported = _port(
        """\
        import aws_durable_execution_sdk_python as sdk
        import aws_durable_execution_sdk_python.config
        from aws_durable_execution_sdk_python.config import Duration  # keep me
        d = aws_durable_execution_sdk_python.config.Duration.from_seconds(1)
        """
    )
    assert "aws_durable_execution_sdk_python" not in ported
    assert "import durable_async as sdk" in ported
    assert "import durable_async.config\n" in ported
    assert "from durable_async.config import Duration  # keep me" in ported
    assert "durable_async.config.Duration.from_seconds(1)" in ported


def test_helpers_that_run_durable_code_become_async_transitively() -> None:
    """A helper calling a helper that calls the context becomes async, and both calls awaited."""
    ported = _port(
        """\
        from aws_durable_execution_sdk_python import DurableContext, durable_execution

        @durable_execution
        def handler(event, context):
            return outer(context, event)

        def outer(ctx, event):
            return inner(ctx) + 1

        def inner(ctx: DurableContext):
            return ctx.step(lambda _: 1)

        def plain(x):
            return x + 1
        """
    )
    assert "return await outer(context, event)" in ported
    assert "async def outer(ctx, event):\n    return await inner(ctx) + 1" in ported
    assert "async def inner(ctx: DurableContext):\n    return await ctx.step(" in ported
    assert "\ndef plain(x):" in ported


def test_named_map_and_parallel_functions_become_async() -> None:
    """A named function given to map or parallel gets the child context and awaits its calls."""
    ported = _port(
        """\
        from aws_durable_execution_sdk_python import ParallelBranch, durable_execution

        def price(c, item, index, items):
            return c.step(lambda _: item * 2, name=f"p{index}")

        def branch(c):
            c.wait(d)
            return "done"

        @durable_execution
        def handler(event, context):
            context.map(event["xs"], price)
            return context.parallel([ParallelBranch(branch, "b"), lambda c: c.step(f)])
        """
    )
    assert "async def price(c, item, index, items):\n    return await c.step(" in ported
    assert "async def branch(c):\n    await c.wait(d)" in ported
    assert "return await context.parallel([ParallelBranch(branch" in ported
    assert "lambda c: c.step(f)" in ported


def test_step_bodies_submitters_and_checks_stay_sync() -> None:
    """@durable_step, StepContext, submitter and condition-check functions stay plain `def`."""
    ported = _port(
        """\
        from aws_durable_execution_sdk_python import durable_execution, durable_step
        from aws_durable_execution_sdk_python.types import StepContext

        @durable_step
        def charge(step, cents):
            return cents

        def refund(step: StepContext):
            return 0

        def check(state, check_context):
            return state + 1

        @durable_execution
        def handler(event, context):
            context.wait_for_callback(lambda cid, wctx: send(cid))
            context.wait_for_condition(check, config=cfg)
            return context.step(charge(5)) + context.step(refund)
        """
    )
    for line in ["def charge(step, cents):", "def refund(step: StepContext):", "def check("]:
        assert f"\n{line}" in ported
    assert "return await context.step(charge(5)) + await context.step(refund)" in ported


def test_a_parameter_that_shadows_the_context_is_not_a_context() -> None:
    """A nested function whose own parameter is named like the context is left alone."""
    ported = _port(
        _handler(
            """\
            def sort_key(context):
                return context.wait()
            return sorted(event, key=sort_key)
            """
        )
    )
    assert "def sort_key(context):\n        return context.wait()" in ported
    assert "async def sort_key" not in ported


def test_an_already_ported_async_handler_is_left_as_it_is() -> None:
    """An async handler that awaits its calls already comes out byte for byte the same."""
    code = _handler("x = await context.step(f)\nreturn (await context.map(x, g)).get_results()")
    code = code.replace("def handler", "async def handler")
    assert _port(code.replace("aws_durable_execution_sdk_python", "durable_async")) == code.replace(
        "aws_durable_execution_sdk_python", "durable_async"
    )


@pytest.mark.parametrize(
    ("code", "line", "fragment"),
    [
        pytest.param(
            _handler("return sum(context.step(f) for f in fs)"),
            5,
            "generator expression",
            id="generator",
        ),
        pytest.param(
            _handler("context.step(lambda _: context.wait(d))"), 5, "step, submitter", id="in-step"
        ),
        pytest.param(
            _handler("context.map(xs, lambda c, i, n, a: [c.step(f), c.step(g)])"),
            5,
            "lambda",
            id="lambda-list",
        ),
        pytest.param(
            "from aws_durable_execution_sdk_python_testing import runner\n",
            1,
            "DurableTestRunner",
            id="reference-testing-import",
        ),
        pytest.param(
            "from aws_durable_execution_sdk_python import with_retry\nwith_retry(c, f, cfg)\n",
            2,
            "module level",
            id="module-level",
        ),
    ],
)
def test_what_cannot_be_ported_is_reported_by_line(code: str, line: int, fragment: str) -> None:
    """Each place the codemod cannot port is one problem naming its line and what to do."""
    [(found_line, message)] = _problems(code)
    assert found_line == line
    assert fragment in message


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "durable_async.cli", "port", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_cli_prints_a_diff_and_leaves_the_file(tmp_path: Path) -> None:
    """`durable-async port FILE` prints a unified diff, exits 0 and does not touch the file."""
    path = tmp_path / "handler.py"
    path.write_text(_source("run_in_child_context"), encoding="utf-8")
    done = _cli(str(path))
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith(f"--- {path}\n+++ {path}\n@@")
    assert "+async def handler(_event: Any, context: DurableContext) -> str:" in done.stdout
    assert path.read_text(encoding="utf-8") == _source("run_in_child_context")


def test_cli_write_ports_in_place_and_then_has_nothing_to_do(tmp_path: Path) -> None:
    """`--write` writes the ported code; a second run prints no diff and exits 0."""
    path = tmp_path / "handler.py"
    path.write_text(_source("block_example"), encoding="utf-8")
    assert _cli("--write", str(path)).returncode == 0
    assert path.read_text(encoding="utf-8") == port_source(_source("block_example")).code
    again = _cli(str(path))
    assert (again.returncode, again.stdout, again.stderr) == (0, "", "")


def test_cli_exits_1_naming_file_and_line_of_each_place_left(tmp_path: Path) -> None:
    """A file with a place to port by hand, a syntax error and a missing file each exit 1."""
    manual, broken = tmp_path / "parallel.py", tmp_path / "broken.py"
    manual.write_text(_source("parallel"), encoding="utf-8")
    broken.write_text("def (:\n", encoding="utf-8")
    done = _cli("--write", str(manual), str(broken), str(tmp_path / "missing.py"))
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert lines[0].startswith(f"{manual}:23: a lambda makes a durable call")
    assert lines[1].startswith(f"{broken}:1: not valid Python")
    assert lines[2].startswith(f"{tmp_path / 'missing.py'}: cannot read it")
    assert "async def handler" in manual.read_text(encoding="utf-8")  # the rest is ported
