"""SerDes and codecs: JSON and extended-type payloads, interchangeable with the reference's."""

from __future__ import annotations

import math
import os
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, cast

import pytest
from aws_durable_execution_sdk_python import serdes as ref
from aws_durable_execution_sdk_python.concurrency.models import BatchItem as RefBatchItem
from aws_durable_execution_sdk_python.concurrency.models import BatchResult as RefBatchResult
from aws_durable_execution_sdk_python.concurrency.models import (
    CompletionReason as RefCompletionReason,
)
from aws_durable_execution_sdk_python.config import (
    BatchItemStatus as RefBatchItemStatus,
)
from aws_durable_execution_sdk_python.exceptions import SerDesError as RefSerDesError
from hypothesis import given
from hypothesis import strategies as st

from durable_async.exceptions import (
    DurableExecutionsError,
    InvocationError,
    RetryableSerDesError,
    SerDesError,
)
from durable_async.serdes import (
    DEFAULT_JSON_SERDES,
    EXTENDED_TYPES_SERDES,
    PASS_THROUGH_SERDES,
    TYPE_CODEC,
    BytesCodec,
    Codec,
    ContainerCodec,
    DateTimeCodec,
    DecimalCodec,
    EncodedValue,
    ExtendedTypeSerDes,
    ExtendedTypesSerDes,
    JsonSerDes,
    PassThroughSerDes,
    PrimitiveCodec,
    SerDes,
    SerDesContext,
    TypeCodec,
    TypeTag,
    UuidCodec,
    deserialize,
    round_tripped,
    serialize,
)

ARN = "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST/durable-execution/e/1"
REF_CONTEXT = ref.SerDesContext("op-1", ARN)
CONTEXT = SerDesContext("op-1", ARN)
REF_EXTENDED: Any = ref.ExtendedTypeSerDes()  # type: ignore[no-untyped-call]

PLAIN_JSON_VALUES = [
    pytest.param(None, id="none"),
    pytest.param('héllo "quoted"', id="str"),
    pytest.param(42, id="int"),
    pytest.param(-1.5, id="float"),
    pytest.param(True, id="bool"),
    pytest.param([1, "two", None, [3.0, False]], id="list-of-primitives"),
    pytest.param([], id="empty-list"),
]

EXTENDED_VALUES = [
    pytest.param(datetime(2024, 5, 6, 7, 8, 9, 123456), id="naive-datetime"),
    pytest.param(datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC), id="utc-datetime"),
    pytest.param(
        datetime(2024, 5, 6, 7, 8, tzinfo=timezone(timedelta(hours=-3))), id="offset-datetime"
    ),
    pytest.param(date(2024, 2, 29), id="date"),
    pytest.param(Decimal("12.3400"), id="decimal"),
    pytest.param(Decimal("-1E+10"), id="decimal-exponent"),
    pytest.param(uuid.UUID("12345678-1234-5678-1234-567812345678"), id="uuid"),
    pytest.param(b"\x00\xffbytes", id="bytes"),
    pytest.param((1, "a", None), id="tuple"),
    pytest.param({"a": 1, "b": [1, 2], "c": {"d": None}}, id="dict"),
    pytest.param({}, id="empty-dict"),
    pytest.param([1, {"x": b"y"}], id="list-with-dict"),
    pytest.param(
        {"when": date(2024, 1, 2), "ids": (uuid.UUID(int=7), Decimal("0.1")), "raw": [b"ab"]},
        id="nested-extended",
    ),
]


@pytest.mark.parametrize("value", PLAIN_JSON_VALUES)
def test_json_serdes_writes_the_reference_json_serdes_text(value: Any) -> None:
    """JsonSerDes writes plain values exactly as the reference's JsonSerDes does."""
    text = JsonSerDes[Any]().serialize(value, CONTEXT)
    assert text == ref.JsonSerDes().serialize(value, REF_CONTEXT)
    assert ref.JsonSerDes().deserialize(text, REF_CONTEXT) == value


def test_json_serdes_uses_json_dumps_defaults() -> None:
    """JsonSerDes writes json.dumps's default separators, like the reference (invoke payloads)."""
    assert JsonSerDes[Any]().serialize({"a": [1, 2]}, CONTEXT) == '{"a": [1, 2]}'


