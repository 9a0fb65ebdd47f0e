"""Write log records as JSON lines, as Lambda's JSON log format writes them to CloudWatch.

The suite's ``ExpectedLogs`` match fields of CloudWatch records: Lambda's envelope (``timestamp``,
``level``, ``message``, ``logger``) plus the ``extra`` fields the durable logger adds
(``executionArn``, ``operationId``, ...). When ``CONFORMANCE_LOG_DIR`` is set, every process that
imports a handler module appends its records to ``<dir>/<pid>.jsonl`` (one file per process, so
lines of concurrent workers never interleave); the harness reads them back, keeps the records of
one execution by ``executionArn`` and matches them with the suite's own log validator.
"""

from __future__ import annotations

import json
import logging
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

LOG_DIR_VARIABLE = "CONFORMANCE_LOG_DIR"

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
            self._stream.write(json.dumps(as_cloudwatch_record(record), default=str) + "\n")
            self._stream.flush()
        except Exception:
            self.handleError(record)


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
    """Send INFO and above of every logger to this process's JSON-lines file, once."""
    directory = os.environ.get(LOG_DIR_VARIABLE)
    root = logging.getLogger()
    if not directory or any(isinstance(h, JsonLinesHandler) for h in root.handlers):
        return
    path = Path(directory) / f"{os.getpid()}-{time.monotonic_ns()}.jsonl"
    root.addHandler(JsonLinesHandler(path.open("a", encoding="utf-8")))
    root.setLevel(logging.INFO)


install()
