"""Every Python example in docs/*.md and README.md passes ``mypy --strict``.

How a page's examples are checked:

- A page's ```python blocks form one generated module, in page order. Each block is the body of
  an ``async def`` nested inside the previous block's, so a block sees what earlier blocks of its
  page defined (fragments continue the page's story), may define a name again (pages show
  several handlers), and may ``await`` at its top level (fragments are the inside of a handler).
- A block whose first line is ``# NAME.py`` is also checked on its own as the module ``NAME``,
  so other blocks can ``from NAME import ...`` as the docs tell readers to.
- Names a page uses but never defines (``ctx`` and ``event`` inside a handler, the reader's own
  helpers) come from that page's entry in ``PRELUDES``: few, explicit, each with its reason.
  Preludes reach the package only as ``_da``, so they never import a name for the examples.
- A block may opt out with ``<!-- not-checked: REASON -->`` as the last line before its fence;
  ``test_opt_outs_are_few_and_say_why`` lists them.
- A ``...`` body stands for the reader's code, so mypy's ``empty-body`` error is off; aiobotocore
  ships no types (readers add types-aiobotocore or an override), so it is left untyped.
- A correct example that fails only because of a typing bug in durable_async is listed in
  ``PACKAGE_TYPING_BUGS``, until the package is fixed.

mypy runs once over all generated modules; its errors are reported as ``page.md:line``.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_INSIDE_A_HANDLER = """
# The fragments are the inside of a handler: its context and its event.
ctx: _da.DurableContext
event: dict[str, _Any]
"""
_PAYMENTS = """
# The reader's payment client, which the examples call without showing it.
class _Payments:
    def charge(self, order_id: str) -> str: ...
    def status(self, payment_id: str) -> str: ...
payments: _Payments
"""
# Names a page uses without defining them. Keep these few: prefer making an example whole.
PRELUDES: dict[str, str] = {
    "docs/concepts.md": _INSIDE_A_HANDLER
    + """
# The fragments after the first example price `skus` and charge an order with a `charge` step
# like the overview page's.
skus: list[str]
order_id: str
cents: int
def charge(order_id: str, cents: int) -> _Callable[[_da.StepContext], dict[str, _Any]]: ...
""",
    "docs/local-service.md": """
# The HTTP fragment serves the service and runner that the first example opens.
service: _local.LocalDurableService
runner: _local.LocalRunner
""",
    "docs/migration.md": _PAYMENTS,
    "docs/operations.md": _INSIDE_A_HANDLER
    + _PAYMENTS
    + """
# The reader's own branches, steps and e-mail helpers, which the examples name as theirs.
ask_a: _Callable[[_da.DurableContext], _Awaitable[bool]]
ask_b: _Callable[[_da.DurableContext], _Awaitable[bool]]
ask_c: _Callable[[_da.DurableContext], _Awaitable[bool]]
order: str
def place_hold(order: str) -> _Callable[[_da.StepContext], str]: ...
def confirm(hold: str) -> _Callable[[_da.StepContext], None]: ...
def email_manager(callback_id: str) -> None: ...
async def send_approval_email(manager: str, callback_id: str) -> None: ...
""",
}
_PRELUDE_IMPORTS = """\
from collections.abc import Awaitable as _Awaitable, Callable as _Callable
from typing import Any as _Any
import durable_async as _da
import durable_async.service.local as _local
"""


@dataclass(frozen=True)
class PackageTypingBug:
    """Errors a correct example gets from a typing bug in durable_async, tolerated on one page.

    The test fails once none of the errors is reported any more, so the entry goes when the
    package is fixed.
    """

    page: str
    messages: tuple[str, ...]  # regexes, each of which must match an error on the page
    why: str


PACKAGE_TYPING_BUGS = [
    PackageTypingBug(
        "docs/operations.md",
        (
            r'Argument 1 to "parallel" of "DurableContext" has incompatible type "list\[object\]"',
            r'Need type annotation for "quotes"',
        ),
        "DurableContext.parallel rejects a list that mixes ParallelBranch(...) with plain branch "
        "functions (a lambda or an async def): mypy joins the items to object.",
    ),
]

_MYPY_CONFIG = """\
[mypy]
strict = True
python_version = 3.11
show_error_codes = True
# A `...` body stands for the reader's code.
disable_error_code = empty-body
# local-service.md runs the handler of examples/orders.py.
mypy_path = {examples}

