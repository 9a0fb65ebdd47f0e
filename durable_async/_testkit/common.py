"""What both runners send and look for: encoded inputs, callback answers, waiting callbacks."""

from __future__ import annotations

import json
from typing import Any

from durable_async._models import ErrorObject

__all__ = ["callback_result", "encode_input", "error_wire", "waiting_callback"]

#: An error as a test may give it: an ErrorObject, its wire dict, a message or an exception.
ErrorLike = ErrorObject | dict[str, Any] | str | BaseException | None


def encode_input(value: Any) -> str | None:
    """The execution input as JSON text (None stays None)."""
    return None if value is None else json.dumps(value)


def callback_result(payload: Any) -> str:
    """A callback's answer: bytes and str as they are, any other value as JSON."""
    if isinstance(payload, bytes):
        return payload.decode()
    if isinstance(payload, str):
        return payload
    return json.dumps(payload)


def error_wire(error: ErrorLike) -> dict[str, Any] | None:
    """The wire ErrorObject of ``error``."""
    if error is None or isinstance(error, dict):
        return error
    if isinstance(error, ErrorObject):
        return error.to_wire()
    if isinstance(error, BaseException):
        return ErrorObject.from_exception(error).to_wire()
    return {"ErrorMessage": error}


def waiting_callback(operations: list[dict[str, Any]], name: str | None) -> str | None:
    """Return the id of the first started callback named ``name``, or whose wait is."""
    waits = {
        op["Id"]: op.get("Name")
        for op in operations
        if op["Type"] == "CONTEXT" and op.get("SubType") == "WaitForCallback"
    }
    for op in operations:
        if op["Type"] != "CALLBACK" or op["Status"] != "STARTED":
            continue
        if name is None or name in (op.get("Name"), waits.get(op.get("ParentId", ""))):
            return str(op["CallbackDetails"]["CallbackId"])
    return None
