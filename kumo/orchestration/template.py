"""A HOT document parsed and checked: sections, resources, outputs, conditions.

``load`` reads YAML or JSON text; ``parse`` checks the structure and every
reference (parameters, resources, conditions, ``depends_on``) and returns a
``Template`` whose values hold ``functions.Call`` nodes. Errors name the
path of the fault (``resources.web.properties.name.get_param``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from kumo.orchestration import functions as fn
from kumo.orchestration import graph, parameters, versions
from kumo.orchestration.errors import InvalidTemplateVersion, StackValidationFailed
from kumo.orchestration.parameters import ParamSchema
from kumo.orchestration.versions import Version

SECTIONS = {"heat_template_version", "description", "parameter_groups", "parameters",
            "resources", "outputs", "conditions"}  # fmt: skip
RESOURCE_KEYS = {"type", "properties", "metadata", "depends_on", "deletion_policy",
                 "update_policy", "condition", "external_id"}  # fmt: skip
OUTPUT_KEYS = {"value", "description", "condition"}
MAX_BYTES = 512 * 1024


@dataclass(frozen=True)
class ResourceDef:
    name: str
    type: str
    properties: Any
    """Parsed (``Call`` nodes inside); a map once resolved."""
    depends_on: tuple[str, ...]
    condition: Any
    """None (always), a condition name, a boolean or a condition function."""
    metadata: Any
    raw: Mapping[str, Any]
    """The definition as written: what an update compares."""


@dataclass(frozen=True)
class OutputDef:
    name: str
    value: Any
    description: str
    condition: Any


@dataclass(frozen=True)
class Template:
    version: Version
    description: str
    parameters: Mapping[str, ParamSchema]
    parameter_groups: list[dict[str, Any]]
    resources: Mapping[str, ResourceDef]
    outputs: Mapping[str, OutputDef]
    conditions: Mapping[str, Any]
    raw: Mapping[str, Any]


def load(source: Any) -> dict[str, Any]:
    """The template as a map, from a map or from YAML/JSON text."""
    if isinstance(source, dict):
        plain: dict[str, Any] = _plain(source)
        return plain
    if not isinstance(source, str):
        raise StackValidationFailed("The template must be a map or YAML/JSON text")
    if len(source.encode()) > MAX_BYTES:
        raise StackValidationFailed(f"The template is larger than {MAX_BYTES} bytes")
    try:
        doc = yaml.safe_load(source)
    except yaml.YAMLError as e:
        raise StackValidationFailed(f"The template is not valid YAML: {e}") from None
    if not isinstance(doc, dict):
        raise StackValidationFailed("The template is not a map")
    out: dict[str, Any] = _plain(doc)
    return out


def _plain(value: Any) -> Any:
    """YAML reads an unquoted 2016-10-14 as a date: keep the text (the stored
    template is JSON)."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k) if isinstance(k, dt.date) else k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def parse(doc: Mapping[str, Any], known_type: Callable[[str], bool]) -> Template:
    unknown = sorted(str(k) for k in set(doc) - SECTIONS)
    if unknown:
        raise StackValidationFailed(f"The template section is invalid: {unknown[0]}", unknown[0])
    raw_version = doc.get("heat_template_version")
    if raw_version is None:
        raise InvalidTemplateVersion(
            "The template version is invalid: heat_template_version is missing "
            f"(one of {', '.join(versions.known())})"
        )
    # YAML reads an unquoted 2016-10-14 as a date
    version = versions.lookup(raw_version)
    if version is None:
        raise InvalidTemplateVersion(
            f'The template version is invalid: "heat_template_version: {raw_version}". '
            f"Should be one of: {', '.join(versions.known())}"
        )
    params = parameters.parse_schemas(doc.get("parameters"))
    groups = parameters.parse_groups(doc.get("parameter_groups"), params)
    conditions = _conditions(doc.get("conditions"), version)
    resources = _resources(doc.get("resources"), version, known_type)
    outputs = _outputs(doc.get("outputs"), version)
    tpl = Template(
        version=version,
        description=str(doc.get("description") or ""),
        parameters=params,
        parameter_groups=groups,
        resources=resources,
        outputs=outputs,
        conditions=conditions,
        raw=doc,
    )
    _check_references(tpl)
    graph.check_acyclic(graph.dependencies(tpl.resources))
    return tpl


def _map(section: Any, path: str) -> dict[str, Any]:
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise StackValidationFailed(f"The {path} section must be a map", path)
    return section


def _conditions(section: Any, version: Version) -> dict[str, Any]:
    section = _map(section, "conditions")
    if section and not version.has_conditions:
        raise StackValidationFailed(
            f"conditions need heat_template_version {versions.CONDITIONS_SINCE} or later",
            "conditions",
        )
    return {str(k): fn.parse(v, version, f"conditions.{k}") for k, v in section.items()}


