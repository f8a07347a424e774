"""The plugin contract, property schemas and what a plugin acts with (``Env``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from kumo.context import RequestContext
from kumo.errors import NotFound
from kumo.orchestration.errors import ResourceFailure, StackValidationFailed

if TYPE_CHECKING:
    from kumo.runtime import Runtime

TYPES = ("string", "integer", "number", "boolean", "list", "map", "any")


class _Deferred:
    """A property value known only once the resources it refers to exist."""

    def __repr__(self) -> str:
        return "<deferred>"


DEFERRED = _Deferred()


@dataclass(frozen=True)
class Prop:
    type: str
    required: bool = False
    default: Any = None
    update: bool = False
    """Can change in place (an update); otherwise a change replaces the resource."""
    allowed: tuple[Any, ...] = ()
    schema: Mapping[str, Prop] | None = None
    """For a map: its keys; for a list: the keys of each item (a list of maps)."""
    items: str = ""
    """For a list of scalars: their type."""
    description: str = ""

    def view(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.type,
            "required": self.required,
            "update_allowed": self.update,
            "immutable": False,
            "description": self.description,
        }
        if self.default is not None:
            out["default"] = self.default
        if self.allowed:
            out["constraints"] = [{"allowed_values": list(self.allowed)}]
        if self.schema:
            out["schema"] = {k: p.view() for k, p in self.schema.items()}
        return out


def _coerce(p: Prop, value: Any, path: str) -> Any:  # noqa: C901
    def bad(what: str) -> StackValidationFailed:
        return StackValidationFailed(f"Property error: {what}", path)

    if value is None:
        return None
    t = p.type
    if t == "string":
        if isinstance(value, dict | list):
            raise bad(f"Value must be a string, not a {type(value).__name__}")
        value = value if isinstance(value, str) else str(value).lower() if isinstance(
            value, bool) else str(value)  # fmt: skip
    elif t == "integer":
        try:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            value = int(value)
        except (TypeError, ValueError):
            raise bad(f"Value {value!r} is not an integer") from None
    elif t == "number":
        try:
            if isinstance(value, bool):
                raise ValueError
            value = value if isinstance(value, int | float) else float(value)
        except (TypeError, ValueError):
            raise bad(f"Value {value!r} is not a number") from None
    elif t == "boolean":
        if isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        if not isinstance(value, bool):
            raise bad(f"Value {value!r} is not a boolean")
    elif t == "list":
        if isinstance(value, str) and p.items == "string":
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise bad(f"Value must be a list, not a {type(value).__name__}")
        if p.schema is not None:
            value = [check_map(p.schema, v, f"{path}[{i}]") for i, v in enumerate(value)]
        elif p.items:
            value = [_coerce(Prop(p.items), v, f"{path}[{i}]") for i, v in enumerate(value)]
    elif t == "map":
        if not isinstance(value, dict):
            raise bad(f"Value must be a map, not a {type(value).__name__}")
        if p.schema is not None:
            value = check_map(p.schema, value, path)
    if p.allowed and value not in p.allowed:
        raise bad(f"{value!r} is not an allowed value {list(p.allowed)}")
    return value


def check_map(schema: Mapping[str, Prop], given: Any, path: str) -> dict[str, Any]:
    """``given`` checked against ``schema``: types coerced, defaults filled, unknown
    and missing required keys refused (the error names the property's path)."""
    if not isinstance(given, dict):
        raise StackValidationFailed("Property error: expected a map", path)
    unknown = sorted(set(given) - set(schema))
    if unknown:
        raise StackValidationFailed(f"Unknown Property {unknown[0]}", path)
    out = {}
    for key, p in schema.items():
        if given.get(key) is DEFERRED:
            out[key] = DEFERRED
            continue
        value = _coerce(p, given.get(key), f"{path}.{key}")
        if value is None:
            value = p.default
        if value is None and p.required:
            raise StackValidationFailed(f"Property {key} not assigned", f"{path}.{key}")
        if value is not None:
            out[key] = value
    return out


HALTED = "engine halted"


class Halted(Exception):
    """The engine is stopping (or the operation was cancelled, or timed out)."""


@dataclass
class Env:
    """What a plugin acts with for one resource of one stack."""

    rt: Runtime
    ctx: RequestContext
    """The stack creator's delegated context: never more than the creator's own rights."""
    stack_id: str
    stack_name: str
    name: str
    physical_id: str | None
    data: dict[str, Any]
    base_url: str
    deadline: float
    stop: Callable[[], str]
    """Returns why to stop now ("" to go on): cancelled, engine halting."""
    nested: Any = None
    """The engine, for resources that are nested stacks (ResourceGroup)."""
    save: Callable[[], None] = field(default=lambda: None)
    """Persist ``physical_id`` and ``data`` now (before a long wait)."""
    peer: Callable[[str], dict[str, Any] | None] = field(default=lambda ref: None)
    """The stored data of the resource of this stack with that physical id."""
    flush: Callable[[], None] = field(default=lambda: None)
    """Write the resource's IN_PROGRESS state now if it is not written yet (``wait`` does
    before it first sleeps)."""

    @property
    def endpoint(self) -> str:
        return f"{self.base_url}/orchestration/v1/{self.ctx.project_id}"

    def wait(self, done: Callable[[], bool], what: str, interval: float = 0.2) -> None:
        """Poll ``done`` until true; stop at the deadline, on cancel or halt."""
        first = True
        while not done():
            if first:
                self.flush()
                first = False
            why = self.stop()
            if why:
                raise Halted(why) if why == HALTED else ResourceFailure(why)
            if time.monotonic() > self.deadline:
                raise ResourceFailure(f"Timed out waiting for {what}")
            time.sleep(interval)
            interval = min(interval * 1.5, 2.0)

    def physical_name(self) -> str:
        """A default name for what the resource makes: stack-resource-short id."""
        return f"{self.stack_name}-{self.name}-{self.stack_id[:6]}"


class Plugin:
    type_name: ClassVar[str]
    description: ClassVar[str] = ""
    props: ClassVar[dict[str, Prop]] = {}
    attrs: ClassVar[dict[str, str]] = {}
    any_properties: ClassVar[bool] = False
    any_attributes: ClassVar[bool] = False
    admin_only: ClassVar[bool] = False

    @classmethod
    def update_allowed(cls) -> frozenset[str]:
        return frozenset(k for k, p in cls.props.items() if p.update)

    @classmethod
    def check_properties(cls, given: Any, path: str) -> dict[str, Any]:
        if cls.any_properties:
            return dict(given or {})
        return check_map(cls.props, given or {}, path)

    def create(self, env: Env, props: dict[str, Any]) -> None:
        """Make the thing; set ``env.physical_id`` as soon as it exists."""

    def update(self, env: Env, old: dict[str, Any], new: dict[str, Any]) -> None:
        """Change the properties in ``update_allowed`` in place."""

    def delete(self, env: Env) -> None:
        """Remove it; what is already gone is not an error."""

    def reference(self, env: Env) -> Any:
        return env.physical_id

    def attribute(self, env: Env, props: dict[str, Any], name: str) -> Any:
        return None

    def check(self, env: Env) -> None:
        """Raise ResourceFailure unless the thing still exists."""

    def suspend(self, env: Env) -> None:
        pass

    def resume(self, env: Env) -> None:
        pass

    def signal(self, env: Env, details: Any) -> None:
        raise StackValidationFailed(f"Signal resource during {self.type_name} is not supported")

    @classmethod
    def schema_view(cls) -> dict[str, Any]:
        attrs = {k: {"description": v, "type": "any"} for k, v in cls.attrs.items()}
        attrs["show"] = {"description": "Detailed information about resource.", "type": "map"}
        return {
            "resource_type": cls.type_name,
            "description": cls.description,
            "properties": {k: p.view() for k, p in cls.props.items()},
            "attributes": attrs,
            "support_status": {"status": "SUPPORTED", "version": None, "message": None,
                               "previous_status": None},
        }  # fmt: skip


def gone_ok(fn: Callable[[], Any]) -> None:
    """Run a delete; a thing already gone is fine."""
    try:
        fn()
    except NotFound:
        pass
