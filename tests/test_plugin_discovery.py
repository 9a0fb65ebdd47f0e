"""DURABLE_EXECUTION_PLUGINS: plugin factories found through real entry points.

Each test builds tiny distributions in tmp_path (a ``*.dist-info`` folder with ``METADATA`` and
``entry_points.txt``, and the module it names) and puts the folder on ``sys.path``, where
``importlib.metadata`` finds them as it finds installed packages.
"""

from __future__ import annotations

import itertools
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from durable_async import DurableContext, durable_execution
from durable_async.exceptions import PluginLoadError
from durable_async.plugin_discovery import (
    PLUGIN_ENTRY_POINT_GROUP,
    PLUGIN_ENVIRONMENT_VARIABLE,
    load_configured_plugins,
)
from durable_async.testing import DurableTestRunner

PLUGIN_MODULE = """
from durable_async.plugin import DurableInstrumentationPlugin


class Plugin(DurableInstrumentationPlugin):
    def __init__(self, seen):
        self.seen = seen

    def on_invocation_start(self, info):
        self.seen.append(("start", TAG))

    def on_operation_end(self, info):
        self.seen.append(("end", TAG, info.name))


class Factory:
    def __init__(self):
        self.seen = []

    def create_plugin(self, info, /):
        return Plugin(self.seen)


TAG = {tag!r}
FACTORY = Factory()
"""

_counter = itertools.count()


class Site:
    """A folder on sys.path holding distributions made on demand."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.modules: list[str] = []

    def distribution(self, name: str, entries: dict[str, str], modules: dict[str, str]) -> None:
        """Make distribution ``name`` with ``entries`` (entry name: value) and ``modules``."""
        # As a wheel names it: importlib reads the distribution's name from the folder's.
        info = self.root / f"{name.replace('-', '_')}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        lines = [f"[{PLUGIN_ENTRY_POINT_GROUP}]"] + [f"{k} = {v}" for k, v in entries.items()]
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        for module, text in modules.items():
            (self.root / f"{module}.py").write_text(text)
            self.modules.append(module)

    def plugin(self, entry: str, *, dist: str | None = None) -> str:
        """Make a distribution whose entry ``entry`` is a recording factory; return its module."""
        module = f"dx_plugin_{next(_counter)}"
        text = PLUGIN_MODULE.format(tag=entry)
        self.distribution(dist or module, {entry: f"{module}:FACTORY"}, {module: text})
        return module

    def factory(self, module: str) -> Any:
        """The FACTORY object of a module made here (imported as the entry point does)."""
        __import__(module)
        return sys.modules[module].FACTORY


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    """A fresh site folder first on sys.path; its modules are forgotten afterwards."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.delenv(PLUGIN_ENVIRONMENT_VARIABLE, raising=False)
    made = Site(root)
    yield made
    for module in made.modules:
        sys.modules.pop(module, None)


def handler_with(plugins: list[Any] | None = None) -> Any:
    @durable_execution(plugins=plugins)
    async def handler(event: Any, ctx: DurableContext) -> int:
        return await ctx.step(lambda _: 1, name="one")

    return handler


async def run(handler: Any) -> None:
    async with DurableTestRunner(handler) as runner:
        result = await runner.run()
    assert result.status.value == "SUCCEEDED"


