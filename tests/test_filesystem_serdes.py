"""FileSystemSerDes: values in files, pointers in checkpoints, as the reference writes them."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aws_durable_execution_sdk_python import filesystem_serdes as ref_fs
from aws_durable_execution_sdk_python import preview as ref_preview
from aws_durable_execution_sdk_python import serdes as ref_serdes

from durable_async import DurableContext, Duration, StepConfig, durable_execution
from durable_async.exceptions import RetryableSerDesError, SerDesError
from durable_async.filesystem_serdes import (
    FileSystemPathEncoding,
    FileSystemSerDes,
    FileSystemSerDesConfig,
    FileSystemSerDesMode,
)
from durable_async.preview import PreviewConfig, PreviewField, PreviewMode, build_preview
from durable_async.serdes import SerDesContext, deserialize, serialize
from durable_async.testing import DurableTestRunner, ExecutionStatus

ARN = "arn:aws:lambda:us-east-1:123456789012:function:orders:$LATEST/durable-execution/run-7/inv-1"
CONTEXT = SerDesContext("op/1 ü", ARN)
REF_CONTEXT = ref_serdes.SerDesContext("op/1 ü", ARN)
VALUE = {
    "id": uuid.UUID(int=5),
    "at": datetime(2024, 1, 2, tzinfo=UTC),
    "total": Decimal("9.50"),
    "count": 3,
}
BIG = {"blob": "x" * 300_000, "n": 1}
PREVIEW = PreviewConfig(PreviewMode.EXCLUDE_ALL, include=[PreviewField("count"), PreviewField("n")])
REF_PREVIEW = ref_preview.PreviewConfig(
    ref_preview.PreviewMode.EXCLUDE_ALL,
    include=[ref_preview.PreviewField("count"), ref_preview.PreviewField("n")],
)

MODES = [
    pytest.param(mode, encoding, value, id=f"{mode.value}-{encoding.value}-{size}")
    for mode in FileSystemSerDesMode
    for encoding in FileSystemPathEncoding
    for size, value in (("small", VALUE), ("big", BIG))
]


def ours(base: Path, mode: FileSystemSerDesMode, encoding: FileSystemPathEncoding) -> Any:
    """Our FileSystemSerDes over ``base`` with previews of the counts."""
    preview = FileSystemSerDesConfig(mode, encoding, lambda v: build_preview(v, PREVIEW))
    return FileSystemSerDes(str(base), preview)


def reference(base: Path, mode: FileSystemSerDesMode, encoding: FileSystemPathEncoding) -> Any:
    """The reference's FileSystemSerDes over ``base``, configured the same way."""
    config = ref_fs.FileSystemSerDesConfig(
        ref_fs.FileSystemSerDesMode(mode.value),
        ref_fs.FileSystemPathEncoding(encoding.value),
        lambda v: ref_preview.build_preview(v, REF_PREVIEW),
    )
    return ref_fs.FileSystemSerDes(str(base), config)


@pytest.mark.parametrize(("mode", "encoding", "value"), MODES)
def test_we_read_what_the_reference_writes(
    tmp_path: Path, mode: FileSystemSerDesMode, encoding: FileSystemPathEncoding, value: Any
) -> None:
    """A value the reference's FileSystemSerDes stored deserializes to an equal value with ours."""
    text = reference(tmp_path, mode, encoding).serialize(value, REF_CONTEXT)
    assert ours(tmp_path, mode, encoding).deserialize(text, CONTEXT) == value


@pytest.mark.parametrize(("mode", "encoding", "value"), MODES)
def test_the_reference_reads_what_we_write(
    tmp_path: Path, mode: FileSystemSerDesMode, encoding: FileSystemPathEncoding, value: Any
) -> None:
    """A value our FileSystemSerDes stored deserializes to an equal value with the reference's."""
    text = ours(tmp_path, mode, encoding).serialize(value, CONTEXT)
    assert reference(tmp_path, mode, encoding).deserialize(text, REF_CONTEXT) == value


@pytest.mark.parametrize(("mode", "encoding", "value"), MODES)
def test_envelope_and_file_match_the_reference_byte_for_byte(
    tmp_path: Path, mode: FileSystemSerDesMode, encoding: FileSystemPathEncoding, value: Any
) -> None:
    """Both SDKs write the same checkpoint envelope and the same file at the same path."""
    theirs = reference(tmp_path / "a", mode, encoding).serialize(value, REF_CONTEXT)
    mine = ours(tmp_path / "b", mode, encoding).serialize(value, CONTEXT)
    assert mine == theirs.replace(str(tmp_path / "a"), str(tmp_path / "b"))
    pointer = json.loads(mine).get("file")
    if pointer is not None:
        assert Path(pointer).read_text() == ref_serdes.ExtendedTypeSerDes().serialize(value)  # type: ignore[no-untyped-call]


def test_always_mode_checkpoints_a_pointer_and_a_preview(tmp_path: Path) -> None:
    """ALWAYS writes even a small value to a file and keeps only the pointer and the preview."""
    text = ours(tmp_path, FileSystemSerDesMode.ALWAYS, FileSystemPathEncoding.URI).serialize(
        VALUE, CONTEXT
    )
    path = tmp_path / "orders" / "run-7" / "inv-1" / "op%2F1%20%C3%BC.json"
    assert json.loads(text) == {"file": str(path), "preview": {"count": 3}}


