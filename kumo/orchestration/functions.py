"""Intrinsic functions: parsed once into ``Call`` nodes, resolved against a ``Scope``.

``parse`` turns every one-key map whose key is a function name into a
``Call`` (checking the version and the shape of its arguments, with the
path of the fault in the error). ``resolve`` evaluates a parsed value;
``references`` lists the resources a value depends on. Pure: the scope
answers parameters, resources, conditions and files.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from kumo.orchestration.errors import StackValidationFailed
from kumo.orchestration.versions import ALL_FUNCTIONS, Version

DIGESTS = ("md5", "sha1", "sha224", "sha256", "sha384", "sha512")


@dataclass(frozen=True)
class Call:
    fn: str
    args: Any
    path: str


class Scope(Protocol):
    def param(self, name: str) -> Any: ...
    def resource_ref(self, name: str) -> Any: ...
    def resource_attr(self, name: str, attr: str) -> Any: ...
    def condition(self, name: str) -> bool: ...
    def file(self, name: str) -> str: ...


def fail(message: str, path: str) -> StackValidationFailed:
    return StackValidationFailed(message, path)


# -- parsing ---------------------------------------------------------------------------


def parse(value: Any, version: Version, path: str) -> Any:
    if isinstance(value, dict):
        if len(value) == 1:
            (key,) = value
            if key in ALL_FUNCTIONS:
                if key not in version.functions:
                    raise fail(
                        f'"{key}" is not supported by heat_template_version {version.name}', path
                    )
                here = f"{path}.{key}" if path else key
                args = parse(value[key], version, here)
                _check_shape(key, args, here)
                return Call(key, args, here)
        return {k: parse(v, version, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [parse(v, version, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def _is_list(args: Any) -> bool:
    return isinstance(args, list | Call)


def _check_shape(fn: str, args: Any, path: str) -> None:  # noqa: C901 - one table
    bad = None
    if fn == "get_param":
        if not (isinstance(args, str) or (isinstance(args, list) and args)):
            bad = "a parameter name or [name, key, ...]"
    elif fn == "get_resource":
        if not isinstance(args, str):
            bad = "a resource name"
    elif fn == "get_attr":
        if not (isinstance(args, list) and len(args) >= 2 and isinstance(args[0], str)):
            bad = "[resource_name, attribute, path...]"
    elif fn in ("str_replace", "str_replace_strict"):
        if not (isinstance(args, dict) and set(args) == {"template", "params"}):
            bad = "a map with template and params"
        elif not isinstance(args["params"], dict | Call):
            bad = "params as a map"
    elif fn == "list_join":
        if not (isinstance(args, list) and len(args) >= 2):
            bad = "[delimiter, list, ...]"
    elif fn == "str_split":
        if not (isinstance(args, list) and len(args) in (2, 3)):
            bad = "[delimiter, string] or [delimiter, string, index]"
    elif fn == "repeat":
        if not (isinstance(args, dict) and {"for_each", "template"} <= set(args)):
            bad = "a map with for_each and template"
        elif not isinstance(args["for_each"], dict) or not args["for_each"]:
            bad = "for_each as a map of placeholders to lists"
    elif fn == "if":
        if not (isinstance(args, list) and len(args) == 3):
            bad = "[condition, value_if_true, value_if_false]"
    elif fn == "equals":
        if not (isinstance(args, list) and len(args) == 2):
            bad = "[value1, value2]"
    elif fn in ("and", "or"):
        if not (isinstance(args, list) and len(args) >= 2):
            bad = "a list of at least two conditions"
    elif fn == "get_file":
        if not isinstance(args, str):
            bad = "a file name"
    elif fn == "digest":
        if not (isinstance(args, list) and len(args) == 2):
            bad = "[algorithm, value]"
        elif isinstance(args[0], str) and args[0] not in DIGESTS:
            bad = "an algorithm among " + ", ".join(DIGESTS)
    elif fn == "map_merge" and not _is_list(args):
        bad = "a list of maps"
    if bad:
        raise fail(f"Arguments to {fn} must be {bad}", path)


# -- walking ---------------------------------------------------------------------------


def calls(value: Any) -> Iterator[Call]:
    """Every Call in ``value``, outermost first."""
    if isinstance(value, Call):
        yield value
        yield from calls(value.args)
    elif isinstance(value, dict):
        for v in value.values():
            yield from calls(v)
    elif isinstance(value, list):
        for v in value:
            yield from calls(v)


def references(value: Any) -> set[str]:
    """The resources ``value`` refers to (get_resource, get_attr)."""
    out: set[str] = set()
    for c in calls(value):
        if c.fn == "get_resource":
            out.add(c.args)
        elif c.fn == "get_attr":
            out.add(c.args[0])
    return out


def is_static(value: Any) -> bool:
    """No reference to a resource: resolvable before anything exists."""
    return not references(value)


# -- resolving -------------------------------------------------------------------------


def resolve(value: Any, scope: Scope) -> Any:
    if isinstance(value, Call):
        return _FNS[value.fn](value, scope)
    if isinstance(value, dict):
        return {k: resolve(v, scope) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, scope) for v in value]
    return value


def _walk_path(value: Any, keys: list[Any], path: str) -> Any:
    for key in keys:
        if value is None:
            return None
        if isinstance(value, dict):
            value = value.get(key if key in value else str(key))
        elif isinstance(value, list):
            try:
                value = value[int(key)]
            except (ValueError, IndexError):
                raise fail(f"Invalid index {key!r} into a list of {len(value)}", path) from None
        else:
            raise fail(f"Cannot select {key!r} from a {type(value).__name__}", path)
    return value


def _get_param(c: Call, scope: Scope) -> Any:
    args = resolve(c.args, scope)
    if isinstance(args, str):
        return scope.param(args)
    return _walk_path(scope.param(str(args[0])), args[1:], c.path)


def _get_resource(c: Call, scope: Scope) -> Any:
    return scope.resource_ref(c.args)


def _get_attr(c: Call, scope: Scope) -> Any:
    name, attr, *rest = c.args
    attr = resolve(attr, scope)
    rest = resolve(rest, scope)
    return _walk_path(scope.resource_attr(name, str(attr)), rest, c.path)


def _text(v: Any) -> str:
    if isinstance(v, str):
        return v
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dict | list):
        return json.dumps(v, sort_keys=True)
    return str(v)


def _str_replace(c: Call, scope: Scope) -> Any:
    template = resolve(c.args["template"], scope)
    params = resolve(c.args["params"], scope)
    if not isinstance(template, str):
        raise fail("str_replace: template must be a string", c.path)
    if not isinstance(params, dict):
        raise fail("str_replace: params must be a map", c.path)
    if c.fn == "str_replace_strict":
        missing = [k for k in params if str(k) not in template]
        if missing:
            raise fail(
                f"str_replace_strict: {', '.join(map(str, missing))} not in template", c.path
            )
    keys = sorted((str(k) for k in params), key=len, reverse=True)
    if not keys:
        return template
    values = {str(k): _text(v) for k, v in params.items()}
    out, i = [], 0
    while i < len(template):
        for k in keys:
            if k and template.startswith(k, i):
                out.append(values[k])
                i += len(k)
                break
        else:
            out.append(template[i])
            i += 1
    return "".join(out)


def _list_join(c: Call, scope: Scope) -> Any:
    delim, *lists = resolve(c.args, scope)
    if not isinstance(delim, str):
        raise fail("list_join: the delimiter must be a string", c.path)
    items: list[str] = []
    for lst in lists:
        if lst is None:
            continue
        if not isinstance(lst, list):
            raise fail("list_join: expected lists to join", c.path)
        items.extend(_text(v) for v in lst)
    return delim.join(items)


def _str_split(c: Call, scope: Scope) -> Any:
    args = resolve(c.args, scope)
    delim, text = args[0], args[1]
    if not isinstance(delim, str) or not isinstance(text, str):
        raise fail("str_split: the delimiter and the string must be strings", c.path)
    parts = text.split(delim)
    if len(args) == 3:
        return _walk_path(parts, [args[2]], c.path)
    return parts


def _repeat(c: Call, scope: Scope) -> Any:
    for_each = resolve(c.args["for_each"], scope)
    permutations = resolve(c.args.get("permutations", True), scope)
    keys = list(for_each)
    lists = []
    for k in keys:
        v = for_each[k]
        if not isinstance(v, list):
            raise fail(f"repeat: the values of {k} must be a list", c.path)
        lists.append(v)
    if permutations:
        combos = list(itertools.product(*lists))
    else:
        if len({len(v) for v in lists}) > 1:
            raise fail("repeat: with permutations false the lists must be as long", c.path)
        combos = list(zip(*lists, strict=True))
    template = c.args["template"]
    out = []
    for combo in combos:
        subs = dict(zip(keys, combo, strict=True))
        out.append(resolve(_substitute(template, subs), scope))
    return out


def _substitute(value: Any, subs: dict[str, Any]) -> Any:
    if isinstance(value, str):
        for k, v in subs.items():
            value = value.replace(k, _text(v))
        return value
    if isinstance(value, Call):
        return Call(value.fn, _substitute(value.args, subs), value.path)
    if isinstance(value, dict):
        return {_substitute(k, subs): _substitute(v, subs) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, subs) for v in value]
    return value


def condition_value(value: Any, scope: Scope, path: str) -> bool:
    """A condition expression: a condition's name, a boolean, or a condition function."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return scope.condition(value)
    if isinstance(value, Call) and value.fn in ("equals", "not", "and", "or", "get_param"):
        result = _FNS[value.fn](value, scope)
        if isinstance(result, bool):
            return result
        if isinstance(result, str) and result.lower() in ("true", "false"):
            return result.lower() == "true"
    raise fail("Invalid condition: a condition name, a boolean or a condition function", path)