@pytest.mark.parametrize(
    "value",
    [*PLAIN_JSON_VALUES, pytest.param({"k": {"n": [1, None]}}, id="dict")],
)
def test_json_serdes_reads_the_reference_json_serdes(value: Any) -> None:
    """JsonSerDes reads what the reference JsonSerDes writes."""
    text = ref.JsonSerDes().serialize(value, REF_CONTEXT)
    assert JsonSerDes[Any]().deserialize(text, CONTEXT) == value


@pytest.mark.parametrize("value", [*PLAIN_JSON_VALUES, *EXTENDED_VALUES])
def test_extended_serdes_round_trips(value: Any) -> None:
    """ExtendedTypesSerDes gives back an equal value of the same type."""
    serdes = ExtendedTypesSerDes[Any]()
    restored = serdes.deserialize(serdes.serialize(value, CONTEXT), CONTEXT)
    assert restored == value
    assert type(restored) is type(value)


@pytest.mark.parametrize("value", [*PLAIN_JSON_VALUES, *EXTENDED_VALUES])
def test_extended_serdes_writes_the_reference_text(value: Any) -> None:
    """ExtendedTypesSerDes writes the same text as the reference's ExtendedTypeSerDes."""
    assert ExtendedTypesSerDes[Any]().serialize(value, CONTEXT) == REF_EXTENDED.serialize(
        value, REF_CONTEXT
    )


@pytest.mark.parametrize("value", EXTENDED_VALUES)
def test_reference_reads_our_extended_payloads(value: Any) -> None:
    """The reference's ExtendedTypeSerDes decodes our envelopes to an equal value."""
    text = ExtendedTypesSerDes[Any]().serialize(value, CONTEXT)
    assert REF_EXTENDED.deserialize(text, REF_CONTEXT) == value


@pytest.mark.parametrize("value", [*PLAIN_JSON_VALUES, *EXTENDED_VALUES])
def test_we_read_the_reference_extended_payloads(value: Any) -> None:
    """ExtendedTypesSerDes decodes the reference's envelopes to an equal value."""
    text = REF_EXTENDED.serialize(value, REF_CONTEXT)
    assert ExtendedTypesSerDes[Any]().deserialize(text, CONTEXT) == value


def test_extended_serdes_exact_envelope() -> None:
    """A dict becomes a tagged envelope with every nested value tagged."""
    text = ExtendedTypesSerDes[Any]().serialize({"d": date(2024, 1, 2), "n": 1}, CONTEXT)
    assert text == '{"t":"m","v":{"d":{"t":"D","v":"2024-01-02"},"n":{"t":"i","v":1}}}'


def test_extended_serdes_reads_z_suffixed_datetimes() -> None:
    """A datetime written with a "Z" suffix by another SDK reads back as UTC."""
    restored = ExtendedTypesSerDes[Any]().deserialize('{"t":"dt","v":"2024-01-02T03:04:05Z"}')
    assert restored == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_extended_serdes_takes_untagged_nested_values_as_they_are() -> None:
    """Nested values without an envelope pass through, as in the reference."""
    text = '{"t":"m","v":{"plain":[1,2],"tagged":{"t":"u","v":"' + str(uuid.UUID(int=1)) + '"}}}'
    assert ExtendedTypesSerDes[Any]().deserialize(text) == {
        "plain": [1, 2],
        "tagged": uuid.UUID(int=1),
    }


def _reference_batch_result() -> RefBatchResult[Any]:
    return RefBatchResult(
        [
            RefBatchItem(0, RefBatchItemStatus.SUCCEEDED, result={"v": 1}),
            RefBatchItem(1, RefBatchItemStatus.SUCCEEDED, result="two"),
        ],
        RefCompletionReason.ALL_COMPLETED,
    )


def test_extended_serdes_writes_batch_results_like_the_reference() -> None:
    """A configured batch result type is written under the reference's "br" tag."""
    batch = _reference_batch_result()
    serdes = ExtendedTypesSerDes[Any](batch_result_type=RefBatchResult)
    text = serdes.serialize(batch, CONTEXT)
    assert text == REF_EXTENDED.serialize(batch, REF_CONTEXT)
    assert serdes.deserialize(text, CONTEXT) == batch


def test_extended_serdes_reads_batch_results_as_dicts_without_a_type() -> None:
    """Without a batch result type a "br" envelope reads back as the batch's dict form."""
    batch = _reference_batch_result()
    text = REF_EXTENDED.serialize(batch, REF_CONTEXT)
    assert ExtendedTypesSerDes[Any]().deserialize(text, CONTEXT) == batch.to_dict()


