"""Checks on a checkpoint call that need no stored state: limits, shapes, duplicates.

Every number has the bound Lambda's API model gives it (botocore's ``lambda`` model), so a
value the real service would refuse is refused here too, with a 400, before it can overflow
a timestamp or a SQLite integer. Text holding lone surrogates is escaped (``clean_text``)
before anything is checked, so what is checked is what is stored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from durable_async.service.local._model import Json, check_error, clean, dumps, invalid, shown

__all__ = [
    "MAX_CALL_BYTES",
    "MAX_CALLBACK_TIMEOUT_SECONDS",
    "MAX_DELAY_SECONDS",
    "MAX_PAYLOAD_BYTES",
    "MAX_UPDATES",
    "check_client_token",
    "validate_call",
]

MAX_UPDATES = 250
MAX_CALL_BYTES = 750 * 1024
MAX_PAYLOAD_BYTES = 256 * 1024
MAX_NAME_CHARS = 256
MAX_SUBTYPE_CHARS = 32
MAX_TRACE_ID_CHARS = 8192  # ChainedInvokeOptions.XAmznTraceId, as the Lambda model bounds it
# WaitOptions.WaitSeconds and StepOptions.NextAttemptDelaySeconds: at most 366 days.
MAX_DELAY_SECONDS = 31_622_400
# CallbackOptions.TimeoutSeconds and HeartbeatTimeoutSeconds.
MAX_CALLBACK_TIMEOUT_SECONDS = 99_999_999
_CLIENT_TOKEN = re.compile(r"[\x21-\x7E]{1,64}")
_OPTIONS = (
    "ContextOptions",
    "StepOptions",
    "WaitOptions",
    "CallbackOptions",
    "ChainedInvokeOptions",
)
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# A Lambda function name, name:qualifier, partial ARN or ARN, as Invoke accepts them.
_FUNCTION = re.compile(
    r"(arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:)?(\d{12}:)?(function:)?"
    r"[A-Za-z0-9_-]{1,64}(:(\$LATEST(\.PUBLISHED)?|[A-Za-z0-9_-]+))?",
    re.ASCII,
)
_TENANT = re.compile(r"[a-zA-Z0-9._:/=+\-@ ]{1,256}")
_OPTION_KEYS = frozenset(_OPTIONS)
# The (Type, Action) pairs that must carry an options block.
_NEEDS_OPTIONS = frozenset({("WAIT", "START"), ("STEP", "RETRY"), ("CHAINED_INVOKE", "START")})
_CLOSING_ACTIONS = frozenset({"SUCCEED", "FAIL", "RETRY"})


def validate_call(updates: object, actions: Mapping[str, frozenset[str]]) -> list[Json]:
    """Return ``updates`` once every stateless rule holds; ``actions`` maps Type to its Actions.

    The list returned is ``updates`` itself unless some text had to be escaped or an Error
    cleaned; the caller's objects are never changed.
    """
    if not isinstance(updates, list):
        raise invalid("Updates must be a list of OperationUpdate objects; send [] to refresh.")
    try:
        updates = _check_limits(updates)
        # A call names most ids twice (a START and its end) and one parent on every update.
        valid_ids: set[str] = set()
        checked = [
            _check_update(index, update, actions, valid_ids) for index, update in enumerate(updates)
        ]
    except RecursionError:
        raise invalid(
            "Updates nest JSON too deeply to be an OperationUpdate list; send the shapes of "
            "the CheckpointDurableExecution API only."
        ) from None
    if any(a is not b for a, b in zip(checked, updates, strict=True)):
        updates = checked
    _check_execution_last(updates)
    _check_duplicates(updates)
    return updates


def check_client_token(client_token: object) -> None:
    """Refuse a ClientToken that is not 1 to 64 printable ASCII characters."""
    if client_token is None:
        return
    if not isinstance(client_token, str) or not _CLIENT_TOKEN.fullmatch(client_token):
        raise invalid(
            f"ClientToken {shown(client_token)} is not valid; send 1 to 64 printable ASCII "
            "characters, for example a UUID."
        )


def _check_limits(updates: list[Any]) -> list[Any]:
    """Check the count and encoded size; return ``updates`` with lone surrogates escaped."""
    if len(updates) > MAX_UPDATES:
        raise invalid(
            f"A checkpoint call carries at most {MAX_UPDATES} updates but this one has "
            f"{len(updates)}; split them across several calls."
        )
    try:
        size = _size(updates)
    except UnicodeEncodeError:
        updates = clean(updates)
        size = _size(updates)
    if size > MAX_CALL_BYTES:
        raise invalid(
            f"A checkpoint call carries at most {MAX_CALL_BYTES} bytes of JSON but this one has "
            f"{size}; split the updates across several calls."
        )
    return updates


def _size(updates: list[Any]) -> int:
    """Return the call's size in UTF-8 bytes; raise UnicodeEncodeError on a lone surrogate."""
    # A result too large for the Lambda response rides on the EXECUTION update (PROTOCOL.md), so
    # that payload is exempt from the per-call and per-operation limits.
    executions = [u for u in updates if _is_execution(u)]
    sized = (
        [_without_payload(u) if _is_execution(u) else u for u in updates] if executions else updates
    )
    try:
        text = dumps(sized)
    except (TypeError, ValueError) as exc:
        raise invalid(f"Updates must be plain JSON values; {exc}.") from exc
    # ASCII text is its own UTF-8 and holds no lone surrogate.
    size = len(text) if text.isascii() else len(text.encode())
    for update in executions:
        payload = update.get("Payload")
        if isinstance(payload, str) and not payload.isascii():
            payload.encode()  # raises on a lone surrogate
    return size


