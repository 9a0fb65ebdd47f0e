"""The ``lambda`` service model, compiled for the thin path (``_thin``).

For each operation, once: which members go in the URL and which in the JSON body, a predicate
true only of the parameters botocore's ``ParamValidator`` accepts, and a converter doing what
botocore's rest-json parser does with the answer's JSON, timestamps given as epoch
milliseconds as ``AwsDurableService`` returns them. A model with anything these do not
reproduce exactly (renamed members, documents, unions, blobs, floats, maps, headers) raises
:class:`Unsupported`, and the client sends every call itself. A converter meets a value of a
type botocore would convert or choke on and raises :class:`Unexpected`: the caller then hands
the answer to botocore's parser.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Operation", "Unexpected", "Unsupported", "compile_check", "compile_operation", "wire"]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MILLISECOND = dt.timedelta(milliseconds=1)
# Epoch seconds (1970 to 2200) that fromtimestamp reads alike in every zone on every platform.
_SAFE_SECONDS = (0, 7_258_118_400)

Convert = Callable[[Any], Any]


class Unexpected(Exception):
    """A response value the compiled converter does not handle; botocore's parser takes over."""


class Unsupported(Exception):
    """A service model or configuration the thin path does not reproduce exactly."""


@dataclass(frozen=True)
class Operation:
    """What never changes between two calls of one operation."""

    name: str
    model: Any
    method: str
    uri_members: frozenset[str]
    has_body: bool
    valid: Callable[[Any], bool]
    convert: Convert


def compile_operation(service_model: Any, name: str) -> Operation:
    """Compile operation ``name`` of botocore's ``service_model``; raise Unsupported if unable."""
    model = service_model.operation_model(name)
    if model.http_checksum or model.has_streaming_input or model.has_streaming_output:
        raise Unsupported(f"{name} has checksums or streams")
    input_shape = model.input_shape
    uri_members = frozenset(
        member
        for member, shape in input_shape.members.items()
        if shape.serialization.get("location") == "uri"
    )
    body_members = {
        member: shape
        for member, shape in input_shape.members.items()
        if "location" not in shape.serialization
    }
    for member, shape in body_members.items():
        _check_plain_json(shape, f"{name}.{member}")
    located = [
        member
        for member, shape in input_shape.members.items()
        if shape.serialization.get("location") not in (None, "uri", "querystring")
    ]
    if located or input_shape.serialization.get("payload"):
        raise Unsupported(f"{name} sends headers or a payload member")
    output_shape = model.output_shape
    if output_shape.serialization.get("payload") or any(
        "location" in shape.serialization for shape in output_shape.members.values()
    ):
        raise Unsupported(f"{name} reads headers or a payload member")
    return Operation(
        name=name,
        model=model,
        method=model.http["method"],
        uri_members=uri_members,
        has_body=bool(body_members),
        valid=compile_check(input_shape, set()),
        convert=compile_output(output_shape, set()),
    )


def compile_check(shape: Any, building: set[str]) -> Callable[[Any], bool]:
    """Return a predicate true only of values botocore's ``ParamValidator`` accepts."""
    kind = shape.type_name
    if kind == "structure":
        return _check_structure(shape, building)
    if kind == "list":
        return _check_list(shape, compile_check(shape.member, building))
    minimum = shape.metadata.get("min")
    if minimum is None and shape.serialization.get("hostLabel"):
        minimum = 1
    if kind == "string":
        if shape.serialization.get("jsonvalue"):
            raise Unsupported(f"the input shape {shape.name} is a JSON value")
        least = _minimum(shape)
        return lambda value: type(value) is str and len(value) >= least
    if kind in ("integer", "long"):
        return lambda value: isinstance(value, int) and (minimum is None or value >= minimum)
    if kind == "boolean":
        return lambda value: type(value) is bool
    raise Unsupported(f"the input shape {shape.name} is a {kind}")


def _check_structure(shape: Any, building: set[str]) -> Callable[[Any], bool]:
    if getattr(shape, "is_document_type", False) or getattr(shape, "is_tagged_union", False):
        raise Unsupported(f"the input shape {shape.name} is a document or a union")
    if shape.name in building:
        raise Unsupported(f"the input shape {shape.name} is recursive")
    building = building | {shape.name}
    # A string member's check is its minimum length, tested inline: most members are strings.
    checks: dict[str, int | Callable[[Any], bool]] = {}
    for name, member in shape.members.items():
        check = compile_check(member, building)  # refuses what it cannot check, strings too
        checks[name] = _minimum(member) if member.type_name == "string" else check
    known = frozenset(checks)
    required = frozenset(shape.metadata.get("required", ()))

    def structure(value: Any) -> bool:
        if type(value) is not dict:
            return False
        keys = value.keys()
        if not (keys <= known and required <= keys):
            return False
        for name, item in value.items():
            check = checks[name]
            if type(check) is int:
                if type(item) is not str or len(item) < check:
                    return False
            elif not check(item):  # type: ignore[operator]
                return False
        return True

    return structure


