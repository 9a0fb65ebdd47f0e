"""docs/serve.md's walkthrough, run command for command with the AWS CLI.

The AWS CLI (version 1, from PyPI) is installed once into ``.venv-awscli/`` at the repository's
root (git-ignored) and reused. The one change made to the documented commands is the port: a
free one instead of 8080, so the test never collides with a server already running there.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from serving import stop

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "serve.md"
AWSCLI_VENV = ROOT / ".venv-awscli"
AWSCLI = "awscli==1.46.3"
INSTALL_SECONDS = 600

pytestmark = pytest.mark.timeout(INSTALL_SECONDS + 120)


def walkthrough() -> tuple[str, list[str], list[str]]:
    """Return the serve command, the client command blocks, and the expected output blocks."""
    text = DOC.read_text()
    section = text.split("<!-- walkthrough -->", 1)[1].split("<!-- /walkthrough -->", 1)[0]
    blocks = re.findall(r"```(sh|text)\n(.*?)```", section, flags=re.DOTALL)
    commands = [body for kind, body in blocks if kind == "sh"]
    outputs = [body for kind, body in blocks if kind == "text"]
    return commands[0].strip(), commands[1:], outputs


def aws_cli() -> Path:
    """Return the `aws` of .venv-awscli, installing it first if needed; skip if pip cannot."""
    aws = AWSCLI_VENV / "bin" / "aws"
    if aws.exists():
        return aws
    try:
        subprocess.run(
            [sys.executable, "-m", "venv", "--clear", str(AWSCLI_VENV)],
            check=True,
            capture_output=True,
            timeout=120,
        )
        subprocess.run(
            [str(AWSCLI_VENV / "bin" / "python"), "-m", "pip", "install", "-q", AWSCLI],
            check=True,
            capture_output=True,
            timeout=INSTALL_SECONDS,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        shutil.rmtree(AWSCLI_VENV, ignore_errors=True)
        output = getattr(exc, "stderr", b"") or b""
        pytest.skip(f"the AWS CLI ({AWSCLI}) could not be installed from PyPI: {output[-500:]!r}")
    return aws


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_walkthrough_is_what_its_commands_do(tmp_path: Path) -> None:
    """The documented serve command and AWS CLI commands start, approve and show an execution,
    printing exactly the outputs the page shows."""
    serve_command, commands, outputs = walkthrough()
    assert serve_command.startswith("durable-async serve ")
    assert len(commands) == 4
    assert "aws lambda invoke" in commands[0]
    assert "send-durable-execution-callback-success" in commands[2]
    assert "get-durable-execution-history" in commands[3]
    aws = aws_cli()
    asyncio.run(_run_walkthrough(serve_command, commands, outputs, aws, tmp_path))


async def _run_walkthrough(
    serve_command: str, commands: list[str], outputs: list[str], aws: Path, workdir: Path
) -> None:
    port = str(free_port())
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        "PATH": os.pathsep.join([str(aws.parent), str(Path(sys.executable).parent)])
        + os.pathsep
        + os.environ.get("PATH", ""),
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    (workdir / "examples").mkdir()
    shutil.copy(ROOT / "examples" / "approval.py", workdir / "examples" / "approval.py")
    with (workdir / "serve.stderr").open("wb") as stderr:
        server = await asyncio.create_subprocess_exec(
            *shlex.split(serve_command.replace("8080", port)),
            cwd=workdir,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
        )
    try:
        assert server.stdout is not None
        async with asyncio.timeout(60):
            first = (await server.stdout.readline()).decode().strip()
        assert first == f"serving http://127.0.0.1:{port}", (workdir / "serve.stderr").read_text()
        script = "set -euo pipefail\n" + "\n".join(c.replace("8080", port) for c in commands)
        client = await asyncio.create_subprocess_exec(
            "bash", "-c", script, cwd=workdir, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        async with asyncio.timeout(120):
            out, err = await client.communicate()
    finally:
        await stop(server)

    assert client.returncode == 0, err.decode()
    printed = out.decode().splitlines()
    assert printed[0].startswith("arn:aws:lambda:us-east-1:123456789012:function:approval:")
    assert printed[0].split("/")[2] == "o-1"  # the execution's name
    assert printed[1:] == [line for block in outputs for line in block.splitlines()]
