"""How the harness collects what a handler writes, as CloudWatch would hold it.

``conformance.handlers._logs`` keeps a process's JSON log records and the lines it prints on
stdout in one file; ``conformance.driver.execution_log_events`` turns them back into the events
of one execution, which the suite's own ``CloudWatchLogValidator`` then matches. These tests
drive both with real files and the suite's validator.
"""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip(
    "aws_durable_execution_conformance_tests",
    reason="make test installs aws-durable-execution-conformance-tests (see the Makefile)",
)

from aws_durable_execution_conformance_tests.cloudwatch import CloudWatchLogValidator

from conformance.driver import STDOUT_FIELD, execution_log_events
from conformance.handlers import _logs

ARN = "arn:aws:lambda:us-east-1:123456789012:function:F:$LATEST/durable-execution/a/b"
OTHER = "arn:aws:lambda:us-east-1:123456789012:function:F:$LATEST/durable-execution/c/d"


def test_the_driver_reads_the_field_the_capture_writes() -> None:
    assert STDOUT_FIELD == _logs.STDOUT_FIELD


@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=30)))
def test_stdout_capture_passes_text_on_and_keeps_each_complete_line(chunks: list[str]) -> None:
    real, sink = io.StringIO(), io.StringIO()
    capture = _logs.StdoutCapture(real, sink)
    for chunk in chunks:
        assert capture.write(chunk) == len(chunk)
    capture.flush()
    text = "".join(chunks)
    assert real.getvalue() == text
    kept = [json.loads(line) for line in sink.getvalue().splitlines()]
    assert [k[STDOUT_FIELD] for k in kept] == text.split("\n")[:-1]
    assert all(set(k) == {"timestamp", STDOUT_FIELD} for k in kept)


def _write_file(directory: Path, name: str, arn: str, lines: list[str | dict[str, object]]) -> None:
    """Write ``lines`` through a real capture and JSON log handler into one file, in order."""
    with (directory / name).open("w", encoding="utf-8") as sink:
        capture = _logs.StdoutCapture(io.StringIO(), sink)
        handler = _logs.JsonLinesHandler(sink)
        logger = logging.getLogger(f"conformance-test-{name}")
        logger.propagate = False
        logger.addHandler(handler)
        try:
            for line in lines:
                if isinstance(line, str):
                    print(line, file=capture)
                else:
                    logger.warning(line["message"], extra={"executionArn": arn})
        finally:
            logger.removeHandler(handler)


def test_events_of_one_execution_from_printed_lines_and_log_records(tmp_path: Path) -> None:
    start = json.dumps({"plugin": "P", "hook": "start", "durableExecutionArn": ARN})
    end = json.dumps({"plugin": "P", "hook": "end", "durableExecutionArn": ARN})
    _write_file(
        tmp_path,
        "1.jsonl",
        ARN,
        [
            start,
            "plain text, not JSON",
            json.dumps([ARN]),
            json.dumps({"plugin": "P", "hook": "start", "durableExecutionArn": OTHER}),
            json.dumps({"plugin": "P", "hook": "nested", "x": {"durableExecutionArn": ARN}}),
            {"message": "step ran"},
            end,
        ],
    )
    with (tmp_path / "1.jsonl").open("a", encoding="utf-8") as junk:
        junk.write("not a record\n[1]\n")
    events = execution_log_events(tmp_path, ARN)
    messages = [e["message"] for e in events]
    assert messages[0] == start
    assert json.loads(messages[1])["message"] == "step ran"
    assert messages[2] == end
    assert len(messages) == 3
    assert [e["ingestionTime"] for e in events] == [0, 1, 2]


EXPECTED = [
    {"match": {"plugin": "P", "hook": "start"}, "count": 1},
    {"match": {"message": "step ran"}, "count": 1, "after": [{"plugin": "P", "hook": "start"}]},
    {"match": {"plugin": "P", "hook": "end"}, "count": 1, "after": [{"message": "step ran"}]},
]


def test_the_suites_validator_accepts_printed_records_in_the_order_written(
    tmp_path: Path,
) -> None:
    start = json.dumps({"plugin": "P", "hook": "start", "durableExecutionArn": ARN})
    end = json.dumps({"plugin": "P", "hook": "end", "durableExecutionArn": ARN})
    _write_file(tmp_path, "a.jsonl", ARN, [start, {"message": "step ran"}, end])
    result = CloudWatchLogValidator().validate(EXPECTED, execution_log_events(tmp_path, ARN))
    assert result.success, result.errors


def test_the_suites_validator_rejects_a_printed_record_out_of_order(tmp_path: Path) -> None:
    start = json.dumps({"plugin": "P", "hook": "start", "durableExecutionArn": ARN})
    end = json.dumps({"plugin": "P", "hook": "end", "durableExecutionArn": ARN})
    _write_file(tmp_path, "a.jsonl", ARN, [start, end, {"message": "step ran"}])
    result = CloudWatchLogValidator().validate(EXPECTED, execution_log_events(tmp_path, ARN))
    assert not result.success
    assert any("out of order" in error for error in result.errors)


def test_a_record_printed_without_the_arn_is_not_found(tmp_path: Path) -> None:
    _write_file(
        tmp_path,
        "a.jsonl",
        ARN,
        [json.dumps({"plugin": "P", "hook": "start"}), {"message": "step ran"}],
    )
    result = CloudWatchLogValidator().validate(EXPECTED[:2], execution_log_events(tmp_path, ARN))
    assert any("expected exactly 1 match(es), got 0" in error for error in result.errors)
