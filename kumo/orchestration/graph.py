"""The dependency graph of a stack's resources: edges, cycles, orders.

An edge runs from a resource to each resource it refers to (get_resource,
get_attr, anywhere in its properties or metadata) or names in depends_on.
Create walks it from the leaves; delete walks it the other way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from kumo.orchestration import functions as fn
from kumo.orchestration.errors import StackValidationFailed


class Definition(Protocol):
    @property
    def properties(self) -> Any: ...
    @property
    def metadata(self) -> Any: ...
    @property
    def depends_on(self) -> tuple[str, ...]: ...


def dependencies(defs: Mapping[str, Definition]) -> dict[str, set[str]]:
    """name -> the names it needs first (only names among ``defs``)."""
    out = {}
    for name, d in defs.items():
        needs = fn.references(d.properties) | fn.references(d.metadata) | set(d.depends_on)
        out[name] = {n for n in needs if n in defs and n != name}
    return out


def restrict(deps: Mapping[str, set[str]], names: Iterable[str]) -> dict[str, set[str]]:
    keep = set(names)
    return {n: {d for d in deps[n] if d in keep} for n in deps if n in keep}


def dependents(deps: Mapping[str, set[str]]) -> dict[str, set[str]]:
    """name -> the names that need it (the graph reversed)."""
    out: dict[str, set[str]] = {n: set() for n in deps}
    for n, needs in deps.items():
        for d in needs:
            out.setdefault(d, set()).add(n)
    return out


def levels(deps: Mapping[str, set[str]]) -> list[list[str]]:
    """Names in waves: each wave needs only earlier waves (sorted within a wave)."""
    done: set[str] = set()
    left = dict(deps)
    out = []
    while left:
        wave = sorted(n for n, needs in left.items() if needs <= done)
        if not wave:
            raise StackValidationFailed(_cycle_message(left))
        out.append(wave)
        done |= set(wave)
        for n in wave:
            del left[n]
    return out


def check_acyclic(deps: Mapping[str, set[str]]) -> None:
    levels(deps)


def _cycle_message(left: Mapping[str, set[str]]) -> str:
    # follow edges inside what is left until a name repeats
    start = sorted(left)[0]
    seen: list[str] = []
    node = start
    while node not in seen:
        seen.append(node)
        node = sorted(d for d in left[node] if d in left)[0]
    cycle = seen[seen.index(node) :] + [node]
    return "Circular Dependency Found: " + " -> ".join(cycle)
