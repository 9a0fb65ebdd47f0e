"""Write log records as JSON lines, as Lambda's JSON log format writes them to CloudWatch.

The suite's ``ExpectedLogs`` match fields of CloudWatch records: Lambda's envelope (``timestamp``,
``level``, ``message``, ``logger``) plus the ``extra`` fields the durable logger adds
(``executionArn``, ``operationId``, ...). When ``CONFORMANCE_LOG_DIR`` is set, every process that
imports a handler module appends its records to ``<dir>/<pid>.jsonl`` (one file per process, so
lines of concurrent workers never interleave); the harness reads them back, keeps the records of
one execution by ``executionArn`` and matches them with the suite's own log validator.

Lambda also sends each line a function prints to stdout to CloudWatch, as it is (the plugin
requirements' records are JSON objects printed that way). So :func:`install` wraps
``sys.stdout`` too: every complete line still goes to the real stdout, and is appended to the same
file as ``{"timestamp": ..., "stdout": LINE}``, which the harness turns back into a CloudWatch
event whose message is ``LINE``. One file per process, written in the order the process wrote,
keeps a printed line and a logged record of that process in the order they happened.
"""

from __future__ import annotations

import io
import json
import logging
import os
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

LOG_DIR_VARIABLE = "CONFORMANCE_LOG_DIR"
STDOUT_FIELD = "stdout"  # the field of a captured stdout line (a log record has ``message``)
_WRITE = threading.Lock()  # log records and stdout lines share the file: one line at a time

# Attributes every LogRecord has; anything else on a record came from ``extra``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


class JsonLinesHandler(logging.Handler):
    """Append each record as one JSON object per line, flushed at once (a crash loses nothing)."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(logging.INFO)
        self._stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        try:
            _append(self._stream, json.dumps(as_cloudwatch_record(record), default=str))
        except Exception:
            self.handleError(record)


def _append(stream: TextIO, line: str) -> None:
    with _WRITE:
        stream.write(line + "\n")
        stream.flush()


class StdoutCapture(io.TextIOBase):
    """``sys.stdout`` as Lambda's runtime sees it: each line goes on, and is kept as an event.

    Text is written through to ``real`` as it comes; each complete line is also appended to
    ``sink`` as ``{"timestamp": ..., "stdout": line}``, stamped when its newline is written.
    """

    def __init__(self, real: TextIO, sink: TextIO) -> None:
        super().__init__()
        self._real, self._sink = real, sink
        self._partial = ""

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._real.encoding

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._real.fileno()

    def isatty(self) -> bool:
        return self._real.isatty()

    def write(self, text: str) -> int:
        self._real.write(text)
        *lines, self._partial = (self._partial + text).split("\n")
        stamp = datetime.now(UTC).isoformat()
        for line in lines:
            _append(self._sink, json.dumps({"timestamp": stamp, STDOUT_FIELD: line}))
        return len(text)

    def flush(self) -> None:
        self._real.flush()


def as_cloudwatch_record(record: logging.LogRecord) -> dict[str, object]:
    """Return ``record`` in the shape of a Lambda JSON log line."""
    fields: dict[str, object] = {
        "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(),
        "level": record.levelname,
        "message": record.getMessage(),
        "logger": record.name,
    }
    fields.update((k, v) for k, v in vars(record).items() if k not in _STANDARD)
    return fields


def install() -> None:
    """Send INFO and above of every logger, and stdout's lines, to this process's file, once."""
    directory = os.environ.get(LOG_DIR_VARIABLE)
    root = logging.getLogger()
    if not directory or any(isinstance(h, JsonLinesHandler) for h in root.handlers):
        return
    path = Path(directory) / f"{os.getpid()}-{time.monotonic_ns()}.jsonl"
    sink = path.open("a", encoding="utf-8")
    root.addHandler(JsonLinesHandler(sink))
    root.setLevel(logging.INFO)
    if sys.stdout is not None and not isinstance(sys.stdout, StdoutCapture):
        sys.stdout = StdoutCapture(sys.stdout, sink)


install()
