"""A step function's return hint is resolved once, and an unresolved one is tried again."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from durable_async import typed_serdes
from durable_async.typed_serdes import TypedSerDes, serdes_for_return


@dataclass
class Receipt:
    total: int


def _count_resolutions(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    calls: list[Any] = []
    real = typed_serdes.get_type_hints

    def counting(obj: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(obj)
        return real(obj, *args, **kwargs)

    monkeypatch.setattr(typed_serdes, "get_type_hints", counting)
    return calls


def test_a_functions_hint_is_resolved_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _count_resolutions(monkeypatch)

    def price(step: object) -> Receipt:
        return Receipt(1)

    first = serdes_for_return(price)
    assert isinstance(first, TypedSerDes)
    assert all(serdes_for_return(price) is first for _ in range(5))
    assert calls == [price]


def test_a_hint_that_does_not_resolve_yet_is_tried_again(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _count_resolutions(monkeypatch)

    def later(step: object) -> Later:  # type: ignore[name-defined]  # noqa: F821
        raise NotImplementedError

    assert serdes_for_return(later) is None
    later.__globals__["Later"] = Receipt  # the class is defined after the step
    try:
        assert isinstance(serdes_for_return(later), TypedSerDes)
        assert isinstance(serdes_for_return(later), TypedSerDes)
    finally:
        del later.__globals__["Later"]
    assert calls == [later, later]


class _Shop:
    def price(self, step: object) -> Receipt:
        return Receipt(2)


def test_a_bound_method_which_takes_no_attribute_still_resolves() -> None:
    """A bound method refuses attributes: its answer goes by the weak cache, still right."""
    method = _Shop().price
    assert isinstance(serdes_for_return(method), TypedSerDes)
    assert isinstance(serdes_for_return(method), TypedSerDes)
    assert not hasattr(_Shop.price, "__durable_async_return_serdes__")
