"""Checks on a checkpoint call that need no stored state: limits, shapes, duplicates."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from durable_async.service.local._model import Json, dumps, invalid

__all__ = ["MAX_CALL_BYTES", "MAX_PAYLOAD_BYTES", "MAX_UPDATES", "validate_call"]

MAX_UPDATES = 250
MAX_CALL_BYTES = 750 * 1024
MAX_PAYLOAD_BYTES = 256 * 1024
MAX_NAME_CHARS = 256
MAX_SUBTYPE_CHARS = 32
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# A Lambda function name, name:qualifier, partial ARN or ARN, as Invoke accepts them.
_FUNCTION = re.compile(
    r"(arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:)?(\d{12}:)?(function:)?"
    r"[A-Za-z0-9_-]{1,64}(:(\$LATEST(\.PUBLISHED)?|[A-Za-z0-9_-]+))?"
)
_TENANT = re.compile(r"[a-zA-Z0-9._:/=+\-@ ]{1,256}")
_CLOSING_ACTIONS = frozenset({"SUCCEED", "FAIL", "RETRY"})


def validate_call(updates: object, actions: Mapping[str, frozenset[str]]) -> list[Json]:
    """Return ``updates`` once every stateless rule holds; ``actions`` maps Type to its Actions."""
    if not isinstance(updates, list):
        raise invalid("Updates must be a list of OperationUpdate objects; send [] to refresh.")
    _check_limits(updates)
    for index, update in enumerate(updates):
        _check_update(index, update, actions)
    _check_execution_last(updates)
    _check_duplicates(updates)
    return updates


def _check_limits(updates: list[Any]) -> None:
    if len(updates) > MAX_UPDATES:
        raise invalid(
            f"A checkpoint call carries at most {MAX_UPDATES} updates but this one has "
            f"{len(updates)}; split them across several calls."
        )
    # A result too large for the Lambda response rides on the EXECUTION update (PROTOCOL.md), so
    # that payload is exempt from the per-call and per-operation limits.
    sized = [_without_payload(u) if _is_execution(u) else u for u in updates]
    try:
        size = len(dumps(sized).encode())
    except (TypeError, ValueError) as exc:
        raise invalid(f"Updates must be plain JSON values; {exc}.") from exc
    if size > MAX_CALL_BYTES:
        raise invalid(
            f"A checkpoint call carries at most {MAX_CALL_BYTES} bytes of JSON but this one has "
            f"{size}; split the updates across several calls."
        )


def _check_update(index: int, update: object, actions: Mapping[str, frozenset[str]]) -> None:
    if not isinstance(update, dict):
        raise invalid(f"Update {index} is not an object; send OperationUpdate objects only.")
    _check_id(index, update.get("Id"), "Id")
    if update.get("ParentId") is not None:
        _check_id(index, update["ParentId"], "ParentId")
    _check_text(index, update, "Name", MAX_NAME_CHARS)
    _check_text(index, update, "SubType", MAX_SUBTYPE_CHARS)
    _check_action(index, update, actions)
    _check_payload(index, update)
    _check_options(index, update)


def _check_id(index: int, value: object, key: str) -> None:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise invalid(
            f"Update {index} has {key} {value!r}, but an operation id must be 1 to 64 letters, "
            "digits, '-' or '_'; send the id the SDK derived for the operation."
        )


def _check_text(index: int, update: Json, key: str, limit: int) -> None:
    value = update.get(key)
    if value is not None and (not isinstance(value, str) or not 1 <= len(value) <= limit):
        raise invalid(
            f"Update {index} (Id {update['Id']!r}) has {key} {value!r}, but a {key} must be a "
            f"string of 1 to {limit} characters; shorten it or leave it out."
        )


def _check_action(index: int, update: Json, actions: Mapping[str, frozenset[str]]) -> None:
    kind, action = update.get("Type"), update.get("Action")
    if kind not in actions:
        raise invalid(
            f"Update {index} (Id {update['Id']!r}) has Type {kind!r}, which the local service "
            f"does not support; use one of {', '.join(sorted(actions))}."
        )
    if action not in actions[str(kind)]:
        raise invalid(
            f"Update {index} (Id {update['Id']!r}) asks a {kind} operation to {action!r}, which "
            f"it does not support; use one of {', '.join(sorted(actions[str(kind)]))}."
        )


def _is_execution(update: Any) -> bool:
    return isinstance(update, dict) and update.get("Type") == "EXECUTION"


def _without_payload(update: Json) -> Json:
    return {key: value for key, value in update.items() if key != "Payload"}


def _check_payload(index: int, update: Json) -> None:
    payload, error, action = update.get("Payload"), update.get("Error"), update["Action"]
    where = f"Update {index} (Id {update['Id']!r}, {update['Type']} {action})"
    if payload is not None and not isinstance(payload, str):
        raise invalid(f"{where} has a Payload that is not a string; serialize it to text first.")
    if (
        payload is not None
        and not _is_execution(update)
        and len(payload.encode()) > MAX_PAYLOAD_BYTES
    ):
        raise invalid(
            f"{where} has a Payload of {len(payload.encode())} bytes, over the limit of "
            f"{MAX_PAYLOAD_BYTES}; keep large values elsewhere and checkpoint a reference."
        )
    if error is not None and not isinstance(error, dict):
        raise invalid(f"{where} has an Error that is not an ErrorObject; send an object.")
    if action == "SUCCEED" and error is not None:
        raise invalid(f"{where} carries an Error; a SUCCEED sends only a Payload.")
    if action == "FAIL" and payload is not None:
        raise invalid(f"{where} carries a Payload; a FAIL sends only an Error.")
    if action == "RETRY" and payload is not None and error is not None:
        raise invalid(f"{where} carries both a Payload and an Error; a RETRY sends one of them.")


def _check_options(index: int, update: Json) -> None:
    where = f"Update {index} (Id {update['Id']!r})"
    if update["Type"] == "WAIT" and update["Action"] == "START":
        seconds = (update.get("WaitOptions") or {}).get("WaitSeconds")
        if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds < 1:
            raise invalid(
                f"{where} starts a WAIT with WaitOptions.WaitSeconds {seconds!r}; a wait lasts "
                "a whole number of seconds, at least 1."
            )
    if update["Type"] == "STEP" and update["Action"] == "RETRY":
        delay = (update.get("StepOptions") or {}).get("NextAttemptDelaySeconds")
        if not _whole(delay):
            raise invalid(
                f"{where} retries a STEP with StepOptions.NextAttemptDelaySeconds {delay!r}; "
                "send a whole number of seconds, 0 or more."
            )
    if update["Type"] == "CALLBACK" and update["Action"] == "START":
        _check_callback_options(where, update.get("CallbackOptions"))
    if update["Type"] == "CHAINED_INVOKE" and update["Action"] == "START":
        _check_invoke_options(where, update.get("ChainedInvokeOptions"))


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_callback_options(where: str, options: object) -> None:
    if options is None:
        return
    if not isinstance(options, dict):
        raise invalid(f"{where} has CallbackOptions that are not an object; send an object.")
    for key in ("TimeoutSeconds", "HeartbeatTimeoutSeconds"):
        value = options.get(key)
        if value is not None and not _whole(value):
            raise invalid(
                f"{where} starts a CALLBACK with CallbackOptions.{key} {value!r}; send a whole "
                "number of seconds, or 0 (or nothing) for no limit."
            )


def _check_invoke_options(where: str, options: object) -> None:
    if not isinstance(options, dict):
        raise invalid(
            f"{where} starts a CHAINED_INVOKE without ChainedInvokeOptions; send "
            '{"FunctionName": ...} naming the function to invoke.'
        )
    name = options.get("FunctionName")
    if not isinstance(name, str) or len(name) > MAX_NAME_CHARS or not _FUNCTION.fullmatch(name):
        raise invalid(
            f"{where} invokes FunctionName {name!r}, which is not a function name; send a "
            "function name (1 to 64 letters, digits, '-' or '_'), name:qualifier, or its ARN."
        )
    tenant = options.get("TenantId")
    if tenant is not None and (not isinstance(tenant, str) or not _TENANT.fullmatch(tenant)):
        raise invalid(
            f"{where} has TenantId {tenant!r}; a TenantId is 1 to 256 characters from "
            "letters, digits, spaces and ._:/=+-@."
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
