"""KernelAdapter: the ``RawKernel`` port on the real kernel, over netlink (pyroute2).

One netlink socket per namespace, opened in this process by entering the
namespace from the calling thread (``netns.socket_in``) and handed to
pyroute2 as a file descriptor, so no helper process is forked. All sockets
share one asyncio loop (pyroute2 would make one per socket), are kept in an
LRU cache bounded by the descriptor limit, and are opened without multicast
subscriptions: the adapter only asks, it never listens. An open socket keeps
its namespace alive, so removing a namespace closes its socket first.

Failures surface as ``OSError`` carrying the kernel's errno (pyroute2's
``NetlinkError`` is converted here); ``port.KernelPort`` maps them.

Not thread-safe: use one adapter from one thread.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import resource
import socket
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from typing import Any, TypeVar

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl import ndmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

from kumo.compiler.plan import (
    HOST_NS,
    Address,
    FdbEntry,
    Link,
    NeighEntry,
    PolicyRule,
    Route,
    Sysctl,
    VxlanSpec,
)
from kumo.dataplane import netns
from kumo.dataplane.port import ROUTE_PROTO, LinkChange, LinkState

_NETLINK_ROUTE = 0
_IFF_UP = 0x1
_IFA_F_NODAD = 0x02
_MAIN_TABLE = 254
_SCOPE_LINK = 253
_AF_BRIDGE = 7
_RTM_GETNEIGH = 30
_KIND_TO_KERNEL = {k: k for k in ("bridge", "vxlan", "vlan", "veth", "dummy")}

T = TypeVar("T")


def _dump_routes(ipr: IPRoute, family: int) -> Any:
    return ipr.get_routes(family=family)


def _dump_rules(ipr: IPRoute, family: int) -> Any:
    return ipr.get_rules(family=family)


def _get_link(ipr: IPRoute, **which: Any) -> list[Any]:
    return list(ipr.link("get", **which))


def _vxlan_underlay(msg: Any) -> int | None:
    info = msg.get("IFLA_LINKINFO")
    if info is None or info.get("IFLA_INFO_KIND") != "vxlan":
        return None
    data = info.get("IFLA_INFO_DATA")
    return int(data.get("IFLA_VXLAN_LINK") or 0) or None if data is not None else None


def _dump_neighbours_of(ipr: IPRoute, index: int) -> list[Any]:
    """Neighbour entries of one device: the kernel filters on NDA_IFINDEX."""
    msg = ndmsg.ndmsg()
    msg["family"] = socket.AF_UNSPEC
    msg["attrs"] = [("NDA_IFINDEX", index)]
    return list(ipr.nlm_request(msg, msg_type=_RTM_GETNEIGH))


def _dump_fdb_of(ipr: IPRoute, index: int) -> list[Any]:
    """FDB entries of one bridge port or VXLAN device. Without strict
    checking the kernel reads an fdb dump request as an ``ifinfomsg`` whose
    index names the port (the legacy layout iproute2 used)."""
    msg = ifinfmsg()
    msg["family"] = _AF_BRIDGE
    msg["index"] = index
    return list(ipr.nlm_request(msg, msg_type=_RTM_GETNEIGH))


_DEFAULT_RULES = frozenset({0, 32766, 32767})


def _sysctl_path(path: str) -> str:
    if ".." in path or path.startswith("/"):
        raise OSError(22, f"bad sysctl path {path}")
    return f"/proc/sys/{path}"


def _os_error(exc: NetlinkError) -> OSError:
    code = int(getattr(exc, "code", 0) or 0) or 5
    return OSError(code, f"{os.strerror(code)}: {exc}")


class KernelAdapter:
    """``host_netns`` is the namespace that stands for ``HOST_NS`` (None: the
    namespace this process is in)."""

    def __init__(self, host_netns: str | None = None, *, max_sockets: int = 2048) -> None:
        self.host_netns = host_netns
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        self.max_sockets = max(8, min(max_sockets, soft // 4))
        """Sockets kept open (one per namespace, one descriptor each); with
        more namespaces than this, sockets are reopened as needed."""
        self._loop = asyncio.new_event_loop()
        self._sockets: OrderedDict[str, IPRoute] = OrderedDict()
        self._indexes: dict[str, dict[str, int]] = {}

    # -- plumbing ----------------------------------------------------------------
    def _real(self, ns: str) -> str | None:
        return self.host_netns if ns == HOST_NS else ns

    def _ipr(self, ns: str) -> IPRoute:
        ipr = self._sockets.get(ns)
        if ipr is not None:
            self._sockets.move_to_end(ns)
            return ipr
        sock = netns.socket_in(self._real(ns), socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_ROUTE)
        try:
            ipr = IPRoute(fileno=sock.detach(), groups=0, use_event_loop=self._loop)
        except Exception:
            sock.close()
            raise
        self._sockets[ns] = ipr
        while len(self._sockets) > self.max_sockets:
            _, old = self._sockets.popitem(last=False)
            old.close()
        return ipr

    def _forget(self, ns: str) -> None:
        ipr = self._sockets.pop(ns, None)
        if ipr is not None:
            ipr.close()
        self._indexes.pop(ns, None)

    def close(self) -> None:
        for ns in list(self._sockets):
            self._forget(ns)
        self._loop.close()

    @contextmanager
    def _netlink(self) -> Iterator[None]:
        try:
            yield
        except NetlinkError as exc:
            raise _os_error(exc) from exc

    def _call(self, ns: str, fn: Callable[[IPRoute], T]) -> T:
        with self._netlink():
            return fn(self._ipr(ns))

    def _index(self, ns: str, name: str) -> int:
        known = self._indexes.setdefault(ns, {})
        if name not in known:
            found = self._call(ns, lambda ipr: ipr.link_lookup(ifname=name))
            if not found:
                raise OSError(19, f"no device {name} in {ns or 'host'}")
            known[name] = int(found[0])
        return known[name]

    def _names(self, ns: str, needed: set[int]) -> dict[int, str]:
        """Index → name for ``needed`` indexes, from the last link dump of the
        namespace when it knows them all, else from a fresh one."""
        known = {index: name for name, index in self._indexes.get(ns, {}).items()}
        if needed <= known.keys():
            return known
        links = self._call(ns, lambda ipr: ipr.get_links())
        by_name = {str(m.get("IFLA_IFNAME")): int(m["index"]) for m in links}
        self._indexes[ns] = by_name
        return {index: name for name, index in by_name.items()}

    # -- namespaces ------------------------------------------------------------------
    def list_netns(self) -> frozenset[str]:
        return netns.list_names()

    def add_netns(self, name: str) -> None:
        self._forget(name)  # a socket still bound to an earlier namespace of that name
        netns.create(name)

    def del_netns(self, name: str) -> None:
        self._forget(name)
        netns.remove(name)

    # -- links -----------------------------------------------------------------------
    def list_links(self, ns: str) -> tuple[LinkState, ...]:
        messages = self._call(ns, lambda ipr: ipr.get_links())
        by_index = {int(m["index"]): str(m.get("IFLA_IFNAME")) for m in messages}
        self._indexes[ns] = {name: index for index, name in by_index.items()}
        return tuple(self._link_state(ns, m, by_index) for m in messages)

    def links_named(self, ns: str, names: frozenset[str]) -> tuple[LinkState, ...]:
        messages = []
        for name in sorted(names):
            try:
                found = self._call(ns, partial(_get_link, ifname=name))
            except OSError as exc:
                if exc.errno == errno.ENODEV:
                    self._indexes.get(ns, {}).pop(name, None)
                    continue
                raise
            messages += found
        known = self._indexes.setdefault(ns, {})
        for m in messages:
            known[str(m.get("IFLA_IFNAME"))] = int(m["index"])
        by_index = {index: name for name, index in known.items()}
        related = {
            int(x)
            for m in messages
            for x in (m.get("IFLA_MASTER"), m.get("IFLA_LINK"), _vxlan_underlay(m))
            if x
        }
        for index in related - by_index.keys():
            for m in self._call(ns, partial(_get_link, index=index)):
                by_index[index] = str(m.get("IFLA_IFNAME"))
                known[by_index[index]] = index
        return tuple(self._link_state(ns, m, by_index) for m in messages)

    def _link_state(self, ns: str, msg: Any, by_index: dict[int, str]) -> LinkState:
        info = msg.get("IFLA_LINKINFO")
        kind = str(info.get("IFLA_INFO_KIND") or "") if info is not None else ""
        data = info.get("IFLA_INFO_DATA") if info is not None else None
        master = msg.get("IFLA_MASTER")
        vxlan = vlan_id = parent = None
        if kind == "vxlan" and data is not None:
            underlay = data.get("IFLA_VXLAN_LINK")
            vxlan = VxlanSpec(
                vni=int(data.get("IFLA_VXLAN_ID")),
                local=data.get("IFLA_VXLAN_LOCAL") or data.get("IFLA_VXLAN_LOCAL6") or None,
                dstport=int(data.get("IFLA_VXLAN_PORT") or 0),
                underlay=by_index.get(int(underlay)) if underlay else None,
                learning=bool(data.get("IFLA_VXLAN_LEARNING")),
                proxy=bool(data.get("IFLA_VXLAN_PROXY")),
            )
        elif kind == "vlan" and data is not None:
            vlan_id = int(data.get("IFLA_VLAN_ID"))
            lower = msg.get("IFLA_LINK")
            parent = by_index.get(int(lower)) if lower else None
        learning = None
        if master and info is not None and info.get("IFLA_INFO_SLAVE_KIND") == "bridge":
            port = info.get("IFLA_INFO_SLAVE_DATA")
            value = port.get("IFLA_BRPORT_LEARNING") if port is not None else None
            learning = bool(value) if value is not None else None
        return LinkState(
            netns=ns,
            name=str(msg.get("IFLA_IFNAME")),
            kind=kind,
            mtu=int(msg.get("IFLA_MTU") or 0),
            mac=str(msg.get("IFLA_ADDRESS") or ""),
            up=bool(msg["flags"] & _IFF_UP),
            master=by_index.get(int(master)) if master else None,
            learning=learning,
            vxlan=vxlan,
            vlan_id=vlan_id,
            parent=parent,
        )

    def add_link(self, link: Link, peer: Link | None) -> None:
        ns = link.netns
        spec: dict[str, Any] = {"ifname": link.name, "kind": _KIND_TO_KERNEL[link.kind]}
        if link.mtu is not None:
            spec["mtu"] = link.mtu
        if link.mac is not None:
            spec["address"] = link.mac
        if link.up:
            spec["state"] = "up"
        if link.kind == "vxlan" and link.vxlan is not None:
            v = link.vxlan
            spec.update(
                vxlan_id=v.vni,
                vxlan_port=v.dstport,
                vxlan_learning=int(v.learning),
                vxlan_proxy=int(v.proxy),
            )
            if v.local:
                v6 = ipaddress.ip_address(v.local).version == 6
                spec["vxlan_local6" if v6 else "vxlan_local"] = v.local
            if v.underlay:
                spec["vxlan_link"] = self._index(ns, v.underlay)
        elif link.kind == "vlan":
            spec.update(vlan_id=link.vlan_id, link=self._index(ns, link.parent or ""))
        fd = None
        try:
            if link.kind == "veth":
                if link.peer is None:
                    raise OSError(22, f"veth {link.name} without peer")
                peer_spec: dict[str, Any] = {"ifname": link.peer.name}
                if link.peer.netns != ns:
                    fd = netns.open_fd(self._real(link.peer.netns) or "")
                    peer_spec["net_ns_fd"] = fd
                if peer is not None and peer.mtu is not None:
                    peer_spec["mtu"] = peer.mtu
                if peer is not None and peer.mac is not None:
                    peer_spec["address"] = peer.mac
                spec["peer"] = peer_spec
            self._call(ns, lambda ipr: ipr.link("add", **spec))
        finally:
            if fd is not None:
                os.close(fd)
        self._indexes.get(ns, {}).pop(link.name, None)
        if link.peer is not None and peer is not None and peer.up:
            self._indexes.get(link.peer.netns, {}).pop(link.peer.name, None)
            self._set(link.peer.netns, link.peer.name, state="up")

    def _set(self, ns: str, name: str, **attrs: Any) -> None:
        index = self._index(ns, name)
        self._call(ns, lambda ipr: ipr.link("set", index=index, **attrs))

    def set_link(self, ns: str, name: str, change: LinkChange) -> None:
        attrs: dict[str, Any] = {}
        if change.mtu is not None:
            attrs["mtu"] = change.mtu
        if change.mac is not None:
            attrs["address"] = change.mac
        if change.up is not None:
            attrs["state"] = "up" if change.up else "down"
        if attrs:
            self._set(ns, name, **attrs)

    def set_master(self, ns: str, name: str, master: str | None) -> None:
        self._set(ns, name, master=self._index(ns, master) if master else 0)

    def set_learning(self, ns: str, name: str, learning: bool) -> None:
        index = self._index(ns, name)
        self._call(ns, lambda ipr: ipr.brport("set", index=index, learning=int(learning)))

    def del_link(self, ns: str, name: str) -> None:
        index = self._index(ns, name)
        try:
            self._call(ns, lambda ipr: ipr.link("del", index=index))
        finally:
            self._indexes.get(ns, {}).pop(name, None)

    # -- addresses ---------------------------------------------------------------------
    def list_addresses(self, ns: str) -> tuple[Address, ...]:
        messages = self._call(ns, lambda ipr: ipr.get_addr())
        names = self._names(ns, {int(m["index"]) for m in messages})
        out = []
        for m in messages:
            ip = m.get("IFA_LOCAL") or m.get("IFA_ADDRESS")
            name = names.get(int(m["index"]))
            if ip and name:
                out.append(Address(ns, name, f"{ip}/{m['prefixlen']}"))
        return tuple(out)

    def addresses_on(self, ns: str, ifnames: frozenset[str]) -> tuple[Address, ...]:
        # Address dumps are filtered by device only under strict checking,
        # which this socket does not ask for: filter here (addresses are few).
        return tuple(a for a in self.list_addresses(ns) if a.ifname in ifnames)

    def add_address(self, address: Address) -> None:
        iface = ipaddress.ip_interface(address.address)
        index = self._index(address.netns, address.ifname)
        extra: dict[str, Any] = {}
        if iface.version == 6:
            extra["flags"] = _IFA_F_NODAD
        self._call(
            address.netns,
            lambda ipr: ipr.addr(
                "add",
                index=index,
                address=str(iface.ip),
                prefixlen=iface.network.prefixlen,
                **extra,
            ),
        )

    def del_address(self, address: Address) -> None:
        iface = ipaddress.ip_interface(address.address)
        index = self._index(address.netns, address.ifname)
        self._call(
            address.netns,
            lambda ipr: ipr.addr(
                "del", index=index, address=str(iface.ip), prefixlen=iface.network.prefixlen
            ),
        )

    # -- routes ------------------------------------------------------------------------
    def list_routes(self, ns: str) -> tuple[Route, ...]:
        mine = [
            m
            for m in self._call(ns, partial(_dump_routes, family=socket.AF_UNSPEC))
            if m["proto"] == ROUTE_PROTO
        ]
        names = self._names(ns, {int(m.get("RTA_OIF") or 0) for m in mine} - {0})
        out: list[Route] = []
        for m in mine:
            zero = "0.0.0.0" if m["family"] == socket.AF_INET else "::"
            dst = f"{m.get('RTA_DST') or zero}/{m['dst_len']}"
            oif = m.get("RTA_OIF")
            out.append(
                Route(
                    ns,
                    str(ipaddress.ip_network(dst, strict=False)),
                    m.get("RTA_GATEWAY"),
                    names.get(int(oif), "") if oif else "",
                    int(m.get("RTA_TABLE") or m["table"]),
                )
            )
        return tuple(out)

    def _route_spec(self, route: Route) -> dict[str, Any]:
        net = ipaddress.ip_network(route.dst)
        spec: dict[str, Any] = {
            "family": socket.AF_INET if net.version == 4 else socket.AF_INET6,
            "dst": str(net.network_address),
            "dst_len": net.prefixlen,
            "table": route.table,
            "proto": ROUTE_PROTO,
            "oif": self._index(route.netns, route.ifname),
        }
        if route.gateway:
            spec["gateway"] = route.gateway
        else:
            spec["scope"] = _SCOPE_LINK  # as ``ip route`` does; delete must match it
        return spec

    def replace_route(self, route: Route) -> None:
        spec = self._route_spec(route)
        self._call(route.netns, lambda ipr: ipr.route("replace", **spec))

    def del_route(self, route: Route) -> None:
        spec = self._route_spec(route)
        self._call(route.netns, lambda ipr: ipr.route("del", **spec))

    # -- policy rules and sysctls ---------------------------------------------------------
    def list_rules(self, ns: str) -> tuple[PolicyRule, ...]:
        out: list[PolicyRule] = []
        for family in (socket.AF_INET, socket.AF_INET6):
            for m in self._call(ns, partial(_dump_rules, family=family)):
                priority = int(m.get("FRA_PRIORITY") or 0)
                if priority in _DEFAULT_RULES:
                    continue
                src = m.get("FRA_SRC")
                out.append(
                    PolicyRule(
                        ns,
                        priority,
                        int(m.get("FRA_TABLE") or m["table"]),
                        f"{src}/{m['src_len']}" if src else None,
                    )
                )
        return tuple(out)

    def _rule_spec(self, rule: PolicyRule) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "family": socket.AF_INET if rule.family == 4 else socket.AF_INET6,
            "table": rule.table,
            "priority": rule.priority,
        }
        if rule.src:
            net = ipaddress.ip_network(rule.src)
            spec.update(src=str(net.network_address), src_len=net.prefixlen)
        return spec

    def add_rule(self, rule: PolicyRule) -> None:
        spec = self._rule_spec(rule)
        self._call(rule.netns, lambda ipr: ipr.rule("add", **spec))

    def del_rule(self, rule: PolicyRule) -> None:
        spec = self._rule_spec(rule)
        self._call(rule.netns, lambda ipr: ipr.rule("del", **spec))

    def read_sysctl(self, ns: str, path: str) -> str:
        with netns.entered(self._real(ns)), open(_sysctl_path(path)) as f:
            return f.read().strip()

    def write_sysctl(self, setting: Sysctl) -> None:
        with netns.entered(self._real(setting.netns)), open(_sysctl_path(setting.path), "w") as f:
            f.write(setting.value)

    # -- neighbours ---------------------------------------------------------------------
    def list_neighbours(self, ns: str) -> tuple[NeighEntry, ...]:
        return self._neighbours(ns, self._call(ns, lambda ipr: ipr.get_neighbours()))

    def neighbours_on(self, ns: str, ifnames: frozenset[str]) -> tuple[NeighEntry, ...]:
        messages: list[Any] = []
        for index in self._existing_indexes(ns, ifnames):
            messages += self._call(ns, partial(_dump_neighbours_of, index=index))
        return self._neighbours(ns, messages)

    def _neighbours(self, ns: str, messages: Any) -> tuple[NeighEntry, ...]:
        mine = [
            m
            for m in messages
            if m["family"] in (socket.AF_INET, socket.AF_INET6)
            and m["state"] & ndmsg.NUD_PERMANENT
            and m.get("NDA_DST")
            and m.get("NDA_LLADDR")
        ]
        names = self._names(ns, {int(m["ifindex"]) for m in mine})
        return tuple(
            NeighEntry(ns, names.get(int(m["ifindex"]), ""), m.get("NDA_DST"), m.get("NDA_LLADDR"))
            for m in mine
        )

    def _existing_indexes(self, ns: str, ifnames: frozenset[str]) -> list[int]:
        """Indexes of the devices among ``ifnames`` that exist."""
        out = []
        for name in sorted(ifnames):
            try:
                out.append(self._index(ns, name))
            except OSError as exc:
                if exc.errno != errno.ENODEV:
                    raise
        return out

    def replace_neighbour(self, entry: NeighEntry) -> None:
        index = self._index(entry.netns, entry.ifname)
        self._call(
            entry.netns,
            lambda ipr: ipr.neigh(
                "replace",
                ifindex=index,
                dst=entry.ip,
                lladdr=entry.mac,
                state=ndmsg.NUD_PERMANENT,
            ),
        )

    def del_neighbour(self, entry: NeighEntry) -> None:
        index = self._index(entry.netns, entry.ifname)
        self._call(entry.netns, lambda ipr: ipr.neigh("del", ifindex=index, dst=entry.ip))

    # -- fdb ---------------------------------------------------------------------------
    def list_fdb(self, ns: str) -> tuple[FdbEntry, ...]:
        return self._fdb(ns, self._call(ns, lambda ipr: ipr.fdb("dump")))

    def fdb_on(self, ns: str, ifnames: frozenset[str]) -> tuple[FdbEntry, ...]:
        messages: list[Any] = []
        for index in self._existing_indexes(ns, ifnames):
            messages += [
                m
                for m in self._call(ns, partial(_dump_fdb_of, index=index))
                if int(m["ifindex"]) == index
            ]
        return self._fdb(ns, messages)

    def _fdb(self, ns: str, messages: Any) -> tuple[FdbEntry, ...]:
        found: list[tuple[int, FdbEntry]] = []
        for m in messages:
            if m.get("NDA_VLAN") is not None:
                continue
            state, mac = m["state"], m.get("NDA_LLADDR")
            master = m.get("NDA_MASTER") is not None and not m["flags"] & ndmsg.NTF_SELF
            if not mac:
                continue
            if master and not (state & ndmsg.NUD_NOARP and not state & ndmsg.NUD_PERMANENT):
                continue  # learned, or the bridge's own (permanent) MACs
            if not master and m.get("NDA_DST") is None:
                continue  # multicast and other entries without a remote
            dst = None if master else m.get("NDA_DST")
            found.append((int(m["ifindex"]), FdbEntry(ns, "", mac, master, dst)))
        names = self._names(ns, {index for index, _ in found})
        return tuple(replace(e, ifname=names.get(index, "")) for index, e in found)

    def _fdb_spec(self, entry: FdbEntry) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "ifindex": self._index(entry.netns, entry.ifname),
            "lladdr": entry.mac,
        }
        if entry.master:
            spec.update(flags=ndmsg.NTF_MASTER, state=ndmsg.NUD_NOARP)
        else:
            spec.update(flags=ndmsg.NTF_SELF, state=ndmsg.NUD_PERMANENT)
            if entry.dst:
                spec["dst"] = entry.dst
        return spec

    def replace_fdb(self, entry: FdbEntry) -> None:
        spec = self._fdb_spec(entry)
        self._call(entry.netns, lambda ipr: ipr.fdb("replace", **spec))

    def del_fdb(self, entry: FdbEntry) -> None:
        spec = self._fdb_spec(entry)
        self._call(entry.netns, lambda ipr: ipr.fdb("del", **spec))
