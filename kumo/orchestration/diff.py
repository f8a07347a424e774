"""What an update does to each resource, from the old and new resolved definitions.

Pure: ``change`` compares one resource's type and resolved properties,
``plan`` a whole stack's. A property the type can change in place
(``update_allowed``) is updated; any other change replaces the resource
(the replacement is made before the old one is deleted).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import Any


class Change(enum.Enum):
    ADD = "added"
    DELETE = "deleted"
    KEEP = "unchanged"
    UPDATE = "updated"
    REPLACE = "replaced"


def changed_keys(old: Mapping[str, Any], new: Mapping[str, Any]) -> set[str]:
    return {k for k in set(old) | set(new) if old.get(k) != new.get(k)}


def change(
    old_type: str,
    old_props: Mapping[str, Any],
    new_type: str,
    new_props: Mapping[str, Any],
    update_allowed: frozenset[str],
) -> Change:
    if old_type != new_type:
        return Change.REPLACE
    keys = changed_keys(old_props, new_props)
    if not keys:
        return Change.KEEP
    return Change.UPDATE if keys <= update_allowed else Change.REPLACE


def plan(
    old: Mapping[str, tuple[str, Mapping[str, Any]]],
    new: Mapping[str, tuple[str, Mapping[str, Any]]],
    update_allowed: Callable[[str], frozenset[str]],
) -> dict[str, Change]:
    out = {}
    for name in sorted(set(old) | set(new)):
        if name not in new:
            out[name] = Change.DELETE
        elif name not in old:
            out[name] = Change.ADD
        else:
            (ot, op), (nt, np) = old[name], new[name]
            out[name] = change(ot, op, nt, np, update_allowed(nt))
    return out
