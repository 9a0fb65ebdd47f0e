"""Name paths: ``"price-lines/1/price"`` addresses an operation by the names of its ancestors.

A path is segments joined by ``/``. A segment matches an operation whose name it is (an unnamed
operation is addressed by its id), ``*`` matches any one operation, and a number ``n`` matches
item or branch ``n`` (0-based) of a map or parallel. ``\\/`` and ``\\\\`` write a ``/`` or a
``\\`` that is part of a name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Segment", "escape", "join", "matches", "matches_path", "split"]


@dataclass(frozen=True, slots=True)
class Segment:
    """One level of an operation's path: its name (or id) and its index in a map or parallel."""

    name: str | None
    op_id: str
    index: int | None = None

    @property
    def text(self) -> str:
        """The segment as a path writes it (the name, or the id of an unnamed operation)."""
        return escape(self.name if self.name is not None else self.op_id)


def escape(name: str) -> str:
    """Return ``name`` as one path segment."""
    return name.replace("\\", "\\\\").replace("/", "\\/")


def join(segments: Sequence[Segment]) -> str:
    """Return the path of the operation whose ancestry is ``segments`` (root first)."""
    return "/".join(segment.text for segment in segments)


def split(path: str) -> list[str]:
    """Split ``path`` into its unescaped segments; ValueError for an empty segment."""
    segments: list[str] = []
    current: list[str] = []
    chars = iter(path)
    for char in chars:
        if char == "\\":
            current.append(next(chars, "\\"))
        elif char == "/":
            segments.append("".join(current))
            current = []
        else:
            current.append(char)
    segments.append("".join(current))
    if any(segment == "" for segment in segments):
        raise ValueError(
            f"The operation path {path!r} has an empty segment; write names joined by '/', "
            "such as 'price-lines/1/price'."
        )
    return segments


def matches(pattern: str, segment: Segment) -> bool:
    """Whether one (unescaped) pattern segment matches ``segment``."""
    if pattern in ("*", segment.op_id) or pattern == segment.name:
        return True
    return segment.index is not None and pattern == str(segment.index)


def matches_path(patterns: Sequence[str], segments: Sequence[Segment]) -> bool:
    """Whether the split pattern matches the whole path ``segments`` (anchored at the root)."""
    return len(patterns) == len(segments) and all(
        matches(pattern, segment) for pattern, segment in zip(patterns, segments, strict=True)
    )
