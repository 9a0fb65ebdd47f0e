"""Deterministic operation ids, the same the reference SDK derives.

An id is the first 64 hex characters of ``blake2b(key)`` (default 64-byte digest) where the key
is ``f"{prefix}-{n}"`` inside a context with an id prefix and ``str(n)`` at the root (a falsy
prefix, None or ``""``, counts as the root).

- Each context numbers the operations it starts 1, 2, 3, ... in program order; its prefix is the
  id of the operation that owns the context (None at the root). A child context's prefix is its
  own CONTEXT operation's id, so ``run_in_child_context`` number 1 at the root gets id
  ``h("1")`` and its first step ``h(f"{h('1')}-1")``.
- ``map`` and ``parallel`` first take a counter id ``M`` in the calling context like any
  operation (their CONTEXT operation). Item / branch ``i`` is then ``h(f"{M}-{i}")`` with the
  0-based index ``i`` (not ``i + 1``, and never a counter), so ids do not depend on which branch
  ran first. Each item / branch is a child context prefixed with its own id: its operations are
  ``h(f"{branch_id}-{n}")``, n = 1, 2, ... The map/parallel context itself never takes counter
  ids (they would collide with the branch ids from index 1 up).
- The prefix is not always the parent id: a virtual (FLAT) branch's operations report the
  map/parallel operation as their ParentId but are still prefixed with the branch's own id.
"""

from __future__ import annotations

import hashlib

__all__ = ["IdCounter", "operation_id"]


def operation_id(prefix: str | None, n: int) -> str:
    """Return the id of operation ``n`` in the context whose id prefix is ``prefix``."""
    key = f"{prefix}-{n}" if prefix else str(n)
    return hashlib.blake2b(key.encode()).hexdigest()[:64]


class IdCounter:
    """Hand out the operation ids of one context in program order."""

    __slots__ = ("_count", "prefix")

    def __init__(self, prefix: str | None = None) -> None:
        self.prefix = prefix
        self._count = 0

    @property
    def count(self) -> int:
        """Return how many ids have been handed out."""
        return self._count

    def next_id(self) -> str:
        """Return the next operation's id: 1, 2, 3, ... in call order."""
        self._count += 1
        return operation_id(self.prefix, self._count)

    def peek_next_id(self) -> str:
        """Return the id ``next_id`` would return, without taking it."""
        return operation_id(self.prefix, self._count + 1)

    def id_for_step(self, step: int) -> str:
        """Return the id of the ``step``-th operation (1-based) without counting it."""
        return operation_id(self.prefix, step)

    def id_for_index(self, index: int) -> str:
        """Return the id of map item or parallel branch ``index`` (0-based) of this context.

        Use it on the map/parallel operation's own context, whose prefix is that operation's id.
        """
        return operation_id(self.prefix, index)

    def __repr__(self) -> str:
        return f"IdCounter(prefix={self.prefix!r}, count={self._count})"