def test_overflow_mode_keeps_small_values_inline(tmp_path: Path) -> None:
    """OVERFLOW keeps a value under the checkpoint limit inline and writes no file."""
    serdes = FileSystemSerDes(str(tmp_path), FileSystemSerDesConfig(FileSystemSerDesMode.OVERFLOW))
    text = serdes.serialize([1, 2], CONTEXT)
    assert text == '{"data": "[1,2]"}'
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("arn", "directory"),
    [
        pytest.param(ARN, "orders/run-7/inv-1", id="uri-durable-arn"),
        pytest.param("not:an/arn", "not%3Aan%2Farn", id="uri-other-arn"),
    ],
)
def test_uri_paths_are_readable(tmp_path: Path, arn: str, directory: str) -> None:
    """URI paths name function, execution and invocation, or percent-encode an unknown ARN."""
    path = FileSystemSerDes(str(tmp_path)).path_for(SerDesContext("a b", arn))
    assert path == str(tmp_path / directory / "a%20b.json")


def test_hash_paths_are_sha256_digests(tmp_path: Path) -> None:
    """HASH paths are the SHA-256 digests of the ARN and of the operation id."""
    config = FileSystemSerDesConfig(path_encoding=FileSystemPathEncoding.HASH)
    path = FileSystemSerDes(str(tmp_path), config).path_for(CONTEXT)
    digest = [hashlib.sha256(s.encode()).hexdigest() for s in (ARN, CONTEXT.operation_id)]
    assert path == str(tmp_path / digest[0] / f"{digest[1]}.json")


def test_rewriting_a_value_leaves_no_temporary_files(tmp_path: Path) -> None:
    """A value is written through a temporary file that is renamed over the old one."""
    serdes = FileSystemSerDes(str(tmp_path))
    serdes.serialize({"v": 1}, CONTEXT)
    text = serdes.serialize({"v": 2}, CONTEXT)
    assert os.listdir(Path(serdes.path_for(CONTEXT)).parent) == ["op%2F1%20%C3%BC.json"]
    assert serdes.deserialize(text, CONTEXT) == {"v": 2}


def test_a_missing_file_says_to_use_a_shared_filesystem(tmp_path: Path) -> None:
    """A pointer to a file that is gone fails with SerDesError naming the file and the fix."""
    text = json.dumps({"file": str(tmp_path / "gone.json")})
    with pytest.raises(SerDesError, match=r"gone\.json .* does not exist.*never Lambda's /tmp"):
        deserialize(FileSystemSerDes(str(tmp_path)), text, "op-1", ARN)


def test_io_failures_are_retryable_and_pass_through_unchanged(tmp_path: Path) -> None:
    """An OSError writing or reading a file is a RetryableSerDesError, not wrapped by serialize."""
    (tmp_path / "base").write_text("a file where a directory should be")
    with pytest.raises(RetryableSerDesError, match="Could not write"):
        serialize(FileSystemSerDes(str(tmp_path / "base")), {"v": 1}, "op-1", ARN)
    with pytest.raises(RetryableSerDesError, match="Could not read"):
        deserialize(FileSystemSerDes(str(tmp_path)), json.dumps({"file": str(tmp_path)}), "o", ARN)


def test_text_that_is_not_an_envelope_is_refused(tmp_path: Path) -> None:
    """Text another SerDes wrote fails with SerDesError saying which SerDes to pass."""
    with pytest.raises(SerDesError, match="not a FileSystemSerDes envelope"):
        deserialize(FileSystemSerDes(str(tmp_path)), '{"t":"m","v":{}}', "op-1", ARN)


async def test_a_step_result_lives_in_a_file_across_replays(tmp_path: Path) -> None:
    """A step's result is checkpointed as a file pointer and read back from it on replay."""
    config = StepConfig(serdes=FileSystemSerDes(str(tmp_path)))

    @durable_execution
    async def handler(event: dict[str, Any], ctx: DurableContext) -> str:
        order = await ctx.step(lambda _: VALUE, name="load", config=config)
        await ctx.wait(Duration.from_seconds(5), name="pause")
        return str(order["total"])

    async with DurableTestRunner(handler) as runner:
        result = await runner.run({})
    assert (result.status, result.result, result.invocations) == (
        ExecutionStatus.SUCCEEDED,
        "9.50",
        2,
    )
    pointer = json.loads(result.get_step("load").result or "")["file"]
    assert pointer.startswith(str(tmp_path))
    assert json.loads(await asyncio.to_thread(Path(pointer).read_text))["t"] == "m"


async def test_overflow_lets_a_step_return_more_than_the_checkpoint_limit(tmp_path: Path) -> None:
    """Under OVERFLOW a 300 KB step result goes to a file instead of failing the step."""
    serdes = FileSystemSerDes(str(tmp_path), FileSystemSerDesConfig(FileSystemSerDesMode.OVERFLOW))

    @durable_execution
    async def handler(event: dict[str, Any], ctx: DurableContext) -> int:
        small = await ctx.step(lambda _: 1, name="small", config=StepConfig(serdes=serdes))
        big = await ctx.step(lambda _: BIG, name="big", config=StepConfig(serdes=serdes))
        return small + len(big["blob"])

    async with DurableTestRunner(handler) as runner:
        result = await runner.run({})
    assert (result.status, result.result) == (ExecutionStatus.SUCCEEDED, 300_001)
    assert result.get_step("small").result == '{"data": "1"}'
    assert "file" in json.loads(result.get_step("big").result or "")