# aiobotocore ships no types; readers add types-aiobotocore or an override like this one.
[mypy-aiobotocore.*,botocore.*]
ignore_missing_imports = True
"""

_OPT_OUT = re.compile(r"^\s*<!--\s*not-checked:(?P<reason>.*?)-->\s*$")
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)")
_PYTHON = {"python", "py", "python3"}
_MODULE_NAME = re.compile(r"^#\s*(?P<name>[A-Za-z_]\w*)\.py\s*$")
_MYPY_ERROR = re.compile(r"^(?P<file>[^:]+\.py):(?P<line>\d+): error: (?P<message>.*)$")


def _shown(page: Path) -> str:
    return str(page.relative_to(ROOT)) if page.is_relative_to(ROOT) else page.name


@dataclass
class Block:
    """One ```python block: its page, its fence's line (1-based), its code, its opt-out reason."""

    page: Path
    line: int
    code: list[str]
    opt_out: str | None = None

    @property
    def where(self) -> str:
        return f"{_shown(self.page)}:{self.line}"


@dataclass
class Module:
    """A generated module and, for each of its lines, the markdown line it came from."""

    name: str
    lines: list[str] = field(default_factory=list)
    origin: list[str] = field(default_factory=list)

    def add(self, line: str, origin: str) -> None:
        self.lines.append(line)
        self.origin.append(origin)


def python_blocks(page: Path) -> list[Block]:
    """Return the ```python blocks of ``page``, with the opt-out reason of each marked one."""
    lines = page.read_text().splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        end = index + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            end += 1
        if opening["info"].lower() in _PYTHON:
            code = [line.removeprefix(indent) for line in lines[index + 1 : end]]
            before = next((line for line in reversed(lines[:index]) if line.strip()), "")
            reason = marker["reason"].strip() if (marker := _OPT_OUT.match(before)) else None
            blocks.append(Block(page, index + 1, code, reason))
        index = end + 1
    return blocks


def page_module(page: Path, blocks: list[Block], prelude: str = "") -> Module:
    """Nest each block of ``page`` in an ``async def`` inside the previous block's."""
    module = Module("docs_page_" + re.sub(r"\W", "_", page.stem).lower())
    for line in (_PRELUDE_IMPORTS + textwrap.dedent(prelude)).splitlines():
        module.add(line, f"{_shown(page)}: prelude")
    for depth, block in enumerate(blocks):
        indent = "    " * depth
        module.add(f"{indent}async def _block_{block.line}() -> None:", block.where)
        for number, line in enumerate(block.code, start=block.line + 1):
            module.add(f"{indent}    {line}" if line.strip() else "", f"{_shown(page)}:{number}")
        module.add(f"{indent}    pass", block.where)  # a block of comments only is a body too
    return module


def named_module(block: Block) -> Module | None:
    """Return the block as the module ``NAME`` when its first line is ``# NAME.py``."""
    match = _MODULE_NAME.match(block.code[0]) if block.code else None
    if match is None:
        return None
    module = Module(match["name"])
    for number, line in enumerate(block.code, start=block.line + 1):
        module.add(line, f"{_shown(block.page)}:{number}")
    return module


def modules_of(pages: list[Path]) -> list[Module]:
    """Return the modules to check: one per page with checked blocks, and the named blocks."""
    modules: list[Module] = []
    for page in pages:
        checked = [block for block in python_blocks(page) if block.opt_out is None]
        if checked:
            modules.append(page_module(page, checked, PRELUDES.get(_shown(page), "")))
            modules.extend(m for block in checked if (m := named_module(block)) is not None)
    names = [module.name for module in modules]
    assert len(names) == len(set(names)), f"two blocks claim one module name: {names}"
    return modules


