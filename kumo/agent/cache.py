"""The agent's cache: the latest body of every object its topics cover.

Which topics those are follows from what it holds (``kumo.watch.interest``).
"""

from __future__ import annotations

import threading
from typing import Any

from kumo.compiler.model import PARSERS, ClusterView, parse_one
from kumo.compiler.view_patch import patched_view
from kumo.watch import interest

KINDS = (
    "network", "subnet", "port", "agent", "security_group", "router", "floatingip", "server",
    "metering_label",
)  # fmt: skip


class Cache:
    def __init__(self, host: str) -> None:
        self.host = host
        self._objects: dict[str, dict[str, dict[str, Any]]] = {k: {} for k in KINDS}
        self._views: dict[str, dict[str, Any]] = {k: {} for k in PARSERS}
        """Each body parsed once, when it arrives (parsing 2,000 ports every
        pass cost more than compiling them); None for a body that does not
        parse."""
        self._lock = threading.Lock()
        self._request_ids: dict[str, str] = {}
        """Port id → the API request behind the last change of the port."""
        self.revision = 0
        self.generation = 0
        """Counts changes of substance (what ``apply`` reports, each
        ``replace``): equal generations hold equal views."""
        self._last: ClusterView | None = None
        """The view ``view_at`` made last."""
        self._since: dict[str, set[str]] | None = None
        """Kind → ids of the objects whose view changed since ``_last``
        (None: make the next view from scratch)."""
        self._interest: interest.Interest | None = None
        """What this host needs given what it holds (which other hosts' ports
        it keeps, its topics), kept until a port bound here, a router or a
        security group changes: an event about another host's port changes
        none of it, so a member joining a group of 1,000 costs no walk over
        every held port (None: work it out again when asked)."""

    def replace(self, revision: int, objects: list[dict[str, Any]]) -> None:
        fresh: dict[str, dict[str, dict[str, Any]]] = {k: {} for k in KINDS}
        for obj in objects:
            kind = obj.get("kind")
            if kind in fresh:
                body = dict(obj)
                del body["kind"]
                fresh[kind][str(body["id"])] = body
        views = {k: {i: parse_one(k, b) for i, b in fresh[k].items()} for k in PARSERS}
        with self._lock:
            self._objects = fresh
            self._views = views
            self.revision = revision
            self.generation += 1
            self._since = None
            self._interest = None

    def apply(self, event: dict[str, Any]) -> bool:
        """Apply one watch event; whether the cache changed in more than
        bookkeeping (the echo of this agent's own status report changes only
        the revision and timestamp of a port whose status the cache already
        holds, and needs no pass)."""
        kind = event.get("kind")
        body = event.get("object") or {}
        with self._lock:
            self.revision = max(self.revision, int(event.get("revision", 0)))
            if kind not in self._objects or "id" not in body:
                return False
            table = self._objects[kind]
            key = str(body["id"])
            views = self._views.get(kind)
            gone = event.get("op") == "delete"
            changed_view = False
            here = kind == "port" and self._local(table.get(key), body)
            if here or kind in _SHAPES_INTEREST:
                self._interest = None
            if kind == "port" and not self._relevant_port(body, here):
                gone = True
            if kind == "server" and body.get("host") != self.host:
                gone = True  # moved away: sent to its old host once more
            if gone:
                self._request_ids.pop(key, None)
                if views is not None:
                    views.pop(key, None)
                changed = table.pop(key, None) is not None
            else:
                old = table.get(key)
                table[key] = body
                ignore = BOOKKEEPING
                if kind == "port" and body.get("binding:host_id") != self.host:
                    ignore = ELSEWHERE_PORT_BOOKKEEPING
                changed = old is None or _substance(old, ignore) != _substance(body, ignore)
                if kind == "port" and event.get("request_id") and _caused(old, body):
                    self._request_ids[key] = str(event["request_id"])
                if views is not None and (changed or key not in views):
                    views[key] = parse_one(kind, body)
                    changed_view = True
            if self._since is not None and (changed or (not gone and changed_view)):
                self._since.setdefault(kind, set()).add(key)
            self.generation += changed
            return changed

    def _local(self, old: dict[str, Any] | None, new: dict[str, Any]) -> bool:
        """Whether a port event concerns a port bound here (before or now)."""
        host = self.host
        return new.get("binding:host_id") == host or (
            old is not None and old.get("binding:host_id") == host
        )

    def _relevant_port(self, body: dict[str, Any], here: bool) -> bool:
        """A port bound here, on a network this host serves, of a router it
        runs, or a member of a security group its filters refer to. ``here``:
        the port was or is bound here (the networks are worked out without
        it, and not kept)."""
        if body.get("binding:host_id") == self.host:
            return True
        if here:
            known = interest.Interest.of(self.host, self._objects, exclude=str(body.get("id")))
        else:
            known = self._held_interest()
        return (
            body.get("network_id") in known.networks
            or body.get("id") in known.router_ports
            or not known.remote_groups.isdisjoint(body.get("security_groups") or ())
        )

    def local_ports(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {
                i: b
                for i, b in self._objects["port"].items()
                if b.get("binding:host_id") == self.host
            }

    def topics(self) -> frozenset[str]:
        """The topics this host needs (asked after every event: worked out
        again only after a change that can move them)."""
        with self._lock:
            return self._held_interest().topics(self.host)

    def _held_interest(self) -> interest.Interest:
        if self._interest is None:
            self._interest = interest.Interest.of(self.host, self._objects)
        return self._interest

    def view(self) -> ClusterView:
        return self.view_at()[1]

    def view_at(self) -> tuple[int, ClusterView]:
        """The view and the generation it was taken at: patched from the
        last one when few objects changed since (``patched_view``)."""
        with self._lock:
            generation = self.generation
            since, last = self._since, self._last
            if since is not None and last is not None and _few(since, len(last.ports)):
                view = patched_view(last, self._changed(since), self._agents_if(since))
            else:
                view = self._whole()
            self._last, self._since = view, {}
            return generation, view

    def _changed(self, since: dict[str, set[str]]) -> dict[str, dict[str, tuple[Any, bool]]]:
        """Kind → id → (its view or None, whether the cache holds it)."""
        return {
            kind: {i: (views.get(i), i in views) for i in ids}
            for kind, ids in since.items()
            if (views := self._views.get(kind)) is not None
        }

    def _agents_if(self, since: dict[str, set[str]]) -> dict[str, dict[str, Any]] | None:
        return dict(self._objects["agent"]) if "agent" in since else None

    def _whole(self) -> ClusterView:
        parsed = {k: dict(v) for k, v in self._views.items()}
        agents = dict(self._objects["agent"])
        invalid = [f"{k}:{i}" for k, views in parsed.items() for i, v in views.items() if v is None]
        valid = {
            k: {i: v for i, v in views.items() if v is not None} for k, views in parsed.items()
        }
        return ClusterView.assemble(
            networks=valid["network"],
            subnets=valid["subnet"],
            ports=valid["port"],
            agents=agents,
            security_groups=valid["security_group"],
            routers=valid["router"],
            floatingips=valid["floatingip"],
            invalid=invalid,
            servers=valid["server"],
            metering_labels=valid["metering_label"],
        )

    def request_id(self, port_id: str) -> str | None:
        """The API request behind the last change the watch brought for this port."""
        with self._lock:
            return self._request_ids.get(port_id)

    def body(self, kind: str, object_id: str) -> dict[str, Any] | None:
        """The cached body of one object, or None."""
        with self._lock:
            return self._objects.get(kind, {}).get(object_id)

    def bodies(self, kind: str) -> dict[str, dict[str, Any]]:
        """Every cached body of ``kind``, by id (a copy of the index)."""
        with self._lock:
            return dict(self._objects.get(kind, {}))

    def set_port_status(self, port_id: str, status: str) -> None:
        with self._lock:
            body = self._objects["port"].get(port_id)
            if body is not None:
                self._objects["port"][port_id] = {**body, "status": status}


_SHAPES_INTEREST = frozenset({"router", "security_group"})
"""Kinds whose bodies decide which other hosts' ports a host keeps (and so do
its own ports: a port event bound here, before or now, counts too)."""


BOOKKEEPING = frozenset({"revision_number", "updated_at", "heartbeat_timestamp"})

ELSEWHERE_PORT_BOOKKEEPING = BOOKKEEPING | {"status"}
"""What of a port bound to another host calls for no pass when it alone
changes: its status is that host's report, and nothing here is compiled
from it (a cloud starting up turns thousands of ports ACTIVE, each an
event to every host of its networks and groups)."""


def _few(since: dict[str, set[str]], ports: int) -> bool:
    """Whether so few objects changed that patching beats starting over."""
    return sum(len(ids) for ids in since.values()) * 8 <= max(ports, 64)


def _substance(body: dict[str, Any], ignore: frozenset[str] = BOOKKEEPING) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ignore}


def _caused(old: dict[str, Any] | None, new: dict[str, Any]) -> bool:
    """Whether a port event names a request worth remembering: anything but
    a status report (an agent's own echo would otherwise replace the request
    that made the port, often before the agent logs that it wired it)."""
    if old is None:
        return True
    ignore = BOOKKEEPING | {"status"}
    return {k: v for k, v in old.items() if k not in ignore} != {
        k: v for k, v in new.items() if k not in ignore
    }
