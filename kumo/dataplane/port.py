"""The narrow port between reconcilers and a kernel, and its error semantics.

Two layers:

* ``RawKernel`` (a Protocol): what an adapter implements — list/add/set/del
  of namespaces, links, addresses, routes, neighbours, FDB entries and tc
  programs, each in a named namespace (``HOST_NS`` is the agent's own). Adapters report
  failures as ``OSError`` with the kernel's errno and nothing else.
  ``kernel.KernelAdapter`` (netlink) and ``fake.FakeKernel`` implement it.
* ``KernelPort``: what reconcilers use. It wraps a raw adapter and is the ONE
  place where errno values become domain errors and idempotence is decided:
  EEXIST on an add means "already there" (links are then set to the desired
  attributes), ENOENT/ENODEV/ESRCH/EADDRNOTAVAIL on a delete mean "already
  gone". It also counts mutating operations (so tests can prove a second
  apply changes nothing), caches reads for one pass, and offers a dry run
  that records operations without sending them.
"""

from __future__ import annotations

import errno as E
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from kumo.compiler.plan import (
    Address,
    FdbEntry,
    Link,
    NeighEntry,
    PolicyRule,
    Route,
    Sysctl,
    VxlanSpec,
)

ROUTE_PROTO = 74
"""Routing protocol number kumo marks its routes with (``ip route ... proto 74``):
routes with it are kumo's to remove; no other route is ever touched."""


@dataclass(frozen=True)
class LinkState:
    """A link as read back from the kernel."""

    netns: str
    name: str
    kind: str
    """Kernel link kind (``bridge``, ``vxlan``, ``veth``...; empty for plain devices)."""
    mtu: int
    mac: str
    up: bool
    master: str | None = None
    learning: bool | None = None
    """Bridge-port learning; None when the link is not a bridge port."""
    isolated: bool | None = None
    """Bridge-port isolation; None when the link is not a bridge port."""
    netfilter: bool | None = None
    """A bridge's own bridge-netfilter switch (IPv4 and IPv6 both on);
    None for other links."""
    vxlan: VxlanSpec | None = None
    vlan_id: int | None = None
    parent: str | None = None
    index: int = 0
    """The kernel's interface index."""


@dataclass(frozen=True)
class TcState:
    """kumo's program on a device's tc ingress hook, as read back."""

    netns: str
    ifname: str
    name: str
    """The filter's name: ``vlan_programs.fingerprint`` of the program."""
    direct_action: bool = True


@dataclass(frozen=True)
class LinkChange:
    """Attributes to change on an existing link; None leaves one as it is."""

    mtu: int | None = None
    mac: str | None = None
    up: bool | None = None
    netfilter: bool | None = None
    """A bridge's bridge-netfilter switch."""

    def __bool__(self) -> bool:
        return any(x is not None for x in (self.mtu, self.mac, self.up, self.netfilter))