def _check_update(
    index: int, update: object, actions: Mapping[str, frozenset[str]], valid_ids: set[str]
) -> Json:
    """Check one update; ``valid_ids`` holds the ids already found valid in this call.

    Each check is first made inline for the usual shape; anything else goes to the full
    check, which raises or accepts as it would on its own.
    """
    if not isinstance(update, dict):
        raise invalid(f"Update {index} is not an object; send OperationUpdate objects only.")
    _check_id_once(index, update.get("Id"), "Id", valid_ids)
    if (parent_id := update.get("ParentId")) is not None:
        _check_id_once(index, parent_id, "ParentId", valid_ids)
    name, subtype = update.get("Name"), update.get("SubType")
    if name is not None and (type(name) is not str or not 1 <= len(name) <= MAX_NAME_CHARS):
        _check_text(index, update, "Name", MAX_NAME_CHARS)
    if subtype is not None and (
        type(subtype) is not str or not 1 <= len(subtype) <= MAX_SUBTYPE_CHARS
    ):
        _check_text(index, update, "SubType", MAX_SUBTYPE_CHARS)
    kind, action = update.get("Type"), update.get("Action")
    if not (type(kind) is str and type(action) is str and action in actions.get(kind, ())):
        _check_action(index, update, actions)
    error = _check_payload(index, update)
    _check_options(index, update)
    if error is update.get("Error") or error == update.get("Error"):
        return update
    return {**update, "Error": error}


def _check_id_once(index: int, value: object, key: str, valid_ids: set[str]) -> None:
    if type(value) is not str or value not in valid_ids:
        _check_id(index, value, key)
        valid_ids.add(str(value))


def _check_id(index: int, value: object, key: str) -> None:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise invalid(
            f"Update {index} has {key} {shown(value)}, but an operation id must be 1 to 64 "
            "letters, digits, '-' or '_'; send the id the SDK derived for the operation."
        )


def _check_text(index: int, update: Json, key: str, limit: int) -> None:
    value = update.get(key)
    if value is not None and (not isinstance(value, str) or not 1 <= len(value) <= limit):
        raise invalid(
            f"Update {index} (Id {update['Id']!r}) has {key} {shown(value)}, but a {key} must be a "
            f"string of 1 to {limit} characters; shorten it or leave it out."
        )