@pytest.mark.parametrize(
    ("serdes", "value", "type_name"),
    [
        pytest.param(None, {1, 2}, "set", id="json-set"),
        pytest.param(None, object(), "object", id="json-object"),
        pytest.param(None, datetime(2024, 1, 1), "datetime", id="json-datetime"),
        pytest.param(EXTENDED_TYPES_SERDES, frozenset({1}), "frozenset", id="extended-frozenset"),
        pytest.param(EXTENDED_TYPES_SERDES, {(1, 2): "x"}, "dict", id="extended-tuple-key"),
        pytest.param(EXTENDED_TYPES_SERDES, [1, {2}], "list", id="extended-nested-set"),
    ],
)
def test_serialize_failure_names_operation_type_and_remedy(
    serdes: SerDes[Any] | None, value: object, type_name: str
) -> None:
    """An unsupported value raises SerDesError naming the operation, the type and the config fix."""
    with pytest.raises(SerDesError) as caught:
        serialize(serdes, value, "op-7", ARN)
    message = str(caught.value)
    assert "op-7" in message
    assert f"the {type_name} value" in message
    assert "serdes of the operation's config" in message
    assert caught.value.__cause__ is not None


@pytest.mark.parametrize(
    ("serdes", "data"),
    [
        pytest.param(None, "{not json", id="json-malformed"),
        pytest.param(None, "", id="json-empty"),
        pytest.param(EXTENDED_TYPES_SERDES, '{"a":1}', id="extended-no-envelope"),
        pytest.param(EXTENDED_TYPES_SERDES, '{"t":"zz","v":1}', id="extended-unknown-tag"),
        pytest.param(EXTENDED_TYPES_SERDES, '{"t":"l","v":{}}', id="extended-list-not-list"),
        pytest.param(EXTENDED_TYPES_SERDES, "", id="extended-empty"),
    ],
)
def test_deserialize_failure_names_operation_and_remedy(
    serdes: SerDes[Any] | None, data: str
) -> None:
    """Unreadable text raises SerDesError naming the operation and saying which SerDes to pass."""
    with pytest.raises(SerDesError, match=r"op-9.*Pass the same SerDes that wrote it"):
        deserialize(serdes, data, "op-9", ARN)


@pytest.mark.parametrize(
    "serdes",
    [
        pytest.param(DEFAULT_JSON_SERDES, id="json"),
        pytest.param(EXTENDED_TYPES_SERDES, id="extended"),
    ],
)
def test_empty_payload_fails_like_the_reference(serdes: SerDes[Any]) -> None:
    """An empty string is handed to the SerDes and fails for JSON, as in the reference."""
    reference: Any = ref.JsonSerDes() if serdes is DEFAULT_JSON_SERDES else REF_EXTENDED
    with pytest.raises(RefSerDesError):
        ref.deserialize(reference, "", "op-1", ARN)
    with pytest.raises(SerDesError):
        deserialize(serdes, "", "op-1", ARN)


class _RecordingSerDes(SerDes[Any]):
    """Record every call and its context."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object, SerDesContext]] = []

    def serialize(self, value: Any, serdes_context: SerDesContext) -> str:
        self.calls.append(("serialize", value, serdes_context))
        return f"<{value}>"

    def deserialize(self, data: str, serdes_context: SerDesContext) -> Any:
        self.calls.append(("deserialize", data, serdes_context))
        return data.strip("<>")


def test_none_serializes_to_json_null() -> None:
    """None serializes to "null" with the default and the extended SerDes, as in the reference."""
    assert serialize(None, None, "op-1", ARN) == "null"
    assert serialize(EXTENDED_TYPES_SERDES, None, "op-1", ARN) == "null"
    assert ref.serialize(None, None, "op-1", ARN) == "null"
    assert deserialize(None, "null", "op-1", ARN) is None


def test_absent_payload_deserializes_to_none_without_calling_the_serdes() -> None:
    """None data gives None and never reaches the SerDes."""
    recording = _RecordingSerDes()
    assert deserialize(recording, None, "op-1", ARN) is None
    assert recording.calls == []


def test_custom_serdes_gets_operation_context() -> None:
    """A custom SerDes is called with the operation id and execution ARN."""
    recording = _RecordingSerDes()
    assert serialize(recording, 5, "op-3", ARN) == "<5>"
    assert deserialize(recording, "<5>", "op-3", ARN) == "5"
    assert recording.calls == [
        ("serialize", 5, SerDesContext("op-3", ARN)),
        ("deserialize", "<5>", SerDesContext("op-3", ARN)),
    ]


class _FailingSerDes(SerDes[Any]):
    """Raise the given error from both directions."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def serialize(self, value: Any, serdes_context: SerDesContext) -> str:
        raise self.error

    def deserialize(self, data: str, serdes_context: SerDesContext) -> Any:
        raise self.error


