"""The pytest plugin: durable_runner under pytest-asyncio and anyio, locally and against serve."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ENTRY_POINT = str(Path(sys.executable).parent / "durable-async")

APP = """
from typing import Any

from durable_async import DurableContext, Duration, durable_execution


@durable_execution
async def greet(event: dict[str, Any], ctx: DurableContext) -> str:
    async def shout(c: DurableContext, name: str, i: int, _: Any) -> str:
        return await c.step(lambda _: name.upper(), name="shout")

    names = await ctx.map(event["names"], shout, name="names")
    await ctx.wait(Duration.from_hours(24), name="sleep-on-it")
    return ", ".join(names.get_results())
"""

TESTS = """
import pytest

from durable_async.testing import ExecutionStatus
from app import greet

{mark}


async def test_greets_after_a_day(durable_runner) -> None:
    async with durable_runner(greet) as runner:
        result = await runner.run(input={{"names": ["ada", "bob"]}})
    assert result.status is ExecutionStatus.SUCCEEDED
    assert result.result == "ADA, BOB"
    assert result.get_step("names/1/shout").value() == "BOB"


@pytest.mark.durable_local
async def test_a_mocked_step(durable_runner) -> None:
    async with durable_runner(greet) as runner:
        mock = runner.mock_step("names/0/shout", result="EVE")
        result = await runner.run(input={{"names": ["ada", "bob"]}})
    assert result.result == "EVE, BOB"
    assert [call.path for call in mock.calls] == ["names/map-item-0/shout"]
"""

INI = """
[pytest]
filterwarnings = error
{extra}
"""
ASYNCIO = "asyncio_default_fixture_loop_scope = function\nasyncio_mode = {mode}"


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A project with a durable handler in app.py."""
    # The inner session runs in this process, where another test may have imported an `app`.
    monkeypatch.delitem(sys.modules, "app", raising=False)
    pytester.makepyfile(app=APP)
    pytester.syspathinsert()
    return pytester


def _tests(mark: str = "") -> str:
    return TESTS.format(mark=mark)


def test_under_pytest_asyncio_auto_mode(project: pytest.Pytester) -> None:
    """With asyncio_mode=auto, plain async tests use durable_runner; the day passes at once."""
    project.makeini(INI.format(extra=ASYNCIO.format(mode="auto")))
    project.makepyfile(test_greet=_tests())
    project.runpytest("-p", "no:anyio").assert_outcomes(passed=2)


def test_under_pytest_asyncio_strict_mode(project: pytest.Pytester) -> None:
    """In strict mode, tests marked asyncio use it the same way."""
    project.makeini(INI.format(extra=ASYNCIO.format(mode="strict")))
    project.makepyfile(test_greet=_tests("pytestmark = pytest.mark.asyncio"))
    project.runpytest().assert_outcomes(passed=2)


def test_under_anyios_plugin_without_pytest_asyncio(project: pytest.Pytester) -> None:
    """anyio's plugin (asyncio backend) runs the same tests with pytest-asyncio switched off."""
    project.makeini(INI.format(extra=""))
    project.makepyfile(test_greet=_tests("pytestmark = pytest.mark.anyio"))
    project.makeconftest(
        """
        import pytest

        @pytest.fixture
        def anyio_backend() -> str:
            return "asyncio"
        """
    )
    project.runpytest("-p", "no:asyncio").assert_outcomes(passed=2)


def test_a_runner_left_open_fails_the_test(project: pytest.Pytester) -> None:
    """A runner entered and never exited fails the test at teardown, saying what to do."""
    project.makeini(INI.format(extra=ASYNCIO.format(mode="auto")))
    project.makepyfile(
        test_leak="""
        from app import greet

        async def test_leaks(durable_runner) -> None:
            runner = durable_runner(greet)
            await runner.__aenter__()
        """
    )
    result = project.runpytest("-p", "no:anyio")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*the runner of greet was opened and never closed*async with*"])


