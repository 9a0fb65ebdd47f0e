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
import dataclasses
import json
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar, Generic, Protocol, TypeVar, cast

from durable_async.exceptions import DurableExecutionsError, RetryableSerDesError, SerDesError

__all__ = [
    "DEFAULT_JSON_SERDES",
    "EXTENDED_TYPES_SERDES",
    "PASS_THROUGH_SERDES",
    "TYPE_CODEC",
    "BatchResultLike",
    "BytesCodec",
    "Codec",
    "ContainerCodec",
    "DateTimeCodec",
    "DecimalCodec",
    "EncodedValue",
    "ExtendedTypeSerDes",
    "ExtendedTypesSerDes",
    "JsonSerDes",
    "PassThroughSerDes",
    "PrimitiveCodec",
    "SerDes",
    "SerDesContext",
    "TypeCodec",
    "TypeTag",
    "UuidCodec",
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
class TypeTag(StrEnum):
    """The tag of a ``{"t": <tag>, "v": <value>}`` envelope, as the reference writes it."""

    NONE = "n"
    STR = "s"
    INT = "i"
    FLOAT = "f"
    BOOL = "b"
    BYTES = "B"
    UUID = "u"
    DECIMAL = "d"
    DATETIME = "dt"
    DATE = "D"
    TUPLE = "t"
    LIST = "l"
    DICT = "m"
    BATCH_RESULT = "br"


@dataclass(frozen=True)
class EncodedValue:
    """A value encoded under its type tag; containers hold nested EncodedValues."""

    tag: TypeTag
    value: Any


class _CodecError(SerDesError):
    """A codec met a value or envelope it cannot handle; serialize() adds the operation."""


class Codec(Protocol):
    """Encode values of some types to EncodedValues and decode them back."""

    def encode(self, obj: Any) -> EncodedValue:
        """Return ``obj`` under its type tag."""
        ...

    def decode(self, tag: TypeTag, value: Any) -> Any:
        """Return the value that ``value`` under ``tag`` encodes."""
        ...


def _check_tag(tag: TypeTag, allowed: tuple[TypeTag, ...], codec: object) -> None:
    if tag not in allowed:
        raise _CodecError(f"{type(codec).__name__} cannot decode the envelope tag {tag!r}")


class PrimitiveCodec(Codec):
    """None, str, bool, int and float."""

    _TAGS: tuple[tuple[type[Any], TypeTag], ...] = (
        # bool before int: bool is a subclass of int.
        (bool, TypeTag.BOOL),
        (str, TypeTag.STR),
        (int, TypeTag.INT),
        (float, TypeTag.FLOAT),
    )
    _DECODERS: ClassVar[dict[TypeTag, Callable[[Any], Any]]] = {
        TypeTag.NONE: lambda value: None,
        TypeTag.STR: str,
        TypeTag.BOOL: bool,
        TypeTag.INT: int,
        TypeTag.FLOAT: float,
    }

    def encode(self, obj: Any) -> EncodedValue:
        """Return ``obj`` under its primitive tag."""
        if obj is None:
            return EncodedValue(TypeTag.NONE, None)
        for kind, tag in self._TAGS:
            if isinstance(obj, kind):
                return EncodedValue(tag, obj)
        raise _CodecError(f"{type(obj).__name__} values are not a primitive type")

    def decode(self, tag: TypeTag, value: Any) -> Any:
        """Return the primitive ``value`` under ``tag`` encodes."""
        _check_tag(tag, tuple(self._DECODERS), self)
        return self._DECODERS[tag](value)


class BytesCodec(Codec):
    """bytes, bytearray and memoryview, as base64 text; they decode to bytes."""

    def encode(self, obj: Any) -> EncodedValue:
        """Return ``obj`` as base64 under the bytes tag."""
        return EncodedValue(TypeTag.BYTES, base64.b64encode(bytes(obj)).decode("ascii"))

    def decode(self, tag: TypeTag, value: Any) -> Any:
        """Return the bytes of the base64 text ``value``."""
        _check_tag(tag, (TypeTag.BYTES,), self)
        return base64.b64decode(value.encode("ascii"))


class UuidCodec(Codec):
    """UUIDs, as their canonical text."""

    def encode(self, obj: Any) -> EncodedValue:
        """Return ``obj`` as text under the UUID tag."""
        return EncodedValue(TypeTag.UUID, str(obj))

    def decode(self, tag: TypeTag, value: Any) -> Any:
        """Return the UUID ``value`` spells."""
        _check_tag(tag, (TypeTag.UUID,), self)
        return uuid.UUID(value)


class DecimalCodec(Codec):
    """Decimals, as their exact text."""

    def encode(self, obj: Any) -> EncodedValue:
        """Return ``obj`` as text under the decimal tag."""
        return EncodedValue(TypeTag.DECIMAL, str(obj))

    def decode(self, tag: TypeTag, value: Any) -> Any:
        """Return the Decimal ``value`` spells."""
        _check_tag(tag, (TypeTag.DECIMAL,), self)
        return Decimal(value)


def _decode_datetime(value: str) -> datetime:
    # Other SDKs write UTC as a "Z" suffix, which fromisoformat rejects before Python 3.11.
    return datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)


