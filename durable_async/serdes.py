"""Turn operation results and payloads into checkpointed text and back.

Three SerDes ship with durable_async, mirroring the reference SDK:

- ``JsonSerDes``: plain JSON as ``json.dumps(value)`` writes it, byte for byte the reference
  SDK's ``JsonSerDes`` (chained invoke payloads and results use it). The default of
  :func:`serialize` and :func:`deserialize`.
- ``ExtendedTypesSerDes`` (alias ``ExtendedTypeSerDes``, the reference's name): the reference's
  envelope format. ``None``, ``str``, ``int``, ``float``, ``bool`` and lists holding only those
  are plain compact JSON; anything else is ``{"t": <tag>, "v": <value>}`` with nested values
  tagged the same way. It adds ``datetime``, ``date``, ``Decimal``, ``UUID``, ``bytes``
  (``bytearray``, ``memoryview``) and ``tuple``; dicts need string keys; sets are not supported.
  Its text is interchangeable with the reference's ``ExtendedTypeSerDes`` (the reference's
  default for steps, child contexts, map, parallel and wait_for_condition).
- ``PassThroughSerDes``: the text as it is (the reference's default for callback results).

Values are written as JSON, never as ``NaN`` or ``Infinity``: a value holding a NaN or infinite
float is refused with SerDesError (the reference would write text that is not JSON). Reading is
lenient, so payloads the reference wrote still read back.

Payload rules, as in the reference: ``None`` serializes to ``"null"``; an absent payload
(``None`` data) deserializes to ``None`` without calling the SerDes; an empty string is handed
to the SerDes like any other text, which for the JSON SerDes is an error.
"""

from __future__ import annotations

import base64
import json
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Generic, Protocol, TypeVar, cast

from durable_async.exceptions import SerDesError

__all__ = [
    "DEFAULT_JSON_SERDES",
    "EXTENDED_TYPES_SERDES",
    "PASS_THROUGH_SERDES",
    "BatchResultLike",
    "ExtendedTypeSerDes",
    "ExtendedTypesSerDes",
    "JsonSerDes",
    "PassThroughSerDes",
    "SerDes",
    "SerDesContext",
    "deserialize",
    "serialize",
]

T = TypeVar("T")

TYPE_TOKEN = "t"
VALUE_TOKEN = "v"


@dataclass(frozen=True)
class SerDesContext:
    """Where a value being (de)serialized belongs."""

    operation_id: str = ""
    durable_execution_arn: str = ""


class SerDes(ABC, Generic[T]):
    """Convert values of type ``T`` to checkpointable text and back."""

    @abstractmethod
    def serialize(self, value: T, serdes_context: SerDesContext) -> str:
        """Return ``value`` as text."""

    @abstractmethod
    def deserialize(self, data: str, serdes_context: SerDesContext) -> T:
        """Return the value ``data`` encodes."""

    @staticmethod
    def is_primitive(obj: object) -> bool:
        """Return True for None, str, int, float, bool and lists holding only those."""
        if obj is None or isinstance(obj, str | int | float | bool):
            return True
        if isinstance(obj, list):
            return all(SerDes.is_primitive(item) for item in obj)
        return False


class _NotJsonError(ValueError):
    """A value holds NaN or an infinite float, which JSON has no way to write."""


# Built once: json.dumps with non-default options makes a new encoder on every call.
_PLAIN_ENCODER = json.JSONEncoder(allow_nan=False)
_COMPACT_ENCODER = json.JSONEncoder(allow_nan=False, separators=(",", ":"))


def _dumps(value: object, encoder: json.JSONEncoder = _PLAIN_ENCODER) -> str:
    """Return ``value`` as JSON text, refusing NaN and infinities instead of writing non-JSON."""
    try:
        return encoder.encode(value)
    except ValueError as exc:
        # json raises "Out of range float values are not JSON compliant" for NaN and +-inf.
        if "float" in str(exc):
            raise _NotJsonError(
                "it holds NaN, Infinity or -Infinity, which JSON cannot carry"
            ) from exc
        raise