class RawKernel(Protocol):
    """A kernel adapter. Every method raises ``OSError`` (with errno) on failure."""

    def check_host(self) -> None:
        """Raise ENOENT when the namespace that stands for ``HOST_NS`` is gone
        (a lab host's, made by the lab; the agent's own never is); when it
        was replaced by a new one of the same name, drop what is bound to the
        old one so the next operations reach the new one."""
        ...

    def list_netns(self) -> frozenset[str]: ...
    def add_netns(self, name: str) -> None: ...
    def del_netns(self, name: str) -> None: ...

    def list_links(self, netns: str) -> tuple[LinkState, ...]: ...
    def links_named(self, netns: str, names: frozenset[str]) -> tuple[LinkState, ...]:
        """The links among ``names`` that exist (one request each, no dump)."""
        ...

    def add_link(self, link: Link, peer: Link | None) -> None:
        """Create ``link`` (without master); for a veth, ``peer`` describes the
        other end, created in ``link.peer.netns`` at the same time."""
        ...

    def set_link(self, netns: str, name: str, change: LinkChange) -> None: ...
    def set_master(self, netns: str, name: str, master: str | None) -> None: ...
    def set_learning(self, netns: str, name: str, learning: bool) -> None: ...
    def set_isolated(self, netns: str, name: str, isolated: bool) -> None: ...
    def del_link(self, netns: str, name: str) -> None: ...

    def list_addresses(self, netns: str) -> tuple[Address, ...]: ...
    def addresses_on(self, netns: str, ifnames: frozenset[str]) -> tuple[Address, ...]:
        """``list_addresses`` narrowed to the devices ``ifnames``."""
        ...

    def add_address(self, address: Address) -> None: ...
    def del_address(self, address: Address) -> None: ...

    def list_routes(self, netns: str) -> tuple[Route, ...]:
        """Routes of the main table marked with ``ROUTE_PROTO`` only."""
        ...

    def replace_route(self, route: Route) -> None: ...
    def del_route(self, route: Route) -> None: ...

    def list_neighbours(self, netns: str) -> tuple[NeighEntry, ...]:
        """Permanent IPv4/IPv6 neighbour entries only."""
        ...

    def neighbours_on(self, netns: str, ifnames: frozenset[str]) -> tuple[NeighEntry, ...]:
        """``list_neighbours`` narrowed to the devices ``ifnames`` (a dump the
        kernel filters per device; a missing device has no entries)."""
        ...

    def replace_neighbour(self, entry: NeighEntry) -> None: ...
    def del_neighbour(self, entry: NeighEntry) -> None: ...

    def list_rules(self, netns: str) -> tuple[PolicyRule, ...]:
        """Policy rules other than the kernel's defaults (priorities 0, 32766, 32767)."""
        ...

    def add_rule(self, rule: PolicyRule) -> None: ...
    def del_rule(self, rule: PolicyRule) -> None: ...

    def read_sysctl(self, netns: str, path: str) -> str:
        """The value under ``/proc/sys/<path>`` as seen in ``netns``."""
        ...

    def write_sysctl(self, setting: Sysctl) -> None: ...

    def list_fdb(self, netns: str) -> tuple[FdbEntry, ...]:
        """``self`` entries with a remote (dst) and ``master`` static entries."""
        ...

    def fdb_on(self, netns: str, ifnames: frozenset[str]) -> tuple[FdbEntry, ...]:
        """``list_fdb`` narrowed to the ports ``ifnames`` (kernel-filtered)."""
        ...

    def replace_fdb(self, entry: FdbEntry) -> None: ...
    def del_fdb(self, entry: FdbEntry) -> None: ...

    def list_tc(self, netns: str) -> tuple[TcState, ...]:
        """kumo's programs on the tc ingress hooks of the namespace's devices."""
        ...

    def attach_tc(self, netns: str, ifname: str, name: str, code: bytes) -> None:
        """Load ``code`` (eBPF, ``SCHED_CLS``) and make it kumo's program on
        the device's ingress hook under ``name``, replacing the one there
        (the device gets a clsact qdisc when it has none)."""
        ...

    def detach_tc(self, netns: str, ifname: str) -> None:
        """Remove kumo's program from the device's ingress hook."""
        ...

    def close(self) -> None:
        """Release sockets; an open socket keeps its namespace alive."""
        ...


class DataplaneError(Exception):
    """A kernel operation failed; ``retryable`` says whether trying again may help."""

    retryable = True

    def __init__(self, op: str, err: int, detail: str = "") -> None:
        name = E.errorcode.get(err, str(err))
        super().__init__(f"{op}: {name}" + (f" ({detail})" if detail else ""))
        self.op = op
        self.errno = err
        self.detail = detail


class AlreadyExists(DataplaneError):
    pass


class NotPresent(DataplaneError):
    """The object, its device or its namespace does not exist (yet)."""


class Unreachable(DataplaneError):
    """A route's gateway is not on-link (yet)."""


class Busy(DataplaneError):
    pass


class Rejected(DataplaneError):
    """The kernel refuses the request as given (bad attribute, unsupported)."""

    retryable = False


class Denied(DataplaneError):
    retryable = False


