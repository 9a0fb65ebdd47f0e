"""Which plugin factories an invocation uses: the ones passed in, then the ones named in the
environment.

``DURABLE_EXECUTION_PLUGINS`` (the reference SDK's variable) holds comma-separated names; each
names an entry point in the ``durable_async.plugins`` group of an installed distribution, which
must resolve to a factory *instance*. durable_async's own OpenTelemetry plugin is ``otel``
(``pip install 'durable-async[otel]'``). Every mistake raises
:class:`~durable_async.exceptions.PluginLoadError` when the handler is built, not at the first
invocation, naming the entry and what it was.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Mapping, Sequence
from importlib import metadata
from typing import cast

from durable_async.exceptions import PluginLoadError
from durable_async.plugin import DurableInstrumentationPluginFactory

__all__ = ["PLUGIN_ENTRY_POINT_GROUP", "PLUGIN_ENVIRONMENT_VARIABLE", "load_configured_plugins"]

PLUGIN_ENTRY_POINT_GROUP = "durable_async.plugins"
PLUGIN_ENVIRONMENT_VARIABLE = "DURABLE_EXECUTION_PLUGINS"

_log = logging.getLogger("durable_async")
_PROBE = object()


def load_configured_plugins(
    explicit_plugins: Sequence[DurableInstrumentationPluginFactory] | None,
    *,
    environment: Mapping[str, str] | None = None,
) -> list[DurableInstrumentationPluginFactory]:
    """Return the explicit factories (checked), then those the environment names, in order.

    A factory named in the environment that is also passed explicitly (the same object) is
    used once.
    """
    factories = list(explicit_plugins or [])
    for index, factory in enumerate(factories):
        if not _is_factory(factory):
            raise PluginLoadError(
                f"plugins[{index}] must be a plugin factory (an object with a create_plugin(info) "
                f"method returning a DurableInstrumentationPlugin) but is {_describe(factory)}"
                f"{_read_error(factory)}. "
                "Pass a factory instance, not a plugin, a plugin class, a function or the "
                "factory class: plugins=[MyPluginFactory()]."
            )
    for name in _configured_names(os.environ if environment is None else environment):
        factory = _load(name)
        if any(factory is known for known in factories):
            _log.warning("plugin %r is passed to durable_execution already; using it once", name)
            continue
        factories.append(factory)
    return factories


def _configured_names(environment: Mapping[str, str]) -> list[str]:
    value = environment.get(PLUGIN_ENVIRONMENT_VARIABLE)
    if value is None or not value.strip():
        return []
    names = [name.strip() for name in value.split(",")]
    if not all(names):
        raise PluginLoadError(
            f"{PLUGIN_ENVIRONMENT_VARIABLE}={value!r} has an empty name; it takes "
            "comma-separated plugin names, such as 'otel' or 'otel,audit'."
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise PluginLoadError(f"{PLUGIN_ENVIRONMENT_VARIABLE} names {repeated} more than once.")
    return names


def _load(name: str) -> DurableInstrumentationPluginFactory:
    try:
        found = [ep for ep in metadata.entry_points(group=PLUGIN_ENTRY_POINT_GROUP)]
    except Exception as exc:
        raise PluginLoadError(f"Could not list the installed plugins: {exc}") from exc
    matching = [ep for ep in found if ep.name == name]
    if not matching:
        installed = ", ".join(sorted({ep.name for ep in found})) or "none"
        raise PluginLoadError(
            f"{PLUGIN_ENVIRONMENT_VARIABLE} names plugin {name!r}, but no installed "
            f"distribution has an entry point {name!r} in group {PLUGIN_ENTRY_POINT_GROUP!r} "
            f"(installed: {installed}). Install the package that provides it (the OpenTelemetry "
            "plugin is 'durable-async[otel]')."
        )
    if len(matching) > 1:
        owners = ", ".join(_distribution(ep) for ep in matching)
        raise PluginLoadError(
            f"More than one installed distribution provides plugin {name!r} ({owners}); "
            "uninstall all but one."
        )
    entry_point = matching[0]
    try:
        factory = entry_point.load()
    except Exception as exc:
        raise PluginLoadError(
            f"Plugin {name!r} ({entry_point.value}, from {_distribution(entry_point)}) failed "
            f"to import: {type(exc).__name__}: {exc}"
        ) from exc
    if not _is_factory(factory):
        raise PluginLoadError(
            f"Plugin {name!r} ({entry_point.value}) must name a plugin factory instance (an "
            f"object with a create_plugin(info) method) but names {_describe(factory)}"
            f"{_read_error(factory)}."
        )
    return cast(DurableInstrumentationPluginFactory, factory)


def _distribution(entry_point: metadata.EntryPoint) -> str:
    dist = getattr(entry_point, "dist", None)
    return str(dist.metadata["Name"]) if dist is not None else "an unknown distribution"


def _is_factory(value: object) -> bool:
    """Whether ``value.create_plugin(info)`` can be called with the info alone.

    A class passes only when its ``create_plugin`` is a class or static method: read off the
    class, an instance method would take the info as ``self``. A ``create_plugin`` that raises
    when read makes no factory either.
    """
    try:
        create = getattr(value, "create_plugin", None)
    except Exception:
        return False
    if not callable(create):
        return False
    if isinstance(value, type) and inspect.isfunction(create):
        declared = inspect.getattr_static(value, "create_plugin", None)
        if not isinstance(declared, staticmethod):
            return False
    try:
        inspect.signature(create).bind(_PROBE)
    except TypeError:
        return False
    except ValueError:
        return True  # no signature to read (a builtin): trust the member
    return True


def _read_error(value: object) -> str:
    """`` (reading its create_plugin raised ...)`` when it does, else nothing."""
    try:
        getattr(value, "create_plugin", None)
    except Exception as exc:
        return f" (reading its create_plugin raised {type(exc).__name__}: {exc})"
    return ""


def _describe(value: object) -> str:
    if isinstance(value, type):
        return f"the class {value.__module__}.{value.__qualname__}"
    if inspect.isroutine(value):
        module = getattr(value, "__module__", "?")
        return f"the function {module}.{getattr(value, '__qualname__', '?')}"
    return f"an instance of {type(value).__module__}.{type(value).__qualname__}"
