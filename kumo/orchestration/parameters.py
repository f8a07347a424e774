"""Template parameters: their schema, the values a request gives, the constraints.

Types are HOT's: string, number, boolean, json, comma_delimited_list.
Constraints: length, range, allowed_values, allowed_pattern and
custom_constraint (answered by a ``Lookups``: does this flavor, image,
network or key pair exist for the caller?).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from kumo.orchestration.errors import StackValidationFailed, UserParameterMissing

TYPES = ("string", "number", "boolean", "json", "comma_delimited_list")
CUSTOM = ("nova.flavor", "glance.image", "neutron.network", "nova.keypair")
KEYS = {"type", "label", "description", "default", "hidden", "constraints", "immutable", "tags"}
PSEUDO = ("OS::stack_name", "OS::stack_id", "OS::project_id")
_MISSING = object()


class Lookups(Protocol):
    def exists(self, kind: str, value: str) -> bool:
        """Whether ``value`` names (or is the id of) a ``kind`` (a custom constraint)."""
        ...


@dataclass(frozen=True)
class Constraint:
    kind: str
    value: Any
    description: str = ""


@dataclass(frozen=True)
class ParamSchema:
    name: str
    type: str
    default: Any = _MISSING
    hidden: bool = False
    label: str = ""
    description: str = ""
    constraints: tuple[Constraint, ...] = field(default_factory=tuple)

    @property
    def has_default(self) -> bool:
        return self.default is not _MISSING

    def view(self) -> dict[str, Any]:
        """As ``POST /validate`` shows it (Heat's capitalised keys)."""
        out: dict[str, Any] = {
            "Type": {"number": "Number", "boolean": "Boolean", "json": "Json",
                     "comma_delimited_list": "CommaDelimitedList"}.get(self.type, "String"),
            "Description": self.description,
            "Label": self.label or self.name,
            "NoEcho": "true" if self.hidden else "false",
        }  # fmt: skip
        if self.has_default:
            out["Default"] = self.default
        for c in self.constraints:
            if c.kind == "allowed_values":
                out["AllowedValues"] = c.value
            elif c.kind == "allowed_pattern":
                out["AllowedPattern"] = c.value
            elif c.kind == "length":
                out.update({f"{k.capitalize()}Length": v for k, v in c.value.items()})
            elif c.kind == "range":
                out.update({f"{k.capitalize()}Value": v for k, v in c.value.items()})
            elif c.kind == "custom_constraint":
                out["CustomConstraint"] = c.value
        return out


def parse_schemas(section: Any, path: str = "parameters") -> dict[str, ParamSchema]:
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise StackValidationFailed("The parameters section must be a map", path)
    out = {}
    for name, spec in section.items():
        here = f"{path}.{name}"
        if not isinstance(spec, dict):
            raise StackValidationFailed("A parameter must be a map with a type", here)
        unknown = set(spec) - KEYS
        if unknown:
            raise StackValidationFailed(
                f"Invalid key {sorted(unknown)[0]!r} for parameter {name}", here
            )
        ptype = spec.get("type")
        if ptype not in TYPES:
            raise StackValidationFailed(
                f"Invalid type {ptype!r}: one of {', '.join(TYPES)}", f"{here}.type"
            )
        constraints = tuple(_constraint(c, f"{here}.constraints[{i}]", ptype)
                            for i, c in enumerate(spec.get("constraints") or []))  # fmt: skip
        schema = ParamSchema(
            name=str(name),
            type=ptype,
            hidden=bool(spec.get("hidden", False)),
            label=str(spec.get("label", "")),
            description=str(spec.get("description", "")),
            constraints=constraints,
        )
        if "default" in spec and spec["default"] is not None:
            default = coerce(schema, spec["default"], f"{here}.default")
            check(schema, default, None, f"{here}.default")
            schema = ParamSchema(**{**schema.__dict__, "default": default})
        out[str(name)] = schema
    return out


def _constraint(raw: Any, path: str, ptype: str) -> Constraint:
    if not isinstance(raw, dict):
        raise StackValidationFailed("A constraint must be a map", path)
    desc = str(raw.get("description", ""))
    kinds = [k for k in raw if k != "description"]
    if len(kinds) != 1:
        raise StackValidationFailed("A constraint has exactly one kind", path)
    kind, value = kinds[0], raw[kinds[0]]
    if kind in ("length", "range"):
        if not isinstance(value, dict) or not value or set(value) - {"min", "max"}:
            raise StackValidationFailed(f"{kind} takes min and/or max", f"{path}.{kind}")
        for k, v in value.items():
            if not isinstance(v, int | float) or isinstance(v, bool):
                raise StackValidationFailed(f"{kind} {k} must be a number", f"{path}.{kind}")
    elif kind == "allowed_values":
        if not isinstance(value, list):
            raise StackValidationFailed("allowed_values must be a list", f"{path}.{kind}")
    elif kind == "allowed_pattern":
        try:
            re.compile(str(value))
        except re.error as e:
            raise StackValidationFailed(f"allowed_pattern: {e}", f"{path}.{kind}") from None
    elif kind == "custom_constraint":
        if value not in CUSTOM:
            raise StackValidationFailed(
                f"Unknown custom constraint {value!r}: one of {', '.join(CUSTOM)}", f"{path}.{kind}"
            )
    else:
        raise StackValidationFailed(f"Invalid constraint {kind!r}", path)
    return Constraint(kind, value, desc)


def coerce(schema: ParamSchema, raw: Any, path: str) -> Any:
    """The value of ``raw`` (as given in a request or a default) in the parameter's type."""

    def bad(what: str) -> StackValidationFailed:
        return StackValidationFailed(f"Parameter '{schema.name}' is invalid: {what}", path)

    t = schema.type
    if t == "string":
        if isinstance(raw, dict | list):
            raise bad("expected a string")
        return (
            raw if isinstance(raw, str) else json.dumps(raw) if isinstance(raw, bool) else str(raw)
        )
    if t == "number":
        if isinstance(raw, bool):
            raise bad(f"{raw!r} is not a number")
        if isinstance(raw, int | float):
            return raw
        try:
            text = str(raw).strip()
            return int(text) if re.fullmatch(r"[-+]?\d+", text) else float(text)
        except ValueError:
            raise bad(f"{raw!r} is not a number") from None
    if t == "boolean":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("true", "t", "yes", "y", "on", "1"):
            return True
        if text in ("false", "f", "no", "n", "off", "0"):
            return False
        raise bad(f"{raw!r} is not a boolean")
    if t == "json":
        if isinstance(raw, dict | list):
            return raw
        try:
            value = json.loads(str(raw))
        except ValueError:
            raise bad("not valid JSON") from None
        if not isinstance(value, dict | list):
            raise bad("JSON must be a map or a list")
        return value
    if isinstance(raw, list):
        return [str(v) for v in raw]
    text = str(raw)
    return [p.strip() for p in text.split(",")] if text else []


def check(schema: ParamSchema, value: Any, lookups: Lookups | None, path: str) -> None:
    """Raise unless ``value`` meets every constraint (custom ones only with ``lookups``)."""
    for c in schema.constraints:
        problem = _violation(c, value, lookups)
        if problem:
            why = c.description or problem
            raise StackValidationFailed(f"Parameter '{schema.name}' is invalid: {why}", path)


def _violation(c: Constraint, value: Any, lookups: Lookups | None) -> str:  # noqa: C901
    if c.kind == "length":
        n = len(value) if isinstance(value, str | list | dict) else len(str(value))
        lo, hi = c.value.get("min"), c.value.get("max")
        if (lo is not None and n < lo) or (hi is not None and n > hi):
            return f"length must be in the range {_bounds(lo, hi)}, is {n}"
    elif c.kind == "range":
        lo, hi = c.value.get("min"), c.value.get("max")
        if not isinstance(value, int | float):
            return "range applies to numbers"
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            return f"{value} is out of range {_bounds(lo, hi)}"
    elif c.kind == "allowed_values":
        items = value if isinstance(value, list) else [value]
        allowed = [str(a) for a in c.value]
        for v in items:
            if v not in c.value and str(v) not in allowed:
                return f"{v!r} is not an allowed value {c.value}"
    elif c.kind == "allowed_pattern":
        items = value if isinstance(value, list) else [value]
        for v in items:
            if not re.fullmatch(str(c.value), str(v)):
                return f"{v!r} does not match pattern {c.value!r}"
    elif c.kind == "custom_constraint" and lookups is not None:
        items = value if isinstance(value, list) else [value]
        for v in items:
            if not lookups.exists(c.value, str(v)):
                return f"Error validating value {str(v)!r}: no {c.value} {str(v)!r} found"
    return ""


def _bounds(lo: Any, hi: Any) -> str:
    return f"(min: {'-' if lo is None else lo}, max: {'-' if hi is None else hi})"


def values(
    schemas: Mapping[str, ParamSchema],
    given: Mapping[str, Any],
    lookups: Lookups | None,
    *,
    missing_ok: bool = False,
) -> dict[str, Any]:
    """Every parameter's value: given, else default; raise for a missing or invalid one
    (``missing_ok``: a missing one is left out, as a template validation allows)."""
    unknown = sorted(set(given) - set(schemas))
    if unknown:
        raise StackValidationFailed(f"The Parameter ({unknown[0]}) was not defined in template.")
    out = {}
    for name, schema in schemas.items():
        path = f"parameters.{name}"
        if name in given and given[name] is not None:
            value = coerce(schema, given[name], path)
        elif schema.has_default:
            value = schema.default
        elif missing_ok:
            continue
        else:
            raise UserParameterMissing(name)
        check(schema, value, lookups, path)
        out[name] = value
    return out


def parse_groups(section: Any, schemas: Mapping[str, ParamSchema]) -> list[dict[str, Any]]:
    if section is None:
        return []
    if not isinstance(section, list):
        raise StackValidationFailed("parameter_groups must be a list", "parameter_groups")
    seen: set[str] = set()
    for i, group in enumerate(section):
        here = f"parameter_groups[{i}]"
        if not isinstance(group, dict) or not isinstance(group.get("parameters"), list):
            raise StackValidationFailed("A parameter group needs a list of parameters", here)
        for name in group["parameters"]:
            if name not in schemas:
                raise StackValidationFailed(f"The parameter {name!r} is not defined", here)
            if name in seen:
                raise StackValidationFailed(f"The parameter {name!r} is in two groups", here)
            seen.add(name)
    return list(section)
