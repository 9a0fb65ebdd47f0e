"""``make layer`` and ``make package``: the Lambda zips run the example handler on their own.

The zips are built by ``scripts/lambda_build.py`` (what the make targets run) from this repo's
wheel and PyPI, for this machine's Python and architecture so that their binary wheels load
here. Each is unzipped and the handler runs in a clean interpreter (``python -I -S -B``: no
site-packages, only the unzipped folders on ``sys.path``, which it leaves unwritten as Lambda's
read-only /var/task and /opt are), one invocation after another,
against the local service over loopback HTTP, until the execution succeeds.
"""

from __future__ import annotations

import asyncio
import json
import platform
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from durable_async.service.local.engine import LocalDurableService
from durable_async.service.local.http import LocalHttpServer
from durable_async.service.local.store import SqliteStore

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "lambda_build.py"
PYTHON_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
ARCH = {"x86_64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), "")
BUILD_SECONDS = 600

# Runs in the clean interpreter: import the handler from the zip's folders and invoke it once.
INVOKE = """
import json, sys
sys.path[:0] = json.loads(sys.argv[1])
import aiobotocore, aiohttp, botocore, durable_async
import approval
output = approval.handler(json.loads(sys.stdin.read()), None)
modules = (approval, durable_async, aiobotocore, botocore, aiohttp)
print(json.dumps({"output": output, "files": {m.__name__: m.__file__ for m in modules}}))
"""

pytestmark = pytest.mark.timeout(BUILD_SECONDS + 60)


@pytest.fixture(scope="module")
def pypi(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Skip when pip cannot reach its package index (building needs it); else nothing."""
    if not ARCH:
        pytest.skip(f"Lambda has no {platform.machine()} architecture to build for")
    probe = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
         "--dest", str(tmp_path_factory.mktemp("probe")), "hatchling"],
        capture_output=True, text=True, timeout=BUILD_SECONDS, check=False,
    )  # fmt: skip
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        pytest.skip(f"PyPI is unreachable, so the Lambda zips cannot be built: {last}")


def build(what: str, out: Path) -> Path:
    """Run ``scripts/lambda_build.py WHAT`` for this machine; return the unzipped folder."""
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), what, "--arch", ARCH, "--python-version", PYTHON_VERSION,
         "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=BUILD_SECONDS, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert re.search(rf"{re.escape(str(out))}: \d+ files, [\d.]+ MB", completed.stdout)
    folder = out.with_suffix("")
    with zipfile.ZipFile(out) as archive:
        archive.extractall(folder)
    return folder


@pytest.fixture(scope="module")
def layer(pypi: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The layer zip, unzipped as Lambda lays it out in /opt."""
    return build("layer", tmp_path_factory.mktemp("layer") / "layer.zip")


@pytest.fixture(scope="module")
def package(pypi: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The deployment package zip, unzipped as Lambda lays it out in /var/task."""
    return build("package", tmp_path_factory.mktemp("package") / "function.zip")


async def _run_in_clean_interpreter(paths: list[Path], tmp_path: Path) -> list[dict[str, Any]]:
    """Drive examples/approval.py's execution to its end, each invocation in ``python -I -S``."""
    nowhere = str(tmp_path / "none")
    env = {
        "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_REGION": "us-east-1",
        "AWS_CONFIG_FILE": nowhere, "AWS_SHARED_CREDENTIALS_FILE": nowhere,
    }  # fmt: skip
    async with SqliteStore(tmp_path / "durable.sqlite3") as store:
        service = LocalDurableService(store)
        async with LocalHttpServer(service) as server:
            env["AWS_ENDPOINT_URL_LAMBDA"] = server.url
            arn = await service.start_execution("approval", '{"order_id": "o-1"}', name="o-1")
            runs = [await _invoke(service, arn, paths, env)]
            callbacks = [
                op for op in await service.list_operations(arn) if op["Type"] == "CALLBACK"
            ]
            assert [op["Status"] for op in callbacks] == ["STARTED"]
            callback_id = callbacks[0]["CallbackDetails"]["CallbackId"]
            await service.send_callback_success(callback_id, '{"approved": true}')
            runs.append(await _invoke(service, arn, paths, env))
            assert (await service.describe_execution(arn))["Status"] == "SUCCEEDED"
    return runs


async def _invoke(
    service: LocalDurableService, arn: str, paths: list[Path], env: dict[str, str]
) -> dict[str, Any]:
    event = await service.begin_invocation(arn)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-I", "-S", "-B", "-c", INVOKE, json.dumps([str(p) for p in paths]),
        env=env, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(60):
        out, err = await process.communicate(json.dumps(event).encode())
    assert process.returncode == 0, err.decode()
    run: dict[str, Any] = json.loads(out)
    await service.end_invocation(arn, run["output"])
    return run


async def test_the_layer_runs_the_handler_in_a_clean_interpreter(
    layer: Path, tmp_path: Path
) -> None:
    """Handler file + the layer's python/ alone: two invocations take approval.py to SUCCEEDED."""
    task = tmp_path / "task"
    task.mkdir()
    (task / "approval.py").write_bytes((REPO / "examples" / "approval.py").read_bytes())

    first, second = await _run_in_clean_interpreter([task, layer / "python"], tmp_path)

    assert first["output"] == {"Status": "PENDING"}
    assert second["output"]["Status"] == "SUCCEEDED"
    assert json.loads(second["output"]["Result"]) == {"order_id": "o-1", "status": "shipped"}
    files = second["files"]
    assert Path(files["approval"]).parent == task
    for module in ("durable_async", "aiobotocore", "botocore", "aiohttp"):
        assert Path(files[module]).is_relative_to(layer / "python"), files


async def test_the_package_runs_the_handler_in_a_clean_interpreter(
    package: Path, tmp_path: Path
) -> None:
    """The deployment package alone (handler at its root) runs the execution to SUCCEEDED."""
    first, second = await _run_in_clean_interpreter([package], tmp_path)

    assert first["output"] == {"Status": "PENDING"}
    assert second["output"]["Status"] == "SUCCEEDED"
    assert all(Path(file).is_relative_to(package) for file in second["files"].values())


def test_the_zips_ship_the_botocore_aiobotocore_pins_and_no_clutter(
    layer: Path, package: Path
) -> None:
    """Both zips hold the botocore release aiobotocore requires; no console scripts or caches."""
    for root in (layer / "python", package):
        requires = _metadata(root, "aiobotocore").get_all("Requires-Dist") or []
        pin = next(r for r in requires if r.startswith("botocore"))
        version = _metadata(root, "botocore")["Version"]
        low, high = re.findall(r">=([\d.]+)", pin)[0], re.findall(r"<([\d.]+)", pin)[0]
        assert _parts(low) <= _parts(version) < _parts(high), (pin, version)
        assert not (root / "bin").exists()
        assert not list(root.rglob("__pycache__"))
    assert sorted(p.name for p in layer.iterdir()) == ["python"]
    assert (package / "approval.py").is_file()
    assert not (package / "python").exists()


def _metadata(root: Path, name: str) -> Any:
    import email

    info = next(root.glob(f"{name}-*.dist-info"))
    return email.message_from_string((info / "METADATA").read_text(encoding="utf-8"))


def _parts(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


class _CloudFormationLoader(yaml.SafeLoader):
    """Reads CloudFormation's short-form tags (!Ref, !Sub) as plain values."""


_CloudFormationLoader.add_multi_constructor(
    "!",
    lambda loader, suffix, node: loader.construct_scalar(node),  # type: ignore[arg-type]
)


def test_the_sam_template_matches_lambdas_model_and_the_make_targets() -> None:
    """DurableConfig fields, runtime, IAM actions are Lambda's; the handler and layer exist."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("lambda")
    template = yaml.load(  # a loader derived from SafeLoader
        (REPO / "examples" / "template.yaml").read_text(encoding="utf-8"), _CloudFormationLoader
    )
    function = template["Resources"]["ApprovalFunction"]["Properties"]
    layer = template["Resources"]["DurableAsyncLayer"]["Properties"]

    durable = model.shape_for("DurableConfig")
    assert set(function["DurableConfig"]) <= set(durable.members)
    assert 1 <= function["DurableConfig"]["ExecutionTimeout"] <= 31_622_400
    runtimes = model.shape_for("Runtime").enum
    assert function["Runtime"] in runtimes
    assert _parts(function["Runtime"].removeprefix("python")) >= (3, 11)
    assert layer["CompatibleRuntimes"] == [function["Runtime"]]
    statements = [s for p in function["Policies"] if isinstance(p, dict) for s in p["Statement"]]
    actions = {a for s in statements for a in s["Action"]}
    assert actions == {"lambda:CheckpointDurableExecution", "lambda:GetDurableExecutionState"}
    assert all(a.split(":")[1] in model.operation_names for a in actions)
    assert all(s["Resource"].endswith(":*") for s in statements)  # the executions, qualified
    module, attribute = function["Handler"].split(".")
    assert (REPO / "examples" / function["CodeUri"] / f"{module}.py").is_file()
    assert f"async def {attribute}(" in (REPO / "examples" / f"{module}.py").read_text()
    arch = function["Architectures"][0]
    assert layer["ContentUri"] == f"../dist/durable-async-layer-{arch}.zip"
    dry = subprocess.run(
        ["make", "-n", "layer", "package", f"LAMBDA_ARCH={arch}"],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert f"scripts/lambda_build.py layer --arch {arch}" in dry.stdout, dry.stderr
    assert "--python-version " + function["Runtime"].removeprefix("python") in dry.stdout