def test_serdes_error_from_a_custom_serdes_propagates_unchanged() -> None:
    """A SerDesError the SerDes raises itself is not wrapped again."""
    error = SerDesError("custom message")
    with pytest.raises(SerDesError) as caught:
        serialize(_FailingSerDes(error), 1, "op-1", ARN)
    assert caught.value is error
    with pytest.raises(SerDesError) as caught:
        deserialize(_FailingSerDes(error), "1", "op-1", ARN)
    assert caught.value is error


def test_other_errors_from_a_custom_serdes_are_wrapped() -> None:
    """Any other error from a custom SerDes becomes a SerDesError caused by it."""
    error = RuntimeError("boom")
    with pytest.raises(SerDesError, match="_FailingSerDes: boom") as caught:
        serialize(_FailingSerDes(error), 1, "op-1", ARN)
    assert caught.value.__cause__ is error


def test_pass_through_serdes_keeps_text() -> None:
    """PassThroughSerDes returns text unchanged both ways."""
    serdes = PassThroughSerDes[str]()
    assert serdes.serialize('{"raw": 1}', CONTEXT) == '{"raw": 1}'
    assert serdes.deserialize("not json", CONTEXT) == "not json"


def test_reference_names_are_available() -> None:
    """ExtendedTypeSerDes is the reference's name for ExtendedTypesSerDes."""
    assert ExtendedTypeSerDes is ExtendedTypesSerDes
    assert isinstance(EXTENDED_TYPES_SERDES, ExtendedTypesSerDes)
    assert isinstance(DEFAULT_JSON_SERDES, JsonSerDes)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, True, id="none"),
        pytest.param([1, ["a", None]], True, id="nested-list"),
        pytest.param((1,), False, id="tuple"),
        pytest.param({"a": 1}, False, id="dict"),
        pytest.param([1, b"x"], False, id="list-with-bytes"),
    ],
)
def test_is_primitive_matches_reference(value: object, expected: bool) -> None:
    """SerDes.is_primitive agrees with the reference's fast-path test."""
    assert SerDes.is_primitive(value) is expected
    assert ref.SerDes.is_primitive(value) is expected


NON_FINITE_VALUES = [
    pytest.param(None, float("nan"), id="json-nan"),
    pytest.param(None, {"ratio": float("inf")}, id="json-nested-inf"),
    pytest.param(None, [1.0, -float("inf")], id="json-list-minus-inf"),
    pytest.param(EXTENDED_TYPES_SERDES, float("nan"), id="extended-nan"),
    pytest.param(EXTENDED_TYPES_SERDES, [0.5, float("inf")], id="extended-plain-list-inf"),
    pytest.param(EXTENDED_TYPES_SERDES, {"ratio": float("nan")}, id="extended-envelope-nan"),
    pytest.param(EXTENDED_TYPES_SERDES, (1, -float("inf")), id="extended-tuple-minus-inf"),
]


@pytest.mark.parametrize(("serdes", "value"), NON_FINITE_VALUES)
def test_nan_and_infinity_are_refused_with_the_operation_named(
    serdes: SerDes[Any] | None, value: object
) -> None:
    """NaN and infinities raise SerDesError naming the operation, instead of writing non-JSON."""
    with pytest.raises(SerDesError) as caught:
        serialize(serdes, value, "op-5", ARN, label="prices")
    message = str(caught.value)
    assert "operation prices" in message
    assert "NaN, Infinity or -Infinity" in message
    assert "Replace NaN and infinite floats" in message


def test_finite_floats_are_written_as_the_reference_writes_them() -> None:
    """Refusing NaN changes nothing for finite floats: the text is the reference's."""
    values = [0.1, -2.5e300, 5e-324, [1.0, {"x": 1e16}], {"a": (0.5,)}]
    for value in values:
        assert serialize(None, value, "op-1", ARN) == ref.JsonSerDes().serialize(value, REF_CONTEXT)
        assert EXTENDED_TYPES_SERDES.serialize(value, CONTEXT) == REF_EXTENDED.serialize(
            value, REF_CONTEXT
        )


