"""KernelAdapter: the ``RawKernel`` port on the real kernel, over netlink.

Reads go through ``rtnl`` (requests on a plain socket, decoding only what is
read: pyroute2's decoder cost ~0.4 ms per link); writes through pyroute2.
Two netlink sockets per namespace, a reader and pyroute2's, opened in this process by entering the
namespace from the calling thread (``netns.socket_in``) and handed to
pyroute2 as a file descriptor, so no helper process is forked. All sockets
share one asyncio loop (pyroute2 would make one per socket), are kept in an
LRU cache bounded by the descriptor limit, and are opened without multicast
subscriptions: the adapter only asks, it never listens. An open socket keeps
its namespace alive, so removing a namespace closes its socket first.

Failures surface as ``OSError`` carrying the kernel's errno (pyroute2's
``NetlinkError`` is converted here); ``port.KernelPort`` maps them.
pyroute2 is imported at the first write (or policy rule read): an agent
restarting on a host that is already as planned never needs it (~70 ms of
imports).

Not thread-safe: use one adapter from one thread.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import ipaddress
import os
import resource
import socket
import struct
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from kumo.compiler.plan import (
    HOST_NS,
    Address,
    FdbEntry,
    Link,
    NeighEntry,
    PolicyRule,
    Route,
    Sysctl,
    VethPeer,
    VxlanSpec,
)
from kumo.dataplane import bpf, netns, rtnl, tc
from kumo.dataplane.port import ROUTE_PROTO, LinkChange, LinkState, TcState
from kumo.dataplane.vlan_programs import NAME_PREFIX

if TYPE_CHECKING:
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

_NETLINK_ROUTE = 0
_IFA_F_NODAD = 0x02
_MAIN_TABLE = 254
_SCOPE_LINK = 253
_KIND_TO_KERNEL = {k: k for k in ("bridge", "vxlan", "vlan", "veth", "dummy")}
_TUN_DEVICE = "/dev/net/tun"
_TUNSETIFF = 0x400454CA
_TUNSETPERSIST = 0x400454CB
_IFF_TAP = 0x0002
_IFF_NO_PI = 0x1000
_IFF_VNET_HDR = 0x4000
_NUD_NOARP = 0x40
_NUD_PERMANENT = 0x80
_NTF_SELF = 0x02
_NTF_MASTER = 0x04

T = TypeVar("T")


def _dump_rules(ipr: IPRoute, family: int) -> Any:
    return ipr.get_rules(family=family)


_DEFAULT_RULES = frozenset({0, 32766, 32767})


def _sysctl_path(path: str) -> str:
    if ".." in path or path.startswith("/"):
        raise OSError(22, f"bad sysctl path {path}")
    return f"/proc/sys/{path}"


def _os_error(exc: NetlinkError) -> OSError:
    code = int(getattr(exc, "code", 0) or 0) or 5
    return OSError(code, f"{os.strerror(code)}: {exc}")


_NO_LINK_LOCAL = {"attrs": [["AF_INET6", {"attrs": [["IFLA_INET6_ADDR_GEN_MODE", 1]]}]]}
"""IN6_ADDR_GEN_MODE_NONE: the link gets no IPv6 link-local address."""


def _bridge_netfilter(on: bool) -> dict[str, int]:
    """A bridge's own bridge-netfilter switches, IPv4 and IPv6 together."""
    return {"br_nf_call_iptables": int(on), "br_nf_call_ip6tables": int(on)}


def _link_state(ns: str, m: rtnl.LinkMsg, by_index: dict[int, str]) -> LinkState:
    vxlan = vlan_id = parent = None
    if m.kind == "vxlan" and m.vxlan_id is not None:
        vxlan = VxlanSpec(
            vni=m.vxlan_id,
            local=m.vxlan_local,
            dstport=m.vxlan_port,
            underlay=by_index.get(m.vxlan_link) if m.vxlan_link else None,
            learning=m.vxlan_learning,
            proxy=m.vxlan_proxy,
        )
    elif m.kind == "vlan" and m.vlan_id is not None:
        vlan_id = m.vlan_id
        parent = by_index.get(m.link) if m.link else None
    return LinkState(
        netns=ns,
        name=m.name,
        kind=m.kind,
        mtu=m.mtu,
        mac=m.mac,
        up=m.up,
        master=by_index.get(m.master) if m.master else None,
        learning=m.learning if m.master else None,
        isolated=bool(m.isolated) if m.master else None,
        netfilter=m.bridge_netfilter,
        vxlan=vxlan,
        vlan_id=vlan_id,
        parent=parent,
        index=m.index,
    )