async def test_named_plugins_are_loaded_after_the_explicit_ones_and_hear_the_invocation(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Explicit factories first, then the named ones in the variable's order, each once."""
    first, second, explicit = site.plugin("audit"), site.plugin("metrics"), site.plugin("own")
    monkeypatch.setenv(PLUGIN_ENVIRONMENT_VARIABLE, " metrics , audit ")
    own = site.factory(explicit)
    handler = handler_with([own])
    assert handler.plugins == [own, site.factory(second), site.factory(first)]
    await run(handler)
    for module, tag in ((first, "audit"), (second, "metrics"), (explicit, "own")):
        assert site.factory(module).seen == [("start", tag), ("end", tag, "one")]


async def test_a_factory_passed_and_named_is_used_once(
    site: Site, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The same factory object, explicit and in the variable, builds one plugin per invocation."""
    module = site.plugin("audit")
    monkeypatch.setenv(PLUGIN_ENVIRONMENT_VARIABLE, "audit")
    factory = site.factory(module)
    with caplog.at_level(logging.WARNING, logger="durable_async"):
        handler = handler_with([factory])
    assert handler.plugins == [factory]
    assert "'audit'" in caplog.text
    await run(handler)
    assert factory.seen == [("start", "audit"), ("end", "audit", "one")]


def test_the_variable_is_read_when_the_handler_is_built(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A handler built before the variable is set has no named plugins; one built after has."""
    site.plugin("audit")
    before = handler_with()
    monkeypatch.setenv(PLUGIN_ENVIRONMENT_VARIABLE, "audit")
    assert before.plugins == []
    assert len(handler_with().plugins) == 1


@pytest.mark.parametrize("value", ["", "   ", "\t"])
def test_an_empty_variable_names_no_plugin(
    site: Site, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """Unset, empty or blank: no plugin is loaded and nothing fails."""
    monkeypatch.setenv(PLUGIN_ENVIRONMENT_VARIABLE, value)
    assert handler_with().plugins == []


def raises_naming(*parts: str) -> Callable[[Callable[[], Any]], str]:
    """Check that ``build`` raises PluginLoadError whose message holds every part."""

    def check(build: Callable[[], Any]) -> str:
        with pytest.raises(PluginLoadError) as raised:
            build()
        message = str(raised.value)
        for part in parts:
            assert part in message, (part, message)
        return message

    return check


@pytest.mark.parametrize(
    ("value", "parts"),
    [
        pytest.param("audit,,metrics", ["empty name", "'audit,,metrics'"], id="empty-segment"),
        pytest.param("audit,", ["empty name"], id="trailing-comma"),
        pytest.param(" , ", ["empty name"], id="only-a-comma"),
        pytest.param("audit,audit", ["more than once", "audit"], id="repeated"),
        pytest.param(
            "audit, nosuch",
            ["'nosuch'", PLUGIN_ENTRY_POINT_GROUP, "installed: audit, metrics"],
            id="unknown-name",
        ),
    ],
)
def test_a_bad_variable_fails_when_the_handler_is_built(
    site: Site, monkeypatch: pytest.MonkeyPatch, value: str, parts: list[str]
) -> None:
    """Empty segments, repeats and unknown names raise PluginLoadError naming the problem."""
    site.plugin("audit")
    site.plugin("metrics")
    monkeypatch.setenv(PLUGIN_ENVIRONMENT_VARIABLE, value)
    raises_naming(*parts)(handler_with)


def test_two_distributions_providing_one_name_fail_naming_both(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name two distributions provide is ambiguous: PluginLoadError naming both."""
    site.plugin("audit", dist="audit-one")
    site.plugin("audit", dist="audit-two")
    monkeypatch.setenv(PLUGIN_ENVIRONMENT_VARIABLE, "audit")
    raises_naming("'audit'", "audit-one", "audit-two")(handler_with)


@pytest.mark.parametrize(
    ("module_text", "value", "parts"),
    [
        pytest.param(
            "raise ImportError('no opentelemetry')",
            "FACTORY",
            ["ImportError", "no opentelemetry"],
            id="import-error",
        ),
        pytest.param("1 / 0", "FACTORY", ["ZeroDivisionError"], id="module-raises"),
        pytest.param("OTHER = 1", "FACTORY", ["AttributeError"], id="missing-attribute"),
        pytest.param(
            "import no_such_module_here", "FACTORY", ["no_such_module_here"], id="missing-dep"
        ),
    ],
)
def test_an_entry_point_that_fails_to_import_fails_naming_it(
    site: Site, monkeypatch: pytest.MonkeyPatch, module_text: str, value: str, parts: list[str]
) -> None:
    """The error names the plugin, what its entry point points at and its distribution."""
    module = f"dx_broken_{next(_counter)}"
    site.distribution("broken-dist", {"broken": f"{module}:{value}"}, {module: module_text})
    monkeypatch.setenv(PLUGIN_ENVIRONMENT_VARIABLE, "broken")
    message = raises_naming("'broken'", f"{module}:{value}", "broken-dist", *parts)(handler_with)
    assert "failed to import" in message


@pytest.mark.parametrize(
    ("attribute", "described"),
    [
        pytest.param("Factory", "the class", id="factory-class"),
        pytest.param("Plugin", "the class", id="plugin-class"),
        pytest.param("TAG", "an instance of builtins.str", id="a-string"),
        pytest.param("FACTORY.create_plugin", "a", id="a-method"),
    ],
)
def test_an_entry_point_that_names_no_factory_instance_fails_naming_what_it_names(
    site: Site, monkeypatch: pytest.MonkeyPatch, attribute: str, described: str
) -> None:
    """It must resolve to a factory instance: a class, a plugin, a string or a method do not."""
    module = f"dx_wrong_{next(_counter)}"
    text = PLUGIN_MODULE.format(tag="wrong")
    site.distribution("wrong-dist", {"wrong": f"{module}:{attribute}"}, {module: text})
    monkeypatch.setenv(PLUGIN_ENVIRONMENT_VARIABLE, "wrong")
    raises_naming("'wrong'", f"{module}:{attribute}", described, "factory")(handler_with)


def test_load_configured_plugins_reads_the_mapping_it_is_given(site: Site) -> None:
    """The environment mapping is a parameter (the reference's signature), os.environ if None."""
    module = site.plugin("audit")
    factories = load_configured_plugins(None, environment={PLUGIN_ENVIRONMENT_VARIABLE: "audit"})
    assert factories == [site.factory(module)]
    assert load_configured_plugins(None, environment={}) == []
