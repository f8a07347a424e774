"""FakeKernel: an in-memory ``RawKernel`` that behaves like the kernel.

What it enforces, as the kernel does: objects live in namespaces and vanish
with them; adding an existing object fails with EEXIST and deleting a
missing one with ENOENT/ENODEV; a master must be an existing bridge in the
same namespace; a veth pair dies as a whole (deleting either end, or either
namespace, removes both); addresses, routes, neighbour and FDB entries
vanish with their device; IPv4/IPv6 routes need their device up and a
gateway that is on-link, and vanish when the device goes down; bridge
(``master``) FDB entries vanish when the port leaves its bridge; ``self``
FDB entries with a remote exist only on VXLAN devices; a tc program goes on
an existing device only, passes a few of the verifier's checks (whole
instructions, jumps inside the program, an exit at the end: EINVAL
otherwise) and vanishes with its device.

Faults: ``fail_next("add_link", errno.EBUSY, times=1)`` makes the next call(s)
of an operation fail (mocknetlink's ``FailNext*``), ``calls`` counts every
call per operation and ``journal`` lists them in order. ``remove_host()``
deletes the host namespace behind the agent's back (every operation in it
then fails with ENOENT) and ``restore_host()`` makes a new, empty one.
"""

from __future__ import annotations

import errno as E
import ipaddress
import itertools
from collections import Counter
from dataclasses import dataclass, field, replace

from kumo.compiler.plan import (
    HOST_NS,
    Address,
    FdbEntry,
    Link,
    NeighEntry,
    PolicyRule,
    Route,
    Sysctl,
)
from kumo.dataplane import bpf
from kumo.dataplane.port import LinkChange, LinkState, TcState

_KERNEL_KIND = {"bridge": "bridge", "vxlan": "vxlan", "vlan": "vlan", "veth": "veth", "tap": "tun"}
_macs = itertools.count(1)


def _err(code: int, what: str) -> OSError:
    return OSError(code, f"{E.errorcode[code]}: {what}")


def _route_key(route: Route) -> str:
    return route.dst if route.table == 254 else f"{route.dst} table {route.table}"


def _random_mac() -> str:
    n = next(_macs)
    return "02:00:" + ":".join(f"{(n >> shift) & 0xFF:02x}" for shift in (24, 16, 8, 0))


@dataclass
class _Peer:
    netns: str
    name: str


@dataclass
class _Link:
    state: LinkState
    peer: _Peer | None = None


@dataclass
class _Namespace:
    links: dict[str, _Link] = field(default_factory=dict)
    addresses: set[Address] = field(default_factory=set)
    routes: dict[str, Route] = field(default_factory=dict)
    """By destination (main table) or ``dst table N``."""
    rules: dict[int, PolicyRule] = field(default_factory=dict)
    sysctls: dict[str, str] = field(default_factory=dict)
    neighbours: dict[tuple[str, str], NeighEntry] = field(default_factory=dict)
    fdb: set[FdbEntry] = field(default_factory=set)
    fdb_keys: dict[tuple[object, ...], FdbEntry] = field(default_factory=dict)
    """``fdb`` by key, kept with it (a replace finds the one it replaces)."""
    tc: dict[str, TcState] = field(default_factory=dict)
    tc_code: dict[str, bytes] = field(default_factory=dict)
    """Device → the bytecode of kumo's program on its ingress hook."""


def _drop_fdb(ns: _Namespace, ifname: str, *, master_only: bool) -> None:
    """Drop the forwarding entries of ``ifname`` (only its bridge entries
    with ``master_only``), and from the index too."""
    ns.fdb = {f for f in ns.fdb if not (f.ifname == ifname and (f.master or not master_only))}
    ns.fdb_keys = {f.key: f for f in ns.fdb}


