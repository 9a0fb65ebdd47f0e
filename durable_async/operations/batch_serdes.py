"""The SerDes of a map's or parallel's BatchResult when the handler has a default SerDes.

The reference writes a BatchResult as a ``"br"`` envelope with every item's result encoded by
the extended-types codec, which cannot carry the dataclasses and models a handler default (a
``TypedSerDes``, say) exists for. Here each succeeded item's result is first written as text by
the item SerDes, and that text goes in the envelope; reading reverses both steps.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from durable_async.concurrency.models import BatchResult
from durable_async.serdes import ExtendedTypesSerDes, SerDes, SerDesContext

_ENVELOPE: SerDes[Any] = ExtendedTypesSerDes(batch_result_type=BatchResult)


class ItemTextBatchSerDes(SerDes[BatchResult[Any]]):
    """A BatchResult whose item results are the text ``item_serdes`` writes."""

    def __init__(self, item_serdes: SerDes[Any]) -> None:
        self.item_serdes = item_serdes

    def serialize(self, value: BatchResult[Any], serdes_context: SerDesContext) -> str:
        """Write each item's result with the item SerDes, then the result as an envelope."""
        write = self.item_serdes.serialize
        return _ENVELOPE.serialize(
            _mapped(value, lambda item: write(item, serdes_context)), serdes_context
        )

    def deserialize(self, data: str, serdes_context: SerDesContext) -> BatchResult[Any]:
        """Read the envelope, then each item's result with the item SerDes."""
        read = self.item_serdes.deserialize
        text: BatchResult[Any] = _ENVELOPE.deserialize(data, serdes_context)
        return _mapped(text, lambda item: read(item, serdes_context))


def _mapped(result: BatchResult[Any], convert: Callable[[Any], Any]) -> BatchResult[Any]:
    items = [
        item if item.result is None else dataclasses.replace(item, result=convert(item.result))
        for item in result.all
    ]
    return dataclasses.replace(result, all=items)
