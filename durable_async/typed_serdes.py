"""A SerDes for the payloads users already have: dataclasses and pydantic v2 models.

``TypedSerDes(Receipt)`` writes a value as plain JSON (a dataclass field by field, as
``dataclasses.asdict`` would, a pydantic model as ``model_dump(mode="json")``) and reads it back
as the declared type, so a replayed step returns a ``Receipt`` again, equal to the first run's.
The declared type may also be a primitive (``int``, ``float``, ``str``, ``bool``, ``None``), an
Enum, ``Any``, or a ``list``, ``tuple``, ``dict`` with str keys, ``Optional`` or union of those;
dataclass fields are read by their annotations the same way.

pydantic is optional: this module never imports it. A class is taken as a pydantic model when it
has ``model_validate`` and ``model_dump``.
"""

from __future__ import annotations

import collections.abc
import contextlib
import dataclasses
import enum
import json
import types
import weakref
from collections.abc import Callable
from typing import (
    Any,
    TypeVar,
    Union,
    cast,
    get_args,
    get_origin,
    get_type_hints,
    overload,
)

from durable_async.exceptions import SerDesError
from durable_async.serdes import SerDes, SerDesContext

__all__ = ["TypedSerDes", "serdes_for_return"]

T = TypeVar("T")

_ENCODER = json.JSONEncoder(allow_nan=False)


class _Mismatch(Exception):
    """The data does not fit the declared type; the message says where."""


def _is_model(kind: object) -> bool:
    return isinstance(kind, type) and all(
        callable(getattr(kind, method, None)) for method in ("model_validate", "model_dump")
    )


def _name(kind: object) -> str:
    return getattr(kind, "__qualname__", None) or repr(kind)