def test_nan_written_by_the_reference_still_reads_back() -> None:
    """Reading stays lenient: a NaN the reference SDK recorded deserializes, so replay works."""
    text = REF_EXTENDED.serialize([float("nan")], REF_CONTEXT)
    assert text == "[NaN]"
    assert math.isnan(deserialize(EXTENDED_TYPES_SERDES, text, "op-1", ARN)[0])


@pytest.mark.parametrize(
    "serdes",
    [pytest.param(None, id="json"), pytest.param(EXTENDED_TYPES_SERDES, id="extended")],
)
def test_lone_surrogates_are_escaped_and_read_back(serdes: SerDes[Any] | None) -> None:
    """A str holding a lone surrogate (an undecodable file name) is written as ASCII JSON."""
    name = os.fsdecode(b"/data/report-\xff.csv")
    value = {"file": name, "n": 1} if serdes is None else [name]
    text = serialize(serdes, value, "op-1", ARN)
    assert text.isascii()
    assert "\\udcff" in text
    text.encode("utf-8")
    assert deserialize(serdes, text, "op-1", ARN) == value


class _RawTextSerDes(SerDes[Any]):
    """Return the value as its own text, or the value itself, whatever it is."""

    def serialize(self, value: Any, serdes_context: SerDesContext) -> str:
        return cast(str, value)

    def deserialize(self, data: str, serdes_context: SerDesContext) -> Any:
        return data


@pytest.mark.parametrize(
    ("value", "match"),
    [
        pytest.param(
            os.fsdecode(b"report-\xff"), r"lone surrogate \('\\udcff' at index 7\)", id="surrogate"
        ),
        pytest.param(b"raw", "returned a bytes, not a str", id="bytes"),
        pytest.param({"a": 1}, "returned a dict, not a str", id="dict"),
    ],
)
def test_text_the_wire_cannot_carry_is_refused(value: object, match: str) -> None:
    """A SerDes returning a lone surrogate or a non-str fails with SerDesError, not at send time."""
    with pytest.raises(SerDesError, match=match) as caught:
        serialize(_RawTextSerDes(), value, "op-4", ARN, label="export")
    assert "operation export" in str(caught.value)


def test_valid_non_ascii_text_from_a_serdes_passes_unchanged() -> None:
    """Text beyond ASCII that is valid Unicode is kept as the SerDes wrote it."""
    assert serialize(_RawTextSerDes(), "héllo ✓ 😀", "op-1", ARN) == "héllo ✓ 😀"
    assert serialize(PASS_THROUGH_SERDES, None, "op-1", ARN) is None


def test_deserialize_failure_names_the_label_when_given() -> None:
    """deserialize names the operation by its label when the caller passes one."""
    with pytest.raises(SerDesError, match="operation totals "):
        deserialize(None, "{bad", "op-1", ARN, label="totals")


def as_json(encoded: Any) -> Any:
    """An EncodedValue tree (ours or the reference's) as the JSON it is written as."""
    if hasattr(encoded, "tag") and hasattr(encoded, "value"):
        return {"t": str(encoded.tag), "v": as_json(encoded.value)}
    if isinstance(encoded, list):
        return [as_json(item) for item in encoded]
    if isinstance(encoded, dict):
        return {key: as_json(value) for key, value in encoded.items()}
    return encoded


@pytest.mark.parametrize("value", [*PLAIN_JSON_VALUES, *EXTENDED_VALUES])
def test_type_codec_encodes_value_for_value_like_the_reference(value: Any) -> None:
    """TYPE_CODEC encodes each value to the same tags and values as the reference's TYPE_CODEC."""
    assert as_json(TYPE_CODEC.encode(value)) == as_json(ref.TYPE_CODEC.encode(value))


@pytest.mark.parametrize("value", [*PLAIN_JSON_VALUES, *EXTENDED_VALUES])
def test_type_codecs_decode_each_others_encodings(value: Any) -> None:
    """Each SDK's TYPE_CODEC decodes the other's encoding to an equal value of the same type."""
    mine, theirs = as_json(TYPE_CODEC.encode(value)), as_json(ref.TYPE_CODEC.encode(value))
    from_theirs = TYPE_CODEC.decode(TypeTag(theirs["t"]), theirs["v"])
    from_mine = ref.TYPE_CODEC.decode(ref.TypeTag(mine["t"]), mine["v"])
    assert from_theirs == from_mine == value
    assert type(from_theirs) is type(from_mine) is type(value)