_ERRNO_TO_ERROR: dict[int, type[DataplaneError]] = {
    E.EEXIST: AlreadyExists,
    E.ENOENT: NotPresent,
    E.ENODEV: NotPresent,
    E.ESRCH: NotPresent,
    E.EADDRNOTAVAIL: NotPresent,
    E.ENETUNREACH: Unreachable,
    E.EHOSTUNREACH: Unreachable,
    E.EBUSY: Busy,
    E.EAGAIN: Busy,
    E.ENOBUFS: Busy,
    E.EINTR: Busy,
    E.EINVAL: Rejected,
    E.EOPNOTSUPP: Rejected,
    E.ERANGE: Rejected,
    E.E2BIG: Rejected,
    E.EAFNOSUPPORT: Rejected,
    E.EPERM: Denied,
    E.EACCES: Denied,
}
_GONE = (E.ENOENT, E.ENODEV, E.ESRCH, E.EADDRNOTAVAIL)


_ON = " on "
"""Joins a read's kind and its devices in the key of a narrowed read."""


def _device_of(obj: object) -> str:
    name = getattr(obj, "ifname", None)
    return str(name if name is not None else getattr(obj, "name", ""))


def domain_error(op: str, exc: OSError) -> DataplaneError:
    """The domain error for a failed kernel operation (the single mapping)."""
    err = exc.errno or E.EIO
    return _ERRNO_TO_ERROR.get(err, DataplaneError)(op, err, exc.strerror or "")


T = TypeVar("T")


