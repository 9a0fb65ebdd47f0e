"""What to run: the suite's requirements, and the templates that map our functions to them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from aws_durable_execution_conformance_tests.config import TESTS_DIR
from aws_durable_execution_conformance_tests.extensions import RequirementCase, load_extensions
from aws_durable_execution_conformance_tests.validate import (
    parse_function_descriptions,
    parse_not_implemented,
)

TEMPLATES = Path(__file__).parent / "templates"
ROOT = Path(__file__).parent.parent


@dataclass(frozen=True)
class Function:
    """One function of a template: its name, ``module:attribute`` and whether it is durable."""

    name: str
    target: str
    durable: bool
    execution_timeout: int | None = None


@dataclass
class Catalog:
    """Every requirement, the function that answers each, and the ids declared not run."""

    requirements: dict[str, RequirementCase]
    functions: dict[str, Function] = field(default_factory=dict)
    answered_by: dict[str, str] = field(default_factory=dict)
    not_run: dict[str, str] = field(default_factory=dict)

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
        answering = set(self.answered_by.values())
        names = {self.answered_by[rid] for rid in ids} | (set(self.functions) - answering)
        return [function for name, function in self.functions.items() if name in names]


def requirement_order(requirement_id: str) -> tuple[int, ...]:
    return tuple(int(part) for part in requirement_id.split("-"))


def load_catalog(templates: Path = TEMPLATES) -> Catalog:
    """Read every ``template_*.yaml`` under ``templates`` against the installed suite."""
    catalog = Catalog(load_extensions(TESTS_DIR).discover_requirements("all"))
    for path in sorted(templates.glob("template_*.yaml")):
        _add_template(catalog, path)
    unknown = sorted(set(catalog.answered_by) - set(catalog.requirements), key=requirement_order)
    if unknown:
        raise ValueError(f"templates map ids the suite does not have: {', '.join(unknown)}")
    return catalog


def _add_template(catalog: Catalog, path: Path) -> None:
    resources: dict[str, Any] = yaml.safe_load(path.read_text()).get("Resources") or {}
    for name, resource in resources.items():
        properties = resource.get("Properties", {})
        module, _, attribute = properties["Handler"].rpartition(".")
        durable = properties.get("DurableConfig")
        catalog.functions[name] = Function(
            name=name,
            target=f"{module}:{attribute}",
            durable=durable is not None,
            execution_timeout=(durable or {}).get("ExecutionTimeout"),
        )
    for function_name, requirement_id in parse_function_descriptions(str(path)):
        if requirement_id in catalog.answered_by:
            raise ValueError(f"{path.name}: {requirement_id} is mapped twice")
        catalog.answered_by[requirement_id] = function_name
    catalog.not_run.update(parse_not_implemented(str(path)))
