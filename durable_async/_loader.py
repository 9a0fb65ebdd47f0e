"""Load user code named ``FILE.py:ATTR`` or ``pkg.module:ATTR``, as uvicorn and Celery do.

The module is imported under its real name with its folder on ``sys.path``, so the file's own
imports (``from helpers import tax``) resolve as they do under ``python FILE.py``, and code that
looks itself up in ``sys.modules`` (dataclasses under ``from __future__ import annotations``,
pickling, ``typing.get_type_hints``) finds the module it is in.

* ``FILE.py:ATTR``: the file's folder goes first on ``sys.path``; the module is the file's stem.
* ``pkg.module:ATTR``: the current directory goes first on ``sys.path``, as ``python -m`` does.

Every failure is a :class:`LoadError` whose message says what to fix: a file that does not exist,
a module that does not import (with the cause's traceback), an attribute the module lacks.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = ["LoadError", "Loaded", "function_name", "load", "parse_named_target"]

_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_ATTRIBUTE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


class LoadError(ValueError):
    """The target cannot be loaded; the message says why and what to do."""


@dataclass(frozen=True)
class Loaded:
    """What a target names: the object, its module, and the function name it runs as."""

    target: str
    value: Any
    module: ModuleType
    function_name: str


def load(target: str) -> Loaded:
    """Import ``FILE.py:ATTR`` or ``pkg.module:ATTR`` and return what ``ATTR`` names."""
    source, attribute = _split(target)
    module = _import_file(Path(source)) if _is_file(source) else _import_dotted(source)
    value = _attribute(module, attribute, target)
    return Loaded(target, value, module, function_name(_module_path(module, source), attribute))


def parse_named_target(spec: str, option: str = "--function") -> tuple[str, str]:
    """Split ``NAME=FILE.py:ATTR`` (or ``NAME=pkg.module:ATTR``) into the name and the target."""
    name, sep, target = spec.partition("=")
    if not sep:
        raise LoadError(f"{option} takes NAME=FILE.py:ATTR or NAME=pkg.module:ATTR, got {spec!r}")
    if not _FUNCTION_NAME.fullmatch(name):
        raise LoadError(
            f"{option} {name!r} is not a valid name; use 1 to 64 letters, digits, '-' or '_'."
        )
    return name, target


def function_name(path: Path, attribute: str) -> str:
    """Return the function name of ``path:attribute``: stem, attribute and a hash of the path.

    The hash of the resolved path keeps two files with one stem apart (``one/orders.py`` and
    ``two/orders.py`` are two functions), and gives one file the same name from any folder and
    in either form (``orders.py:handler`` and ``orders:handler`` name one function).
    """
    digest = hashlib.sha256(os.fsencode(path.resolve())).hexdigest()[:8]
    readable = _NAME_UNSAFE.sub("_", f"{path.stem}-{attribute}")[: 64 - len(digest) - 1]
    return f"{readable}-{digest}"


def _split(target: str) -> tuple[str, str]:
    source, sep, attribute = target.rpartition(":")
    if not sep or not source or not attribute:
        raise LoadError(
            f"expected FILE.py:ATTR or package.module:ATTR, got {target!r}; name the file or "
            "module, a colon, and the handler's name in it."
        )
    if not _ATTRIBUTE.fullmatch(attribute):
        raise LoadError(f"{attribute!r} in {target!r} is not a Python name.")
    return source, attribute


def _is_file(source: str) -> bool:
    return source.endswith(".py") or os.sep in source or "/" in source or Path(source).is_file()


def _import_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise LoadError(f"no such file: {path}")
    if path.suffix != ".py":
        raise LoadError(f"{path} is not a Python file; name a .py file.")
    resolved = path.resolve()
    name = resolved.stem
    if not name.isidentifier():
        raise LoadError(
            f"{path} cannot be imported as a module: {name!r} is not a Python name; rename "
            "the file with letters, digits and underscores only."
        )
    _put_first_on_path(resolved.parent)
    existing = sys.modules.get(name)
    if existing is not None:
        if _same_file(existing, resolved):
            return existing
        raise LoadError(
            f"{path} would be imported as module {name!r}, but that name is already the "
            f"module {_where(existing)}; rename {path.name} so it shadows no other module."
        )
    module = _import(name, str(path))
    if not _same_file(module, resolved):
        raise LoadError(
            f"importing {path} as {name!r} found the module {_where(module)} instead; rename "
            f"{path.name} so it shadows no other module."
        )
    return module


def _import_dotted(source: str) -> ModuleType:
    if not _MODULE.fullmatch(source):
        raise LoadError(
            f"{source!r} is neither a .py file nor a dotted module name; pass FILE.py:ATTR "
            "or package.module:ATTR."
        )
    _put_first_on_path(Path.cwd())
    return _import(source, source)


def _import(name: str, shown: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (name == exc.name or name.startswith(f"{exc.name}.")):
            raise LoadError(
                f"no module named {name!r} (looked in the current directory and on sys.path)."
            ) from exc
        raise LoadError(_import_failed(shown, exc)) from exc
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise LoadError(_import_failed(shown, exc)) from exc


def _import_failed(shown: str, exc: BaseException) -> str:
    cause = "".join(traceback.format_exception(exc)).rstrip()
    return f"importing {shown} failed: {type(exc).__name__}: {exc}\n{cause}"


def _attribute(module: ModuleType, attribute: str, target: str) -> Any:
    value: Any = module
    for part in attribute.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise LoadError(
                f"{target}: module {module.__name__!r} has no attribute {attribute!r}."
            ) from None
    return value


def _module_path(module: ModuleType, source: str) -> Path:
    file = getattr(module, "__file__", None)
    return Path(file) if file else Path(source)


def _put_first_on_path(folder: Path) -> None:
    entry = str(folder)
    if entry in sys.path:
        sys.path.remove(entry)
    sys.path.insert(0, entry)
    importlib.invalidate_caches()


def _same_file(module: ModuleType, path: Path) -> bool:
    file = getattr(module, "__file__", None)
    return file is not None and Path(file).resolve() == path


def _where(module: ModuleType) -> str:
    file = getattr(module, "__file__", None)
    return f"{module.__name__!r} ({file})" if file else f"{module.__name__!r} (built in)"
