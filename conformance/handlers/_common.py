"""Pieces several suites share: an upper-casing SerDes and the error types the suites raise."""

from __future__ import annotations

from durable_async.serdes import SerDes, SerDesContext


class UppercaseSerDes(SerDes[str]):
    """Record a string upper-cased; read it back as recorded."""

    def serialize(self, value: str, serdes_context: SerDesContext) -> str:
        return value.upper()

    def deserialize(self, data: str, serdes_context: SerDesContext) -> str:
        return data
