"""Keep values on a durable shared filesystem and checkpoint a pointer to them.

``FileSystemSerDes`` writes values to files under a base path on a filesystem every invocation
of the execution sees: Amazon EFS or Amazon S3 Files mounted to the function. Never use
Lambda's ``/tmp``: it belongs to one execution environment, and a replay on another one would
not find the file.

The checkpoint holds a JSON envelope, the same text the reference SDK's ``FileSystemSerDes``
writes, so either SDK reads what the other wrote:

- ``{"data": "<text>"}``: the value inline (OVERFLOW mode, under the checkpoint limit);
- ``{"file": "<path>"}``: the value is in that file;
- ``{"file": "<path>", "preview": {...}}``: the same, with a compact preview of the value
  (see :mod:`durable_async.preview`) visible in the console and API.

The SerDes interface is synchronous, in the reference and here, and operations call it from
their coroutines, so a file read or write runs on the event loop. It is one small write or read
per operation result, as in the reference; for payloads of many megabytes on a slow mount, keep
the large data in your own storage and step its key instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol
from urllib.parse import quote

from durable_async._checkpoint import MAX_PAYLOAD_BYTES
from durable_async.exceptions import RetryableSerDesError, SerDesError
from durable_async.serdes import EXTENDED_TYPES_SERDES, SerDes, SerDesContext
from durable_async.types import DurableExecutionArn

__all__ = [
    "FileSystemPathEncoding",
    "FileSystemSerDes",
    "FileSystemSerDesConfig",
    "FileSystemSerDesMode",
    "GeneratePreview",
]

# 1 KB of headroom for the envelope and the rest of the checkpoint, as in the reference.
_OVERFLOW_THRESHOLD_BYTES = MAX_PAYLOAD_BYTES - 1024


class FileSystemSerDesMode(StrEnum):
    """When a value goes to a file.

    ALWAYS writes every value to a file. OVERFLOW keeps a value inline and writes it to a file
    only when the inline envelope would exceed the checkpoint size limit (256 KB).
    """

    ALWAYS = "ALWAYS"
    OVERFLOW = "OVERFLOW"


class FileSystemPathEncoding(StrEnum):
    """How the execution ARN and the operation id become directory and file names.

    URI: ``<function>/<execution>/<invocation>/<percent-encoded operation id>.json``, readable
    (an ARN of another shape becomes one percent-encoded directory). HASH: the SHA-256 hex
    digests of the ARN and of the operation id, fixed length and safe on any filesystem.
    """

    URI = "URI"
    HASH = "HASH"


class GeneratePreview(Protocol):
    """Return a compact preview of ``value`` to keep inline, or None for none."""

    def __call__(self, value: Any) -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class FileSystemSerDesConfig:
    """How FileSystemSerDes stores values.

    ``generate_preview`` (for example ``lambda v: build_preview(v, PreviewConfig(...))``) adds
    a preview beside each file pointer. ``serdes`` writes the value's text, in the file or
    inline; ExtendedTypesSerDes by default, as in the reference.
    """

    storage_mode: FileSystemSerDesMode = FileSystemSerDesMode.ALWAYS
    path_encoding: FileSystemPathEncoding = FileSystemPathEncoding.URI
    generate_preview: GeneratePreview | None = None
    serdes: SerDes[Any] = EXTENDED_TYPES_SERDES


def _encode_segment(value: str, encoding: FileSystemPathEncoding) -> str:
    if encoding is FileSystemPathEncoding.HASH:
        return hashlib.sha256(value.encode()).hexdigest()
    return quote(value, safe="")


def _execution_dir(base_path: str, arn: str, encoding: FileSystemPathEncoding) -> str:
    parsed = DurableExecutionArn.from_arn(arn) if encoding is FileSystemPathEncoding.URI else None
    if parsed is not None:
        return os.path.join(
            base_path, parsed.function_name, parsed.execution_name, parsed.invocation_id
        )
    return os.path.join(base_path, _encode_segment(arn, encoding))


def _write_atomically(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file, so no reader sees half a value."""
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=directory, suffix=".tmp", delete=False
    ) as handle:
        handle.write(text)
    os.replace(handle.name, path)


def _read(path: str, context: SerDesContext) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError as exc:
        raise SerDesError(
            f"The file {path} holding the value of operation {context.operation_id} does not "
            "exist. FileSystemSerDes needs a filesystem every invocation shares (Amazon EFS or "
            "S3 Files) mounted at the same path, never Lambda's /tmp."
        ) from exc
    except OSError as exc:
        raise RetryableSerDesError(
            f"Could not read {path} for operation {context.operation_id}: {exc}. The "
            "invocation fails so the service retries it; check the mount if this persists."
        ) from exc


class FileSystemSerDes(SerDes[Any]):
    """Store values in files under ``base_path`` and checkpoint a pointer (or the value).

    Use a durable shared mount (EFS, S3 Files), never ``/tmp``. Its file I/O is blocking and
    runs on the event loop (see the module docs).
    """

    def __init__(self, base_path: str, config: FileSystemSerDesConfig | None = None) -> None:
        self._base_path = base_path
        self._config = config or FileSystemSerDesConfig()

    def serialize(self, value: Any, serdes_context: SerDesContext) -> str:
        """Return the envelope for ``value``, writing the value to a file when the mode says."""
        if self._config.storage_mode is FileSystemSerDesMode.OVERFLOW:
            inline = json.dumps({"data": self._config.serdes.serialize(value, serdes_context)})
            if len(inline.encode("utf-8")) <= _OVERFLOW_THRESHOLD_BYTES:
                return inline
        return json.dumps(self._write(value, serdes_context), allow_nan=False)

    def _write(self, value: Any, context: SerDesContext) -> dict[str, Any]:
        path = self.path_for(context)
        try:
            _write_atomically(path, self._config.serdes.serialize(value, context))
        except OSError as exc:
            raise RetryableSerDesError(
                f"Could not write {path} for operation {context.operation_id}: {exc}. The "
                "invocation fails so the service retries it; check the mount if this persists."
            ) from exc
        envelope: dict[str, Any] = {"file": path}
        generate = self._config.generate_preview
        preview = generate(value) if generate is not None else None
        if preview:
            envelope["preview"] = preview
        return envelope

    def path_for(self, serdes_context: SerDesContext) -> str:
        """Return the file a value of the operation in ``serdes_context`` is written to."""
        encoding = self._config.path_encoding
        directory = _execution_dir(self._base_path, serdes_context.durable_execution_arn, encoding)
        return os.path.join(
            directory, f"{_encode_segment(serdes_context.operation_id, encoding)}.json"
        )

    def deserialize(self, data: str, serdes_context: SerDesContext) -> Any:
        """Return the value of the envelope ``data``, reading its file when it points to one."""
        envelope = json.loads(data)
        if not isinstance(envelope, dict) or not ({"file", "data"} & envelope.keys()):
            raise SerDesError(
                f"The payload of operation {serdes_context.operation_id} is not a "
                'FileSystemSerDes envelope ({"file": ...} or {"data": ...}). Pass the SerDes '
                "that wrote it as the serdes of the operation's config."
            )
        file = envelope.get("file")
        text = envelope["data"] if file is None else _read(file, serdes_context)
        return self._config.serdes.deserialize(text, serdes_context)
