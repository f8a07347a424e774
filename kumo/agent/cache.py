"""The agent's cache: the latest body of every object its topics cover."""

from __future__ import annotations

import threading
from typing import Any

from kumo.compiler.model import ClusterView

KINDS = ("network", "subnet", "port", "agent", "security_group")


class Cache:
    def __init__(self, host: str) -> None:
        self.host = host
        self._objects: dict[str, dict[str, dict[str, Any]]] = {k: {} for k in KINDS}
        self._lock = threading.Lock()
        self.revision = 0

    def replace(self, revision: int, objects: list[dict[str, Any]]) -> None:
        fresh: dict[str, dict[str, dict[str, Any]]] = {k: {} for k in KINDS}
        for obj in objects:
            kind = obj.get("kind")
            if kind in fresh:
                body = {k: v for k, v in obj.items() if k != "kind"}
                fresh[kind][str(body["id"])] = body
        with self._lock:
            self._objects = fresh
            self.revision = revision

    def apply(self, event: dict[str, Any]) -> None:
        kind = event.get("kind")
        body = event.get("object") or {}
        with self._lock:
            self.revision = max(self.revision, int(event.get("revision", 0)))
            if kind not in self._objects or "id" not in body:
                return
            table = self._objects[kind]
            if event.get("op") == "delete" or (kind == "port" and not self._relevant_port(body)):
                table.pop(str(body["id"]), None)
            else:
                table[str(body["id"])] = body

    def _relevant_port(self, body: dict[str, Any]) -> bool:
        """A port on a network this host serves, bound here, or a member of
        a security group this host's filters refer to."""
        if body.get("binding:host_id") == self.host:
            return True
        if set(body.get("security_groups") or ()) & self._groups_locked():
            return True
        return any(
            pid != body.get("id")
            and p.get("network_id") == body.get("network_id")
            and p.get("binding:host_id") == self.host
            for pid, p in self._objects["port"].items()
        )

    def _groups_locked(self) -> set[str]:
        """Groups of local ports and the remote groups their rules name."""
        groups: set[str] = set()
        for p in self._objects["port"].values():
            if p.get("binding:host_id") == self.host:
                groups.update(str(g) for g in p.get("security_groups") or ())
        remote: set[str] = set()
        for gid in groups:
            body = self._objects["security_group"].get(gid) or {}
            for rule in body.get("security_group_rules") or ():
                if rule.get("remote_group_id"):
                    remote.add(str(rule["remote_group_id"]))
        return groups | remote

    def local_ports(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {
                i: b
                for i, b in self._objects["port"].items()
                if b.get("binding:host_id") == self.host
            }

    def topics(self) -> frozenset[str]:
        with self._lock:
            networks = {
                b["network_id"]
                for b in self._objects["port"].values()
                if b.get("binding:host_id") == self.host and b.get("network_id")
            }
            groups = self._groups_locked()
        return frozenset(
            {
                f"host:{self.host}",
                "agents",
                *(f"network:{n}" for n in networks),
                *(f"secgroup:{g}" for g in groups),
            }
        )

    def view(self) -> ClusterView:
        with self._lock:
            return ClusterView.from_bodies(
                networks=dict(self._objects["network"]),
                subnets=dict(self._objects["subnet"]),
                ports=dict(self._objects["port"]),
                agents=dict(self._objects["agent"]),
                security_groups=dict(self._objects["security_group"]),
            )

    def set_port_status(self, port_id: str, status: str) -> None:
        with self._lock:
            body = self._objects["port"].get(port_id)
            if body is not None:
                self._objects["port"][port_id] = {**body, "status": status}