CODECS = [
    pytest.param(PrimitiveCodec(), ref.PrimitiveCodec(), "héllo", id="primitive"),
    pytest.param(BytesCodec(), ref.BytesCodec(), bytearray(b"\x01\x02"), id="bytes"),
    pytest.param(UuidCodec(), ref.UuidCodec(), uuid.UUID(int=9), id="uuid"),
    pytest.param(DecimalCodec(), ref.DecimalCodec(), Decimal("1.10"), id="decimal"),
    pytest.param(DateTimeCodec(), ref.DateTimeCodec(), date(2024, 3, 1), id="date"),
]


@pytest.mark.parametrize(("codec", "reference", "value"), CODECS)
def test_each_codec_matches_the_reference_codec(codec: Codec, reference: Any, value: Any) -> None:
    """Each single-type codec writes the reference's EncodedValue and reads it back."""
    encoded = codec.encode(value)
    assert isinstance(encoded, EncodedValue)
    assert as_json(encoded) == as_json(reference.encode(value))
    assert codec.decode(encoded.tag, encoded.value) == reference.decode(
        ref.TypeTag(encoded.tag), encoded.value
    )


def test_type_tags_are_the_references() -> None:
    """TypeTag has the reference's members with the reference's values."""
    assert {t.name: t.value for t in TypeTag} == {t.name: t.value for t in ref.TypeTag}


def test_container_codec_decodes_in_memory_encoded_values() -> None:
    """Nested EncodedValues decode like their JSON form, as in the reference."""
    nested = EncodedValue(TypeTag.LIST, [EncodedValue(TypeTag.UUID, str(uuid.UUID(int=3)))])
    assert TYPE_CODEC.decode(TypeTag.TUPLE, [nested]) == ([uuid.UUID(int=3)],)


def test_a_container_codec_without_dispatcher_says_to_link_one() -> None:
    """A bare ContainerCodec refuses to encode items until set_dispatcher is called."""
    codec = ContainerCodec()
    with pytest.raises(DurableExecutionsError, match="Call set_dispatcher"):
        codec.encode([1])
    codec.set_dispatcher(TypeCodec())
    assert codec.encode([1]) == EncodedValue(TypeTag.LIST, [EncodedValue(TypeTag.INT, 1)])


@pytest.mark.parametrize(
    ("codec", "tag"),
    [
        pytest.param(UuidCodec(), TypeTag.BYTES, id="uuid-given-bytes"),
        pytest.param(PrimitiveCodec(), TypeTag.LIST, id="primitive-given-list"),
        pytest.param(TYPE_CODEC, "zz", id="unknown-tag"),
    ],
)
def test_codecs_refuse_tags_they_do_not_own_with_serdes_error(codec: Codec, tag: Any) -> None:
    """A codec given a tag it does not own raises SerDesError, as the reference's do."""
    with pytest.raises(SerDesError, match="tag"):
        codec.decode(tag, "x")


def test_retryable_serdes_error_passes_through_unchanged() -> None:
    """A RetryableSerDesError from a SerDes is not wrapped, so the invocation fails and retries."""
    error = RetryableSerDesError("the upload timed out")
    for call in (
        lambda: serialize(_FailingSerDes(error), 1, "op-1", ARN),
        lambda: deserialize(_FailingSerDes(error), "1", "op-1", ARN),
    ):
        with pytest.raises(RetryableSerDesError) as caught:
            call()
        assert caught.value is error
    assert isinstance(error, InvocationError)


_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)


@given(value=_SCALARS | st.lists(_SCALARS, max_size=3) | st.dictionaries(st.text(), _SCALARS))
def test_round_tripped_is_what_deserializing_gives(value: Any) -> None:
    """The shortcut for scalars returns a value equal to, and of the type of, a real read back;
    anything else is read back."""
    for serdes in (EXTENDED_TYPES_SERDES, DEFAULT_JSON_SERDES, None):
        text = serialize(serdes, value, "op-1", ARN)
        read = deserialize(serdes, text, "op-1", ARN)
        shortcut = round_tripped(serdes, value, text, "op-1", ARN)
        assert shortcut == read
        assert type(shortcut) is type(read)
        if isinstance(value, list | dict):
            assert shortcut is not value  # a container is a fresh copy, as on replay


def test_round_tripped_reads_back_through_any_other_serdes() -> None:
    """A SerDes of the user's may read a scalar back as something else: it is asked."""

    class Upper(SerDes[str]):
        def serialize(self, value: str, serdes_context: SerDesContext) -> str:
            return value

        def deserialize(self, data: str, serdes_context: SerDesContext) -> str:
            return data.upper()

    assert round_tripped(Upper(), "abc", "abc", "op-1", ARN) == "ABC"