def _if(c: Call, scope: Scope) -> Any:
    cond, yes, no = c.args
    return resolve(yes if condition_value(cond, scope, c.path) else no, scope)


def _equals(c: Call, scope: Scope) -> Any:
    a, b = resolve(c.args, scope)
    return bool(a == b)


def _not(c: Call, scope: Scope) -> Any:
    return not condition_value(c.args, scope, c.path)


def _and(c: Call, scope: Scope) -> Any:
    return all(condition_value(v, scope, c.path) for v in c.args)


def _or(c: Call, scope: Scope) -> Any:
    return any(condition_value(v, scope, c.path) for v in c.args)


def _get_file(c: Call, scope: Scope) -> Any:
    return scope.file(c.args)


def _digest(c: Call, scope: Scope) -> Any:
    alg, value = resolve(c.args, scope)
    if alg not in DIGESTS:
        raise fail("digest: algorithm must be one of " + ", ".join(DIGESTS), c.path)
    return hashlib.new(alg, _text(value).encode()).hexdigest()


def _map_merge(c: Call, scope: Scope) -> Any:
    maps = resolve(c.args, scope)
    if not isinstance(maps, list):
        raise fail("map_merge: expected a list of maps", c.path)
    out: dict[str, Any] = {}
    for m in maps:
        if m is None:
            continue
        if not isinstance(m, dict):
            raise fail("map_merge: every item must be a map", c.path)
        out.update(m)
    return out


_FNS = {
    "get_param": _get_param,
    "get_resource": _get_resource,
    "get_attr": _get_attr,
    "str_replace": _str_replace,
    "str_replace_strict": _str_replace,
    "list_join": _list_join,
    "str_split": _str_split,
    "repeat": _repeat,
    "if": _if,
    "equals": _equals,
    "not": _not,
    "and": _and,
    "or": _or,
    "get_file": _get_file,
    "digest": _digest,
    "map_merge": _map_merge,
}