def _dump(value: object) -> object:
    """Return ``value`` with models and dataclasses turned into JSON-friendly dicts."""
    if _is_model(type(value)):
        return cast(Any, value).model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _dump(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return _dump(value.value)
    if isinstance(value, list | tuple):
        return [_dump(item) for item in value]
    if isinstance(value, dict):
        return {key: _dump(item) for key, item in value.items()}
    return value


def _load(kind: Any, data: object, where: str) -> Any:
    """Return ``data`` (parsed JSON) as a value of ``kind``; raise _Mismatch where it differs."""
    origin = get_origin(kind)
    if kind is Any or kind is object:
        return data
    if origin in (Union, types.UnionType):
        return _load_union(kind, data, where)
    if origin in (list, tuple, dict):
        return _load_container(kind, origin, data, where)
    if _is_model(kind):
        try:
            return kind.model_validate(data)
        except Exception as exc:
            raise _Mismatch(f"{where} is not a valid {_name(kind)}: {exc}") from exc
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        return _load_dataclass(kind, data, where)
    return _load_scalar(kind, data, where)


def _load_union(kind: Any, data: object, where: str) -> Any:
    for arm in get_args(kind):
        try:
            return _load(arm, data, where)
        except _Mismatch:
            continue
    raise _Mismatch(f"{where} ({_short(data)}) matches none of {kind}")


def _load_container(kind: Any, origin: Any, data: object, where: str) -> Any:
    args = get_args(kind) or (Any, Any)
    if origin is dict:
        if not isinstance(data, dict):
            raise _Mismatch(f"{where} should be an object, got {_short(data)}")
        return {key: _load(args[-1], item, f"{where}[{key!r}]") for key, item in data.items()}
    if not isinstance(data, list):
        raise _Mismatch(f"{where} should be an array, got {_short(data)}")
    if origin is list:
        return [_load(args[0], item, f"{where}[{i}]") for i, item in enumerate(data)]
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(_load(args[0], item, f"{where}[{i}]") for i, item in enumerate(data))
    if len(args) != len(data):
        raise _Mismatch(f"{where} should hold {len(args)} items, got {len(data)}")
    return tuple(
        _load(arm, item, f"{where}[{i}]")
        for i, (arm, item) in enumerate(zip(args, data, strict=True))
    )


def _load_dataclass(kind: type[Any], data: object, where: str) -> Any:
    if not isinstance(data, dict):
        raise _Mismatch(f"{where} should be an object for {_name(kind)}, got {_short(data)}")
    hints = get_type_hints(kind)
    fields = {f.name for f in dataclasses.fields(kind) if f.init}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise _Mismatch(f"{where} has fields {_name(kind)} does not declare: {', '.join(unknown)}")
    values = {key: _load(hints[key], item, f"{where}.{key}") for key, item in data.items()}
    try:
        return kind(**values)
    except TypeError as exc:
        raise _Mismatch(f"{where} does not build a {_name(kind)}: {exc}") from exc


def _load_scalar(kind: Any, data: object, where: str) -> Any:
    if kind is None or kind is type(None):
        if data is None:
            return None
    elif kind is float:
        if isinstance(data, int | float) and not isinstance(data, bool):
            return float(data)
    elif kind is int:
        if isinstance(data, int) and not isinstance(data, bool):
            return data
    elif isinstance(kind, type) and issubclass(kind, enum.Enum):
        try:
            return kind(data)
        except ValueError:
            pass
    elif isinstance(kind, type) and isinstance(data, kind):
        return data
    raise _Mismatch(f"{where} should be {_name(kind)}, got {_short(data)}")


def _short(data: object) -> str:
    text = repr(data)
    return text if len(text) <= 60 else text[:57] + "..."


def serdes_for_return(func: Callable[..., Any]) -> TypedSerDes[Any] | None:
    """A TypedSerDes for ``func``'s declared result when it holds a dataclass or model, else None.

    Only such results are inferred: the extended-types SerDes cannot write them at all, so
    inferring never changes how a value that already checkpoints is written. A ``durable_step``
    step is read through to the decorated function. An annotation that does not resolve (a class
    defined inside a function, say) infers nothing.
    """
    original = getattr(func, "_original_func", func)
    if "return" not in getattr(original, "__annotations__", {}):
        return None  # the common case (lambdas, unannotated steps), without resolving hints
    # Resolving hints costs more than a step: the answer is kept on the function itself (a
    # plain attribute read per step), or by weak reference for a callable that takes none.
    cached = getattr(original, _CACHE_ATTRIBUTE, _UNSEEN)
    if cached is not _UNSEEN:
        return cast("TypedSerDes[Any] | None", cached)
    try:
        return _INFERRED[original]
    except (KeyError, TypeError):  # not seen yet, or not weakly referenceable
        pass
    try:
        hints = get_type_hints(original)
    except Exception:
        # Annotations that do not resolve (NameError, a bad forward reference) infer nothing,
        # this time: a class defined later may resolve them on a later call.
        return None
    inferred = _infer(hints.get("return"))
    try:
        setattr(original, _CACHE_ATTRIBUTE, inferred)
    except (AttributeError, TypeError):
        with contextlib.suppress(TypeError):
            _INFERRED[original] = inferred
    return inferred


_CACHE_ATTRIBUTE = "__durable_async_return_serdes__"
_UNSEEN = object()
#: What each annotated callable that takes no attribute infers.
_INFERRED: weakref.WeakKeyDictionary[Any, TypedSerDes[Any] | None] = weakref.WeakKeyDictionary()


def _infer(result: Any) -> TypedSerDes[Any] | None:
    if get_origin(result) in (collections.abc.Awaitable, collections.abc.Coroutine):
        result = get_args(result)[-1]
    return TypedSerDes(result) if result is not None and _holds_typed(result) else None


def _holds_typed(kind: Any) -> bool:
    if _is_model(kind) or (isinstance(kind, type) and dataclasses.is_dataclass(kind)):
        return True
    return any(_holds_typed(arg) for arg in get_args(kind) if arg is not Ellipsis)


class TypedSerDes(SerDes[T]):
    """Plain JSON read back as a declared type: a dataclass, a pydantic model, or a container.

    Build it with the type the operation returns, for example
    ``StepConfig(serdes=TypedSerDes(Receipt))``: replay has only the text, so the type must be
    known up front. A value that does not match the type is refused with SerDesError both when
    it is written and when it is read. ``None`` always passes (as ``null``): it is what an
    operation without a result returns, so a handler-wide default does not refuse those. A union
    (``Receipt | Refund``) tries its members in order.
    """

    @overload
    def __init__(self, type_: type[T]) -> None: ...

    @overload
    def __init__(self: TypedSerDes[Any], type_: object) -> None: ...

    def __init__(self, type_: object) -> None:
        self.type: Any = type_

    def serialize(self, value: T, serdes_context: SerDesContext) -> str:
        """Return ``value`` as JSON, after checking it reads back as the declared type."""
        if value is None:
            return "null"
        data = _dump(value)
        self._check(lambda: _load(self.type, data, "the value"), serdes_context, "value")
        return _ENCODER.encode(data)

    def deserialize(self, data: str, serdes_context: SerDesContext) -> T:
        """Parse ``data`` and build the declared type from it."""
        parsed = json.loads(data)
        if parsed is None:
            return cast(T, None)
        return cast(
            T,
            self._check(lambda: _load(self.type, parsed, "the payload"), serdes_context, "payload"),
        )

    def _check(self, read: Callable[[], Any], serdes_context: SerDesContext, what: str) -> Any:
        try:
            return read()
        except _Mismatch as exc:
            operation = serdes_context.operation_id or "?"
            raise SerDesError(
                f"The {what} of operation {operation} does not match the declared type "
                f"{_name(self.type)} of its TypedSerDes: {exc}. Return a {_name(self.type)}, or "
                "build the TypedSerDes with the type the operation really returns."
            ) from exc
