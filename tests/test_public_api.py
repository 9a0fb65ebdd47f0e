"""The public surface: exports, the exception tree, and what importing pulls in."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import durable_async
from durable_async import exceptions


def test_all_is_sorted_and_every_name_resolves() -> None:
    """__all__ is sorted and each listed name is importable from the package."""
    assert list(durable_async.__all__) == sorted(durable_async.__all__)
    for name in durable_async.__all__:
        assert getattr(durable_async, name) is not None, name


def test_every_public_class_is_exported() -> None:
    """No public class or function defined by the package is missing from __all__."""
    public = {
        name
        for name, value in vars(durable_async).items()
        if not name.startswith("_")
        and getattr(value, "__module__", "").startswith("durable_async")
        and callable(value)
    }
    assert public <= set(durable_async.__all__)


CONTROL_FLOW = {"OrphanedChildException", "SuspendExecution", "TimedSuspendExecution"}


def test_exceptions_share_one_root() -> None:
    """Errors derive from DurableExecutionsError; control-flow signals only from BaseException."""
    for name in exceptions.__all__:
        error = getattr(exceptions, name)
        if name in CONTROL_FLOW:
            assert not issubclass(error, Exception), name  # `except Exception` cannot eat it
        else:
            assert issubclass(error, exceptions.DurableExecutionsError), name


def test_import_does_not_load_aiobotocore() -> None:
    """Importing durable_async (and its test runner) never imports aiobotocore."""
    code = (
        "import sys, durable_async, durable_async.testing; "
        "print('aiobotocore' in sys.modules, 'botocore' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.split() == ["False", "False"]


def test_local_service_does_not_import_the_sdk_core() -> None:
    """The embedded service speaks the protocol only: its modules import no SDK core module."""
    package = Path(durable_async.__file__).parent / "service" / "local"
    offenders = []
    for path in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [
                f"{path.name}: {name}"
                for name in names
                if name.startswith("durable_async") and not name.startswith("durable_async.service")
            ]
    assert offenders == []