def run_mypy(modules: list[Module], directory: Path) -> list[str]:
    """Run mypy once over ``modules`` written to ``directory``; return errors as ``page:line``."""
    by_file: dict[str, Module] = {}
    for module in modules:
        (directory / f"{module.name}.py").write_text("\n".join(module.lines) + "\n")
        by_file[f"{module.name}.py"] = module
    (directory / "mypy.ini").write_text(_MYPY_CONFIG.format(examples=ROOT / "examples"))
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            "mypy.ini",
            "--no-error-summary",
            "--cache-dir",
            str(ROOT / ".mypy_cache"),
            *by_file,
        ],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=300,
    )
    errors: list[str] = []
    for output in completed.stdout.splitlines():
        if (match := _MYPY_ERROR.match(output)) is None:
            continue
        generated, line = by_file.get(match["file"]), int(match["line"])
        where = generated.origin[line - 1] if generated else f"{match['file']}:{line}"
        if (error := f"{where}: {match['message']}") not in errors:
            errors.append(error)  # a named block is checked twice; report it once
    if completed.returncode != 0 and not errors:
        errors.append(f"mypy failed: {completed.stdout}{completed.stderr}")
    return errors


def _explained(error: str, bug: PackageTypingBug, message: str) -> bool:
    return error.startswith(bug.page + ":") and re.search(message, error) is not None


def test_every_docs_example_passes_mypy_strict(tmp_path: Path) -> None:
    """mypy --strict finds no error in any checked ```python block of the docs or the README."""
    modules = modules_of(PAGES)
    assert len(modules) >= 10, "the docs lost their examples, or the extraction broke"
    errors = run_mypy(modules, tmp_path)
    known = [(bug, message) for bug in PACKAGE_TYPING_BUGS for message in bug.messages]
    unexpected = [e for e in errors if not any(_explained(e, bug, m) for bug, m in known)]
    assert not unexpected, "\n".join(unexpected)
    fixed = [f"{b.page}: {m}" for b, m in known if not any(_explained(e, b, m) for e in errors)]
    assert not fixed, "No longer reported; remove from PACKAGE_TYPING_BUGS:\n" + "\n".join(fixed)


def test_opt_outs_are_few_and_say_why() -> None:
    """Every block marked not-checked gives a reason, and at most three blocks are marked."""
    marked = [block for page in PAGES for block in python_blocks(page) if block.opt_out is not None]
    listing = "\n".join(f"{block.where}: {block.opt_out}" for block in marked)
    assert all(block.opt_out for block in marked), f"an opt-out without a reason:\n{listing}"
    assert len(marked) <= 3, f"too many examples opted out:\n{listing}"


BROKEN_PAGE = """\
# A page

```python
from durable_async import DurableContext, durable_execution


@durable_execution
async def handler(event: dict[str, int], ctx: DurableContext) -> int:
    return event["n"]
```

```sh
not python
```

<!-- not-checked: shows a mistake on purpose -->
```python
answer: int = "forty-two"
```

- In a list:

  ```python
  await ctx.wait(5, name="pause")  # a Duration, not seconds
  ```
"""


def test_a_broken_example_is_reported_at_its_markdown_line(tmp_path: Path) -> None:
    """An error in an indented fragment is reported at its page's line; opted-out blocks are not."""
    page = tmp_path / "broken.md"
    page.write_text(BROKEN_PAGE)
    blocks = python_blocks(page)
    assert [(block.line, block.opt_out) for block in blocks] == [
        (3, None),
        (17, "shows a mistake on purpose"),
        (23, None),
    ]
    modules = [page_module(page, [blocks[0], blocks[2]], "ctx: _da.DurableContext")]
    checked = tmp_path / "checked"
    checked.mkdir()
    errors = run_mypy(modules, checked)
    assert len(errors) == 1, errors
    assert errors[0].startswith('broken.md:24: Argument 1 to "wait" of "DurableContext"'), errors
