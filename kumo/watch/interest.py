"""What a host needs to watch, worked out from what it holds.

Pure functions over objects indexed as kind → id → body (the watch feed's
bodies). The agent's cache asks them after every change; the API asks them
when an agent's first list should come back whole (``kumo.watch.snapshot``):
the topics a host needs depend on the objects those topics bring (its ports
name networks and groups, the networks' routers name more networks...), so
the answer is a fixed point.

Which ports are a router's comes from the router's body (``kumo_ports``,
the API's record of them), never from a port's ``device_id`` or
``device_owner``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Objects = Mapping[str, Mapping[str, dict[str, Any]]]
"""kind → id → body."""


def index(objects: Iterable[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """A list's objects (each with its ``kind``) indexed as kind → id → body."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for obj in objects:
        kind = obj.get("kind")
        if isinstance(kind, str) and "id" in obj:
            out.setdefault(kind, {})[str(obj["id"])] = {k: v for k, v in obj.items() if k != "kind"}
    return out


def router_members(objects: Objects, routers: Iterable[str]) -> list[dict[str, Any]]:
    """The ports (``kumo_ports`` entries) of these routers."""
    bodies = objects.get("router") or {}
    out: list[dict[str, Any]] = []
    for rid in routers:
        out.extend((bodies.get(rid) or {}).get("kumo_ports") or ())
    return out


def routers(host: str, objects: Objects) -> set[str]:
    """Routers with a port on a network of a local port, with a port
    (gateway, SNAT) bound here, or with this host among their gateway
    hosts (``kumo_gateway_hosts``: active or standby)."""
    ports = objects.get("port") or {}
    local = {p.get("network_id") for p in ports.values() if p.get("binding:host_id") == host}
    out: set[str] = set()
    for rid, body in (objects.get("router") or {}).items():
        if host in (body.get("kumo_gateway_hosts") or ()):
            out.add(rid)
            continue
        for member in body.get("kumo_ports") or ():
            port = ports.get(str(member.get("port_id"))) or {}
            if member.get("network_id") in local or port.get("binding:host_id") == host:
                out.add(rid)
                break
    return out


def networks(
    host: str, objects: Objects, exclude: str = "", here: set[str] | None = None
) -> set[str]:
    """Networks of local ports (but ``exclude``), of the ports of routers
    run here (``here`` when already worked out), and those routers'
    external networks."""
    ports = objects.get("port") or {}
    nets = {
        str(p["network_id"])
        for pid, p in ports.items()
        if p.get("binding:host_id") == host and pid != exclude and p.get("network_id")
    }
    if here is None:
        here = routers(host, objects)
    nets |= {str(m["network_id"]) for m in router_members(objects, here) if m.get("network_id")}
    bodies = objects.get("router") or {}
    for rid in here:
        gateway = (bodies.get(rid) or {}).get("external_gateway_info") or {}
        if gateway.get("network_id"):
            nets.add(str(gateway["network_id"]))
    return nets


def groups(host: str, objects: Objects) -> tuple[set[str], set[str]]:
    """(groups of local ports: their rules are needed, the remote groups
    those rules name: their members are needed)."""
    local: set[str] = set()
    for p in (objects.get("port") or {}).values():
        if p.get("binding:host_id") == host:
            local.update(str(g) for g in p.get("security_groups") or ())
    bodies = objects.get("security_group") or {}
    remote: set[str] = set()
    for gid in local:
        for rule in (bodies.get(gid) or {}).get("security_group_rules") or ():
            if rule.get("remote_group_id"):
                remote.add(str(rule["remote_group_id"]))
    return local, remote


@dataclass(frozen=True)
class Interest:
    """What a host's own ports, its routers and its groups' rules make it
    need, worked out in one walk over what it holds."""

    networks: frozenset[str]
    routers: frozenset[str]
    router_ports: frozenset[str]
    """The ports of those routers (``kumo_ports``)."""
    local_groups: frozenset[str]
    remote_groups: frozenset[str]

    @classmethod
    def of(cls, host: str, objects: Objects, exclude: str = "") -> Interest:
        """``exclude``: a port left out of the host's own ports (for its networks)."""
        here = routers(host, objects)
        local, remote = groups(host, objects)
        return cls(
            networks=frozenset(networks(host, objects, exclude, here)),
            routers=frozenset(here),
            router_ports=frozenset(str(m.get("port_id")) for m in router_members(objects, here)),
            local_groups=frozenset(local),
            remote_groups=frozenset(remote),
        )

    def topics(self, host: str) -> frozenset[str]:
        """The topics whose objects the host needs."""
        return frozenset(
            {
                f"host:{host}",
                "agents",
                "metering",
                *(f"network:{n}" for n in self.networks),
                *(f"secgroup:{g}" for g in self.local_groups),
                *(f"members:{g}" for g in self.remote_groups),
                *(f"router:{r}" for r in self.routers),
            }
        )


def topics(host: str, objects: Objects) -> frozenset[str]:
    """The topics whose objects this host needs, given what it holds."""
    return Interest.of(host, objects).topics(host)