class JsonSerDes(SerDes[T]):
    """Plain JSON, written exactly as the reference SDK's JsonSerDes writes it.

    NaN and infinite floats are refused: ``json.dumps`` would write ``NaN``/``Infinity``,
    which is not JSON and which other readers reject.
    """

    def serialize(self, value: T, serdes_context: SerDesContext) -> str:
        """Return ``value`` as ``json.dumps`` writes it."""
        return _dumps(value)

    def deserialize(self, data: str, serdes_context: SerDesContext) -> T:
        """Parse ``data`` as JSON."""
        return cast(T, json.loads(data))


class PassThroughSerDes(SerDes[T]):
    """Text in, the same text out."""

    def serialize(self, value: T, serdes_context: SerDesContext) -> str:
        """Return ``value`` unchanged."""
        return cast(str, value)

    def deserialize(self, data: str, serdes_context: SerDesContext) -> T:
        """Return ``data`` unchanged."""
        return cast(T, data)


# Envelope tags, identical to the reference SDK's TypeTag values.
_NONE, _STR, _INT, _FLOAT, _BOOL = "n", "s", "i", "f", "b"
_BYTES, _UUID, _DECIMAL, _DATETIME, _DATE = "B", "u", "d", "dt", "D"
_TUPLE, _LIST, _DICT, _BATCH_RESULT = "t", "l", "m", "br"


def _envelope(tag: str, value: object) -> dict[str, object]:
    return {TYPE_TOKEN: tag, VALUE_TOKEN: value}


def _encode_primitive(obj: object) -> dict[str, object] | None:
    # bool before int: bool is a subclass of int.
    for kind, tag in ((bool, _BOOL), (str, _STR), (int, _INT), (float, _FLOAT)):
        if isinstance(obj, kind):
            return _envelope(tag, obj)
    return _envelope(_NONE, None) if obj is None else None


def _encode_scalar(obj: object) -> dict[str, object] | None:
    if isinstance(obj, bytes | bytearray | memoryview):
        return _envelope(_BYTES, base64.b64encode(bytes(obj)).decode("ascii"))
    if isinstance(obj, uuid.UUID):
        return _envelope(_UUID, str(obj))
    if isinstance(obj, Decimal):
        return _envelope(_DECIMAL, str(obj))
    if isinstance(obj, datetime):
        return _envelope(_DATETIME, obj.isoformat())
    if isinstance(obj, date):
        return _envelope(_DATE, obj.isoformat())
    return None


class BatchResultLike(Protocol):
    """A batch result the extended SerDes can tag ``"br"`` (``to_dict`` and ``from_dict``)."""

    def to_dict(self) -> dict[str, Any]:
        """Return the result as a JSON-friendly dict."""
        ...

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        """Rebuild a result from its dict form."""
        ...


def _is_envelope(obj: object) -> bool:
    return isinstance(obj, dict) and TYPE_TOKEN in obj and VALUE_TOKEN in obj


def _decode_datetime(value: str) -> datetime:
    # Other SDKs write UTC as a "Z" suffix, which fromisoformat rejects before Python 3.11.
    return datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)


_SCALAR_DECODERS: dict[str, Callable[[Any], object]] = {
    _NONE: lambda value: None,
    _STR: str,
    _INT: int,
    _FLOAT: float,
    _BOOL: bool,
    _BYTES: lambda value: base64.b64decode(value.encode("ascii")),
    _UUID: uuid.UUID,
    _DECIMAL: Decimal,
    _DATETIME: _decode_datetime,
    _DATE: date.fromisoformat,
}


def _expect(value: object, kind: type[Any], tag: str) -> None:
    if not isinstance(value, kind):
        raise ValueError(
            f"envelope tag {tag!r} needs a {kind.__name__} value, got {type(value).__name__}"
        )


