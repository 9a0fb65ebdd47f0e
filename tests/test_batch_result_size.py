"""A map's BatchResult known to be too large is not written, and nothing else changes.

Under our own SerDes every item takes at least ``_MIN_ITEM_CHARS`` characters of the result's
text, so a map with more items than the checkpoint size limit allows for records the summary
(ReplayChildren) without writing its result first. The bound must hold for every item, or a
result that fits would be recorded as too large.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from durable_async import (
    BatchResult,
    DurableContext,
    Duration,
    ErrorObject,
    MapConfig,
    durable_execution,
)
from durable_async.concurrency.models import BatchItem, BatchItemStatus, CompletionReason
from durable_async.operations.batch_serdes import ItemTextBatchSerDes
from durable_async.operations.child import CHECKPOINT_SIZE_LIMIT
from durable_async.operations.concurrency import _BATCH_SERDES, _MIN_ITEM_CHARS
from durable_async.serdes import SerDes, SerDesContext, serialize
from tests.conftest import Harness


class _Empty(SerDes[Any]):
    """An item SerDes that writes every result as the empty text: the smallest there is."""

    def serialize(self, value: Any, serdes_context: SerDesContext) -> str:
        return ""

    def deserialize(self, data: str, serdes_context: SerDesContext) -> Any:
        return None


_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=3)
)
_results = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=2), inner),
    max_leaves=4,
)
_errors = st.none() | st.builds(
    ErrorObject, st.text(max_size=2), st.text(max_size=2), st.none(), st.none()
)
_items = st.lists(st.tuples(st.sampled_from(list(BatchItemStatus)), _results, _errors), max_size=8)


@settings(max_examples=300, deadline=None)
@given(items=_items, reason=st.sampled_from(list(CompletionReason)))
def test_every_item_takes_at_least_the_bound(
    items: list[tuple[BatchItemStatus, Any, ErrorObject | None]], reason: CompletionReason
) -> None:
    """Under both of our batch SerDes, the text has at least the bound's characters per item."""
    result = BatchResult(
        [BatchItem(i, status, value, error) for i, (status, value, error) in enumerate(items)],
        reason,
    )
    for serdes in (_BATCH_SERDES, ItemTextBatchSerDes(_Empty())):
        text = serialize(serdes, result, "op", "arn")
        assert len(text) >= _MIN_ITEM_CHARS * len(items), (serdes, text)


async def test_a_map_too_large_to_record_records_its_summary_and_replays(
    harness: Harness,
) -> None:
    """Past the bound, the map records what writing its result would have: the summary, with
    ReplayChildren, and a replay rebuilds an equal result from the items' records."""
    size = CHECKPOINT_SIZE_LIMIT // _MIN_ITEM_CHARS + 1
    seen: list[list[int]] = []

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> int:
        async def item(child: DurableContext, value: int, index: int, items: Any) -> int:
            return value

        batch: BatchResult[int] = await ctx.map(
            list(range(size)), item, name="big", config=MapConfig()
        )
        seen.append(batch.get_results())
        await ctx.wait(Duration.from_seconds(1))
        return len(batch.get_results())

    result = await harness.run(handler)
    assert json.loads(result["Result"]) == size
    assert seen == [list(range(size))] * 2  # first run, then the replay after the wait
    ops = await harness.service.list_operations(result["DurableExecutionArn"])
    details = next(op for op in ops if op.get("Name") == "big")["ContextDetails"]
    assert details["ReplayChildren"] is True
    summary = json.loads(details["Result"])
    assert summary["totalCount"] == size
    assert summary["successCount"] == size