class DateTimeCodec(Codec):
    """datetimes and dates, in ISO 8601."""

    def encode(self, obj: Any) -> EncodedValue:
        """Return ``obj`` in ISO 8601 under the datetime or date tag."""
        # datetime before date: datetime is a subclass of date.
        if isinstance(obj, datetime):
            return EncodedValue(TypeTag.DATETIME, obj.isoformat())
        if isinstance(obj, date):
            return EncodedValue(TypeTag.DATE, obj.isoformat())
        raise _CodecError(f"{type(obj).__name__} values are not a date or datetime")

    def decode(self, tag: TypeTag, value: Any) -> Any:
        """Return the datetime or date ``value`` spells."""
        _check_tag(tag, (TypeTag.DATETIME, TypeTag.DATE), self)
        return _decode_datetime(value) if tag == TypeTag.DATETIME else date.fromisoformat(value)


class BatchResultLike(Protocol):
    """A batch result the extended SerDes can tag ``"br"`` (``to_dict`` and ``from_dict``)."""

    def to_dict(self) -> dict[str, Any]:
        """Return the result as a JSON-friendly dict."""
        ...

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        """Rebuild a result from its dict form."""
        ...


def _expect(value: object, kind: type[Any], tag: TypeTag) -> None:
    if not isinstance(value, kind):
        raise _CodecError(
            f"the envelope tag {tag.value!r} needs a {kind.__name__} value, "
            f"got {type(value).__name__}"
        )