class KernelPort:
    """Idempotent, counted, domain-error view of a ``RawKernel``."""

    def __init__(self, raw: RawKernel, *, dry_run: bool = False) -> None:
        self.raw = raw
        self.dry_run = dry_run
        self.ops: Counter[str] = Counter()
        """Mutating operations sent (or, in a dry run, recorded) per name."""
        self.log: list[str] = []
        """In a dry run: one line per recorded operation."""
        self._cache: dict[str, dict[str, tuple[object, ...]]] = {}
        """netns → what ("links", "addresses"...) → the last read."""
        self._stale: dict[str, set[str]] = {}
        """netns → links written since its whole links read (read again,
        one by one, when the read is next asked for)."""

    # -- reads ---------------------------------------------------------------
    def begin_pass(self) -> None:
        """Forget cached reads and check that the host namespace is there
        (``NotPresent`` when it is gone); call once before each
        reconciliation pass."""
        self._cache.clear()
        self._stale.clear()
        self._call("check_host", self.raw.check_host)

    def list_netns(self) -> frozenset[str]:
        return self._call("list_netns", self.raw.list_netns)

    def list_links(self, netns: str) -> tuple[LinkState, ...]:
        return self._read("links", netns, self.raw.list_links)

    def links_named(self, netns: str, names: frozenset[str]) -> tuple[LinkState, ...]:
        return self._read_on("links", netns, names, self.raw.links_named)

    def list_addresses(self, netns: str) -> tuple[Address, ...]:
        return self._read("addresses", netns, self.raw.list_addresses)

    def addresses_on(self, netns: str, ifnames: frozenset[str]) -> tuple[Address, ...]:
        return self._read_on("addresses", netns, ifnames, self.raw.addresses_on)

    def neighbours_on(self, netns: str, ifnames: frozenset[str]) -> tuple[NeighEntry, ...]:
        return self._read_on("neighbours", netns, ifnames, self.raw.neighbours_on)

    def fdb_on(self, netns: str, ifnames: frozenset[str]) -> tuple[FdbEntry, ...]:
        return self._read_on("fdb", netns, ifnames, self.raw.fdb_on)

    def list_routes(self, netns: str) -> tuple[Route, ...]:
        return self._read("routes", netns, self.raw.list_routes)

    def list_neighbours(self, netns: str) -> tuple[NeighEntry, ...]:
        return self._read("neighbours", netns, self.raw.list_neighbours)

    def list_fdb(self, netns: str) -> tuple[FdbEntry, ...]:
        return self._read("fdb", netns, self.raw.list_fdb)

    def list_rules(self, netns: str) -> tuple[PolicyRule, ...]:
        return self._read("rules", netns, self.raw.list_rules)

    def read_sysctl(self, netns: str, path: str) -> str:
        return self._call("read_sysctl", lambda: self.raw.read_sysctl(netns, path))

    def list_tc(self, netns: str) -> tuple[TcState, ...]:
        return self._read("tc", netns, self.raw.list_tc)

    # -- namespaces ----------------------------------------------------------
    def add_netns(self, name: str) -> None:
        self._add("add_netns", name, lambda: self.raw.add_netns(name), None)

    def del_netns(self, name: str) -> None:
        self._delete("del_netns", name, lambda: self.raw.del_netns(name))

    # -- links ---------------------------------------------------------------
    def add_link(self, link: Link, peer: Link | None = None) -> None:
        def on_exists() -> None:
            self.set_link(link.netns, link.name, LinkChange(link.mtu, link.mac, link.up))

        made = {link.name} | (
            {peer.name} if peer is not None and peer.netns == link.netns else set()
        )
        self._add(
            "add_link",
            link.netns,
            lambda: self.raw.add_link(link, peer),
            on_exists,
            frozenset(made),
        )
        if peer is not None and peer.netns != link.netns:
            self._invalidate(peer.netns)

    def set_link(self, netns: str, name: str, change: LinkChange) -> None:
        self._mutate(
            "set_link", netns, lambda: self.raw.set_link(netns, name, change), frozenset({name})
        )

    def set_master(self, netns: str, name: str, master: str | None) -> None:
        on = None if master is None else frozenset({name, master})
        self._mutate("set_master", netns, lambda: self.raw.set_master(netns, name, master), on)

    def set_learning(self, netns: str, name: str, learning: bool) -> None:
        self._mutate(
            "set_learning",
            netns,
            lambda: self.raw.set_learning(netns, name, learning),
            frozenset({name}),
        )

    def set_isolated(self, netns: str, name: str, isolated: bool) -> None:
        self._mutate(
            "set_isolated",
            netns,
            lambda: self.raw.set_isolated(netns, name, isolated),
            frozenset({name}),
        )

    def del_link(self, netns: str, name: str) -> None:
        self._delete("del_link", netns, lambda: self.raw.del_link(netns, name))

    # -- addresses, routes, neighbours, fdb ----------------------------------
    def add_address(self, address: Address) -> None:
        self._add("add_address", address.netns, lambda: self.raw.add_address(address), None)

    def del_address(self, address: Address) -> None:
        self._delete("del_address", address.netns, lambda: self.raw.del_address(address))

    def replace_route(self, route: Route) -> None:
        self._mutate("replace_route", route.netns, lambda: self.raw.replace_route(route))

    def del_route(self, route: Route) -> None:
        self._delete("del_route", route.netns, lambda: self.raw.del_route(route))

    def replace_neighbour(self, entry: NeighEntry) -> None:
        self._mutate("replace_neighbour", entry.netns, lambda: self.raw.replace_neighbour(entry))

    def del_neighbour(self, entry: NeighEntry) -> None:
        self._delete("del_neighbour", entry.netns, lambda: self.raw.del_neighbour(entry))

    def add_rule(self, rule: PolicyRule) -> None:
        self._add("add_rule", rule.netns, lambda: self.raw.add_rule(rule), None)

    def del_rule(self, rule: PolicyRule) -> None:
        self._delete("del_rule", rule.netns, lambda: self.raw.del_rule(rule))

    def write_sysctl(self, setting: Sysctl) -> None:
        self._mutate("write_sysctl", setting.netns, lambda: self.raw.write_sysctl(setting))

    def replace_fdb(self, entry: FdbEntry) -> None:
        self._mutate("replace_fdb", entry.netns, lambda: self.raw.replace_fdb(entry))

    def del_fdb(self, entry: FdbEntry) -> None:
        self._delete("del_fdb", entry.netns, lambda: self.raw.del_fdb(entry))

    # -- tc programs -----------------------------------------------------------
    def attach_tc(self, netns: str, ifname: str, name: str, code: bytes) -> None:
        self._mutate("attach_tc", netns, lambda: self.raw.attach_tc(netns, ifname, name, code))

    def detach_tc(self, netns: str, ifname: str) -> None:
        self._delete("detach_tc", netns, lambda: self.raw.detach_tc(netns, ifname))

    # -- semantics -------------------------------------------------------------
    @property
    def changes(self) -> int:
        return sum(self.ops.values())

    def _read(self, what: str, netns: str, fn: Callable[[str], tuple[T, ...]]) -> tuple[T, ...]:
        reads = self._cache.setdefault(netns, {})
        self._refresh(netns, reads)
        if what not in reads:
            reads[what] = self._call(f"list_{what}", lambda: fn(netns))
        return reads[what]  # type: ignore[return-value]

    def _refresh(self, netns: str, reads: dict[str, tuple[object, ...]]) -> None:
        """Bring a whole links read up to date with the links written since:
        those are read again by name, not the whole namespace (a host with
        1,000 ports has 1,000 links to read)."""
        stale = self._stale.pop(netns, None)
        whole = reads.get("links")
        if not stale or whole is None:
            return
        fresh = self._call("list_links_on", lambda: self.raw.links_named(netns, frozenset(stale)))
        kept = tuple(x for x in whole if _device_of(x) not in stale)
        reads["links"] = kept + tuple(fresh)

    def _read_on(
        self,
        what: str,
        netns: str,
        devices: frozenset[str],
        fn: Callable[[str, frozenset[str]], tuple[T, ...]],
    ) -> tuple[T, ...]:
        """A read narrowed to ``devices``; answered from a whole-namespace
        read of this pass when there is one."""
        reads = self._cache.setdefault(netns, {})
        self._refresh(netns, reads)
        whole = reads.get(what)
        if whole is not None:
            return tuple(x for x in whole if _device_of(x) in devices)  # type: ignore[misc]
        key = what + _ON + ",".join(sorted(devices))
        if key not in reads:
            reads[key] = self._call(f"{what}_on", lambda: fn(netns, devices))
        return reads[key]  # type: ignore[return-value]

    def _call(self, op: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except OSError as exc:
            raise domain_error(op, exc) from exc

    def _invalidate(self, netns: str, devices: frozenset[str] | None = None) -> None:
        """Forget the reads a write in ``netns`` may have changed: all of
        them, or, for a write on ``devices`` only, all but the links reads:
        the whole one, where just those links are marked to be read again,
        and those narrowed to other devices."""
        reads = self._cache.get(netns)
        if reads is None or devices is None:
            self._cache.pop(netns, None)
            self._stale.pop(netns, None)
            return
        kept = {}
        for what, found in reads.items():
            kind, _, on = what.partition(_ON)
            if kind == "links" and on and devices.isdisjoint(on.split(",")):
                kept[what] = found
        if "links" in reads:
            kept["links"] = reads["links"]
            self._stale.setdefault(netns, set()).update(devices)
        self._cache[netns] = kept

    def _record(
        self, op: str, netns: str, fn: Callable[[], None], devices: frozenset[str] | None = None
    ) -> bool:
        """Count the operation; False in a dry run (nothing is sent).
        ``devices``: the only links the operation changes (None: unknown)."""
        self.ops[op] += 1
        self._invalidate(netns, devices)
        if self.dry_run:
            self.log.append(f"{op} {netns or 'host'}")
            return False
        return True

    def _mutate(
        self, op: str, netns: str, fn: Callable[[], None], devices: frozenset[str] | None = None
    ) -> None:
        if self._record(op, netns, fn, devices):
            self._call(op, fn)

    def _add(
        self,
        op: str,
        netns: str,
        fn: Callable[[], None],
        on_exists: Callable[[], None] | None,
        devices: frozenset[str] | None = None,
    ) -> None:
        if not self._record(op, netns, fn, devices):
            return
        try:
            fn()
        except OSError as exc:
            if exc.errno != E.EEXIST:
                raise domain_error(op, exc) from exc
            if on_exists is not None:
                on_exists()

    def _delete(self, op: str, netns: str, fn: Callable[[], None]) -> None:
        if not self._record(op, netns, fn):
            return
        try:
            fn()
        except OSError as exc:
            if exc.errno not in _GONE:
                raise domain_error(op, exc) from exc
