"""Dataplane: runs the reconcilers for one host's plan and reports wired ports.

Order (creations): netns → links → masters → tc programs → sysctls → addresses → routes
→ policy rules → neighbours → VXLAN FDB → bridge FDB → HA gate → NAT
(after the gate: an activated router's gratuitous ARP must pass it) →
metering labels (router namespaces) → the
gateway hosts' distributed-SNAT forwarding (host namespace) → firewall → QoS →
hostnames (instances' UTS namespaces) → guest processes (an instance's DHCP
client, started inside its namespaces) → VMs (their taps are links, plugged
and filtered before QEMU starts; the VMs' own work runs off the pass, see
``reconcilers.vms``); removals of leftovers run after all
creations, in the reverse order — except that leftover namespaces go first:
removing a namespace removes everything inside it and its veth pairs in one
batched kernel operation (deleting 200 veths one by one cost ~25 ms each
here, an RCU grace period per deletion), so the host ends of instances
whose namespace is removed are not deleted one by one. A pass starts at the first dirty
reconciler (desired state changed, last pass failed, or ``resync()`` was
called) and runs every reconciler after it, since a downstream object may
depend on an upstream change. Every reconciler reads the kernel back, so a
pass is level-triggered. A full pass (the first, after ``resync()`` and
after a failure) reads everything; an event pass reads back only what the
plan changed: each reconciler's changed objects where they are and where
they were (by name or in dumps the kernel filters per device), the objects
on links whose desired state changed, and namespaces new in the plan, so its
cost follows the change, not the number of ports on the host (see
``reconcilers.base``). ``resync(rolling=True)`` spreads that check over
the passes that have no change to make: the host namespace's own devices
(by name: with 1,000 ports the namespace holds 1,000 instance ends), then
slices of the other namespaces, read whole with the host ends of their
pairs. A port created meanwhile waits for at most the slice under way,
not for the whole host to be read back. At most every ``sweep_interval``
the host namespace is read whole instead, which also finds links kumo did
not make there. A failed pass leaves its reconcilers dirty and
``ApplyResult.retry_after`` says when to call ``retry()`` (capped
exponential backoff with jitter from ``DataplaneSettings``, finite after any
number of failures). A pass without the host namespace (a lab host's,
deleted behind the agent's back) fails at once with one error, ``host``,
and the pass after it comes back reads and writes everything again. The agent should also call ``resync()``
now and then to catch changes made behind its back.

A port is wired when every object its ``PortWiring`` requires is in place.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from types import MappingProxyType
from typing import Any

from kumo.compiler import names
from kumo.compiler.plan import HOST_NS, HostPlan
from kumo.dataplane.backoff import Backoff
from kumo.dataplane.guest.processes import FakeGuests, GuestPort, GuestProcesses
from kumo.dataplane.nftables import gate as gate_script
from kumo.dataplane.nftables import render
from kumo.dataplane.nftables.port import FakeNft, NftPort
from kumo.dataplane.port import DataplaneError, KernelPort, RawKernel
from kumo.dataplane.reconcilers import (
    AddressReconciler,
    BridgeFdbReconciler,
    FirewallReconciler,
    GuestReconciler,
    HostnameReconciler,
    LinkReconciler,
    MasterReconciler,
    NatReconciler,
    NeighbourReconciler,
    NetnsReconciler,
    Reconciler,
    RouteReconciler,
    RuleReconciler,
    SysctlReconciler,
    VxlanFdbReconciler,
)
from kumo.dataplane.reconcilers.base import Scope, describe_key, difference
from kumo.dataplane.reconcilers.gate import GateReconciler
from kumo.dataplane.reconcilers.metering import MeterReconciler
from kumo.dataplane.reconcilers.qos import QosReconciler
from kumo.dataplane.reconcilers.snatgw import SnatGatewayReconciler
from kumo.dataplane.reconcilers.tc import TcReconciler
from kumo.dataplane.reconcilers.vms import VmReconciler
from kumo.dataplane.uts import FakeUts, UtsNamespaces, UtsPort
from kumo.dataplane.vms import FakeVmHost, VmHost
from kumo.dataplane.wired import WiredPorts


@dataclass(frozen=True)
class DataplaneSettings:
    retry_initial_delay: float = 0.2
    """Seconds to wait before retrying after the first failed pass."""
    retry_multiplier: float = 2.0
    """Each further consecutive failure multiplies the wait by this."""
    retry_max_delay: float = 30.0
    """The wait never grows beyond this many seconds."""
    retry_jitter: float = 0.2
    """Up to this fraction of each wait is taken off at random (hosts that
    failed together do not retry together)."""

    @property
    def backoff(self) -> Backoff:
        return Backoff(
            self.retry_initial_delay, self.retry_multiplier, self.retry_max_delay, self.retry_jitter
        )


@dataclass(frozen=True)
class ApplyResult:
    ok: bool
    """Everything desired is in place and every leftover is gone."""
    wired_ports: frozenset[str]
    """Ports whose plumbing is completely in place (the agent may set them ACTIVE)."""
    unwired_ports: frozenset[str]
    changes: int
    """Kernel operations this pass sent."""
    errors: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """``reconciler object/key`` → error, for the objects that failed."""
    retry_after: float | None = None
    """Seconds until ``retry()`` should run; None when ok."""
    duration: float = 0.0
    ran: tuple[str, ...] = ()
    """Reconcilers that ran this pass."""
    timings: tuple[tuple[str, float], ...] = ()
    """Seconds each reconciler that ran took (updates and removals)."""
    full: bool = False
    """Every reconciler read and checked everything (else: only what changed)."""


class Dataplane:
    def __init__(
        self,
        kernel: KernelPort | RawKernel,
        host: str,
        settings: DataplaneSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        nft: NftPort | None = None,
        nft_for: Callable[[str], NftPort] | None = None,
        guests: GuestPort | None = None,
        uts: UtsPort | None = None,
        vms: VmHost | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        """``nft`` defaults to an in-memory ``FakeNft``, as ``kernel`` is
        usually a fake when the caller builds the driver itself;
        ``for_host`` wires the real tools."""
        self.port = kernel if isinstance(kernel, KernelPort) else KernelPort(kernel)
        self.host = host
        self.settings = settings or DataplaneSettings()
        self.backoff = self.settings.backoff
        self.clock = clock
        self.rand = rand
        """Draws the backoff's jitter (uniform in [0, 1))."""
        self.netns = NetnsReconciler(self.port, host)
        self.links = LinkReconciler(self.port, host)
        self.masters = MasterReconciler(self.port, host)
        self.tc = TcReconciler(self.port, host)
        self.addresses = AddressReconciler(self.port, host)
        self.routes = RouteReconciler(self.port, host)
        self.neighbours = NeighbourReconciler(self.port, host)
        self.vxlan_fdb = VxlanFdbReconciler(self.port, host)
        self.bridge_fdb = BridgeFdbReconciler(self.port, host)
        self.firewall = FirewallReconciler(self.port, host, nft or FakeNft(), clock)
        self.fake_nft: dict[str, FakeNft] = {}
        self.sysctls = SysctlReconciler(self.port, host)
        self.rules = RuleReconciler(self.port, host)
        self.nat = NatReconciler(self.port, host, nft_for or self._fake_nft)
        self.meters = MeterReconciler(self.port, host, nft_for or self._fake_nft)
        self.gate = GateReconciler(self.port, host, (nft_for or self._fake_nft)(HOST_NS))
        self.snat_gateway = SnatGatewayReconciler(
            self.port, host, (nft_for or self._fake_nft)(HOST_NS)
        )
        self.qos = QosReconciler(self.port, host, (nft_for or self._fake_nft)(HOST_NS))
        self.hostnames = HostnameReconciler(self.port, host, uts or FakeUts())
        self.guests = GuestReconciler(self.port, host, guests or FakeGuests())
        self.vms = VmReconciler(self.port, host, vms or FakeVmHost(), clock)
        self.reconcilers: tuple[Reconciler, ...] = (
            self.netns,
            self.links,
            self.masters,
            self.tc,
            self.sysctls,
            self.addresses,
            self.routes,
            self.rules,
            self.neighbours,
            self.vxlan_fdb,
            self.bridge_fdb,
            self.gate,
            self.nat,
            self.meters,
            self.snat_gateway,
            self.firewall,
            self.qos,
            self.hostnames,
            self.guests,
            self.vms,
        )
        self.plan = HostPlan(host=host)
        self._wired_ports = WiredPorts()
        self.counter_nft: NftPort | None = None
        """Reads traffic counters from another thread than the passes' (the
        real adapter: a program of its own, not the passes' library context)."""
        self._full = True
        """The next pass reads every namespace (first pass, after resync or a failure)."""
        self._slices: list[tuple[Scope, bool]] | None = None
        """A rolling resync's slices still to read, one per pass ([] until
        its first pass works them out from the plan then), each with whether
        it is the host namespace's."""
        self.rolling_slice = 10
        """Namespaces per pass in a rolling resync (the host's own goes alone)."""
        self.before_guests: Callable[[frozenset[str]], None] | None = None
        """Called in a pass that has guest processes to start or stop, once
        everything else is applied, with the ports wired by then: the agent
        reports them ACTIVE before their guests start, as a hypervisor boots
        a server once its port is plugged (a guest's start is no part of
        wiring, and takes milliseconds on a busy host)."""
        self.sweep_interval = 600.0
        """A rolling resync reads the host namespace whole at most this often."""
        self.swept_at = clock()
        """When the host namespace was last read whole (the first pass does)."""
        self.failures = 0
        self.next_retry_at: float | None = None

    @classmethod
    def for_host(
        cls,
        host: str,
        host_netns: str | None = None,
        settings: DataplaneSettings | None = None,
        vms: VmHost | None = None,
    ) -> Dataplane:
        """A dataplane on the real kernel; ``host_netns`` names the namespace
        that is this host (the lab), None means the agent's own namespace."""
        from kumo.dataplane.kernel import KernelAdapter
        from kumo.dataplane.nftables.port import NftCommands

        host_nft = NftCommands(host_netns)

        def nft_for(ns: str) -> NftPort:
            # Routers' namespaces come and go: the program, not a library
            # context whose socket would keep a removed namespace alive.
            return host_nft if ns == HOST_NS else NftCommands(ns, in_process=False)

        made = cls(
            KernelAdapter(host_netns),
            host,
            settings,
            nft=host_nft,
            nft_for=nft_for,
            guests=GuestProcesses(),
            uts=UtsNamespaces(),
            vms=vms,
        )
        made.counter_nft = NftCommands(host_netns, in_process=False)
        return made

    def read_counters(self) -> dict[str, list[dict[str, Any]]]:
        """The traffic counters of this host (``HOST_NS``: its ports', from
        the two counting sets, see ``render.port_counters``) and of each
        router namespace with a translation table, one read each; a
        namespace that cannot be read is left out."""
        from kumo.dataplane.nftables import nat

        plan = self.plan
        out: dict[str, list[dict[str, Any]]] = {}
        try:
            nft = self.counter_nft or self.firewall.nft
            listed = [nft.list_set("bridge", name) for name in (render.TX_SET, render.RX_SET)]
            out[HOST_NS] = render.port_counters([body for body in listed if body is not None])
        except DataplaneError:
            pass
        for table in plan.nat:
            try:
                out[table.netns] = self.nat.nft_for(table.netns).list_counters(nat.TABLE)
            except DataplaneError:
                continue
        return out

    def read_meters(self) -> dict[tuple[str, str], dict[str, tuple[int, int]]]:
        """The metering labels' counters of each router namespace (see
        ``MeterReconciler.read``)."""
        return self.meters.read()

    def _fake_nft(self, ns: str) -> NftPort:
        return self.fake_nft.setdefault(ns, FakeNft())

    def close_gates(self) -> None:
        """Close every gate of this host's highly available routers now."""
        if not self.gate.desired.empty:
            self.gate.nft.apply_script(gate_script.close_script())

    def close(self) -> None:
        """Release the kernel adapter's sockets."""
        self.port.raw.close()

    def apply(self, plan: HostPlan) -> ApplyResult:
        if plan.host != self.host:
            raise ValueError(f"plan for {plan.host!r} given to the dataplane of {self.host!r}")
        scope = _scope(self.plan, plan)
        self.plan = plan
        self.netns.update_desired(plan.netns)
        self.links.update_desired(plan.links)
        self.masters.update_desired(plan.links)
        self.tc.update_desired(plan.tc)
        self.addresses.update_desired(plan.addresses, plan.links)
        self.routes.update_desired(plan.routes, plan.links)
        self.rules.update_desired(plan.rules, plan.links)
        self.sysctls.update_desired(plan.sysctls)
        self.nat.update_desired(plan.nat)
        self.meters.update_desired(plan.meters)
        self.hostnames.update_desired(plan.hostnames)
        self.guests.update_desired(plan.guests)
        self.vms.update_desired(plan.vms)
        self.neighbours.update_desired(plan.neighbours, plan.links)
        fdb_self = frozenset(e for e in plan.fdb if not e.master)
        fdb_master = frozenset(e for e in plan.fdb if e.master)
        self.vxlan_fdb.update_desired(fdb_self, plan.links)
        self.bridge_fdb.update_desired(fdb_master, plan.links)
        self.firewall.update_desired(plan.firewall)
        self.gate.update_desired(plan.gate)
        self.snat_gateway.update_desired(plan.snat_gateway)
        self.qos.update_desired(plan.qos)
        if self._full:
            return self._run(None)
        # A pass with changes to make leaves a rolling resync's slices for
        # the passes after it: the change is not held up by a slice's reads.
        changing = any(r.dirty for r in self.reconcilers)
        part = None if changing else self._next_slice()
        if part is None:
            return self._run(scope)
        for reconciler in self.reconcilers:
            reconciler.dirty = True
        extra, host = part
        merged = Scope(fresh=scope.fresh | extra.fresh, devices=scope.devices, named=extra.named)
        return self._run(merged, host_slice=host)

    def retry(self) -> ApplyResult:
        """Run the dirty reconcilers again with the last plan (reading everything)."""
        return self._run(None)

    def resync(self, rolling: bool = False) -> None:
        """Make the next pass read and check everything; or, ``rolling``,
        the next few passes, a slice each (``rolling`` stays True until the
        last one has run)."""
        self.firewall.request_rewrite()
        if rolling and not self._full:
            self._slices = []
            return
        for reconciler in self.reconcilers:
            reconciler.dirty = True
        self._full = True

    @property
    def rolling(self) -> bool:
        """A rolling resync has slices left to read."""
        return self._slices is not None

    def _next_slice(self) -> tuple[Scope, bool] | None:
        if self._slices == []:
            self._slices = self._plan_slices()
        if not self._slices:
            return None
        part = self._slices.pop(0)
        if not self._slices:
            self._slices = None
        return part

    def _plan_slices(self) -> list[tuple[Scope, bool]]:
        """A rolling resync's passes: the host namespace (by its devices
        other than instance ends, or whole when a sweep is due), then the
        other namespaces, ``rolling_slice`` at a time, each with the host
        ends of its instances' pairs."""
        host_links = {x.name for x in self.plan.links if x.netns == HOST_NS}
        others = sorted(n.name for n in self.plan.netns if n.name != HOST_NS)
        tap_of = {ns: names.tap_name(pid) for ns in others if (pid := names.instance_port_id(ns))}
        if self.clock() - self.swept_at >= self.sweep_interval:
            self.swept_at = self.clock()
            first = Scope(fresh=frozenset({HOST_NS}))
        else:
            own = host_links - set(tap_of.values())
            first = Scope(named=frozenset((HOST_NS, d) for d in own))
        step = max(1, self.rolling_slice)
        slices = [(first, True)]
        for i in range(0, len(others), step):
            part = frozenset(others[i : i + step])
            taps = {tap_of[ns] for ns in part if ns in tap_of} & host_links
            slices.append((Scope(fresh=part, named=frozenset((HOST_NS, t) for t in taps)), False))
        return slices

    @property
    def retry_due(self) -> bool:
        return self.next_retry_at is not None and self.clock() >= self.next_retry_at

    def converge(
        self,
        plan: HostPlan,
        timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> ApplyResult:
        """Apply, then retry with backoff until ok or ``timeout`` seconds pass."""
        deadline = self.clock() + timeout
        result = self.apply(plan)
        while not result.ok and result.retry_after is not None:
            if self.clock() + result.retry_after > deadline:
                break
            sleep(result.retry_after)
            result = self.retry()
        return result

    @staticmethod
    def _taps_of(doomed: frozenset[str]) -> frozenset[str]:
        port_ids = (names.instance_port_id(ns) for ns in doomed)
        network_ids = (names.metadata_network_id(ns) for ns in doomed)
        return frozenset(names.tap_name(pid) for pid in port_ids if pid) | frozenset(
            names.metadata_port_name(nid) for nid in network_ids if nid
        )

    def _run(self, scope: Scope | None, *, host_slice: bool = False) -> ApplyResult:
        """``host_slice``: a rolling resync's pass over the host namespace,
        where the firewall and the gate (the host namespace's alone) check
        everything as in a full pass."""
        started = self.clock()
        whole = (
            (self.netns, self.firewall, self.gate, self.snat_gateway, self.qos)
            if host_slice
            else ()
        )
        for r in self.reconcilers:
            r.scope = None if r in whole else scope
        before = self.port.changes
        try:
            self.port.begin_pass()
        except DataplaneError as exc:
            # No host namespace (a lab host's, deleted behind the agent's
            # back): nothing can be applied; every reconciler reads and
            # writes everything again once it is back.
            for reconciler in self.reconcilers:
                reconciler.dirty = True
            self._full = True
            return ApplyResult(
                ok=False,
                wired_ports=frozenset(),
                unwired_ports=self.plan.wired_port_ids,
                changes=0,
                errors=MappingProxyType({"host": str(exc)}),
                retry_after=self._failed(),
                duration=self.clock() - started,
            )
        first = next((i for i, r in enumerate(self.reconcilers) if r.dirty), None)
        ran: tuple[Reconciler, ...] = () if first is None else self.reconcilers[first:]
        ok = True
        spent: dict[str, float] = {}
        for reconciler in ran:
            if reconciler is self.links:
                self.links.vanishing = self._taps_of(self.netns.doomed)
            if reconciler is self.guests and reconciler.dirty and self.before_guests is not None:
                self.before_guests(self._wired())
            t0 = self.clock()
            ok = reconciler.apply_updates() and ok
            spent[reconciler.name] = self.clock() - t0
        # Namespaces go first: removing one deletes everything in it (and its
        # veth pairs) in one batched kernel operation; the rest in reverse.
        removals = [r for r in reversed(ran) if r is not self.netns]
        if self.netns in ran:
            removals.insert(0, self.netns)
        for reconciler in removals:
            t0 = self.clock()
            ok = reconciler.apply_removals() and ok
            spent[reconciler.name] += self.clock() - t0
        # An instance's guest files (logs, leases, pid files) go with its namespace.
        for name in sorted(self.netns.removed):
            if names.is_instance_netns(name, self.host) and not self.guests.attempt(
                ("guest-files", name), partial(self.guests.forget, name), confirm=False
            ):
                self.guests.dirty = True  # a full pass sweeps them again
        self.netns.removed = frozenset()
        ok = ok and not any(r.dirty for r in self.reconcilers)
        self._full = not ok
        if scope is None and ok:
            self._slices = None  # a full pass checked everything a rolling resync would
        if ok:
            self.failures = 0
            self.next_retry_at = None
            retry_after = None
        else:
            retry_after = self._failed()
        wired = self._wired()
        errors = {
            f"{r.name}: {describe_key(key)}": message
            for r in self.reconcilers
            for key, message in r.errors.items()
        }
        return ApplyResult(
            ok=ok,
            wired_ports=wired,
            unwired_ports=self._wired_ports.unwired(),
            changes=self.port.changes - before,
            errors=MappingProxyType(errors),
            retry_after=retry_after,
            duration=self.clock() - started,
            ran=tuple(r.name for r in ran),
            timings=tuple(spent.items()),
            full=scope is None,
        )

    def _failed(self) -> float:
        """Count a failed pass; seconds until the retry (capped, jittered)."""
        self.failures += 1
        retry_after = self.backoff.delay(self.failures, self.rand)
        self.next_retry_at = self.clock() + retry_after
        return retry_after

    def _wired(self) -> frozenset[str]:
        """Ports whose every required object is in place."""
        return self._wired_ports.wired(self.plan.wiring, [r.in_place for r in self.reconcilers])


def _scope(old: HostPlan, new: HostPlan) -> Scope:
    """What an event pass from ``old`` to ``new`` reads besides each
    reconciler's own changes: namespaces new in the plan, links whose desired
    state changed and the ports of changed bridges (a recreated bridge loses
    its ports, their bridge FDB entries with them)."""
    # Namespaces are named by their one field: those new by name are new.
    fresh = frozenset(n.name for n in difference(old.netns, new.netns) if n in new.netns)
    links = difference(old.links, new.links)
    devices = {(x.netns, x.name) for x in links}
    bridges = {(x.netns, x.name) for x in links if x.kind == "bridge"}
    if bridges:
        devices |= {(x.netns, x.name) for x in new.links if (x.netns, x.master) in bridges}
    return Scope(fresh=fresh, devices=frozenset(devices))