class ContainerCodec(Codec):
    """Lists, tuples, dicts with str keys and batch results, encoding items through a dispatcher.

    ``batch_result_type`` (a class with ``to_dict()`` and a ``from_dict(dict)`` classmethod) is
    written and read under the ``"br"`` tag; without it a ``"br"`` envelope decodes to its dict.
    """

    def __init__(self, batch_result_type: type[BatchResultLike] | None = None) -> None:
        self._dispatcher: Codec | None = None
        self._batch_result_type = batch_result_type

    def set_dispatcher(self, dispatcher: Codec) -> None:
        """Encode and decode nested items with ``dispatcher`` (the TypeCodec owning this)."""
        self._dispatcher = dispatcher

    @property
    def dispatcher(self) -> Codec:
        """The codec nested items go through."""
        if self._dispatcher is None:
            raise DurableExecutionsError(
                "This ContainerCodec has no dispatcher. Call set_dispatcher() with a TypeCodec "
                "first, or use TypeCodec, which links its own."
            )
        return self._dispatcher

    def is_batch_result(self, obj: object) -> bool:
        """Return True when ``obj`` is an instance of the configured batch result type."""
        return self._batch_result_type is not None and isinstance(obj, self._batch_result_type)

    def encode(self, obj: Any) -> EncodedValue:
        """Return ``obj`` under its container tag with every item encoded."""
        if self.is_batch_result(obj):
            return EncodedValue(TypeTag.BATCH_RESULT, self._encode_items(obj.to_dict()))
        if isinstance(obj, list | tuple):
            tag = TypeTag.LIST if isinstance(obj, list) else TypeTag.TUPLE
            return EncodedValue(tag, [self.dispatcher.encode(item) for item in obj])
        if isinstance(obj, dict):
            return EncodedValue(TypeTag.DICT, self._encode_items(obj))
        raise _CodecError(f"{type(obj).__name__} values are not a supported container")

    def _encode_items(self, obj: dict[Any, Any]) -> dict[Any, EncodedValue]:
        if any(isinstance(key, tuple) for key in obj):
            raise _CodecError("dict keys must not be tuples")
        return {key: self.dispatcher.encode(value) for key, value in obj.items()}

    def decode(self, tag: TypeTag, value: Any) -> Any:
        """Return the container ``value`` under ``tag`` encodes, items decoded."""
        _check_tag(tag, _CONTAINER_TAGS, self)
        if tag in (TypeTag.LIST, TypeTag.TUPLE):
            _expect(value, list, tag)
            items = [self._decode_nested(item) for item in value]
            return tuple(items) if tag == TypeTag.TUPLE else items
        _expect(value, dict, tag)
        by_key = {key: self._decode_nested(item) for key, item in value.items()}
        if tag == TypeTag.BATCH_RESULT and self._batch_result_type is not None:
            return self._batch_result_type.from_dict(by_key)
        return by_key

    def _decode_nested(self, obj: object) -> Any:
        # Like the reference, a nested value without an envelope is taken as it is.
        if isinstance(obj, EncodedValue):
            return self.dispatcher.decode(obj.tag, obj.value)
        if _is_envelope(obj):
            envelope = cast(dict[str, Any], obj)
            return self.dispatcher.decode(_tag(envelope[TYPE_TOKEN]), envelope[VALUE_TOKEN])
        return obj


_CONTAINER_TAGS = (TypeTag.LIST, TypeTag.TUPLE, TypeTag.DICT, TypeTag.BATCH_RESULT)


def _is_envelope(obj: object) -> bool:
    return isinstance(obj, dict) and TYPE_TOKEN in obj and VALUE_TOKEN in obj


def _tag(raw: object) -> TypeTag:
    try:
        return TypeTag(cast(str, raw))
    except ValueError:
        raise _CodecError(f"unknown envelope tag {raw!r}") from None


class TypeCodec(Codec):
    """The dispatcher: hands each value or tag to the codec for its type."""

    def __init__(self, batch_result_type: type[BatchResultLike] | None = None) -> None:
        self.primitive_codec = PrimitiveCodec()
        self.bytes_codec = BytesCodec()
        self.uuid_codec = UuidCodec()
        self.decimal_codec = DecimalCodec()
        self.datetime_codec = DateTimeCodec()
        self.container_codec = ContainerCodec(batch_result_type)
        self.container_codec.set_dispatcher(self)

    def _codec_for(self, obj: object) -> Codec:
        if obj is None or isinstance(obj, str | int | float):  # bool is an int
            return self.primitive_codec
        kinds: tuple[tuple[type[Any] | tuple[type[Any], ...], Codec], ...] = (
            ((bytes, bytearray, memoryview), self.bytes_codec),
            (uuid.UUID, self.uuid_codec),
            (Decimal, self.decimal_codec),
            (date, self.datetime_codec),  # datetime is a date
            ((list, tuple, dict), self.container_codec),
        )
        for kind, codec in kinds:
            if isinstance(obj, kind):
                return codec
        if self.container_codec.is_batch_result(obj):
            return self.container_codec
        raise _CodecError(f"{type(obj).__name__} values are not supported")

    def encode(self, obj: Any) -> EncodedValue:
        """Return ``obj`` encoded by the codec for its type."""
        return self._codec_for(obj).encode(obj)

    def decode(self, tag: TypeTag, value: Any) -> Any:
        """Return the value ``value`` under ``tag`` encodes, by the codec for that tag."""
        return self._codec_for_tag(_tag(tag)).decode(_tag(tag), value)

    def _codec_for_tag(self, tag: TypeTag) -> Codec:
        if tag in _CONTAINER_TAGS:
            return self.container_codec
        by_tag: dict[TypeTag, Codec] = {
            TypeTag.BYTES: self.bytes_codec,
            TypeTag.UUID: self.uuid_codec,
            TypeTag.DECIMAL: self.decimal_codec,
            TypeTag.DATETIME: self.datetime_codec,
            TypeTag.DATE: self.datetime_codec,
        }
        return by_tag.get(tag, self.primitive_codec)