def vlan_devices_supported() -> bool:
    """Whether this kernel makes 802.1Q VLAN devices, tried on a veth pair in
    a throwaway namespace (the kernel answers EOPNOTSUPP, "Unknown device
    type", without ``VLAN_8021Q``)."""
    name = f"kumo-probe-{os.getpid()}-{id(object()) % 100000}"
    netns.create(name)
    adapter = KernelAdapter(name)
    try:
        adapter.add_link(
            Link(HOST_NS, "p0", "veth", peer=VethPeer(HOST_NS, "p1")), Link(HOST_NS, "p1", "veth")
        )
        try:
            adapter.add_link(Link(HOST_NS, "p0.1", "vlan", vlan_id=1, parent="p0"), None)
        except OSError as exc:
            if exc.errno == errno.EOPNOTSUPP:
                return False
            raise
        return True
    finally:
        adapter.close()
        netns.remove(name)


class KernelAdapter:
    """``host_netns`` is the namespace that stands for ``HOST_NS`` (None: the
    namespace this process is in)."""

    def __init__(self, host_netns: str | None = None, *, max_sockets: int = 2048) -> None:
        self.host_netns = host_netns
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        self.max_sockets = max(8, min(max_sockets, soft // 4))
        """Sockets kept open per kind (a reader and a writer per namespace,
        one descriptor each); with more namespaces than this, sockets are
        reopened as needed."""
        self._loop = asyncio.new_event_loop()
        self._sockets: OrderedDict[str, IPRoute] = OrderedDict()
        self._readers: OrderedDict[str, socket.socket] = OrderedDict()
        """Plain netlink sockets for reads (``rtnl``), one per namespace."""
        self._indexes: dict[str, dict[str, int]] = {}
        self._host_id: tuple[int, int] | None = None
        """(device, inode) of the host namespace the last pass found."""

    # -- plumbing ----------------------------------------------------------------
    def _real(self, ns: str) -> str | None:
        return self.host_netns if ns == HOST_NS else ns

    def _ipr(self, ns: str) -> IPRoute:
        ipr = self._sockets.get(ns)
        if ipr is not None:
            self._sockets.move_to_end(ns)
            return ipr
        from pyroute2 import IPRoute

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

    def _reader(self, ns: str) -> socket.socket:
        sock = self._readers.get(ns)
        if sock is not None:
            self._readers.move_to_end(ns)
            return sock
        sock = netns.socket_in(self._real(ns), socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_ROUTE)
        try:
            rtnl.open_socket(sock)
        except OSError:
            sock.close()
            raise
        self._readers[ns] = sock
        while len(self._readers) > self.max_sockets:
            _, old = self._readers.popitem(last=False)
            old.close()
        return sock

    def _forget(self, ns: str) -> None:
        ipr = self._sockets.pop(ns, None)
        if ipr is not None:
            ipr.close()
        sock = self._readers.pop(ns, None)
        if sock is not None:
            sock.close()
        self._indexes.pop(ns, None)

    def close(self) -> None:
        for ns in list(self._sockets) + list(self._readers):
            self._forget(ns)
        self._loop.close()

    @contextmanager
    def _netlink(self) -> Iterator[None]:
        from pyroute2.netlink.exceptions import NetlinkError

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
            known[name] = rtnl.link(self._reader(ns), name=name).index
        return known[name]

    def _names(self, ns: str, needed: set[int]) -> dict[int, str]:
        """Index → name for ``needed`` indexes, from the last link dump of the
        namespace when it knows them all, else from a fresh one."""
        known = {index: name for name, index in self._indexes.get(ns, {}).items()}
        if needed <= known.keys():
            return known
        by_name = {m.name: m.index for m in rtnl.links(self._reader(ns))}
        self._indexes[ns] = by_name
        return {index: name for name, index in by_name.items()}

    # -- namespaces ------------------------------------------------------------------
    def check_host(self) -> None:
        """One ``stat`` per pass: is the lab host's namespace there, and the
        one the sockets were opened in? (None, the agent's own, always is.)"""
        if self.host_netns is None:
            return
        try:
            st = os.stat(netns.path(self.host_netns))
        except FileNotFoundError:
            self._forget(HOST_NS)
            self._host_id = None
            raise OSError(errno.ENOENT, f"host namespace {self.host_netns} is missing") from None
        seen = (st.st_dev, st.st_ino)
        if self._host_id is not None and seen != self._host_id:
            self._forget(HOST_NS)  # the sockets keep the old namespace alive, not visible
        self._host_id = seen

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
        messages = rtnl.links(self._reader(ns))
        by_index = {m.index: m.name for m in messages}
        self._indexes[ns] = {name: index for index, name in by_index.items()}
        return tuple(_link_state(ns, m, by_index) for m in messages)

    def links_named(self, ns: str, names: frozenset[str]) -> tuple[LinkState, ...]:
        sock = self._reader(ns)
        known = self._indexes.setdefault(ns, {})
        messages = []
        for name in sorted(names):
            try:
                messages.append(rtnl.link(sock, name=name))
            except OSError as exc:
                if exc.errno != errno.ENODEV:
                    raise
                known.pop(name, None)
        for m in messages:
            known[m.name] = m.index
        by_index = {index: name for name, index in known.items()}
        related = {x for m in messages for x in (m.master, m.link, m.vxlan_link) if x}
        for index in sorted(related - by_index.keys()):
            try:
                other = rtnl.link(sock, index=index)
            except OSError as exc:
                if exc.errno != errno.ENODEV:
                    raise
                continue
            by_index[index] = other.name
            known[other.name] = index
        return tuple(_link_state(ns, m, by_index) for m in messages)

    def add_link(self, link: Link, peer: Link | None) -> None:
        ns = link.netns
        if link.kind == "tap":
            self._add_tap(link)
            return
        spec: dict[str, Any] = {"ifname": link.name, "kind": _KIND_TO_KERNEL[link.kind]}
        if link.mtu is not None:
            spec["mtu"] = link.mtu
        if link.mac is not None:
            spec["address"] = link.mac
        # kumo's veth ends in the host namespace are bridge ports and wires:
        # the host takes no part in tenant segments, so they get no IPv6
        # link-local address (no DAD, MLD or solicitations from the host
        # into a tenant network, no address per port for the host to keep).
        # The mode can only be set on an existing link: made down, set, then up.
        bare = link.kind == "veth" and ns == HOST_NS
        if link.up and not bare:
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
        elif link.kind == "bridge" and link.netfilter is not None:
            spec.update(_bridge_netfilter(link.netfilter))
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
            try:
                self._call(ns, lambda ipr: ipr.link("add", **spec))
            except OSError as exc:
                if link.kind == "vlan" and exc.errno == errno.EOPNOTSUPP:
                    raise OSError(
                        errno.EOPNOTSUPP, "this kernel has no 802.1Q VLAN devices (VLAN_8021Q)"
                    ) from exc
                raise
        finally:
            if fd is not None:
                os.close(fd)
        self._indexes.get(ns, {}).pop(link.name, None)
        if bare:
            self._set(ns, link.name, IFLA_AF_SPEC=_NO_LINK_LOCAL)
            if link.up:
                self._set(ns, link.name, state="up")
        if link.peer is not None and link.peer.netns == HOST_NS:
            self._indexes.get(HOST_NS, {}).pop(link.peer.name, None)
            self._set(HOST_NS, link.peer.name, IFLA_AF_SPEC=_NO_LINK_LOCAL)
        if link.peer is not None and peer is not None and peer.up:
            self._indexes.get(link.peer.netns, {}).pop(link.peer.name, None)
            self._set(link.peer.netns, link.peer.name, state="up")

    def _add_tap(self, link: Link) -> None:
        """A persistent tap (a VM's NIC), made with the tun driver's ioctls
        inside the link's namespace; then its MTU, MAC and state, and no
        IPv6 link-local address (a bridge port, like instances' host ends)."""
        ns = link.netns
        with netns.entered(self._real(ns)):
            fd = os.open(_TUN_DEVICE, os.O_RDWR | os.O_CLOEXEC)
        try:
            ifr = struct.pack("16sH", link.name.encode(), _IFF_TAP | _IFF_NO_PI | _IFF_VNET_HDR)
            fcntl.ioctl(fd, _TUNSETIFF, ifr)
            fcntl.ioctl(fd, _TUNSETPERSIST, 1)
        finally:
            os.close(fd)
        self._indexes.get(ns, {}).pop(link.name, None)
        attrs: dict[str, Any] = {"IFLA_AF_SPEC": _NO_LINK_LOCAL}
        if link.mtu is not None:
            attrs["mtu"] = link.mtu
        if link.mac is not None:
            attrs["address"] = link.mac
        self._set(ns, link.name, **attrs)
        if link.up:
            self._set(ns, link.name, state="up")

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
        if change.netfilter is not None:
            attrs.update(kind="bridge", **_bridge_netfilter(change.netfilter))
        if attrs:
            self._set(ns, name, **attrs)

    def set_master(self, ns: str, name: str, master: str | None) -> None:
        self._set(ns, name, master=self._index(ns, master) if master else 0)

    def set_learning(self, ns: str, name: str, learning: bool) -> None:
        index = self._index(ns, name)
        self._call(ns, lambda ipr: ipr.brport("set", index=index, learning=int(learning)))

    def set_isolated(self, ns: str, name: str, isolated: bool) -> None:
        index = self._index(ns, name)
        self._call(ns, lambda ipr: ipr.brport("set", index=index, isolated=int(isolated)))

    def del_link(self, ns: str, name: str) -> None:
        index = self._index(ns, name)
        try:
            self._call(ns, lambda ipr: ipr.link("del", index=index))
        finally:
            self._indexes.get(ns, {}).pop(name, None)

    # -- addresses ---------------------------------------------------------------------
    def list_addresses(self, ns: str) -> tuple[Address, ...]:
        found = rtnl.addresses(self._reader(ns))
        names = self._names(ns, {index for index, _, _ in found})
        return tuple(
            Address(ns, names[index], f"{ip}/{prefixlen}")
            for index, ip, prefixlen in found
            if index in names
        )

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
        mine = rtnl.routes(self._reader(ns), ROUTE_PROTO)
        names = self._names(ns, {m.oif for m in mine} - {0})
        out: list[Route] = []
        for m in mine:
            zero = "0.0.0.0" if m.family == socket.AF_INET else "::"
            dst = f"{m.dst or zero}/{m.dst_len}"
            out.append(
                Route(
                    ns,
                    str(ipaddress.ip_network(dst, strict=False)),
                    m.gateway,
                    names.get(m.oif, "") if m.oif else "",
                    m.table,
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
                        int(m.get("FRA_FWMARK") or 0),
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
        if rule.fwmark:
            spec.update(fwmark=rule.fwmark)
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
        return self._neighbours(ns, rtnl.neighbours(self._reader(ns)))

    def neighbours_on(self, ns: str, ifnames: frozenset[str]) -> tuple[NeighEntry, ...]:
        messages: list[rtnl.NeighMsg] = []
        for index in self._existing_indexes(ns, ifnames):
            messages += rtnl.neighbours(self._reader(ns), index)
        return self._neighbours(ns, messages)

    def _neighbours(self, ns: str, messages: list[rtnl.NeighMsg]) -> tuple[NeighEntry, ...]:
        mine = [m for m in messages if m.dst and m.lladdr]
        names = self._names(ns, {m.ifindex for m in mine})
        return tuple(NeighEntry(ns, names.get(m.ifindex, ""), m.dst or "", m.lladdr) for m in mine)

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
                state=_NUD_PERMANENT,
            ),
        )

    def del_neighbour(self, entry: NeighEntry) -> None:
        index = self._index(entry.netns, entry.ifname)
        self._call(entry.netns, lambda ipr: ipr.neigh("del", ifindex=index, dst=entry.ip))

    # -- fdb ---------------------------------------------------------------------------
    def list_fdb(self, ns: str) -> tuple[FdbEntry, ...]:
        return self._fdb(ns, rtnl.fdb(self._reader(ns)))

    def fdb_on(self, ns: str, ifnames: frozenset[str]) -> tuple[FdbEntry, ...]:
        messages: list[rtnl.NeighMsg] = []
        for index in self._existing_indexes(ns, ifnames):
            messages += rtnl.fdb(self._reader(ns), index)
        return self._fdb(ns, messages)

    def _fdb(self, ns: str, messages: list[rtnl.NeighMsg]) -> tuple[FdbEntry, ...]:
        found: list[tuple[int, FdbEntry]] = []
        for m in messages:
            if m.vlan or not m.lladdr:
                continue
            master = m.master and not m.flags & _NTF_SELF
            if master and not (m.state & _NUD_NOARP and not m.state & _NUD_PERMANENT):
                continue  # learned, or the bridge's own (permanent) MACs
            if not master and m.dst is None:
                continue  # multicast and other entries without a remote
            found.append((m.ifindex, FdbEntry(ns, "", m.lladdr, master, None if master else m.dst)))
        names = self._names(ns, {index for index, _ in found})
        return tuple(replace(e, ifname=names.get(index, "")) for index, e in found)

    def _fdb_spec(self, entry: FdbEntry) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "ifindex": self._index(entry.netns, entry.ifname),
            "lladdr": entry.mac,
        }
        if entry.master:
            spec.update(flags=_NTF_MASTER, state=_NUD_NOARP)
        else:
            spec.update(flags=_NTF_SELF, state=_NUD_PERMANENT)
            if entry.dst:
                spec["dst"] = entry.dst
        return spec

    def replace_fdb(self, entry: FdbEntry) -> None:
        spec = self._fdb_spec(entry)
        self._call(entry.netns, lambda ipr: ipr.fdb("replace", **spec))

    def del_fdb(self, entry: FdbEntry) -> None:
        spec = self._fdb_spec(entry)
        self._call(entry.netns, lambda ipr: ipr.fdb("del", **spec))

    # -- tc programs -------------------------------------------------------------------
    def list_tc(self, ns: str) -> tuple[TcState, ...]:
        sock = self._reader(ns)
        devices = tc.clsact_devices(sock)
        if not devices:
            return ()
        names = self._names(ns, set(devices))
        out: list[TcState] = []
        for index in devices:
            if index not in names:
                continue
            try:
                found = tc.ingress_filters(sock, index, NAME_PREFIX)
            except OSError as exc:
                if exc.errno in (errno.ENODEV, errno.ENOENT, errno.EINVAL):
                    continue  # gone since the qdisc dump
                raise
            out += [TcState(ns, names[index], f.name, f.direct_action) for f in found]
        return tuple(out)

    def attach_tc(self, ns: str, ifname: str, name: str, code: bytes) -> None:
        index = self._index(ns, ifname)
        sock = self._reader(ns)
        try:
            tc.add_clsact(sock, index)
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise
        kind = name.removeprefix(NAME_PREFIX).split(":")[0]
        fd = bpf.load(code, "kumo_" + kind.replace("-", "_")[:10])
        try:
            tc.replace_filter(sock, index, fd, name)
        finally:
            os.close(fd)

    def detach_tc(self, ns: str, ifname: str) -> None:
        index = self._index(ns, ifname)
        tc.delete_filter(self._reader(ns), index)
