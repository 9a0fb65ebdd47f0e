"""Port a handler written for the reference SDK to durable_async, keeping its layout and comments.

The codemod renames the package in imports, makes every function that runs durable code an
``async def`` (the handler, child-context functions, map and parallel branch functions, helpers
that call them) and puts ``await`` on every durable call. Step bodies, wait-for-callback
submitters and wait-for-condition checks stay sync: durable_async runs them in worker threads.
A lambda whose body is a durable call stays as it is (durable_async awaits what it returns);
anything it cannot port safely is reported with its line and what to do by hand.

Needs libcst: ``pip install 'durable-async[port]'``.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

__all__ = ["PortResult", "Problem", "port_files", "port_source"]

REFERENCE = "aws_durable_execution_sdk_python"
TARGET = "durable_async"
# Durable methods of DurableContext: each returns an awaitable in durable_async.
DURABLE_METHODS = frozenset(
    {
        "step",
        "wait",
        "invoke",
        "map",
        "parallel",
        "run_in_child_context",
        "wait_for_callback",
        "create_callback",
        "wait_for_condition",
    }
)
DURABLE_FUNCTIONS = frozenset({"with_retry"})
# Decorators whose function runs durable code with a DurableContext at this parameter index.
CONTEXT_DECORATORS = {
    "durable_execution": 1,
    "durable_with_child_context": 0,
    "durable_parallel_branch": 0,
}
# Decorators (and first-parameter types) of bodies that stay sync: they run in worker threads.
SYNC_DECORATORS = frozenset({"durable_step", "durable_wait_for_callback"})
SYNC_CONTEXTS = frozenset({"StepContext", "WaitForCallbackContext", "WaitForConditionCheckContext"})
# Where the callable that receives a child DurableContext sits: (positional index, keyword).
CALLABLE_ARGS = {
    "map": (1, "func"),
    "run_in_child_context": (0, "func"),
    "with_retry": (1, "func"),
}
# Where the body that runs in a worker thread sits: it stays sync.
SYNC_CALLABLE_ARGS = {
    "step": (0, "func"),
    "wait_for_callback": (0, "submitter"),
    "wait_for_condition": (0, "check"),
}
_MAX_PASSES = 10


@dataclass(frozen=True, slots=True)
class Problem:
    """A place the codemod could not port; ``message`` says what to do by hand."""

    line: int
    message: str


@dataclass(frozen=True, slots=True)
class PortResult:
    """The ported source and the places left for a person to port."""

    code: str
    problems: list[Problem] = field(default_factory=list)


def port_source(source: str) -> PortResult:
    """Port one module's source text; raise ``libcst.ParserSyntaxError`` if it does not parse."""
    wrapper = MetadataWrapper(cst.parse_module(source))
    analysis = _analyse(wrapper)
    module = wrapper.visit(_Rewriter(analysis))
    problems = sorted(set(analysis.problems), key=lambda p: (p.line, p.message))
    return PortResult(module.code, problems)


@dataclass
class _Analysis:
    """What the rewrite needs to know, found by reading the original tree."""

    context_callables: set[cst.CSTNode] = field(default_factory=set)  # get a DurableContext
    callable_names: set[str] = field(default_factory=set)  # named functions passed as such
    sync_callables: set[cst.CSTNode] = field(default_factory=set)  # step bodies and the like
    sync_names: set[str] = field(default_factory=set)
    async_functions: set[cst.FunctionDef] = field(default_factory=set)
    async_names: set[str] = field(default_factory=set)  # plain functions that become async
    to_await: set[cst.Call] = field(default_factory=set)
    problems: list[Problem] = field(default_factory=list)

    def fingerprint(self) -> tuple[int, ...]:
        return (
            len(self.context_callables),
            len(self.callable_names),
            len(self.sync_names),
            len(self.async_functions),
        )


def _analyse(wrapper: MetadataWrapper) -> _Analysis:
    """Read the tree until what is async and what gets a DurableContext stops changing."""
    analysis = _Analysis()
    for _ in range(_MAX_PASSES):
        before = analysis.fingerprint()
        analysis.to_await.clear()
        analysis.problems.clear()
        wrapper.visit(_Analyser(analysis))
        if analysis.fingerprint() == before:
            break
    return analysis