TYPE_CODEC = TypeCodec()


def _to_json(obj: object) -> object:
    """Return ``obj`` with every EncodedValue written as a ``{"t": ..., "v": ...}`` dict."""
    if isinstance(obj, EncodedValue):
        return {TYPE_TOKEN: str(obj.tag), VALUE_TOKEN: _to_json(obj.value)}
    if isinstance(obj, list):
        return [_to_json(item) for item in obj]
    if isinstance(obj, dict):
        return {key: _to_json(value) for key, value in obj.items()}
    return obj


class ExtendedTypesSerDes(SerDes[T]):
    """JSON with type-tagged envelopes, interchangeable with the reference's extended SerDes.

    The envelopes are TypeCodec's. ``batch_result_type`` (a class with ``to_dict()`` and a
    ``from_dict(dict)`` classmethod) is written and read under the reference's ``"br"`` tag;
    without it a ``"br"`` envelope reads back as its dict form.
    """

    def __init__(self, batch_result_type: type[BatchResultLike] | None = None) -> None:
        self._codec = TYPE_CODEC if batch_result_type is None else TypeCodec(batch_result_type)

    def serialize(self, value: T, serdes_context: SerDesContext | None = None) -> str:
        """Return ``value`` as plain JSON when primitive, else as a tagged envelope."""
        payload = value if SerDes.is_primitive(value) else _to_json(self._codec.encode(value))
        return _dumps(payload, _COMPACT_ENCODER)

    def deserialize(self, data: str, serdes_context: SerDesContext | None = None) -> T:
        """Parse ``data``, unwrapping tagged envelopes."""
        obj = json.loads(data)
        if SerDes.is_primitive(obj):
            return cast(T, obj)
        if not _is_envelope(obj):
            raise _CodecError('the text is neither plain JSON nor a {"t": ..., "v": ...} envelope')
        return cast(T, self._codec.decode(_tag(obj[TYPE_TOKEN]), obj[VALUE_TOKEN]))


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
    except _CodecError as exc:
        raise _unsupported(value, label or operation_id, active, exc) from exc
    except (RetryableSerDesError, SerDesError):
        raise
    except _NotJsonError as exc:
        raise SerDesError(
            f"Could not serialize {_what(value, label or operation_id, active)}: {exc}. "
            "Replace NaN and infinite floats before returning the value (with None, a string, "
            "or a Decimal under ExtendedTypesSerDes)."
        ) from exc
    except Exception as exc:
        raise _unsupported(value, label or operation_id, active, exc) from exc
    # JSON from json.dumps is ASCII; only other text needs the closer look.
    if text is not None and not (isinstance(text, str) and text.isascii()):
        _check_text(text, _what(value, label or operation_id, active))
    return text


