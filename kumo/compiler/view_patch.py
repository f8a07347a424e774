"""The next ``ClusterView`` from the last one and the objects that changed.

The agent's cache makes a view for every pass; built from scratch it copies
and sorts every kind's objects and, on first use, groups the ports per
network, host and security group and the subnets per network, a walk over
every object per pass. ``patched_view`` reuses the last view's mappings of
the kinds that did not change, patches those that did, and hands the new
view the last one's indexes with the changed ports and subnets moved: the
view is equal to the one built from scratch, in the same order (by id).
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any

from kumo.compiler.model import Body, ClusterView, hosts_of

FIELDS = {
    "network": "networks",
    "subnet": "subnets",
    "port": "ports",
    "security_group": "security_groups",
    "router": "routers",
    "floatingip": "floatingips",
    "server": "servers",
    "metering_label": "metering_labels",
}
"""Each kind's mapping in a ``ClusterView``."""


def patched_view(
    last: ClusterView,
    changed: Mapping[str, Mapping[str, Any]],
    agents: Mapping[str, Body] | None,
) -> ClusterView:
    """``last`` with the objects of ``changed`` (kind → id → (its view, or
    None when it is gone or does not parse; whether the cache holds it)),
    and, when not None, the hosts of ``agents``."""
    fields: dict[str, Any] = {}
    invalid = set(last.invalid)
    for kind, objects in changed.items():
        name = FIELDS[kind]
        before: Mapping[str, Any] = getattr(last, name)
        now = dict(before)
        added = False
        for object_id, (view, present) in objects.items():
            invalid.discard(f"{kind}:{object_id}")
            if view is None:
                now.pop(object_id, None)
                if present:
                    invalid.add(f"{kind}:{object_id}")
            else:
                added = added or object_id not in now
                now[object_id] = view
        fields[name] = MappingProxyType(dict(sorted(now.items())) if added else now)
    if agents is not None:
        hosts, bad = hosts_of(agents)
        invalid = {i for i in invalid if not i.startswith("agent:")} | set(bad)
        fields["hosts"] = MappingProxyType(dict(sorted(hosts.items())))
    view = ClusterView(
        **{name: fields.get(name, getattr(last, name)) for name in (*FIELDS.values(), "hosts")},
        invalid=tuple(sorted(invalid)),
    )
    _seed_indexes(last, view, changed.get("port", {}), changed.get("subnet", {}))
    # which ports differ from the last view's (``ClusterView.ports_changed_since``)
    object.__setattr__(
        view, "_ports_patched_from", (last.ports, frozenset(changed.get("port", ())))
    )
    return view


def _by_id(obj: Any) -> str:
    return str(obj.id)


def _seed_indexes(
    last: ClusterView,
    view: ClusterView,
    ports: Mapping[str, Any],
    subnets: Mapping[str, Any],
) -> None:
    """Give ``view`` the indexes ``last`` had built, with the changed ports
    and subnets moved."""
    known: dict[tuple[str, str], Any] = last.__dict__.get("_index_cache") or {}
    if not known:
        return
    port_changes: list[tuple[Any, Any]] = [(last.ports.get(i), view.ports.get(i)) for i in ports]
    subnet_changes: list[tuple[Any, Any]] = [
        (last.subnets.get(i), view.subnets.get(i)) for i in subnets
    ]
    seeded: dict[tuple[str, str], Any] = {}
    for (name, host), index in known.items():
        keys: Callable[[Any], Iterable[str]]
        changes: list[tuple[Any, Any]]
        if name == "ports_by_network":
            keys, changes = _network_of, port_changes
        elif name == "ports_by_host":
            keys, changes = _host_of, port_changes
        elif name == "groups":
            keys, changes = _groups_of, port_changes
        elif name == "local":
            keys, changes = _local_network_of(host), port_changes
        elif name == "subnets_by_network":
            keys, changes = _network_of, subnet_changes
        else:
            continue
        seeded[(name, host)] = _patched(index, changes, keys) if changes else index
    object.__setattr__(view, "_index_cache", seeded)


def _network_of(obj: Any) -> tuple[str]:
    return (obj.network_id,)


def _host_of(obj: Any) -> tuple[str]:
    return (obj.host,)


def _groups_of(obj: Any) -> tuple[str, ...]:
    return tuple(obj.security_groups)


def _local_network_of(host: str) -> Callable[[Any], tuple[str, ...]]:
    def keys(port: Any) -> tuple[str, ...]:
        return (port.network_id,) if port.host == host else ()

    return keys


def _patched(
    index: dict[str, tuple[Any, ...]],
    changes: list[tuple[Any, Any]],
    keys: Callable[[Any], Iterable[str]],
) -> dict[str, tuple[Any, ...]]:
    """A grouped index (key → objects by id) with ``changes`` (old, new) moved."""
    removed: dict[str, set[str]] = {}
    added: dict[str, list[Any]] = {}
    for old, new in changes:
        if old is not None:
            for key in keys(old):
                removed.setdefault(key, set()).add(old.id)
        if new is not None:
            for key in keys(new):
                added.setdefault(key, []).append(new)
    out = dict(index)
    for key in removed.keys() | added.keys():
        gone = removed.get(key, set())
        kept = [x for x in out.get(key, ()) if x.id not in gone] if gone else list(out.get(key, ()))
        for x in added.get(key, ()):
            insort(kept, x, key=_by_id)
        if kept:
            out[key] = tuple(kept)
        else:
            out.pop(key, None)
    return out