@dataclass
class _Frame:
    """One function or lambda being read: its context names and what it must become."""

    node: cst.CSTNode | None  # None for the module
    contexts: set[str]
    callbacks: set[str] = field(default_factory=set)
    awaits: bool = False
    stays_sync: bool = False
    generators: int = 0  # depth of generator expressions, where await would change meaning


class _Analyser(cst.CSTVisitor):
    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, analysis: _Analysis) -> None:
        super().__init__()
        self.a = analysis
        self.frames = [_Frame(None, set())]
        self.awaited: set[cst.CSTNode] = set()

    @property
    def frame(self) -> _Frame:
        return self.frames[-1]

    def _problem(self, node: cst.CSTNode, message: str) -> None:
        line = self.get_metadata(PositionProvider, node).start.line
        self.a.problems.append(Problem(line, message))

    # -- imports ----------------------------------------------------------------------------

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if node.module is not None and _dotted(node.module).startswith(f"{REFERENCE}_testing"):
            self._testing_import(node)

    def visit_Import(self, node: cst.Import) -> None:
        if any(_dotted(alias.name).startswith(f"{REFERENCE}_testing") for alias in node.names):
            self._testing_import(node)

    def _testing_import(self, node: cst.CSTNode) -> None:
        self._problem(
            node,
            "imports the reference testing package; drive the handler with "
            "durable_async.testing.DurableTestRunner instead (async with, await runner.run).",
        )

    # -- scopes -----------------------------------------------------------------------------

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        params = _param_names(node.params)
        contexts = (self.frame.contexts - set(params)) | self._context_params(node, params)
        stays_sync = _stays_sync(node) or node.name.value in self.a.sync_names
        self.frames.append(_Frame(node, contexts, stays_sync=stays_sync))

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        frame = self.frames.pop()
        if frame.stays_sync:
            return
        decorators = _decorator_names(original_node)
        runs_durable = bool(frame.contexts - self.frame.contexts) or bool(
            decorators & CONTEXT_DECORATORS.keys()
        )
        if frame.awaits or runs_durable or original_node.asynchronous is not None:
            self.a.async_functions.add(original_node)
            if not decorators & (CONTEXT_DECORATORS.keys() | SYNC_DECORATORS):
                self.a.async_names.add(original_node.name.value)

    def _context_params(self, node: cst.FunctionDef, params: list[str]) -> set[str]:
        found = {p.name.value for p in _all_params(node.params) if _is_context_type(p)}
        for decorator in _decorator_names(node) & CONTEXT_DECORATORS.keys():
            index = CONTEXT_DECORATORS[decorator]
            found.update(params[index : index + 1])
        if node in self.a.context_callables or node.name.value in self.a.callable_names:
            found.update(params[:1])
        return found

    def visit_Lambda(self, node: cst.Lambda) -> None:
        params = _param_names(node.params)
        contexts = self.frame.contexts - set(params)
        if node in self.a.context_callables:
            contexts |= set(params[:1])
        self.frames.append(_Frame(node, contexts, stays_sync=True))

    def leave_Lambda(self, original_node: cst.Lambda) -> None:
        self.frames.pop()

    def visit_GeneratorExp(self, node: cst.GeneratorExp) -> None:
        self.frame.generators += 1

    def leave_GeneratorExp(self, original_node: cst.GeneratorExp) -> None:
        self.frame.generators -= 1

    def visit_Await(self, node: cst.Await) -> None:
        self.awaited.add(node.expression)

    # -- calls ------------------------------------------------------------------------------

    def visit_Assign(self, node: cst.Assign) -> None:
        if self._is_create_callback(node.value):
            for target in node.targets:
                if isinstance(target.target, cst.Name):
                    self.frame.callbacks.add(target.target.value)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if isinstance(node.target, cst.Name) and self._is_create_callback(node.value):
            self.frame.callbacks.add(node.target.value)

    def _is_create_callback(self, value: cst.BaseExpression | None) -> bool:
        if isinstance(value, cst.Await):
            value = value.expression
        return self._durable_method(value) == "create_callback"

    def visit_Call(self, node: cst.Call) -> None:
        method = self._durable_method(node)
        if method is not None:
            self._mark_callables(node, method)
            self._needs_await(node)
        elif self._is_callback_result(node) or self._calls_async_function(node):
            self._needs_await(node)

    def _durable_method(self, node: cst.BaseExpression | None) -> str | None:
        if not isinstance(node, cst.Call):
            return None
        func = node.func
        if isinstance(func, cst.Name) and func.value in DURABLE_FUNCTIONS:
            return func.value
        if (
            isinstance(func, cst.Attribute)
            and func.attr.value in DURABLE_METHODS
            and isinstance(func.value, cst.Name)
            and func.value.value in self.frame.contexts
        ):
            return func.attr.value
        return None

    def _is_callback_result(self, node: cst.Call) -> bool:
        func = node.func
        if not (isinstance(func, cst.Attribute) and func.attr.value == "result"):
            return False
        target = func.value.expression if isinstance(func.value, cst.Await) else func.value
        if isinstance(target, cst.Name):
            return any(target.value in frame.callbacks for frame in self.frames)
        return self._durable_method(target) == "create_callback"

    def _calls_async_function(self, node: cst.Call) -> bool:
        return isinstance(node.func, cst.Name) and node.func.value in self.a.async_names

    def _mark_callables(self, node: cst.Call, method: str) -> None:
        if method == "parallel":
            functions = _argument(node.args, 0, "functions")
            if isinstance(functions, cst.List | cst.Tuple):
                for element in functions.elements:
                    self._mark_callable(_branch_function(element.value))
            return
        if method in CALLABLE_ARGS:
            self._mark_callable(_argument(node.args, *CALLABLE_ARGS[method]))
        if method in SYNC_CALLABLE_ARGS:
            self._mark_callable(_argument(node.args, *SYNC_CALLABLE_ARGS[method]), sync=True)

    def _mark_callable(self, node: cst.BaseExpression | None, *, sync: bool = False) -> None:
        if isinstance(node, cst.Lambda):
            (self.a.sync_callables if sync else self.a.context_callables).add(node)
        elif isinstance(node, cst.Name):
            (self.a.sync_names if sync else self.a.callable_names).add(node.value)

    def _needs_await(self, node: cst.Call) -> None:
        frame = self.frame
        if node in self.awaited:
            frame.awaits = True
        elif isinstance(frame.node, cst.Lambda):
            self._in_lambda(node, frame.node)
        elif frame.node is None:
            self._problem(node, "a durable call at module level; move it into the handler.")
        elif frame.stays_sync:
            self._problem(node, _SYNC_BODY)
        elif frame.generators:
            self._problem(node, _GENERATOR)
        else:
            frame.awaits = True
            self.a.to_await.add(node)

    def _in_lambda(self, node: cst.Call, lam: cst.Lambda) -> None:
        if lam in self.a.sync_callables:
            self._problem(node, _SYNC_BODY)
        elif lam.body is not node or lam not in self.a.context_callables:
            self._problem(node, _LAMBDA)
        # else: durable_async awaits the awaitable the lambda returns