def _unsupported(value: object, operation: str, serdes: SerDes[Any], exc: Exception) -> SerDesError:
    return SerDesError(
        f"Could not serialize {_what(value, operation, serdes)}: {exc}. "
        + (_typed_hint(value, serdes) or "Return")
        + " a value that SerDes supports, or pass a SerDes that does (for example "
        "TypedSerDes(YourType) for a dataclass or pydantic model, ExtendedTypesSerDes, or your "
        "own) as the serdes of the operation's config."
    )


def _typed_hint(value: object, serdes: SerDes[Any]) -> str:
    """Name the TypedSerDes that serializes ``value``, once it has been seen to; else ''."""
    from durable_async.typed_serdes import TypedSerDes  # it imports this module

    declared = _declared_type(value)
    if declared is None or isinstance(serdes, TypedSerDes):
        return ""
    type_, shown, kind = declared
    try:
        TypedSerDes[Any](type_).serialize(value, SerDesContext("", ""))
    except Exception:
        return ""  # a field TypedSerDes cannot write either: only the general advice holds
    typed = f"TypedSerDes({shown})"
    read_as = f"a {shown}" if shown == type(value).__name__ else shown
    return (
        f"The value is {kind}: {typed} writes it as JSON and reads it back as "
        f"{read_as}. Pass it as the serdes of this operation's config (for a step, "
        f"StepConfig(serdes={typed})), or to the handler for all its operations "
        f"(@durable_execution(serdes={typed})). Or return"
    )


def _declared_type(value: object) -> tuple[Any, str, str] | None:
    """Return the type TypedSerDes needs for ``value``, its name in code, and what it is."""
    kind = _model_kind(value)
    if kind is not None:
        return type(value), type(value).__name__, f"a {kind}"
    items = list(value.values()) if isinstance(value, dict) else value
    if not isinstance(items, list) or not items:  # a tuple would read back as a list
        return None
    item_type = type(items[0])
    kind = _model_kind(items[0])
    if kind is None or any(type(item) is not item_type for item in items):
        return None
    name = item_type.__name__
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            return None
        shown = f"dict[str, {name}]"
        return dict[str, item_type], shown, f"a dict of {_PLURAL[kind]}"  # type: ignore[valid-type]
    return list[item_type], f"list[{name}]", f"a list of {_PLURAL[kind]}"  # type: ignore[valid-type]


_PLURAL = {"dataclass": "dataclasses", "pydantic model": "pydantic models"}


def _model_kind(value: object) -> str | None:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return "dataclass"
    model = type(value)
    if hasattr(model, "model_validate") and hasattr(model, "model_dump"):
        return "pydantic model"
    return None


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
    except _CodecError as exc:
        raise _unreadable(data, label or operation_id, active, exc) from exc
    except (RetryableSerDesError, SerDesError):
        raise
    except Exception as exc:
        raise _unreadable(data, label or operation_id, active, exc) from exc


#: Values our own SerDes read back as an equal value of the same type: a scalar need not be
#: decoded again to be what a replay would see (exact types: a subclass may not round-trip).
_SCALARS = frozenset({int, str, bool, float, type(None)})


def round_tripped(
    serdes: SerDes[T] | None,
    value: T,
    data: str,
    operation_id: str,
    durable_execution_arn: str,
) -> T:
    """Return what a replay reads from ``data``, which ``serdes`` wrote for ``value``.

    Under the JSON and extended-types SerDes a scalar reads back equal to itself (NaN and the
    infinities never get this far: they are refused when written), so it is returned as is;
    anything else is deserialized.
    """
    if type(value) in _SCALARS and type(serdes) in (ExtendedTypesSerDes, JsonSerDes, type(None)):
        return value
    return deserialize(serdes, data, operation_id, durable_execution_arn)


def _unreadable(data: str, operation: str, serdes: SerDes[Any], exc: Exception) -> SerDesError:
    return SerDesError(
        f"Could not deserialize the checkpointed payload of operation {operation} "
        f"({len(data)} characters) with {_describe(serdes)}: {exc}. Pass the same SerDes "
        "that wrote it as the serdes of the operation's config."
    )
