"""``durable-async run`` and ``show`` on a real terminal (a pseudo-terminal): rich tables.

stderr is the terminal, stdout a pipe, as in ``durable-async run ... > result.json``: the live
table is drawn on the terminal and only the result reaches the pipe.
"""

from __future__ import annotations

import fcntl
import json
import os
import struct
import subprocess
import sys
import termios
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

ENTRY_POINT = str(Path(sys.executable).parent / "durable-async")
REPO = Path(__file__).resolve().parents[1]
ORDERS = str(REPO / "examples" / "orders.py") + ":handler"
ORDER = '{"order_id": "o-1", "cents": 500}'
TIMEOUT = 60.0
ROWS, COLUMNS = 40, 160


@dataclass
class Screen:
    """What a command wrote to the terminal and to its stdout pipe."""

    code: int
    terminal: str
    stdout: str


def on_terminal(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, *, all_to_tty: bool = False
) -> Screen:
    """Run ``durable-async *args`` with stderr (and stdout too with ``all_to_tty``) on a pty."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every writer closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    # The terminal's size and kind, whatever the environment pytest runs in says.
    env = {**(env or os.environ), "COLUMNS": str(COLUMNS), "LINES": str(ROWS), "TERM": "xterm"}
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    with subprocess.Popen(
        [ENTRY_POINT, *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=slave if all_to_tty else subprocess.PIPE,
        stderr=slave,
    ) as process:
        os.close(slave)
        try:
            out, _ = process.communicate(timeout=TIMEOUT)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    reader.join(TIMEOUT)
    os.close(master)
    text = b"".join(chunks).decode(errors="replace")
    return Screen(process.returncode, text, (out or b"").decode())


@pytest.fixture
def without_rich(tmp_path: Path) -> dict[str, str]:
    """An environment where ``import rich`` fails, as when the [cli] extra is not installed."""
    shadow = tmp_path / "no-rich" / "rich"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('rich is not installed here')\n")
    return {**os.environ, "PYTHONPATH": str(shadow.parent)}


def test_run_on_a_terminal_draws_a_live_table_and_keeps_stdout_for_the_result(
    tmp_path: Path,
) -> None:
    """On a terminal, run redraws a coloured table of operations; stdout holds only the JSON."""
    db = str(tmp_path / "durable.sqlite3")
    screen = on_terminal(
        ["run", ORDERS, "--input", ORDER, "--skip-time", "--name", "o-1", "--store", db], tmp_path
    )

    assert screen.code == 0, screen.terminal
    assert json.loads(screen.stdout)["label"] == "label-o-1"
    assert "\x1b[" in screen.terminal  # drawn with escape sequences: colours, cursor moves
    for word in ("OPERATION", "TYPE", "STATUS", "reserve", "cool-off", "ship", "SUCCEEDED"):
        assert word in screen.terminal
    assert "invocation         ended" not in screen.terminal  # no plain lines
    assert screen.terminal.rstrip().endswith(": SUCCEEDED")


def test_without_rich_a_terminal_gets_plain_lines(
    tmp_path: Path, without_rich: dict[str, str]
) -> None:
    """Without rich installed, run on a terminal prints the plain event lines and still works."""
    db = str(tmp_path / "durable.sqlite3")
    args = ["run", ORDERS, "--input", ORDER, "--skip-time", "--store", db]

    screen = on_terminal(args, tmp_path, without_rich)

    assert screen.code == 0, screen.terminal
    assert "OPERATION" not in screen.terminal
    lines = [line.split() for line in screen.terminal.splitlines()]
    assert ["step", "succeeded", "ship"] in [line[1:4] for line in lines]
    forced = on_terminal([*args, "--progress", "table"], tmp_path, without_rich)
    assert forced.code == 0, forced.terminal
    assert "--progress table needs rich: pip install 'durable-async[cli]'" in forced.terminal


def test_show_on_a_terminal_colours_the_tree(tmp_path: Path) -> None:
    """`show` on a terminal prints the same tree as a rich table, statuses coloured."""
    db = str(tmp_path / "durable.sqlite3")
    ran = subprocess.run(
        [ENTRY_POINT, "run", ORDERS, "--input", ORDER, "--skip-time", "--name", "o-1",
         "--store", db],
        cwd=tmp_path, capture_output=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr

    screen = on_terminal(["show", "o-1", "--store", db], tmp_path, all_to_tty=True)

    assert screen.code == 0, screen.terminal
    assert "\x1b[32mSUCCEEDED" in screen.terminal  # green
    assert "cool-off" in screen.terminal
    assert '{"order_id": "o-1", "shipped": true}' in screen.terminal