_SYNC_BODY = (
    "a step, submitter or check body makes a durable call; durable calls belong in the "
    "handler or a child context: move it there."
)
_GENERATOR = (
    "a durable call inside a generator expression; build a list with a for loop (or a list "
    "comprehension) so it can be awaited."
)
_LAMBDA = (
    "a lambda makes a durable call it does not simply return; rewrite the lambda as an "
    "`async def` that awaits the call."
)


class _Rewriter(cst.CSTTransformer):
    def __init__(self, analysis: _Analysis) -> None:
        super().__init__()
        self.a = analysis

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.Name:
        if updated_node.value == REFERENCE:
            return updated_node.with_changes(value=TARGET)
        return updated_node

    def leave_FunctionDef(
        self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef
    ) -> cst.FunctionDef:
        if original_node in self.a.async_functions and updated_node.asynchronous is None:
            return updated_node.with_changes(asynchronous=cst.Asynchronous())
        return updated_node

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        if original_node not in self.a.to_await:
            return updated_node
        # Parentheses move out to the await: `(ctx.step(...))` becomes `(await ctx.step(...))`.
        bare = updated_node.with_changes(lpar=[], rpar=[])
        return cst.Await(bare, lpar=updated_node.lpar, rpar=updated_node.rpar)

    def leave_Attribute(
        self, original_node: cst.Attribute, updated_node: cst.Attribute
    ) -> cst.Attribute:
        return updated_node.with_changes(value=_parenthesized(updated_node.value))

    def leave_Subscript(
        self, original_node: cst.Subscript, updated_node: cst.Subscript
    ) -> cst.Subscript:
        return updated_node.with_changes(value=_parenthesized(updated_node.value))


