"""User code loads as Python loads it: by its real module name, with its folder on sys.path.

The project tests run ``durable-async`` through its installed entry point from another folder,
so nothing but the loader puts the project's folder on the path (no PYTHONPATH).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from durable_async._loader import LoadError, function_name, load

ENTRY_POINT = Path(sys.executable).parent / "durable-async"
RUN_TIMEOUT = 30.0

APP = """
from __future__ import annotations

from dataclasses import dataclass

from durable_async import DurableContext, durable_execution
from helpers import tax


@dataclass
class Line:
    sku: str
    cents: int


@durable_execution
async def handler(event: dict[str, int], ctx: DurableContext) -> dict[str, int]:
    line = Line("tea", event["cents"])
    total = await ctx.step(lambda _: line.cents + tax(line.cents), name="total")
    return {"total": total}
"""
HELPERS = """
def tax(cents: int) -> int:
    return cents // 10
"""


def write(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the installed ``durable-async`` entry point in ``cwd`` with no PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [str(ENTRY_POINT), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A two-file project: the handler imports its helper module and declares a dataclass."""
    write(tmp_path / "shop", {"app.py": APP, "helpers.py": HELPERS})
    return tmp_path / "shop"


def test_a_multi_file_project_runs_from_another_folder(project: Path, tmp_path: Path) -> None:
    """`run shop/app.py:handler` imports app's own helper and its dataclass, without PYTHONPATH."""
    store = tmp_path / "s.sqlite3"
    done = cli(
        "run", "shop/app.py:handler", "--input", '{"cents": 500}', "--store", str(store),
        cwd=tmp_path,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"total": 550}


def test_the_dotted_module_form_runs_from_the_current_directory(project: Path) -> None:
    """`run app:handler` in the project's folder imports the module app from there."""
    done = cli("run", "app:handler", "--input", '{"cents": 100}', "--store", "memory", cwd=project)

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"total": 110}


def test_a_package_module_and_a_function_of_it_run(tmp_path: Path) -> None:
    """`run pkg.flows:handler` with `--function` of a sibling module of the same package."""
    write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/pricing.py": "def price(payload):\n    return payload['n'] * 3\n",
            "pkg/flows.py": """
                from durable_async import DurableContext, durable_execution

                @durable_execution
                async def handler(event, ctx: DurableContext):
                    return await ctx.invoke("price", {"n": event["n"]}, name="price")
            """,
        },
    )
    done = cli(
        "run", "pkg.flows:handler", "--input", '{"n": 7}', "--store", "memory",
        "--function", "price=pkg.pricing:price", cwd=tmp_path,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == 21


def test_both_forms_name_one_function(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file named by path or by module is one function: the same name, path hash included."""
    monkeypatch.chdir(project)
    monkeypatch.setattr(sys, "path", list(sys.path))
    by_file = load(f"{project / 'app.py'}:handler")
    by_module = load("app:handler")

    assert by_file.value is by_module.value
    assert (
        by_file.function_name
        == by_module.function_name
        == function_name(project / "app.py", "handler")
    )
    assert sys.modules["app"] is by_file.module
    monkeypatch.delitem(sys.modules, "app")
    monkeypatch.delitem(sys.modules, "helpers")


@pytest.mark.parametrize(
    ("files", "target", "message"),
    [
        pytest.param({}, "nope.py:handler", "no such file: nope.py", id="missing-file"),
        pytest.param({}, "nope_module:handler", "no module named 'nope_module'", id="no-module"),
        pytest.param(
            {"a.py": "x = 1\n"},
            "a.py:handler",
            "a.py:handler: module 'a' has no attribute 'handler'.",
            id="missing-attribute",
        ),
        pytest.param({"a.py": "x = 1\n"}, "a.py", "expected FILE.py:ATTR", id="no-colon"),
        pytest.param({"a.py": "x = 1\n"}, "a.py:1x", "is not a Python name", id="bad-attribute"),
        pytest.param(
            {"a.txt": "x = 1\n"}, "a.txt:x", "a.txt is not a Python file", id="not-python"
        ),
        pytest.param(
            {"my-app.py": "x = 1\n"}, "my-app.py:x", "'my-app' is not a Python name", id="dash"
        ),
        pytest.param(
            {"json.py": "x = 1\n"}, "json.py:x", "rename json.py so it shadows", id="shadows"
        ),
    ],
)
def test_a_bad_target_exits_2_naming_the_problem(
    tmp_path: Path, files: dict[str, str], target: str, message: str
) -> None:
    """A target that cannot be loaded exits 2, and stderr says what to fix."""
    write(tmp_path, files)
    done = cli("run", target, "--store", "memory", cwd=tmp_path)

    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_an_import_error_shows_its_cause(tmp_path: Path) -> None:
    """A module that raises while importing exits 2 with the error and the traceback's lines."""
    write(tmp_path, {"app.py": "import helpers\n", "helpers.py": "raise RuntimeError('no db')\n"})
    done = cli("run", "app.py:handler", "--store", "memory", cwd=tmp_path)

    assert done.returncode == 2
    assert "importing app.py failed: RuntimeError: no db" in done.stderr
    assert 'helpers.py", line 1' in done.stderr  # where it was raised


def test_a_missing_dependency_of_the_module_is_not_reported_as_a_missing_module(
    tmp_path: Path,
) -> None:
    """`import nowhere` inside app.py names app.py's import, not 'no module named app'."""
    write(tmp_path, {"app.py": "import nowhere\n"})
    done = cli("run", "app:handler", "--store", "memory", cwd=tmp_path)

    assert done.returncode == 2
    assert "importing app failed: ModuleNotFoundError: No module named 'nowhere'" in done.stderr


def test_load_errors_are_value_errors() -> None:
    """LoadError is a ValueError, so callers that catch usage errors catch it."""
    with pytest.raises(ValueError, match=r"expected FILE\.py:ATTR"):
        load("x")
    assert issubclass(LoadError, ValueError)