def check_program(code: bytes) -> None:
    """The first checks of the kernel's verifier (EINVAL as it answers)."""
    if not code or len(code) % bpf.INSN_SIZE:
        raise _err(E.EINVAL, "program is empty or not whole instructions")
    insns = bpf.decode(code)
    for at, (op, _, _, off, _) in enumerate(insns):
        is_jump = op & 0x07 == 0x05 and op not in (bpf.CALL, bpf.EXIT)
        if is_jump and not 0 <= at + 1 + off < len(insns):
            raise _err(E.EINVAL, f"jump out of range from insn {at} to {at + 1 + off}")
    if insns[-1][0] not in (bpf.EXIT, bpf.JA):
        raise _err(E.EINVAL, "last insn is not an exit or jmp")


class FakeKernel:
    def __init__(self, *, host_links: tuple[str, ...] = ("lo", "eth0")) -> None:
        self.namespaces: dict[str, _Namespace] = {HOST_NS: _Namespace()}
        self.calls: Counter[str] = Counter()
        self.journal: list[str] = []
        """Every call, in order."""
        self._faults: dict[str, list[int]] = {}
        self._indexes = itertools.count(1)
        for name in host_links:
            self.add_device(HOST_NS, name)

    @property
    def faults_pending(self) -> int:
        """Injected faults not yet raised."""
        return sum(len(x) for x in self._faults.values())

    # -- test helpers ----------------------------------------------------------
    def fail_next(self, op: str, err: int, times: int = 1) -> None:
        """The next ``times`` calls of ``op`` fail with ``err``."""
        self._faults.setdefault(op, []).extend([err] * times)

    def clear_faults(self) -> None:
        """Drop the injected faults not yet raised (the kernel is fixed)."""
        self._faults.clear()

    def remove_host(self) -> None:
        """The host namespace vanishes with everything in it (a lab host's
        namespace deleted behind the agent's back)."""
        host = self.namespaces.pop(HOST_NS, None)
        if host is None:
            return
        self.namespaces[HOST_NS] = host  # _remove_link follows peers through it
        for name in list(host.links):
            self._remove_link(HOST_NS, name)
        del self.namespaces[HOST_NS]

    def restore_host(self, host_links: tuple[str, ...] = ("lo", "eth0")) -> None:
        """A new, empty host namespace of the same name (the lab made it again)."""
        if HOST_NS not in self.namespaces:
            self.namespaces[HOST_NS] = _Namespace()
            for name in host_links:
                self.add_device(HOST_NS, name)

    def add_device(self, netns: str, name: str, kind: str = "", up: bool = True) -> None:
        """A link kumo did not create (a NIC, ``lo``, a foreign bridge...)."""
        ns = self.namespaces.setdefault(netns, _Namespace())
        state = LinkState(netns, name, kind, 1500, _random_mac(), up, index=next(self._indexes))
        ns.links[name] = _Link(state)

    def link(self, netns: str, name: str) -> LinkState:
        return self.namespaces[netns].links[name].state

    def _op(self, op: str) -> None:
        self.calls[op] += 1
        self.journal.append(op)
        pending = self._faults.get(op)
        if pending:
            raise _err(pending.pop(0), f"injected fault in {op}")

    def _ns(self, netns: str) -> _Namespace:
        try:
            return self.namespaces[netns]
        except KeyError:
            raise _err(E.ENOENT, f"netns {netns}") from None

    def _dev(self, netns: str, name: str) -> _Link:
        try:
            return self._ns(netns).links[name]
        except KeyError:
            raise _err(E.ENODEV, f"{name} in {netns or 'host'}") from None

    def close(self) -> None:
        pass

    # -- namespaces ------------------------------------------------------------
    def check_host(self) -> None:
        self._ns(HOST_NS)  # a read of no object: not journaled

    def list_netns(self) -> frozenset[str]:
        self._op("list_netns")
        return frozenset(n for n in self.namespaces if n != HOST_NS)

    def add_netns(self, name: str) -> None:
        self._op("add_netns")
        if name in self.namespaces:
            raise _err(E.EEXIST, name)
        self.namespaces[name] = _Namespace()
        self.add_device(name, "lo", up=False)

    def del_netns(self, name: str) -> None:
        self._op("del_netns")
        ns = self._ns(name)
        for link_name in list(ns.links):
            self._remove_link(name, link_name)
        del self.namespaces[name]

    # -- links -------------------------------------------------------------------
    def list_links(self, netns: str) -> tuple[LinkState, ...]:
        self._op("list_links")
        return tuple(link.state for link in self._ns(netns).links.values())

    def links_named(self, netns: str, names: frozenset[str]) -> tuple[LinkState, ...]:
        self._op("list_links_named")
        links = self._ns(netns).links
        return tuple(links[n].state for n in sorted(names) if n in links)

    def add_link(self, link: Link, peer: Link | None) -> None:
        self._op("add_link")
        ns = self._ns(link.netns)
        if link.kind == "device":
            raise _err(E.EOPNOTSUPP, f"cannot create device {link.name}")
        if link.name in ns.links:
            raise _err(E.EEXIST, link.name)
        parent = None
        if link.kind == "vlan":
            parent = link.parent or ""
            self._dev(link.netns, parent)
        if link.vxlan is not None and link.vxlan.underlay:
            self._dev(link.netns, link.vxlan.underlay)
        peer_ns = None
        if link.kind == "veth":
            if link.peer is None or peer is None:
                raise _err(E.EINVAL, "veth needs a peer")
            peer_ns = self._ns(link.peer.netns)
            if link.peer.name in peer_ns.links:
                raise _err(E.EEXIST, link.peer.name)
        state = LinkState(
            link.netns,
            link.name,
            _KERNEL_KIND.get(link.kind, link.kind),
            link.mtu or 1500,
            link.mac or _random_mac(),
            link.up,
            netfilter=bool(link.netfilter) if link.kind == "bridge" else None,
            vxlan=link.vxlan,
            vlan_id=link.vlan_id,
            parent=parent,
            index=next(self._indexes),
        )
        ns.links[link.name] = _Link(state)
        if link.peer is not None and peer is not None and peer_ns is not None:
            peer_state = LinkState(
                link.peer.netns,
                link.peer.name,
                "veth",
                peer.mtu or 1500,
                peer.mac or _random_mac(),
                peer.up,
                index=next(self._indexes),
            )
            peer_ns.links[link.peer.name] = _Link(peer_state, _Peer(link.netns, link.name))
            ns.links[link.name].peer = _Peer(link.peer.netns, link.peer.name)

    def set_link(self, netns: str, name: str, change: LinkChange) -> None:
        self._op("set_link")
        dev = self._dev(netns, name)
        state = dev.state
        if change.mtu is not None:
            state = replace(state, mtu=change.mtu)
        if change.mac is not None:
            state = replace(state, mac=change.mac)
        if change.up is not None:
            state = replace(state, up=change.up)
            if not change.up:
                self._drop_routes(netns, lambda r: r.ifname == name)
        if change.netfilter is not None:
            if state.kind != "bridge":
                raise _err(E.EOPNOTSUPP, f"{name} is not a bridge")
            state = replace(state, netfilter=change.netfilter)
        dev.state = state

    def set_master(self, netns: str, name: str, master: str | None) -> None:
        self._op("set_master")
        dev = self._dev(netns, name)
        if master is not None:
            bridge = self._dev(netns, master)
            if bridge.state.kind != "bridge" or master == name:
                raise _err(E.EOPNOTSUPP, f"{master} is not a bridge")
        if dev.state.master != master:
            _drop_fdb(self._ns(netns), name, master_only=True)
        joined = master is not None
        dev.state = replace(
            dev.state,
            master=master,
            learning=True if joined else None,
            isolated=False if joined else None,
        )

    def set_learning(self, netns: str, name: str, learning: bool) -> None:
        self._op("set_learning")
        dev = self._dev(netns, name)
        if dev.state.master is None:
            raise _err(E.EOPNOTSUPP, f"{name} is not a bridge port")
        dev.state = replace(dev.state, learning=learning)

    def set_isolated(self, netns: str, name: str, isolated: bool) -> None:
        self._op("set_isolated")
        dev = self._dev(netns, name)
        if dev.state.master is None:
            raise _err(E.EOPNOTSUPP, f"{name} is not a bridge port")
        dev.state = replace(dev.state, isolated=isolated)

    def del_link(self, netns: str, name: str) -> None:
        self._op("del_link")
        self._dev(netns, name)
        self._remove_link(netns, name)

    def _remove_link(self, netns: str, name: str) -> None:
        ns = self.namespaces.get(netns)
        if ns is None or name not in ns.links:
            return
        dev = ns.links.pop(name)
        ns.addresses = {a for a in ns.addresses if a.ifname != name}
        self._drop_routes(netns, lambda r: r.ifname == name)
        ns.neighbours = {k: v for k, v in ns.neighbours.items() if v.ifname != name}
        _drop_fdb(ns, name, master_only=False)
        ns.tc.pop(name, None)
        ns.tc_code.pop(name, None)
        for other in list(ns.links.values()):
            if other.state.master == name:
                _drop_fdb(ns, other.state.name, master_only=True)
                other.state = replace(other.state, master=None, learning=None, isolated=None)
            if other.state.parent == name:
                self._remove_link(netns, other.state.name)
        if dev.peer is not None:
            self._remove_link(dev.peer.netns, dev.peer.name)

    # -- addresses ---------------------------------------------------------------
    def list_addresses(self, netns: str) -> tuple[Address, ...]:
        self._op("list_addresses")
        return tuple(self._ns(netns).addresses)

    def addresses_on(self, netns: str, ifnames: frozenset[str]) -> tuple[Address, ...]:
        self._op("list_addresses_on")
        return tuple(a for a in self._ns(netns).addresses if a.ifname in ifnames)

    def add_address(self, address: Address) -> None:
        self._op("add_address")
        self._dev(address.netns, address.ifname)
        ns = self._ns(address.netns)
        if address in ns.addresses:
            raise _err(E.EEXIST, address.address)
        ns.addresses.add(address)

    def del_address(self, address: Address) -> None:
        self._op("del_address")
        self._dev(address.netns, address.ifname)
        ns = self._ns(address.netns)
        if address not in ns.addresses:
            raise _err(E.EADDRNOTAVAIL, address.address)
        ns.addresses.discard(address)
        if not any(a.ifname == address.ifname and a.family == address.family for a in ns.addresses):
            self._drop_routes(
                address.netns, lambda r: r.ifname == address.ifname and r.family == address.family
            )

    # -- routes --------------------------------------------------------------------
    def list_routes(self, netns: str) -> tuple[Route, ...]:
        self._op("list_routes")
        return tuple(self._ns(netns).routes.values())

    def replace_route(self, route: Route) -> None:
        self._op("replace_route")
        ns = self._ns(route.netns)
        dev = self._dev(route.netns, route.ifname)
        if not dev.state.up:
            raise _err(E.ENETDOWN, f"{route.ifname} is down")
        if route.gateway is not None and not self._on_link(route.netns, route):
            raise _err(E.ENETUNREACH, f"gateway {route.gateway}")
        ns.routes[_route_key(route)] = route

    def del_route(self, route: Route) -> None:
        self._op("del_route")
        ns = self._ns(route.netns)
        if ns.routes.get(_route_key(route)) != route:
            raise _err(E.ESRCH, route.dst)
        del ns.routes[_route_key(route)]

    def _on_link(self, netns: str, route: Route) -> bool:
        gateway = ipaddress.ip_address(route.gateway or "")
        ns = self._ns(netns)
        for address in ns.addresses:
            if (
                address.ifname == route.ifname
                and gateway in ipaddress.ip_interface(address.address).network
            ):
                return True
        return any(
            r.gateway is None
            and r.ifname == route.ifname
            and gateway in ipaddress.ip_network(r.dst)
            for r in ns.routes.values()
            if ipaddress.ip_network(r.dst).version == gateway.version
        )

    def _drop_routes(self, netns: str, doomed: object) -> None:
        ns = self.namespaces.get(netns)
        if ns is not None and callable(doomed):
            ns.routes = {k: r for k, r in ns.routes.items() if not doomed(r)}

    # -- policy rules and sysctls ------------------------------------------------------
    def list_rules(self, netns: str) -> tuple[PolicyRule, ...]:
        self._op("list_rules")
        return tuple(self._ns(netns).rules.values())

    def add_rule(self, rule: PolicyRule) -> None:
        self._op("add_rule")
        rules = self._ns(rule.netns).rules
        if rule.priority in rules:
            raise _err(E.EEXIST, f"rule {rule.priority}")
        rules[rule.priority] = rule

    def del_rule(self, rule: PolicyRule) -> None:
        self._op("del_rule")
        rules = self._ns(rule.netns).rules
        if rules.get(rule.priority) != rule:
            raise _err(E.ENOENT, f"rule {rule.priority}")
        del rules[rule.priority]

    def read_sysctl(self, netns: str, path: str) -> str:
        self._op("read_sysctl")
        return self._ns(netns).sysctls.get(path, "0")

    def write_sysctl(self, setting: Sysctl) -> None:
        self._op("write_sysctl")
        self._ns(setting.netns).sysctls[setting.path] = setting.value

    # -- neighbours ------------------------------------------------------------------
    def list_neighbours(self, netns: str) -> tuple[NeighEntry, ...]:
        self._op("list_neighbours")
        return tuple(self._ns(netns).neighbours.values())

    def neighbours_on(self, netns: str, ifnames: frozenset[str]) -> tuple[NeighEntry, ...]:
        self._op("list_neighbours_on")
        return tuple(e for e in self._ns(netns).neighbours.values() if e.ifname in ifnames)

    def replace_neighbour(self, entry: NeighEntry) -> None:
        self._op("replace_neighbour")
        self._dev(entry.netns, entry.ifname)
        self._ns(entry.netns).neighbours[(entry.ifname, entry.ip)] = entry

    def del_neighbour(self, entry: NeighEntry) -> None:
        self._op("del_neighbour")
        self._dev(entry.netns, entry.ifname)
        if self._ns(entry.netns).neighbours.pop((entry.ifname, entry.ip), None) is None:
            raise _err(E.ENOENT, entry.ip)

    # -- fdb -------------------------------------------------------------------------
    def list_fdb(self, netns: str) -> tuple[FdbEntry, ...]:
        self._op("list_fdb")
        return tuple(self._ns(netns).fdb)

    def fdb_on(self, netns: str, ifnames: frozenset[str]) -> tuple[FdbEntry, ...]:
        self._op("list_fdb_on")
        return tuple(e for e in self._ns(netns).fdb if e.ifname in ifnames)

    def replace_fdb(self, entry: FdbEntry) -> None:
        self._op("replace_fdb")
        dev = self._dev(entry.netns, entry.ifname)
        ns = self._ns(entry.netns)
        if entry.master and dev.state.master is None:
            raise _err(E.EINVAL, f"{entry.ifname} has no master")
        if not entry.master and dev.state.kind != "vxlan":
            raise _err(E.EOPNOTSUPP, f"{entry.ifname} has no remote table")
        old = ns.fdb_keys.get(entry.key)
        if old is not None:
            ns.fdb.discard(old)
        ns.fdb.add(entry)
        ns.fdb_keys[entry.key] = entry

    def del_fdb(self, entry: FdbEntry) -> None:
        self._op("del_fdb")
        self._dev(entry.netns, entry.ifname)
        ns = self._ns(entry.netns)
        if entry not in ns.fdb:
            raise _err(E.ENOENT, entry.mac)
        ns.fdb.discard(entry)
        del ns.fdb_keys[entry.key]

    # -- tc programs -------------------------------------------------------------------
    def list_tc(self, netns: str) -> tuple[TcState, ...]:
        self._op("list_tc")
        return tuple(self._ns(netns).tc.values())

    def attach_tc(self, netns: str, ifname: str, name: str, code: bytes) -> None:
        self._op("attach_tc")
        self._dev(netns, ifname)
        check_program(code)
        ns = self._ns(netns)
        ns.tc[ifname] = TcState(netns, ifname, name)
        ns.tc_code[ifname] = code

    def detach_tc(self, netns: str, ifname: str) -> None:
        self._op("detach_tc")
        self._dev(netns, ifname)
        ns = self._ns(netns)
        if ns.tc.pop(ifname, None) is None:
            raise _err(E.ENOENT, f"no program on {ifname}")
        ns.tc_code.pop(ifname, None)