def _parenthesized(node: cst.BaseExpression) -> cst.BaseExpression:
    """Wrap an await that a trailer follows: ``(await ctx.map(...)).get_results()``."""
    if isinstance(node, cst.Await) and not node.lpar:
        return node.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return node


def _dotted(node: cst.BaseExpression) -> str:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return f"{_dotted(node.value)}.{node.attr.value}"
    return ""


def _all_params(params: cst.Parameters) -> list[cst.Param]:
    return [*params.posonly_params, *params.params, *params.kwonly_params]


def _param_names(params: cst.Parameters) -> list[str]:
    return [p.name.value for p in [*params.posonly_params, *params.params]]


def _type_name(param: cst.Param) -> str:
    if param.annotation is None:
        return ""
    annotation = param.annotation.annotation
    if isinstance(annotation, cst.SimpleString):
        return annotation.value.strip("'\"").rpartition(".")[2]
    return _dotted(annotation).rpartition(".")[2]


def _is_context_type(param: cst.Param) -> bool:
    return _type_name(param) == "DurableContext"


def _decorator_names(node: cst.FunctionDef) -> set[str]:
    names = set()
    for decorator in node.decorators:
        expression = decorator.decorator
        if isinstance(expression, cst.Call):
            expression = expression.func
        names.add(_dotted(expression).rpartition(".")[2])
    return names


def _stays_sync(node: cst.FunctionDef) -> bool:
    if _decorator_names(node) & SYNC_DECORATORS:
        return True
    params = _all_params(node.params)
    return bool(params) and _type_name(params[0]) in SYNC_CONTEXTS


def _argument(args: Sequence[cst.Arg], index: int, keyword: str) -> cst.BaseExpression | None:
    for arg in args:
        if arg.keyword is not None and arg.keyword.value == keyword:
            return arg.value
    positional = [arg for arg in args if arg.keyword is None and not arg.star]
    return positional[index].value if index < len(positional) else None


def _branch_function(node: cst.BaseExpression) -> cst.BaseExpression | None:
    """The function of a parallel branch, unwrapping ``ParallelBranch(func, name)``."""
    if isinstance(node, cst.Call) and _dotted(node.func).endswith("ParallelBranch"):
        return _argument(node.args, 0, "func")
    return node


def port_files(paths: Sequence[str], *, write: bool, out: TextIO, err: TextIO) -> int:
    """Port each file: print a unified diff to ``out`` (or write in place); return 0 or 1.

    Each place left to port by hand is one line on ``err``, ``file:line: what to do``; the exit
    code is 1 when there is any such place or a file cannot be read or parsed.
    """
    status = 0
    for path in paths:
        status |= _port_file(Path(path), write=write, out=out, err=err)
    return status


def _port_file(path: Path, *, write: bool, out: TextIO, err: TextIO) -> int:
    try:
        source = path.read_text(encoding="utf-8")
        result = port_source(source)
    except (OSError, UnicodeDecodeError) as exc:
        print(f"{path}: cannot read it ({exc}); check the path.", file=err)
        return 1
    except cst.ParserSyntaxError as exc:
        print(f"{path}:{exc.raw_line}: not valid Python ({exc.message}); fix it first.", file=err)
        return 1
    for problem in result.problems:
        print(f"{path}:{problem.line}: {problem.message}", file=err)
    if write and result.code != source:
        path.write_text(result.code, encoding="utf-8")
    elif not write:
        out.writelines(_diff(path, source, result.code))
    return 1 if result.problems else 0


def _diff(path: Path, before: str, after: str) -> list[str]:
    lines = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True), f"{path}", f"{path}"
    )
    return [
        line if line.endswith("\n") else f"{line}\n\\ No newline at end of file\n" for line in lines
    ]
