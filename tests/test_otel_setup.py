"""Enabling the otel plugin: the entry point, the environment variable, and the optional extra.

Each test runs a fresh interpreter: the global tracer provider can be set once per process, and
what ``import durable_async`` imports is only visible before anything else imported it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Makes `import opentelemetry...` fail as it does where the extra is not installed.
WITHOUT_OTEL = """
import importlib.abc, sys
class _NoOtel(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, _NoOtel())
"""


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter from the repository's root."""
    environment = {**os.environ, **env}
    environment.pop("DURABLE_EXECUTION_PLUGINS", None)
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_environment_variable_enables_the_plugin_on_the_global_provider() -> None:
    """DURABLE_EXECUTION_PLUGINS=otel adds OTEL_PLUGIN_FACTORY, which traces to the provider
    set globally after the handler was built."""
    code = """
    import asyncio, json
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from durable_async import durable_execution
    from durable_async.otel import OTEL_PLUGIN_FACTORY
    from durable_async.testing import DurableTestRunner

    @durable_execution
    async def orders(event, ctx):
        return await ctx.step(lambda _: 42, name="answer")

    assert orders.plugins == [OTEL_PLUGIN_FACTORY], orders.plugins
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)

    async def main():
        async with DurableTestRunner(orders) as runner:
            return await runner.run(timeout=30)

    result = asyncio.run(main())
    print(json.dumps([result.result, sorted(s.name for s in exporter.get_finished_spans())]))
    """
    done = run_python(code, DURABLE_EXECUTION_PLUGINS="otel")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [
        42,
        ["answer", "answer attempt 1", "durable execution orders", "durable invocation orders"],
    ]


def test_without_a_configured_provider_the_plugin_traces_nothing_and_says_nothing() -> None:
    """With OpenTelemetry's default (no-op) provider the handler runs as without the plugin."""
    code = """
    import asyncio, logging
    from durable_async import durable_execution
    from durable_async.testing import DurableTestRunner

    logging.basicConfig(level=logging.DEBUG)

    @durable_execution
    async def orders(event, ctx):
        return await ctx.step(lambda _: 42, name="answer")

    async def main():
        async with DurableTestRunner(orders) as runner:
            return await runner.run(timeout=30)

    print(asyncio.run(main()).result)
    """
    done = run_python(code, DURABLE_EXECUTION_PLUGINS="otel")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "42\n"
    assert "durable_async" not in done.stderr  # no warning, no hook failure


def test_importing_durable_async_never_imports_opentelemetry() -> None:
    """The SDK, its testing runner and the plugin interface work without OpenTelemetry loaded."""
    code = """
    import sys
    import durable_async, durable_async.testing, durable_async.plugin
    import durable_async.plugin_discovery, durable_async.execution
    loaded = sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry")
    print(loaded)
    """
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[]\n"


@pytest.mark.parametrize(
    ("code", "error"),
    [
        pytest.param("import durable_async.otel", "ImportError", id="import"),
        pytest.param(
            """
            from durable_async import durable_execution

            @durable_execution
            async def orders(event, ctx):
                return None
            """,
            "PluginLoadError",
            id="environment",
        ),
    ],
)
def test_without_the_extra_the_error_says_what_to_install(code: str, error: str) -> None:
    """Without OpenTelemetry, importing the plugin or naming it fails with the pip command."""
    done = run_python(WITHOUT_OTEL + textwrap.dedent(code), DURABLE_EXECUTION_PLUGINS="otel")
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert error in last
    assert "pip install 'durable-async[otel]'" in last