def _check_action(index: int, update: Json, actions: Mapping[str, frozenset[str]]) -> None:
    kind, action = update.get("Type"), update.get("Action")
    if not isinstance(kind, str) or kind not in actions:
        raise invalid(
            f"Update {index} (Id {update['Id']!r}) has Type {shown(kind)}, which the local "
            f"service does not support; use one of {', '.join(sorted(actions))}."
        )
    if not isinstance(action, str) or action not in actions[kind]:
        raise invalid(
            f"Update {index} (Id {update['Id']!r}) asks a {kind} operation to {shown(action)}, "
            f"which it does not support; use one of {', '.join(sorted(actions[kind]))}."
        )


def _is_execution(update: Any) -> bool:
    return isinstance(update, dict) and update.get("Type") == "EXECUTION"


def _without_payload(update: Json) -> Json:
    return {key: value for key, value in update.items() if key != "Payload"}


def _check_payload(index: int, update: Json) -> Json | None:
    """Check Payload and Error against the Action; return the Error, cleaned."""
    payload, error, action = update.get("Payload"), update.get("Error"), update["Action"]
    if payload is None and error is None:
        return None  # nothing to check: the common START
    if payload is not None and not isinstance(payload, str):
        raise invalid(
            f"{_where(index, update)} has a Payload that is not a string; serialize it to "
            "text first."
        )
    if (
        payload is not None
        # A character takes at most 4 bytes in UTF-8, so short text needs no encoding.
        and len(payload) * 4 > MAX_PAYLOAD_BYTES
        and not _is_execution(update)
        and len(payload.encode()) > MAX_PAYLOAD_BYTES
    ):
        raise invalid(
            f"{_where(index, update)} has a Payload of {len(payload.encode())} bytes, over the "
            f"limit of {MAX_PAYLOAD_BYTES}; keep large values elsewhere and checkpoint a "
            "reference."
        )
    if error is None and action != "FAIL":
        return None  # a Payload alone, which only a FAIL refuses
    where = _where(index, update)
    if error is not None:
        error = check_error(error, f"{where}: Error")
    if action == "SUCCEED" and error is not None:
        raise invalid(f"{where} carries an Error; a SUCCEED sends only a Payload.")
    if action == "FAIL" and payload is not None:
        raise invalid(f"{where} carries a Payload; a FAIL sends only an Error.")
    if action == "RETRY" and payload is not None and error is not None:
        raise invalid(f"{where} carries both a Payload and an Error; a RETRY sends one of them.")
    return error


def _where(index: int, update: Json) -> str:
    return f"Update {index} (Id {update['Id']!r}, {update['Type']} {update['Action']})"


def _check_options(index: int, update: Json) -> None:
    """Check every options block present against the model, and those the action needs."""
    if _OPTION_KEYS.isdisjoint(update) and (update["Type"], update["Action"]) not in _NEEDS_OPTIONS:
        return  # no block to check and none needed: most updates
    where = f"Update {index} (Id {update['Id']!r})"
    for key in _OPTIONS:
        if update.get(key) is not None and not isinstance(update[key], dict):
            raise invalid(f"{where} has {key} that are not an object; send an object.")
    kind, action = update["Type"], update["Action"]
    wait = update.get("WaitOptions") or {}
    seconds = wait.get("WaitSeconds")
    if (seconds is not None or (kind, action) == ("WAIT", "START")) and not _whole(
        seconds, 1, MAX_DELAY_SECONDS
    ):
        raise invalid(
            f"{where} has WaitOptions.WaitSeconds {shown(seconds)}; a wait lasts a whole "
            f"number of seconds from 1 to {MAX_DELAY_SECONDS:,} (366 days)."
        )
    delay = (update.get("StepOptions") or {}).get("NextAttemptDelaySeconds")
    if (delay is not None or (kind, action) == ("STEP", "RETRY")) and not _whole(
        delay, 1, MAX_DELAY_SECONDS
    ):
        raise invalid(
            f"{where} has StepOptions.NextAttemptDelaySeconds {shown(delay)}; a STEP RETRY "
            f"sends a whole number of seconds from 1 to {MAX_DELAY_SECONDS:,} (366 days)."
        )
    _check_callback_options(where, update.get("CallbackOptions") or {})
    replay = (update.get("ContextOptions") or {}).get("ReplayChildren")
    if replay is not None and not isinstance(replay, bool):
        raise invalid(f"{where} has ContextOptions.ReplayChildren {shown(replay)}; send a boolean.")
    invoke = update.get("ChainedInvokeOptions")
    if invoke is not None or (kind, action) == ("CHAINED_INVOKE", "START"):
        _check_invoke_options(where, invoke)