class _Codec:
    """Encode values to tagged envelopes and back, recursively."""

    def __init__(self, batch_result_type: type[BatchResultLike] | None) -> None:
        self._batch_result_type = batch_result_type

    def encode(self, obj: object) -> dict[str, object]:
        encoded = _encode_primitive(obj)
        if encoded is None:
            encoded = _encode_scalar(obj)
        if encoded is not None:
            return encoded
        if isinstance(obj, list):
            return _envelope(_LIST, [self.encode(item) for item in obj])
        if isinstance(obj, tuple):
            return _envelope(_TUPLE, [self.encode(item) for item in obj])
        if isinstance(obj, dict):
            return _envelope(_DICT, self._encode_items(obj))
        if self._batch_result_type is not None and isinstance(obj, self._batch_result_type):
            return _envelope(_BATCH_RESULT, self._encode_items(obj.to_dict()))
        raise TypeError(f"{type(obj).__name__} values are not supported")

    def _encode_items(self, obj: dict[Any, Any]) -> dict[Any, object]:
        if any(isinstance(key, tuple) for key in obj):
            raise TypeError("dict keys must not be tuples")
        return {key: self.encode(value) for key, value in obj.items()}

    def decode(self, tag: object, value: Any) -> object:
        if isinstance(tag, str) and tag in _SCALAR_DECODERS:
            return _SCALAR_DECODERS[tag](value)
        if tag in (_LIST, _TUPLE):
            _expect(value, list, tag)
            items = [self._decode_nested(item) for item in value]
            return tuple(items) if tag == _TUPLE else items
        if tag in (_DICT, _BATCH_RESULT):
            _expect(value, dict, tag)
            items_by_key = {key: self._decode_nested(item) for key, item in value.items()}
            return (
                self._rebuild_batch_result(items_by_key) if tag == _BATCH_RESULT else items_by_key
            )
        raise ValueError(f"unknown envelope tag {tag!r}")

    def _decode_nested(self, obj: object) -> object:
        # Like the reference, a nested value without an envelope is taken as it is.
        if _is_envelope(obj):
            envelope = cast(dict[str, Any], obj)
            return self.decode(envelope[TYPE_TOKEN], envelope[VALUE_TOKEN])
        return obj

    def _rebuild_batch_result(self, data: dict[str, object]) -> object:
        # Without a batch result type the dict form is returned for the caller to rebuild.
        if self._batch_result_type is None:
            return data
        return self._batch_result_type.from_dict(data)


class ExtendedTypesSerDes(SerDes[T]):
    """JSON with type-tagged envelopes, interchangeable with the reference's extended SerDes.

    ``batch_result_type`` (a class with ``to_dict()`` and a ``from_dict(dict)`` classmethod)
    is written and read under the reference's ``"br"`` tag; without it a ``"br"`` envelope
    reads back as its dict form.
    """

    def __init__(self, batch_result_type: type[BatchResultLike] | None = None) -> None:
        self._codec = _Codec(batch_result_type)

    def serialize(self, value: T, serdes_context: SerDesContext | None = None) -> str:
        """Return ``value`` as plain JSON when primitive, else as a tagged envelope."""
        payload = value if SerDes.is_primitive(value) else self._codec.encode(value)
        return _dumps(payload, _COMPACT_ENCODER)

    def deserialize(self, data: str, serdes_context: SerDesContext | None = None) -> T:
        """Parse ``data``, unwrapping tagged envelopes."""
        obj = json.loads(data)
        if SerDes.is_primitive(obj):
            return cast(T, obj)
        if not _is_envelope(obj):
            raise ValueError('the text is neither plain JSON nor a {"t": ..., "v": ...} envelope')
        return cast(T, self._codec.decode(obj[TYPE_TOKEN], obj[VALUE_TOKEN]))


