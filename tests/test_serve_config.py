"""serve's flag parsers: any input is a config or a usage error naming the problem."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from durable_async._loader import LoadError, parse_named_target
from durable_async._serve import FunctionConfig, UsageError, parse_function_configs

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@given(json_values)
def test_any_json_is_configs_or_a_usage_error(value: Any) -> None:
    """Whatever JSON --function-configs holds, the parser returns configs or says what is wrong."""
    try:
        configs = parse_function_configs(json.dumps(value))
    except UsageError as exc:
        message = str(exc)
    else:
        message = ""
    if message:
        assert message.startswith("--function-configs")
        return
    assert isinstance(value, dict)
    for name, config in configs.items():
        entry = value[name]
        durable = isinstance(entry, dict) and entry.get("DurableConfig") is not None
        assert config.durable is durable


@given(st.text())
def test_any_text_is_configs_or_a_usage_error(text: str) -> None:
    """Text that is not JSON at all is a usage error too (a missing @file included)."""
    try:
        configs = parse_function_configs(text)
    except UsageError as exc:
        message, configs = str(exc), {}
    else:
        message = ""
    assert message == "" or message.startswith("--function-configs")
    assert all(isinstance(config, FunctionConfig) for config in configs.values())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("{}", {}, id="empty"),
        pytest.param('{"p": {}}', {"p": FunctionConfig(durable=False)}, id="plain"),
        pytest.param('{"p": null}', {"p": FunctionConfig(durable=False)}, id="null"),
        pytest.param(
            '{"d": {"DurableConfig": {"ExecutionTimeout": 60, "RetentionPeriodInDays": 7}}}',
            {"d": FunctionConfig(durable=True, execution_timeout=60)},
            id="durable",
        ),
        pytest.param(
            '{"d": {"DurableConfig": {}}}', {"d": FunctionConfig(durable=True)}, id="no-timeout"
        ),
    ],
)
def test_the_dex_local_runner_shape_is_read(text: str, expected: dict[str, Any]) -> None:
    """Entries read as dex-local-runner reads them: a DurableConfig makes a function durable."""
    assert parse_function_configs(text) == expected


@pytest.mark.parametrize("prefix", ["@", "file://"])
def test_configs_come_from_a_file(tmp_path: Path, prefix: str) -> None:
    """@FILE and file://FILE both read the configs from a file."""
    path = tmp_path / "configs.json"
    path.write_text('{"d": {"DurableConfig": {"ExecutionTimeout": 5}}}')
    configs = parse_function_configs(f"{prefix}{path}")
    assert configs == {"d": FunctionConfig(durable=True, execution_timeout=5)}


@pytest.mark.parametrize("timeout", [0, -1, 1.5, True, "60"])
def test_a_bad_execution_timeout_is_a_usage_error(timeout: Any) -> None:
    """ExecutionTimeout is a whole number of seconds of at least 1."""
    text = json.dumps({"f": {"DurableConfig": {"ExecutionTimeout": timeout}}})
    with pytest.raises(UsageError, match="ExecutionTimeout of 'f'"):
        parse_function_configs(text)


@given(st.text())
def test_any_function_spec_is_a_name_and_target_or_a_load_error(spec: str) -> None:
    """NAME=TARGET splits at the first '='; a bad name or a missing '=' is a LoadError."""
    try:
        name, target = parse_named_target(spec)
    except LoadError as exc:
        message = str(exc)
    else:
        message = ""
    if message:
        assert "--function" in message
        return
    assert f"{name}={target}" == spec
    assert 1 <= len(name) <= 64
