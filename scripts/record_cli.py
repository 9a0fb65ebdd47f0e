"""Record ``durable-async run`` and ``show`` on a pseudo-terminal for docs/cli.md.

    .venv/bin/python scripts/record_cli.py            # writes docs/assets/cli-*.svg and .cast

Both commands run for real in a scratch folder (``examples/everything.py`` copied there, the
default store), on a terminal of 120 columns, as a user would type them. What they write is
kept three ways:

* ``docs/assets/cli-run.cast``: the whole ``run`` session with its timing, an asciinema v2
  recording (``asciinema play docs/assets/cli-run.cast`` replays the live table);
* ``docs/assets/cli-run.svg``: frames of ``run``'s live table at chosen moments, then its end;
* ``docs/assets/cli-show.svg``: ``show`` of the finished execution.

The SVGs are drawn by rich (``Console(record=True).save_svg``) from the terminal's own output,
with rich's web-font links left out so the docs need no network.
"""

from __future__ import annotations

import bisect
import fcntl
import json
import os
import re
import shlex
import shutil
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich._export_format import CONSOLE_SVG_FORMAT
from rich.console import Console
from rich.text import Text

REPO = Path(__file__).resolve().parents[1]
ASSETS = REPO / "docs" / "assets"
ENTRY_POINT = str(Path(sys.executable).parent / "durable-async")
COLUMNS, ROWS = 120, 50
RUN = [
    "run", "examples/everything.py:handler",
    "--function", "pricing-fn=examples/everything.py:pricing",
    "--input", '{"id": "o-1", "lines": [1, 2, 3]}', "--name", "o-1",
]  # fmt: skip
SHOW = ["show", "o-1"]
# The moments of run's live table shown in the SVG, in seconds after it was first drawn.
MOMENTS = (0.5, 2.6)
# Rich's Live redraws in place: back to the first column, then up and erase line by line.
_REDRAW = re.compile(r"\r\x1b\[2K(?:\x1b\[1A\x1b\[2K)*")
_CURSOR = re.compile(r"\x1b\[\?25[lh]")
_FONT_FACES = re.compile(r"\s*@font-face \{\{.*?\}\}", re.DOTALL)


@dataclass
class Session:
    """What a command wrote to the terminal, each chunk with its time since the start."""

    chunks: list[tuple[float, str]] = field(default_factory=list)
    code: int = 0

    def text(self) -> str:
        return "".join(chunk for _, chunk in self.chunks)

    def time_at(self, offset: int) -> float:
        """Return when the character at ``offset`` of :meth:`text` was written."""
        ends, total = [], 0
        for _, chunk in self.chunks:
            total += len(chunk)
            ends.append(total)
        index = min(bisect.bisect_right(ends, offset), len(self.chunks) - 1)
        return self.chunks[index][0]


def record(args: list[str], cwd: Path) -> Session:
    """Run ``durable-async *args`` with stdout and stderr on a pseudo-terminal."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    session = Session()
    start = time.monotonic()

    def read() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            session.chunks.append((time.monotonic() - start, data.decode(errors="replace")))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    env = {**os.environ, "COLUMNS": str(COLUMNS), "LINES": str(ROWS), "TERM": "xterm-256color"}
    with subprocess.Popen(
        [ENTRY_POINT, *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave
    ) as process:
        os.close(slave)
        session.code = process.wait(timeout=120)
    reader.join(30)
    os.close(master)
    return session


def frames(session: Session) -> tuple[str, list[tuple[float, str]], str]:
    """Split run's output into what precedes the table, its frames with times, what follows."""
    text = _CURSOR.sub("", session.text().replace("\r\n", "\n"))
    marks = list(_REDRAW.finditer(text))
    head_end = text.find("\x1b[")  # the first frame starts with the first style
    before = text[:head_end]
    drawn: list[tuple[float, str]] = []
    starts = [head_end] + [m.end() for m in marks]
    stops = [m.start() for m in marks] + [len(text)]
    for begin, stop in zip(starts, stops, strict=True):
        drawn.append((session.time_at(stop), text[begin:stop]))
    last_time, last = drawn[-1]
    frame, _, after = last.partition("\n" + _status_line(last))
    drawn[-1] = (last_time, frame)
    return before, drawn, _status_line(last) + after


def _status_line(text: str) -> str:
    found = re.search(r"arn:aws:lambda:[^\n]*: SUCCEEDED", text)
    return found.group(0) if found else ""


def prompt(args: list[str]) -> Text:
    """Return the command as typed at a shell prompt."""
    return Text.assemble(("$ ", "bold green"), ("durable-async " + shlex.join(args), "bold"))


def save_svg(parts: list[Text], title: str, path: Path) -> None:
    """Draw ``parts`` on a recording console and save them as an SVG without web fonts."""
    console = Console(record=True, width=COLUMNS, file=open(os.devnull, "w"), force_terminal=True)  # noqa: SIM115
    for part in parts:
        console.print(part, crop=False, soft_wrap=False)
    console.save_svg(str(path), title=title, code_format=_FONT_FACES.sub("", CONSOLE_SVG_FORMAT))
    console.file.close()


def write_cast(session: Session, args: list[str], path: Path) -> None:
    """Write ``session`` as an asciinema v2 recording, the command echoed first."""
    header = {"version": 2, "width": COLUMNS, "height": ROWS, "env": {"TERM": "xterm-256color"}}
    lines = [json.dumps(header)]
    lines.append(json.dumps([0.0, "o", "$ durable-async " + shlex.join(args) + "\r\n"]))
    lines += [json.dumps([round(t, 3), "o", chunk]) for t, chunk in session.chunks]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> int:
    """Record both commands and write the assets."""
    ASSETS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="record-cli-") as scratch:
        folder = Path(scratch)
        (folder / "examples").mkdir()
        shutil.copy2(REPO / "examples" / "everything.py", folder / "examples" / "everything.py")
        ran = record(RUN, folder)
        if ran.code != 0:
            raise SystemExit(f"record_cli: run exited {ran.code}:\n{ran.text()}")
        shown = record(SHOW, folder)
        if shown.code != 0:
            raise SystemExit(f"record_cli: show exited {shown.code}:\n{shown.text()}")
    write_cast(ran, RUN, ASSETS / "cli-run.cast")
    before, drawn, after = frames(ran)
    parts = [prompt(RUN), Text.from_ansi(before.rstrip("\n"))]
    first = drawn[0][0]  # the clock starts with the table, not with the interpreter
    for moment in MOMENTS:
        at, frame = min(drawn, key=lambda item: abs(item[0] - first - moment))
        label = f"── the live table {at - first:.1f} s in ──"
        parts += [Text(label, style="dim"), Text.from_ansi(frame)]
    parts += [Text(f"── at the end, {drawn[-1][0] - first:.1f} s in ──", style="dim")]
    parts += [Text.from_ansi(drawn[-1][1]), Text.from_ansi(after.rstrip())]
    save_svg(parts, "durable-async run", ASSETS / "cli-run.svg")
    show_text = shown.text().replace("\r\n", "\n").rstrip()
    save_svg(
        [prompt(SHOW), Text.from_ansi(show_text)], "durable-async show", ASSETS / "cli-show.svg"
    )
    for name in ("cli-run.cast", "cli-run.svg", "cli-show.svg"):
        print(f"{ASSETS / name}: {(ASSETS / name).stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
