"""Build compact previews of values to keep inline in checkpoints.

A preview shows chosen fields of a value stored elsewhere (a file, say, with
:class:`~durable_async.filesystem_serdes.FileSystemSerDes`) in the console and API, without the
whole value. :func:`build_preview` builds the same preview as the reference SDK's, field for
field, and works with any SerDes that stores values outside the checkpoint.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["FieldMatchMode", "PreviewConfig", "PreviewField", "PreviewMode", "build_preview"]


class PreviewMode(StrEnum):
    """Whether fields start shown (INCLUDE_ALL, then excluded) or hidden (EXCLUDE_ALL)."""

    INCLUDE_ALL = "INCLUDE_ALL"
    EXCLUDE_ALL = "EXCLUDE_ALL"


class FieldMatchMode(StrEnum):
    """Match a field by name at any depth (ANYWHERE) or by dotted path from the root (PATH)."""

    ANYWHERE = "ANYWHERE"
    PATH = "PATH"


@dataclass(frozen=True)
class PreviewField:
    """A field to include, exclude or mask: a name or a dotted path (``"customer.email"``)."""

    name: str
    match: FieldMatchMode = FieldMatchMode.ANYWHERE


@dataclass(frozen=True)
class PreviewConfig:
    """Which fields a preview shows, which it masks, and its size cap in bytes of JSON.

    Exclude always wins; a masked field is shown as ``mask_string`` unless excluded. Fields are
    added in order until the next one would pass ``max_preview_bytes``.
    """

    mode: PreviewMode
    include: list[PreviewField] = field(default_factory=list)
    exclude: list[PreviewField] = field(default_factory=list)
    mask: list[PreviewField] = field(default_factory=list)
    mask_string: str = "***"
    max_preview_bytes: int = 4096


def _matches(path: str, fields: list[PreviewField]) -> bool:
    return any(
        path == rule.name if rule.match is FieldMatchMode.PATH else rule.name in path.split(".")
        for rule in fields
    )


class _Collector:
    """Walk a value and collect the (dotted path, shown value) pairs the config makes visible."""

    def __init__(self, config: PreviewConfig) -> None:
        self.config = config
        self.pairs: list[tuple[str, Any]] = []

    def collect(self, obj: Any, prefix: str) -> None:
        # Arrays are flattened: their elements' fields merge at the array's own path.
        if isinstance(obj, list):
            for item in obj:
                self.collect(item, prefix)
        elif isinstance(obj, dict):
            for key, value in obj.items():
                # A key holding a dot cannot be told apart from a path; it is left out.
                if "." not in str(key):
                    self.visit(f"{prefix}.{key}" if prefix else str(key), value)

    def visit(self, path: str, value: Any) -> None:
        config = self.config
        masked, excluded = _matches(path, config.mask), _matches(path, config.exclude)
        if excluded:
            return
        visible = masked or config.mode is PreviewMode.INCLUDE_ALL or _matches(path, config.include)
        if visible and masked:
            self.pairs.append((path, config.mask_string))
        elif visible and not isinstance(value, dict | list):
            self.pairs.append((path, value))
        else:
            self.collect(value, path)


def _within_budget(pairs: list[tuple[str, Any]], max_bytes: int) -> list[tuple[str, Any]]:
    accepted: list[tuple[str, Any]] = []
    size = 2  # the braces
    for path, value in pairs:
        entry = len(f'"{path}":{json.dumps(value)},'.encode())
        if size + entry > max_bytes:
            break
        accepted.append((path, value))
        size += entry
    return accepted


def _nest(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for path, value in pairs:
        *parents, leaf = path.split(".")
        node = result
        for part in parents:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[leaf] = value
    return result


def build_preview(value: Any, config: PreviewConfig) -> dict[str, Any] | None:
    """Return the preview of ``value`` under ``config``; None when nothing is visible.

    Only dicts have previews. The result mirrors the value's nesting, with arrays flattened
    into their elements' fields (later elements overwrite earlier ones at the same path).
    """
    if not isinstance(value, dict):
        return None
    collector = _Collector(config)
    collector.collect(value, "")
    accepted = _within_budget(collector.pairs, config.max_preview_bytes)
    return _nest(accepted) if accepted else None
