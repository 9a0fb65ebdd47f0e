"""The pytest plugin of durable_async (entry point ``pytest11``): the ``durable_runner`` fixture.

``durable_runner(handler, **options)`` makes a runner for ``handler``; open it with
``async with`` in the test, under pytest-asyncio or anyio's pytest plugin (asyncio backend)::

    async def test_order(durable_runner):
        async with durable_runner(order) as runner:
            result = await runner.run(input={"id": "o-1"})
        assert result.status == "SUCCEEDED"

It is a :class:`~durable_async.testing.DurableTestRunner` with ``skip_time=True`` (the
``durable_skip_time`` ini option changes the default), or, when pytest runs with
``--durable-endpoint URL`` or ``--durable-cloud``, a
:class:`~durable_async.testing.DurableCloudTestRunner` driving the deployed function of the
handler's name (``--durable-function NAME=DEPLOYED`` maps a name to another function name or
ARN), so one test file checks the code in-process and the deployed function. Tests marked
``durable_local`` (step mocks, checkpoint counts) are skipped in that mode. A runner a test
opens and does not close fails the test at teardown.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # imported when a runner is made, so a session without one stays light
    from durable_async._execution import DurableHandler
    from durable_async.testing import DurableCloudTestRunner, DurableTestRunner

__all__ = ["DurableRunnerFactory", "durable_runner"]

_LOCAL_MARKER = "durable_local"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add the plugin's options."""
    group = parser.getgroup("durable_async", "durable_async testing")
    group.addoption(
        "--durable-endpoint",
        metavar="URL",
        help="make durable_runner drive deployed functions through the Lambda API at URL "
        "(such as `durable-async serve`'s) instead of running handlers in-process",
    )
    group.addoption(
        "--durable-cloud",
        action="store_true",
        help="make durable_runner drive deployed functions through the Lambda API of the "
        "standard AWS environment (region, credentials, AWS_ENDPOINT_URL_LAMBDA)",
    )
    group.addoption(
        "--durable-function",
        action="append",
        default=[],
        metavar="NAME=DEPLOYED",
        help="in cloud mode, drive the deployed function DEPLOYED (a name or ARN) for the "
        "handler or function_name NAME (repeatable)",
    )
    parser.addini(
        "durable_skip_time",
        type="bool",
        default=True,
        help="whether durable_runner's in-process runners skip time (default: true)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``durable_local`` marker; check ``--durable-function``."""
    _deployed(config.getoption("durable_function"))
    config.addinivalue_line(
        "markers",
        f"{_LOCAL_MARKER}: the test needs the in-process runner (step mocks, checkpoint "
        "counts); skipped when durable_runner drives deployed functions",
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip ``durable_local`` tests in cloud mode."""
    if item.get_closest_marker(_LOCAL_MARKER) is not None and _cloud(item.config):
        pytest.skip("durable_local: runs only in-process, not against deployed functions")


@dataclass
class DurableRunnerFactory:
    """What the ``durable_runner`` fixture gives a test: call it to make a runner."""

    skip_time: bool = True
    #: The Lambda endpoint in cloud mode ("" for the standard environment), else None.
    endpoint: str | None = None
    deployed: dict[str, str] = field(default_factory=dict)
    made: list[DurableTestRunner] = field(default_factory=list)

    @property
    def cloud(self) -> bool:
        """Whether runners drive deployed functions."""
        return self.endpoint is not None

    def __call__(
        self,
        handler: DurableHandler[Any, Any],
        *,
        function_name: str | None = None,
        **options: Any,
    ) -> DurableTestRunner | DurableCloudTestRunner:
        """Return a runner for ``handler`` (open it with ``async with``).

        ``options`` go to :class:`DurableTestRunner` (``skip_time`` defaults to the ini
        option); in cloud mode they go to :class:`DurableCloudTestRunner` and ``handler``
        only names the function (``function_name`` or its ``__name__``).
        """
        from durable_async.testing import DurableCloudTestRunner, DurableTestRunner

        name = function_name or str(getattr(handler, "__name__", "handler"))
        if self.endpoint is not None:
            return DurableCloudTestRunner(
                self.deployed.get(name, name), endpoint_url=self.endpoint or None, **options
            )
        options.setdefault("skip_time", self.skip_time)
        runner = DurableTestRunner(handler, function_name=name, **options)
        self.made.append(runner)
        return runner

    def unclosed(self) -> list[DurableTestRunner]:
        """The runners made here that are still open."""
        return [runner for runner in self.made if runner.is_open]


@pytest.fixture
def durable_runner(request: pytest.FixtureRequest) -> Iterator[DurableRunnerFactory]:
    """Make runners for durable handlers: ``async with durable_runner(handler) as runner``."""
    config = request.config
    factory = DurableRunnerFactory(
        skip_time=bool(config.getini("durable_skip_time")),
        endpoint=_cloud(config),
        deployed=_deployed(config.getoption("durable_function")),
    )
    yield factory
    left = factory.unclosed()
    if left:
        names = ", ".join(runner.function_name for runner in left)
        pytest.fail(
            f"durable_runner: the runner of {names} was opened and never closed, so its "
            "executions were never stopped; use `async with durable_runner(handler) as runner:`.",
            pytrace=False,
        )


def _cloud(config: pytest.Config) -> str | None:
    endpoint = config.getoption("durable_endpoint")
    if endpoint:
        return str(endpoint)
    return "" if config.getoption("durable_cloud") else None


def _deployed(pairs: list[str]) -> dict[str, str]:
    deployed: dict[str, str] = {}
    for pair in pairs:
        name, sep, target = pair.partition("=")
        if not sep or not name or not target:
            raise pytest.UsageError(
                f"--durable-function takes NAME=DEPLOYED (a function name or ARN), got {pair!r}."
            )
        deployed[name] = target
    return deployed
