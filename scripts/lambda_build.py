"""Build a Lambda deployment zip or a Lambda layer of durable_async for a target platform.

    python scripts/lambda_build.py layer   --arch x86_64 --python-version 3.13
    python scripts/lambda_build.py package --arch arm64 --handler examples/approval.py

``make layer`` and ``make package`` run this. Both install this repository's wheel and its
runtime dependencies with ``pip install --platform manylinux2014_<arch> --only-binary=:all:``,
so the binary wheels (aiohttp and its helpers) are the target's, whatever machine builds.

* ``layer`` writes ``dist/durable-async-layer-<arch>.zip`` with everything under ``python/``,
  where Lambda puts it on ``sys.path`` (``/opt/python``).
* ``package`` writes ``dist/function-<arch>.zip``: the handler files at the root and the
  dependencies beside them, a deployment package that needs no layer.

aiobotocore pins botocore to the release it was built against, so the zip ships that botocore
(and its data) instead of using the one in the Lambda runtime; code in ``/var/task`` and
``/opt/python`` comes first on ``sys.path``, so it is the one imported. The zips are
reproducible: entries are sorted and dated 1980-01-01.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PLATFORMS = {"x86_64": "manylinux2014_x86_64", "arm64": "manylinux2014_aarch64"}
_EPOCH = (1980, 1, 1, 0, 0, 0)
# Installed by pip next to the packages, useless on Lambda: console scripts and caches.
_DROP = ("bin", "__pycache__")


def build_wheel(out: Path) -> Path:
    """Build this repository's wheel into ``out`` and return its path."""
    out.mkdir(parents=True, exist_ok=True)
    _pip("wheel", "--no-deps", "--wheel-dir", str(out), str(REPO))
    wheels = sorted(out.glob("durable_async-*.whl"), key=lambda p: p.stat().st_mtime)
    if not wheels:
        raise SystemExit(f"lambda_build: pip wheel wrote no durable_async wheel into {out}")
    return wheels[-1]


def install(wheel: Path, target: Path, arch: str, python_version: str) -> None:
    """Install ``wheel`` and its dependencies for Lambda's ``arch`` and Python into ``target``."""
    _pip(
        "install", "--quiet", "--no-compile", "--upgrade",
        "--target", str(target),
        "--platform", PLATFORMS[arch],
        "--implementation", "cp",
        "--python-version", python_version,
        "--only-binary=:all:",
        str(wheel),
    )  # fmt: skip
    for name in _DROP:
        for path in sorted(target.rglob(name), reverse=True):
            shutil.rmtree(path, ignore_errors=True)


def write_zip(root: Path, out: Path) -> int:
    """Zip the tree under ``root`` into ``out`` reproducibly; return the number of files."""
    out.parent.mkdir(parents=True, exist_ok=True)
    files = sorted(p for p in root.rglob("*") if p.is_file())
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(root).as_posix(), date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            mode = 0o755 if os.access(path, os.X_OK) else 0o644
            info.external_attr = (0o100000 | mode) << 16
            archive.writestr(info, path.read_bytes())
    return len(files)


def _pip(*args: str) -> None:
    command = [sys.executable, "-m", "pip", *args]
    completed = subprocess.run(command, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"lambda_build: {' '.join(command)} failed ({completed.returncode})")


def main(argv: list[str] | None = None) -> int:
    """Build what the command line asks for."""
    args = _parser().parse_args(argv)
    out = Path(args.out) if args.out else REPO / "dist" / _default_name(args.what, args.arch)
    with tempfile.TemporaryDirectory(prefix="lambda-build-") as scratch:
        work = Path(scratch)
        wheel = Path(args.wheel) if args.wheel else build_wheel(work / "wheel")
        root = work / "root"
        target = root / "python" if args.what == "layer" else root
        install(wheel, target, args.arch, args.python_version)
        handlers = args.handler or [str(REPO / "examples" / "approval.py")]
        for handler in handlers if args.what == "package" else []:
            shutil.copy2(handler, root / Path(handler).name)
        count = write_zip(root, out)
    size = out.stat().st_size / 1_000_000
    print(f"{out}: {count} files, {size:.1f} MB ({args.arch}, Python {args.python_version})")
    return 0


def _default_name(what: str, arch: str) -> str:
    return f"durable-async-layer-{arch}.zip" if what == "layer" else f"function-{arch}.zip"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=["layer", "package"])
    parser.add_argument("--arch", choices=sorted(PLATFORMS), default="x86_64")
    parser.add_argument("--python-version", default="3.13", help="Lambda's Python, e.g. 3.13")
    parser.add_argument(
        "--handler",
        action="append",
        default=[],
        metavar="FILE.py",
        help="a handler file for the package's root (repeatable; default examples/approval.py)",
    )
    parser.add_argument("--wheel", help="install this durable_async wheel instead of building one")
    parser.add_argument("--out", help="the zip to write (default: dist/...)")
    return parser


if __name__ == "__main__":
    raise SystemExit(main())