ExtendedTypeSerDes = ExtendedTypesSerDes

DEFAULT_JSON_SERDES: SerDes[Any] = JsonSerDes()
EXTENDED_TYPES_SERDES: SerDes[Any] = ExtendedTypesSerDes[Any]()
PASS_THROUGH_SERDES: SerDes[Any] = PassThroughSerDes()


def _describe(serdes: SerDes[Any]) -> str:
    return type(serdes).__name__


def serialize(
    serdes: SerDes[T] | None,
    value: T,
    operation_id: str,
    durable_execution_arn: str,
    *,
    label: str | None = None,
) -> str:
    """Serialize ``value`` with ``serdes`` (JsonSerDes when None), raising SerDesError on failure.

    A SerDesError raised by the SerDes itself propagates unchanged. Text the wire cannot carry
    is refused here too: a SerDes that returns something other than a str, or text holding a
    lone surrogate, fails with SerDesError instead of failing the checkpoint call later.
    Messages name the operation by ``label`` (its name, say) when given, else by its id.
    """
    active: SerDes[Any] = serdes if serdes is not None else DEFAULT_JSON_SERDES
    try:
        text = active.serialize(value, SerDesContext(operation_id, durable_execution_arn))
    except SerDesError:
        raise
    except _NotJsonError as exc:
        raise SerDesError(
            f"Could not serialize {_what(value, label or operation_id, active)}: {exc}. "
            "Replace NaN and infinite floats before returning the value (with None, a string, "
            "or a Decimal under ExtendedTypesSerDes)."
        ) from exc
    except Exception as exc:
        raise SerDesError(
            f"Could not serialize {_what(value, label or operation_id, active)}: {exc}. "
            "Return a value that SerDes supports, or pass a SerDes that does (for example "
            "ExtendedTypesSerDes or your own) as the serdes of the operation's config."
        ) from exc
    # JSON from json.dumps is ASCII; only other text needs the closer look.
    if text is not None and not (isinstance(text, str) and text.isascii()):
        _check_text(text, _what(value, label or operation_id, active))
    return text


def _what(value: object, operation: str, serdes: SerDes[Any]) -> str:
    return f"the {type(value).__name__} value of operation {operation} with {_describe(serdes)}"


def _check_text(text: object, what: str) -> None:
    """Raise SerDesError unless ``text`` is a str the wire can carry as UTF-8."""
    if not isinstance(text, str):
        raise SerDesError(
            f"Could not serialize {what}: the SerDes returned a {type(text).__name__}, not a "
            "str. Make its serialize() return text."
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise SerDesError(
            f"Could not serialize {what}: the text it returned holds a lone surrogate "
            f"({text[exc.start]!r} at index {exc.start}), which is not valid Unicode and cannot "
            "be stored. Escape such characters in the SerDes (json.dumps does by default), or "
            "decode file names and bytes with errors='replace'."
        ) from exc


def deserialize(
    serdes: SerDes[T] | None,
    data: str | None,
    operation_id: str,
    durable_execution_arn: str,
    *,
    label: str | None = None,
) -> T:
    """Deserialize ``data`` with ``serdes`` (JsonSerDes when None); None data gives None.

    A SerDesError raised by the SerDes itself propagates unchanged. Messages name the
    operation by ``label`` when given, else by its id.
    """
    if data is None:
        return cast(T, None)
    active: SerDes[Any] = serdes if serdes is not None else DEFAULT_JSON_SERDES
    try:
        return cast(T, active.deserialize(data, SerDesContext(operation_id, durable_execution_arn)))
    except SerDesError:
        raise
    except Exception as exc:
        operation = label or operation_id
        raise SerDesError(
            f"Could not deserialize the checkpointed payload of operation {operation} "
            f"({len(data)} characters) with {_describe(active)}: {exc}. Pass the same SerDes "
            f"that wrote it as the serdes of the operation's config."
        ) from exc