def _resources(
    section: Any, version: Version, known_type: Callable[[str], bool]
) -> dict[str, ResourceDef]:
    out = {}
    for name, spec in _map(section, "resources").items():
        here = f"resources.{name}"
        if not isinstance(spec, dict):
            raise StackValidationFailed("A resource must be a map with a type", here)
        bad = sorted(set(spec) - RESOURCE_KEYS)
        if bad:
            raise StackValidationFailed(
                f'"{bad[0]}" is not a valid keyword inside a resource definition', here
            )
        rtype = spec.get("type")
        if not isinstance(rtype, str):
            raise StackValidationFailed("A resource needs a type", f"{here}.type")
        if not known_type(rtype):
            raise StackValidationFailed(f"Unknown resource type {rtype}", f"{here}.type")
        props = spec.get("properties") or {}
        if not isinstance(props, dict):
            raise StackValidationFailed("properties must be a map", f"{here}.properties")
        deps = spec.get("depends_on") or []
        deps = [deps] if isinstance(deps, str) else deps
        if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
            raise StackValidationFailed(
                "depends_on must be a resource name or a list of them", f"{here}.depends_on"
            )
        if "condition" in spec and not version.has_conditions:
            raise StackValidationFailed(
                f"condition needs heat_template_version {versions.CONDITIONS_SINCE} or later",
                f"{here}.condition",
            )
        out[str(name)] = ResourceDef(
            name=str(name),
            type=rtype,
            properties=fn.parse(props, version, f"{here}.properties"),
            depends_on=tuple(deps),
            condition=fn.parse(spec.get("condition"), version, f"{here}.condition"),
            metadata=fn.parse(spec.get("metadata"), version, f"{here}.metadata"),
            raw=spec,
        )
    return out


def _outputs(section: Any, version: Version) -> dict[str, OutputDef]:
    out = {}
    for name, spec in _map(section, "outputs").items():
        here = f"outputs.{name}"
        if not isinstance(spec, dict) or "value" not in spec:
            raise StackValidationFailed("An output must be a map with a value", here)
        bad = sorted(set(spec) - OUTPUT_KEYS)
        if bad:
            raise StackValidationFailed(f'"{bad[0]}" is not a valid keyword inside an output', here)
        out[str(name)] = OutputDef(
            name=str(name),
            value=fn.parse(spec["value"], version, f"{here}.value"),
            description=str(spec.get("description") or "No description given"),
            condition=fn.parse(spec.get("condition"), version, f"{here}.condition"),
        )
    return out


def _check_references(tpl: Template) -> None:
    names = set(tpl.resources)
    params = set(tpl.parameters) | set(parameters.PSEUDO)

    def check(value: Any, where: str) -> None:
        for c in fn.calls(value):
            if c.fn in ("get_resource", "get_attr"):
                target = c.args if c.fn == "get_resource" else c.args[0]
                if target not in names:
                    raise StackValidationFailed(
                        f'The specified reference "{target}" (in {c.fn}) is incorrect', c.path
                    )
            elif c.fn == "get_param":
                first = c.args if isinstance(c.args, str) else c.args[0]
                if isinstance(first, str) and first not in params:
                    raise StackValidationFailed(
                        f"The Parameter ({first}) was not defined in template", c.path
                    )
            elif c.fn == "if":
                _check_condition_name(c.args[0], tpl, c.path)
            elif c.fn in ("not", "and", "or"):
                for arg in c.args if isinstance(c.args, list) else [c.args]:
                    _check_condition_name(arg, tpl, c.path)

    for name, cond in tpl.conditions.items():
        check(cond, f"conditions.{name}")
        if isinstance(cond, str):
            _check_condition_name(cond, tpl, f"conditions.{name}")
    for name, r in tpl.resources.items():
        here = f"resources.{name}"
        for i, d in enumerate(r.depends_on):
            if d not in names or d == name:
                raise StackValidationFailed(
                    f'depends_on: "{d}" is not another resource of this template',
                    f"{here}.depends_on[{i}]",
                )
        for fn_ in (r.properties, r.metadata, r.condition):
            check(fn_, here)
        _check_condition_name(r.condition, tpl, f"{here}.condition")
        if r.condition is not None and fn.references(r.condition):
            raise StackValidationFailed("A condition may not refer to resources", here)
    for name, o in tpl.outputs.items():
        check(o.value, f"outputs.{name}")
        _check_condition_name(o.condition, tpl, f"outputs.{name}.condition")


def _check_condition_name(value: Any, tpl: Template, path: str) -> None:
    if isinstance(value, str) and value not in tpl.conditions:
        raise StackValidationFailed(f'Invalid condition "{value}"', path)
