"""build_preview: compact previews of values, field for field the reference's."""

from __future__ import annotations

from typing import Any

import pytest
from aws_durable_execution_sdk_python import preview as ref

from durable_async.preview import (
    FieldMatchMode,
    PreviewConfig,
    PreviewField,
    PreviewMode,
    build_preview,
)

ORDER = {
    "id": "o-1",
    "customer": {"name": "Ada", "email": "ada@example.com", "address": {"city": "Oslo"}},
    "lines": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2, "gift": True}],
    "note": None,
    "a.b": "dotted keys are left out",
    "total": 12.5,
}

CASES = [
    pytest.param(PreviewMode.INCLUDE_ALL, {}, id="include-all"),
    pytest.param(PreviewMode.EXCLUDE_ALL, {}, id="exclude-all-nothing-included"),
    pytest.param(PreviewMode.EXCLUDE_ALL, {"include": [("total", "ANYWHERE")]}, id="include-one"),
    pytest.param(PreviewMode.EXCLUDE_ALL, {"include": [("customer", "ANYWHERE")]}, id="subtree"),
    pytest.param(
        PreviewMode.EXCLUDE_ALL, {"include": [("customer.name", "PATH")]}, id="include-path"
    ),
    pytest.param(PreviewMode.EXCLUDE_ALL, {"include": [("name", "PATH")]}, id="path-root-only"),
    pytest.param(PreviewMode.EXCLUDE_ALL, {"include": [("qty", "ANYWHERE")]}, id="in-arrays"),
    pytest.param(PreviewMode.INCLUDE_ALL, {"exclude": [("customer", "ANYWHERE")]}, id="exclude"),
    pytest.param(PreviewMode.INCLUDE_ALL, {"mask": [("email", "ANYWHERE")]}, id="mask"),
    pytest.param(
        PreviewMode.EXCLUDE_ALL, {"mask": [("customer", "ANYWHERE")]}, id="mask-shows-subtree"
    ),
    pytest.param(
        PreviewMode.INCLUDE_ALL,
        {"mask": [("email", "ANYWHERE")], "exclude": [("email", "ANYWHERE")]},
        id="exclude-beats-mask",
    ),
    pytest.param(PreviewMode.INCLUDE_ALL, {"max_preview_bytes": 40}, id="budget"),
    pytest.param(PreviewMode.INCLUDE_ALL, {"max_preview_bytes": 5}, id="budget-too-small"),
    pytest.param(
        PreviewMode.INCLUDE_ALL,
        {"mask": [("id", "PATH")], "mask_string": "<hidden>"},
        id="mask-str",
    ),
]


def configs(mode: PreviewMode, options: dict[str, Any]) -> tuple[PreviewConfig, Any]:
    """Our PreviewConfig and the reference's, built from the same options."""
    lists = {k: v for k, v in options.items() if k in ("include", "exclude", "mask")}
    rest = {k: v for k, v in options.items() if k not in lists}
    mine = {k: [PreviewField(n, FieldMatchMode(m)) for n, m in v] for k, v in lists.items()}
    theirs = {
        k: [ref.PreviewField(n, ref.FieldMatchMode(m)) for n, m in v] for k, v in lists.items()
    }
    return (
        PreviewConfig(mode, **mine, **rest),
        ref.PreviewConfig(ref.PreviewMode(mode.value), **theirs, **rest),
    )


@pytest.mark.parametrize(("mode", "options"), CASES)
def test_preview_equals_the_references(mode: PreviewMode, options: dict[str, Any]) -> None:
    """build_preview returns exactly what the reference's build_preview returns."""
    mine, theirs = configs(mode, options)
    assert build_preview(ORDER, mine) == ref.build_preview(ORDER, theirs)


def test_a_masked_email_and_an_excluded_subtree() -> None:
    """Masked fields show the mask string; excluded subtrees vanish; nesting is kept."""
    config = PreviewConfig(
        PreviewMode.INCLUDE_ALL,
        exclude=[PreviewField("lines"), PreviewField("address")],
        mask=[PreviewField("email")],
    )
    assert build_preview(ORDER, config) == {
        "id": "o-1",
        "customer": {"name": "Ada", "email": "***"},
        "note": None,
        "total": 12.5,
    }


@pytest.mark.parametrize("value", [pytest.param([1], id="list"), pytest.param("x", id="str")])
def test_only_dicts_have_previews(value: object) -> None:
    """A value that is not a dict has no preview."""
    assert build_preview(value, PreviewConfig(PreviewMode.INCLUDE_ALL)) is None


def test_fields_stop_at_the_byte_budget() -> None:
    """Fields are added in order until the next would pass max_preview_bytes."""
    config = PreviewConfig(PreviewMode.INCLUDE_ALL, max_preview_bytes=20)
    assert build_preview({"a": 1, "b": "x" * 10, "c": 3}, config) == {"a": 1}