def test_ini_and_options_reach_the_factory(project: pytest.Pytester) -> None:
    """durable_skip_time=false and cloud mode show on the factory; durable_local tests skip."""
    project.makeini(INI.format(extra=ASYNCIO.format(mode="auto") + "\ndurable_skip_time = false"))
    project.makepyfile(
        test_factory="""
        import pytest
        from durable_async.testing import DurableCloudTestRunner, DurableTestRunner
        from app import greet

        def test_local(durable_runner, request) -> None:
            if request.config.getoption("durable_endpoint"):
                runner = durable_runner(greet, function_name="app-greet")
                assert isinstance(runner, DurableCloudTestRunner)
                assert runner.function_name == "deployed-greet"
                assert runner.endpoint_url == "http://127.0.0.1:9"
            else:
                assert durable_runner.skip_time is False
                assert isinstance(durable_runner(greet), DurableTestRunner)

        @pytest.mark.durable_local
        def test_only_here() -> None:
            pass
        """
    )
    project.runpytest("-p", "no:anyio").assert_outcomes(passed=2)
    in_cloud = project.runpytest(
        "-p",
        "no:anyio",
        "--durable-endpoint",
        "http://127.0.0.1:9",
        "--durable-function",
        "app-greet=deployed-greet",
    )
    in_cloud.assert_outcomes(passed=1, skipped=1)


@pytest.mark.parametrize("value", ["greet", "=x", "greet="])
def test_a_bad_function_mapping_is_a_usage_error(project: pytest.Pytester, value: str) -> None:
    """--durable-function without NAME=DEPLOYED stops pytest before any test runs."""
    project.makepyfile(test_nothing="def test_nothing() -> None: pass")
    result = project.runpytest("--durable-function", value)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--durable-function takes NAME=DEPLOYED*"])


@pytest.fixture
def serve(project: pytest.Pytester) -> Iterator[str]:
    """`durable-async serve --skip-time` hosting app.py's greet; its URL."""
    with _serving(project.path, f"greet={project.path / 'app.py'}:greet") as url:
        yield url


@contextlib.contextmanager
def _serving(cwd: Path, function: str) -> Iterator[str]:
    """Run `durable-async serve --skip-time --function FUNCTION` until the block ends."""
    process = subprocess.Popen(
        [ENTRY_POINT, "serve", "--port", "0", "--store", ":memory:", "--skip-time",
         "--function", function],
        cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode()
        assert line.startswith("serving http://127.0.0.1:"), line
        yield line.split()[1]
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()


def test_the_same_file_runs_against_serve(
    project: pytest.Pytester, serve: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With --durable-endpoint the same tests drive the served function; mocks are skipped."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    project.makeini(INI.format(extra=ASYNCIO.format(mode="auto")))
    project.makepyfile(test_greet=_tests())
    result = project.runpytest("-p", "no:anyio", "--durable-endpoint", serve)
    result.assert_outcomes(passed=1, skipped=1)


def _docs_file(name: str) -> str:
    """The ```python block of docs/testing.md whose first line is ``# NAME``."""
    page = (Path(__file__).resolve().parents[1] / "docs" / "testing.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", page, flags=re.S)
    (found,) = [block for block in blocks if block.startswith(f"# {name}\n")]
    return found


@pytest.fixture
def docs_project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """The complete pytest file of docs/testing.md, as a project of its own."""
    for module in ("shop", "test_shop"):
        monkeypatch.delitem(sys.modules, module, raising=False)
    pytester.makepyfile(shop=_docs_file("shop.py"), test_shop=_docs_file("test_shop.py"))
    pytester.makeini(INI.format(extra=ASYNCIO.format(mode="auto")))
    pytester.syspathinsert()
    return pytester


def test_the_documented_pytest_file_passes(docs_project: pytest.Pytester) -> None:
    """docs/testing.md's shop.py and test_shop.py pass as written, in-process."""
    docs_project.runpytest("-p", "no:anyio").assert_outcomes(passed=4)


def test_the_documented_pytest_file_passes_against_serve(
    docs_project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same file with --durable-endpoint drives serve; the mocking tests are skipped."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with _serving(docs_project.path, f"order={docs_project.path / 'shop.py'}:order") as url:
        result = docs_project.runpytest("-p", "no:anyio", "--durable-endpoint", url)
    result.assert_outcomes(passed=2, skipped=2)