def _minimum(shape: Any) -> int:
    """Return the least length or value botocore's range check allows (0 for none)."""
    minimum = shape.metadata.get("min")
    if minimum is None and shape.serialization.get("hostLabel"):
        minimum = 1
    return int(minimum or 0)


def _check_list(shape: Any, check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    minimum = shape.metadata.get("min")

    def sequence(value: Any) -> bool:
        if type(value) is not list and type(value) is not tuple:
            return False
        if minimum is not None and len(value) < minimum:
            return False
        return all(map(check, value))

    return sequence


def _check_plain_json(shape: Any, where: str, seen: set[str] | None = None) -> None:
    """Refuse input shapes botocore serialises other than json.dumps would write them."""
    seen = set() if seen is None else seen
    if shape.serialization.get("name") or getattr(shape, "is_document_type", False):
        raise Unsupported(f"{where} is renamed or a document")
    kind = shape.type_name
    if kind == "structure":
        if shape.name in seen:
            return
        seen.add(shape.name)
        for member, member_shape in shape.members.items():
            _check_plain_json(member_shape, f"{where}.{member}", seen)
    elif kind == "list":
        _check_plain_json(shape.member, f"{where}[]", seen)
    elif kind not in ("string", "integer", "long", "boolean"):
        raise Unsupported(f"{where} is a {kind}")


def compile_output(shape: Any, building: set[str]) -> Convert:
    """Return a function doing what botocore's rest-json parser does with ``shape``'s JSON."""
    kind = shape.type_name
    if kind == "structure":
        return _compile_structure(shape, building)
    if kind == "list":
        return _compile_list(compile_output(shape.member, building))
    if kind in ("string", "integer", "long", "boolean", "timestamp"):
        return _SCALARS[kind]
    raise Unsupported(f"the output shape {shape.name} is a {kind}")


def _compile_structure(shape: Any, building: set[str]) -> Convert:
    if getattr(shape, "is_document_type", False) or getattr(shape, "is_tagged_union", False):
        raise Unsupported(f"the output shape {shape.name} is a document or a union")
    if shape.name in building:
        raise Unsupported(f"the output shape {shape.name} is recursive")
    building = building | {shape.name}
    # Members whose value botocore keeps as it is map to None.
    members: dict[str, Convert | None] = {}
    for name, member in shape.members.items():
        if member.serialization.get("name", name) != name:
            raise Unsupported(f"the output member {shape.name}.{name} is renamed")
        convert = compile_output(member, building)
        members[name] = None if convert is _string else convert

    def structure(value: Any) -> dict[str, Any]:
        # botocore keeps the modelled members that are not null (in the model's order; a
        # dict's order is not part of its value).
        if type(value) is not dict:
            raise Unexpected
        parsed = {}
        for name, item in value.items():
            if item is not None:
                convert = members.get(name, _unmodelled)
                if convert is None:
                    parsed[name] = item
                elif convert is not _unmodelled:
                    parsed[name] = convert(item)
        return parsed

    return structure


def _compile_list(convert: Convert) -> Convert:
    def sparse_list(value: Any) -> list[Any]:
        if type(value) is not list:
            raise Unexpected
        return [None if item is None else convert(item) for item in value]

    return sparse_list


def _unmodelled(value: Any) -> Any:
    raise AssertionError("a marker, never called")


def _string(value: Any) -> Any:
    return value  # botocore keeps whatever JSON value a string member holds


def _integer(value: Any) -> int:
    if type(value) is not int:
        raise Unexpected  # botocore calls int() on it
    return value


def _boolean(value: Any) -> bool:
    if type(value) is not bool:
        raise Unexpected
    return value


def _timestamp(value: Any) -> int:
    """Return the epoch milliseconds of the instant botocore's timestamp parser reads.

    botocore reads epoch seconds with ``fromtimestamp`` in the local zone: the same instant as
    in UTC. Text, booleans and times beyond the safe range go to botocore's parser.
    """
    if type(value) in (int, float) and _SAFE_SECONDS[0] <= value < _SAFE_SECONDS[1]:
        return (dt.datetime.fromtimestamp(value, dt.UTC) - _EPOCH) // _MILLISECOND
    raise Unexpected


_SCALARS: dict[str, Convert] = {
    "string": _string,
    "integer": _integer,
    "long": _integer,
    "boolean": _boolean,
    "timestamp": _timestamp,
}


def wire(parsed: Mapping[str, Any]) -> dict[str, Any]:
    """Return botocore's parse as wire JSON: timestamps in epoch ms, no ``ResponseMetadata``.

    botocore parses ISO times without an offset as naive; the service means UTC.
    """
    return {key: _plain(value) for key, value in parsed.items() if key != "ResponseMetadata"}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return (value - _EPOCH) // _MILLISECOND
    return value