def _whole(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _check_callback_options(where: str, options: Json) -> None:
    for key in ("TimeoutSeconds", "HeartbeatTimeoutSeconds"):
        value = options.get(key)
        if value is not None and not _whole(value, 0, MAX_CALLBACK_TIMEOUT_SECONDS):
            raise invalid(
                f"{where} has CallbackOptions.{key} {shown(value)}; send a whole number of "
                f"seconds up to {MAX_CALLBACK_TIMEOUT_SECONDS:,}, or 0 (or nothing) for no limit."
            )


def _check_invoke_options(where: str, options: object) -> None:
    if not isinstance(options, dict):
        raise invalid(
            f"{where} has no ChainedInvokeOptions, which a CHAINED_INVOKE START needs; send "
            '{"FunctionName": ...} naming the function to invoke.'
        )
    name = options.get("FunctionName")
    if not isinstance(name, str) or len(name) > MAX_NAME_CHARS or not _FUNCTION.fullmatch(name):
        raise invalid(
            f"{where} invokes FunctionName {shown(name)}, which is not a function name; send a "
            "function name (1 to 64 letters, digits, '-' or '_'), name:qualifier, or its ARN."
        )
    tenant = options.get("TenantId")
    if tenant is not None and (not isinstance(tenant, str) or not _TENANT.fullmatch(tenant)):
        raise invalid(
            f"{where} has TenantId {shown(tenant)}; a TenantId is 1 to 256 characters from "
            "letters, digits, spaces and ._:/=+-@."
        )
    trace = options.get("XAmznTraceId")
    if trace is not None and (not isinstance(trace, str) or len(trace) > MAX_TRACE_ID_CHARS):
        raise invalid(
            f"{where} has XAmznTraceId {shown(trace)}; send the X-Ray trace header as a string "
            f"of at most {MAX_TRACE_ID_CHARS:,} characters, or leave it out."
        )


def _check_execution_last(updates: list[Json]) -> None:
    positions = [i for i, update in enumerate(updates) if update["Type"] == "EXECUTION"]
    if len(positions) > 1 or (positions and positions[0] != len(updates) - 1):
        raise invalid(
            "A checkpoint call may carry one EXECUTION update and it must be the last one; "
            "send every other update before it."
        )


def _check_duplicates(updates: list[Json]) -> None:
    last: dict[str, Json] = {}
    for index, update in enumerate(updates):
        previous = last.get(update["Id"])
        if previous is not None and not _completes_start(previous, update):
            raise invalid(
                f"Update {index} repeats Id {update['Id']!r} in one call; only a STEP or "
                "CONTEXT START followed by its completion may share an id, so send the later "
                "update in the next call."
            )
        last[update["Id"]] = update


def _completes_start(previous: Json, update: Json) -> bool:
    return (
        previous["Type"] in ("STEP", "CONTEXT")
        and previous["Action"] == "START"
        and update["Action"] in _CLOSING_ACTIONS
    )
