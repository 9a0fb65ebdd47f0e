"""What to run: the suite's requirements, and the SAM templates that map functions to them.

The templates are read as the suite's runner reads them before a deploy: every
``AWS::Serverless::Function`` with ``TestingMetadata.TestDescription`` answers those ids. A
function's code is its ``Handler`` (``module.attribute``) under its ``CodeUri`` (relative to the
template), and its ``Environment.Variables`` are resolved the way CloudFormation would resolve
them for the local deployment: a function's ``Arn`` is its local ARN, ``Ref`` of a function its
name, and ``Ref`` of a DynamoDB table the table the local stand-in serves (``Attempts``).
Our templates live in ``conformance/templates/``; ``--templates DIR`` reads another SDK's (the
reference SDK's own conformance package) to run its handlers the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aws_durable_execution_conformance_tests.config import TESTS_DIR
from aws_durable_execution_conformance_tests.extensions import RequirementCase, load_extensions
from aws_durable_execution_conformance_tests.validate import (
    _CfnSafeLoader,
    parse_function_descriptions,
    parse_not_implemented,
)

TEMPLATES = Path(__file__).parent / "templates"
ROOT = Path(__file__).parent.parent
REGION, ACCOUNT = "us-east-1", "123456789012"
DYNAMODB_TABLE = "Attempts"  # the one table the local DynamoDB stand-in (moto) serves


def function_arn(name: str) -> str:
    """The ARN a function ``name`` has on the local services."""
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


@dataclass(frozen=True)
class Function:
    """One function of a template: its name, ``module:attribute`` and whether it is durable."""

    name: str
    target: str
    durable: bool
    execution_timeout: int | None = None
    code: Path = ROOT  # the directory ``target``'s module is imported from (CodeUri)
    environment: tuple[tuple[str, str], ...] = ()  # Environment.Variables, resolved


@dataclass
class Catalog:
    """Every requirement, the function that answers each, and the ids declared not run."""

    requirements: dict[str, RequirementCase]
    functions: dict[str, Function] = field(default_factory=dict)
    answered_by: dict[str, str] = field(default_factory=dict)
    not_run: dict[str, str] = field(default_factory=dict)
    ignored: dict[str, str] = field(default_factory=dict)  # id -> function, ids not in the suite

    def select(self, ids: list[str] | None, suites: list[str] | None) -> list[str]:
        """Return the requirement ids to report on, in suite order (1-1, 1-2, ..., 10-7)."""
        chosen = [
            rid
            for rid, case in self.requirements.items()
            if (not suites or case.suite.name in suites) and (not ids or rid in ids)
        ]
        return sorted(chosen, key=requirement_order)

    def hosted_for(self, ids: list[str]) -> list[Function]:
        """The functions answering ``ids``, and every function that answers none (targets)."""
        answering = set(self.answered_by.values()) | set(self.ignored.values())
        names = {self.answered_by[rid] for rid in ids} | (set(self.functions) - answering)
        return [function for name, function in self.functions.items() if name in names]


def requirement_order(requirement_id: str) -> tuple[int, ...]:
    return tuple(int(part) for part in requirement_id.split("-"))


def load_catalog(templates: Path = TEMPLATES, *, strict: bool = True) -> Catalog:
    """Read every ``template_*.yaml`` under ``templates`` against the installed suite.

    ``strict`` (our templates) refuses ids the suite does not have; otherwise (another SDK's
    templates, which may map ids of a newer suite) they are set aside in ``ignored``.
    """
    catalog = Catalog(load_extensions(TESTS_DIR).discover_requirements("all"))
    paths = sorted(templates.glob("template_*.yaml"))
    if not paths:
        raise ValueError(f"no template_*.yaml under {templates}")
    for path in paths:
        _add_template(catalog, path)
    unknown = sorted(set(catalog.answered_by) - set(catalog.requirements), key=requirement_order)
    if unknown and strict:
        raise ValueError(f"templates map ids the suite does not have: {', '.join(unknown)}")
    for rid in unknown:
        catalog.ignored[rid] = catalog.answered_by.pop(rid)
    return catalog


def read_template(path: Path) -> dict[str, Any]:
    """A SAM template, its intrinsic functions (``!Sub``, ``!Ref``, ...) as ``{"Sub": ...}``."""
    with path.open(encoding="utf-8") as stream:
        loader = _CfnSafeLoader(stream)
        try:
            template = loader.get_single_data()
        finally:
            loader.dispose()
    return template if isinstance(template, dict) else {}


def _add_template(catalog: Catalog, path: Path) -> None:
    resources: dict[str, Any] = read_template(path).get("Resources") or {}
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        properties = resource.get("Properties", {})
        module, _, attribute = properties["Handler"].rpartition(".")
        durable = properties.get("DurableConfig")
        variables = (properties.get("Environment") or {}).get("Variables") or {}
        catalog.functions[name] = Function(
            name=name,
            target=f"{module}:{attribute}",
            durable=durable is not None,
            execution_timeout=(durable or {}).get("ExecutionTimeout"),
            code=(path.parent / properties.get("CodeUri", ".")).resolve(),
            environment=tuple(
                (key, _resolve(value, resources, path)) for key, value in variables.items()
            ),
        )
    for function_name, requirement_id in parse_function_descriptions(str(path)):
        if requirement_id in catalog.answered_by:
            raise ValueError(f"{path.name}: {requirement_id} is mapped twice")
        catalog.answered_by[requirement_id] = function_name
    catalog.not_run.update(parse_not_implemented(str(path)))


def _resolve(value: Any, resources: dict[str, Any], path: Path) -> str:
    """An environment variable's value, its intrinsic functions resolved for the local services."""
    if isinstance(value, str | int | float | bool):
        return str(value)
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        function = function.removeprefix("Fn::")
        if function == "Ref" and isinstance(argument, str):
            return _attribute(argument, "Ref", resources, path)
        if function == "GetAtt":
            resource, _, attribute = (
                argument if isinstance(argument, str) else ".".join(argument)
            ).partition(".")
            return _attribute(resource, attribute, resources, path)
        if function == "Sub" and isinstance(argument, str):
            return re.sub(
                r"\$\{([A-Za-z0-9]+)(?:\.([A-Za-z]+))?\}",
                lambda m: _attribute(m[1], m[2] or "Ref", resources, path),
                argument,
            )
    raise ValueError(f"{path.name}: cannot resolve {value!r} for the local services")


def _attribute(resource: str, attribute: str, resources: dict[str, Any], path: Path) -> str:
    kind = (resources.get(resource) or {}).get("Type")
    if kind == "AWS::Serverless::Function" and attribute in {"Ref", "Arn"}:
        return resource if attribute == "Ref" else function_arn(resource)
    if kind == "AWS::DynamoDB::Table" and attribute == "Ref":
        return DYNAMODB_TABLE
    raise ValueError(f"{path.name}: cannot resolve {resource}.{attribute} for the local services")
