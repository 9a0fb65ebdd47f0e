"""Operation ids: the reference SDK's derivation, for root, child, map and parallel contexts."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext as RefContext
from aws_durable_execution_sdk_python import durable_execution as ref_durable_execution
from aws_durable_execution_sdk_python.config import MapConfig as RefMapConfig
from aws_durable_execution_sdk_python.config import NestingType as RefNestingType
from aws_durable_execution_sdk_python.identifier import OperationIdNamespace
from aws_durable_execution_sdk_python_testing.runner import DurableFunctionTestRunner

from durable_async._ids import IdCounter, operation_id


@pytest.mark.parametrize(
    ("prefix", "n"),
    [
        pytest.param(None, 1, id="root-first"),
        pytest.param(None, 2, id="root-second"),
        pytest.param(None, 1000, id="root-large"),
        pytest.param("abc", 0, id="child-index-zero"),
        pytest.param("abc", 1, id="child-first"),
        pytest.param(operation_id(None, 3), 7, id="child-of-real-id"),
    ],
)
def test_operation_id_matches_reference_namespace(prefix: str | None, n: int) -> None:
    """operation_id gives the reference OperationIdNamespace's id for every prefix and number."""
    assert operation_id(prefix, n) == OperationIdNamespace(prefix).create_id_for_step(n)


def test_operation_id_is_first_64_hex_chars_of_blake2b() -> None:
    """An id is 64 lowercase hex characters of blake2b over "prefix-n", or "n" at the root."""
    assert operation_id(None, 1) == hashlib.blake2b(b"1").hexdigest()[:64]
    assert operation_id("p", 2) == hashlib.blake2b(b"p-2").hexdigest()[:64]
    assert len(operation_id("p", 2)) == 64
    assert set(operation_id("p", 2)) <= set("0123456789abcdef")


def test_empty_prefix_counts_as_root() -> None:
    """An empty prefix derives root ids, as the reference's truthiness check does."""
    assert operation_id("", 4) == operation_id(None, 4)
    assert operation_id("", 4) == OperationIdNamespace("").create_id_for_step(4)


def test_counter_hands_out_ids_in_call_order() -> None:
    """next_id numbers operations 1, 2, 3 in call order and peek_next_id does not consume."""
    counter = IdCounter("parent")
    assert counter.peek_next_id() == operation_id("parent", 1)
    assert [counter.next_id() for _ in range(3)] == [operation_id("parent", n) for n in (1, 2, 3)]
    assert counter.count == 3
    assert counter.peek_next_id() == operation_id("parent", 4)
    assert counter.count == 3


def test_index_and_step_lookups_do_not_count() -> None:
    """id_for_index uses the 0-based index and id_for_step the 1-based step, neither counting."""
    counter = IdCounter("map-op")
    assert counter.id_for_index(0) == operation_id("map-op", 0)
    assert counter.id_for_step(2) == operation_id("map-op", 2)
    assert counter.count == 0
    assert counter.next_id() == operation_id("map-op", 1)


@dataclass(frozen=True)
class _Recorded:
    operation_id: str
    parent_id: str | None


@ref_durable_execution
def _reference_program(event: Any, ctx: RefContext) -> str:
    ctx.step(lambda _: 1, name="a")
    ctx.step(lambda _: 2, name="b")

    def child(c: RefContext) -> int:
        c.step(lambda _: 3, name="c1")
        c.run_in_child_context(lambda cc: cc.step(lambda _: 4, name="cc1"), name="inner")
        return 5

    ctx.run_in_child_context(child, name="child")
    ctx.map([10, 20, 30], lambda c, item, i, _: c.step(lambda _: item, name=f"m{i}"), name="map")
    ctx.parallel(
        [lambda c: c.step(lambda _: "p0", name="p0"), lambda c: c.step(lambda _: "p1", name="p1")],
        name="par",
    )
    ctx.map(
        [7, 8],
        lambda c, item, i, _: c.step(lambda _: item, name=f"f{i}"),
        name="flat",
        config=RefMapConfig(nesting_type=RefNestingType.FLAT),
    )
    return "done"


@pytest.fixture(scope="module")
def reference_ids() -> dict[str, _Recorded]:
    """Run the program on the reference SDK's in-process runner and record ids by name."""
    runner = DurableFunctionTestRunner(_reference_program)
    try:
        result = runner.run(input="{}", execution_timeout=60)
    finally:
        runner.close()  # type: ignore[no-untyped-call]
        # The reference runner stops its scheduler's loop but never closes it (a ResourceWarning).
        runner._scheduler._loop.close()
    assert result.result == '"done"'
    return {
        op.name: _Recorded(op.operation_id, op.parent_id)
        for op in result.get_all_operations()
        if op.name is not None
    }


def _expected_ids() -> dict[str, _Recorded]:
    expected: dict[str, _Recorded] = {}
    root = IdCounter()
    for name in ("a", "b", "child", "map", "par", "flat"):
        expected[name] = _Recorded(root.next_id(), None)
    child_id = expected["child"].operation_id
    child = IdCounter(child_id)
    expected["c1"] = _Recorded(child.next_id(), child_id)
    expected["inner"] = _Recorded(child.next_id(), child_id)
    inner_id = expected["inner"].operation_id
    expected["cc1"] = _Recorded(IdCounter(inner_id).next_id(), inner_id)
    _add_branches(expected, "map", "map-item-", "m", 3)
    _add_branches(expected, "par", "parallel-branch-", "p", 2)
    return expected


def _add_branches(
    expected: dict[str, _Recorded], owner: str, branch_prefix: str, step_prefix: str, count: int
) -> None:
    owner_id = expected[owner].operation_id
    for index in range(count):
        branch_id = IdCounter(owner_id).id_for_index(index)
        expected[f"{branch_prefix}{index}"] = _Recorded(branch_id, owner_id)
        expected[f"{step_prefix}{index}"] = _Recorded(IdCounter(branch_id).next_id(), branch_id)


def test_ids_match_a_reference_execution(reference_ids: dict[str, _Recorded]) -> None:
    """Root, nested child, map item and parallel branch ids equal those the reference recorded."""
    expected = _expected_ids()
    assert {name: reference_ids[name] for name in expected} == expected


def test_flat_branches_prefix_with_branch_id_but_report_the_map(
    reference_ids: dict[str, _Recorded],
) -> None:
    """A FLAT map item's step is prefixed by the item's id while its parent is the map operation."""
    flat_id = reference_ids["flat"].operation_id
    for index in range(2):
        branch_id = IdCounter(flat_id).id_for_index(index)
        assert reference_ids[f"f{index}"] == _Recorded(IdCounter(branch_id).next_id(), flat_id)
